//! The teacher: its tools' resources, running it on jobs into a trajectory file (resumable),
//! the outcome filter, and its evaluation with the two ablations.

use super::baselines::{runner, sasrec_model, trained_cf_models, trained_sasrec_folds};
use super::data::{scenario_tagger, Prepared};
use super::layout::Compute;
use anyhow::Result;
use star_agents::chat::local::DEFAULT_MAX_NEW_TOKENS;
use star_agents::chat::{ChatBackend, ChatModel};
use star_agents::teach::{Shard, TeachJob, TeachSummary};
use star_agents::tools::{SequenceModels, ToolResources};
use star_agents::trajectory::FilterStats;
use star_agents::{Teacher, TeacherConfig};
use star_eval::{baselines, EvalReport};
use star_model::sasrec::SasRecRanker;
use star_train::cf::CfModelKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The teacher's shared resources for a prepared run: dataset, evidence store, and the trained
/// BPR-MF embeddings when the run directory has them (for the `cf_score` tool: those validation
/// chose, never a refit, so that the teacher answers every split, and its training
/// trajectories, from the same model). With `sequence` (`--sequence-tool`) also the run's
/// SASRec when it has one, for the `sequence_score` tool, and `Some(folds)` of its
/// cross-fitted fold models for training requests when `folds` is at least 2 and they are
/// trained (`star run` trains them before the teacher; without them training requests get no
/// answer from the tool, which the log says).
pub fn teacher_resources(p: &Prepared, sequence: Option<usize>) -> Result<ToolResources> {
    let cf = trained_cf_models(&p.run, star_cf::split::SplitKind::Valid)?
        .into_iter()
        .find(|m| star_cf::Ranker::name(m) == CfModelKind::Mf.method_name())
        .map(Arc::new);
    let res =
        star_agents::orchestrator::resources(Arc::new(p.ds.clone()), &p.split, p.store.clone(), cf);
    let Some(folds) = sequence else {
        return Ok(res);
    };
    let n = p.ds.num_items();
    let Some(sasrec) = sasrec_model(&p.run, n)? else {
        tracing::warn!(
            "the teacher's sequence_score tool has no model to answer from: {} has no trained SASRec",
            p.run.sasrec().display()
        );
        return Ok(res);
    };
    let train = if folds >= 2 {
        let models = trained_sasrec_folds(&p.run, n, folds)?;
        if models.is_none() {
            tracing::warn!(
                "the teacher's sequence_score tool answers valid and test requests only: the {folds} SASRec fold models are not trained in {}",
                p.run.path().display()
            );
        }
        models.map(|m| Arc::new(m) as Arc<dyn star_cf::Ranker>)
    } else {
        None
    };
    Ok(res.with_sequence(SequenceModels {
        train,
        eval: Arc::new(SasRecRanker::new(sasrec, n)),
    }))
}

/// Which trained models answered a trajectory file's tools, kept beside it as
/// `STEM.tools.json` (a file without it was written without `sequence_score`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolModels {
    /// `sequence_score` answered valid and test requests (`--sequence-tool`).
    pub sequence_score: bool,
    /// `sequence_score` answered training requests too, from cross-fitted fold models.
    pub sequence_score_training: bool,
}

impl ToolModels {
    /// The models behind `res`'s tools.
    pub fn of(res: &ToolResources) -> Self {
        ToolModels {
            sequence_score: res.sequence.is_some(),
            sequence_score_training: res.sequence.as_ref().is_some_and(|s| s.train.is_some()),
        }
    }
}

/// Writes `out/STEM.tools.json` for the models behind `res`'s tools, or, when `out/STEM.jsonl`
/// already holds episodes, refuses to add episodes answered by other models than theirs.
pub fn keep_tool_models(out: &Path, stem: &str, res: &ToolResources) -> Result<()> {
    let now = ToolModels::of(res);
    let path = out.join(format!("{stem}.tools.json"));
    let episodes = out.join(format!("{stem}.jsonl"));
    let written = std::fs::metadata(&episodes).is_ok_and(|m| m.len() > 0);
    if written {
        let then: ToolModels = if path.is_file() {
            let text = std::fs::read_to_string(&path)?;
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        } else {
            ToolModels::default()
        };
        if then != now {
            anyhow::bail!(
                "{}: its episodes were written with {then:?}, this teacher has {now:?}; pass the options they were written with (--sequence-tool, --sequence-folds), or delete it to teach afresh",
                episodes.display()
            );
        }
    }
    std::fs::create_dir_all(out)?;
    let json = serde_json::to_string_pretty(&now)?;
    star_cf::fsutil::write_atomic(&path, |w| std::io::Write::write_all(w, json.as_bytes()))?;
    Ok(())
}

/// What [`teach_and_filter`] did.
#[derive(Clone, Debug)]
pub struct TeachOutcome {
    /// The run's counts.
    pub summary: TeachSummary,
    /// The trajectory file.
    pub path: PathBuf,
    /// The kept (outcome-filtered) trajectories.
    pub kept_path: PathBuf,
    /// The filter's counts.
    pub filter: FilterStats,
}

/// Which jobs of a job list [`teach_and_filter`] runs.
#[derive(Copy, Clone, Debug)]
pub struct TeachScope {
    /// This process's share.
    pub shard: Shard,
    /// At most this many jobs of the shard (its first ones).
    pub limit: Option<usize>,
    /// Episodes run in parallel.
    pub threads: usize,
}

/// Runs `teacher` on the jobs of `scope` that are not yet in `out/STEM.jsonl`, with a progress
/// bar, then keeps the episodes whose true item is in the top `keep_top` in
/// `out/STEM.kept.jsonl` (counts in `out/STEM.filter.json`). Rerunning resumes: finished
/// episodes are skipped. The trajectory file is locked against other writers meanwhile.
pub fn teach_and_filter(
    teacher: &Teacher,
    mut jobs: Vec<TeachJob>,
    scope: TeachScope,
    out: &Path,
    stem: &str,
    keep_top: usize,
) -> Result<TeachOutcome> {
    use star_agents::trajectory::{filter_file, FilterConfig, TrajectoryWriter};
    let shard = scope.shard;
    let path = out.join(format!("{stem}.jsonl"));
    keep_tool_models(out, stem, teacher.resources())?;
    let mut writer = TrajectoryWriter::open(&path)?;
    if let Some(limit) = scope.limit {
        // keep the first `limit` jobs of this shard
        let mut seen = 0;
        let mut k = 0;
        jobs.retain(|_| {
            let mine = shard.owns(k);
            k += 1;
            if mine {
                seen += 1;
            }
            !mine || seen <= limit
        });
    }
    let total = jobs
        .iter()
        .enumerate()
        .filter(|(k, _)| shard.owns(*k))
        .count();
    let bar = star_cf::progress::bar(total as u64, teacher.name());
    bar.set_position(
        jobs.iter()
            .enumerate()
            .filter(|(k, j)| shard.owns(*k) && writer.contains(&j.meta.id.to_string()))
            .count() as u64,
    );
    let stop = std::sync::atomic::AtomicBool::new(false);
    let summary = star_agents::teach::teach(
        teacher,
        &jobs,
        shard,
        &mut writer,
        scope.threads,
        &stop,
        &|| bar.inc(1),
    )?;
    bar.finish_and_clear();
    let cfg = FilterConfig {
        top_k: keep_top.max(1),
        require_valid: true,
    };
    let kept_path = out.join(format!("{stem}.kept.jsonl"));
    let filter = filter_file(&path, &kept_path, &cfg)?;
    let json = serde_json::to_string_pretty(&filter)?;
    star_cf::fsutil::write_atomic(&out.join(format!("{stem}.filter.json")), |w| {
        std::io::Write::write_all(w, json.as_bytes())
    })?;
    Ok(TeachOutcome {
        summary,
        path,
        kept_path,
        filter,
    })
}

/// Which teacher variant.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TeacherVariant {
    /// Everything.
    Full,
    /// No reflector.
    NoReflection,
    /// No CST-evidence tools.
    NoCst,
}

/// Builds the rule-based teacher (or, with `chat`, the LLM-prompted one) of a variant.
pub fn build_teacher(
    res: ToolResources,
    chat: Option<Arc<dyn ChatModel>>,
    variant: TeacherVariant,
) -> Teacher {
    let t = match chat {
        None => Teacher::rule_based(res, TeacherConfig::default()),
        Some(chat) => Teacher::llm(res, chat, TeacherConfig::default()),
    };
    match variant {
        TeacherVariant::Full => t,
        TeacherVariant::NoReflection => t.without_reflection(),
        TeacherVariant::NoCst => t.without_cst(),
    }
}

/// Which chat model an LLM-prompted teacher uses (`--llm` and its options).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LlmArgs {
    /// An LLM-prompted teacher instead of the rule-based one: `--llm` or `--llm openai` for an
    /// OpenAI-compatible endpoint (STAR_LLM_BASE_URL, STAR_LLM_MODEL, STAR_LLM_API_KEY),
    /// `--llm local:DIR` for a Hugging Face chat checkpoint (Llama, Qwen2, Qwen3, Mistral, with
    /// its tokenizer.json and chat template) run in-process, greedy.
    #[arg(long, num_args = 0..=1, default_missing_value = "openai", value_name = "openai|local:DIR")]
    pub llm: Option<ChatBackend>,
    /// Device of a local chat checkpoint (default, flex, ndarray, wgpu, cuda[:N]).
    #[arg(long, default_value = "default")]
    pub llm_device: String,
    /// Most tokens a local chat checkpoint generates per answer.
    #[arg(long, default_value_t = DEFAULT_MAX_NEW_TOKENS)]
    pub llm_max_new_tokens: usize,
}

impl LlmArgs {
    /// The chat model, or `None` for the rule-based teacher.
    pub fn chat_model(&self) -> Result<Option<Arc<dyn ChatModel>>> {
        let Some(backend) = &self.llm else {
            return Ok(None);
        };
        let compute = Compute::one(&self.llm_device)?;
        Ok(Some(
            backend.open(compute.device(), self.llm_max_new_tokens)?,
        ))
    }
}

/// Evaluates the teacher and its two ablations on the prepared candidates, with the
/// `sequence_score` tool when `sequence_tool` is set.
pub fn eval_teacher(
    p: &Prepared,
    chat: Option<Arc<dyn ChatModel>>,
    threads: usize,
    sequence_tool: bool,
) -> Result<EvalReport> {
    // valid and test requests only: the fold models are not needed
    let res = teacher_resources(p, sequence_tool.then_some(0))?;
    let tagger = scenario_tagger(&p.ds, &p.store);
    let repair = baselines::ItemKnn::new(p.store.clone());
    let runner = runner(p, &repair, &tagger, threads)?;
    let mut report = EvalReport::new(&p.candidates.header);
    for v in [
        TeacherVariant::Full,
        TeacherVariant::NoReflection,
        TeacherVariant::NoCst,
    ] {
        let teacher = build_teacher(res.clone(), chat.clone(), v);
        report.push(runner.run(&teacher));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use star_cf::evidence::{EvidenceConfig, EvidenceStore};
    use star_cf::split::Split;

    #[test]
    fn trajectories_keep_the_models_their_tools_answered_from() {
        let ds = Arc::new(star_cf::data::hand::dataset());
        let split = Split::temporal_leave_one_out(&ds);
        let store = Arc::new(EvidenceStore::build(&ds, &split, EvidenceConfig::default()));
        let plain = star_agents::orchestrator::resources(ds, &split, store.clone(), None);
        let pop = Arc::new(baselines::Pop::new(store)) as Arc<dyn star_cf::Ranker>;
        let with = |train: Option<Arc<dyn star_cf::Ranker>>| {
            plain.clone().with_sequence(SequenceModels {
                train,
                eval: pop.clone(),
            })
        };
        let dir = tempfile::tempdir().unwrap();
        let (out, stem) = (dir.path(), "teacher-train");
        let episodes = out.join("teacher-train.jsonl");
        // nothing written yet: any tools, and the file says which
        keep_tool_models(out, stem, &with(Some(pop.clone()))).unwrap();
        keep_tool_models(out, stem, &plain).unwrap();
        let kept = std::fs::read_to_string(out.join("teacher-train.tools.json")).unwrap();
        assert_eq!(
            serde_json::from_str::<ToolModels>(&kept).unwrap(),
            ToolModels::default()
        );
        // once episodes are written, only the same models may add to them
        std::fs::write(&episodes, "{}\n").unwrap();
        keep_tool_models(out, stem, &plain).unwrap();
        for other in [with(None), with(Some(pop.clone()))] {
            let err = keep_tool_models(out, stem, &other).unwrap_err().to_string();
            assert!(
                err.contains("teacher-train.jsonl") && err.contains("--sequence-tool"),
                "{err}"
            );
        }
        // a file written before the tool existed counts as written without it
        std::fs::remove_file(out.join("teacher-train.tools.json")).unwrap();
        keep_tool_models(out, stem, &plain).unwrap();
        std::fs::remove_file(out.join("teacher-train.tools.json")).unwrap();
        assert!(keep_tool_models(out, stem, &with(None)).is_err());
    }
}
