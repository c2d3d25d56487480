//! The teacher: its tools' resources, running it on jobs into a trajectory file (resumable),
//! the outcome filter, and its evaluation with the two ablations.

use super::baselines::{runner, trained_cf_models};
use super::data::{scenario_tagger, Prepared};
use super::layout::Compute;
use anyhow::Result;
use star_agents::chat::local::DEFAULT_MAX_NEW_TOKENS;
use star_agents::chat::{ChatBackend, ChatModel};
use star_agents::teach::{Shard, TeachJob, TeachSummary};
use star_agents::tools::ToolResources;
use star_agents::trajectory::FilterStats;
use star_agents::{Teacher, TeacherConfig};
use star_eval::{baselines, EvalReport};
use star_train::cf::CfModelKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The teacher's shared resources for a prepared run: dataset, evidence store, and the trained
/// BPR-MF embeddings when the run directory has them (for the `cf_score` tool): those
/// validation chose, never a refit, so that the teacher answers every split (and its training
/// trajectories) from the same model.
pub fn teacher_resources(p: &Prepared) -> Result<ToolResources> {
    let cf = trained_cf_models(&p.run, star_cf::split::SplitKind::Valid)?
        .into_iter()
        .find(|m| star_cf::Ranker::name(m) == CfModelKind::Mf.method_name())
        .map(Arc::new);
    Ok(star_agents::orchestrator::resources(
        Arc::new(p.ds.clone()),
        &p.split,
        p.store.clone(),
        cf,
    ))
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

/// Evaluates the teacher and its two ablations on the prepared candidates.
pub fn eval_teacher(
    p: &Prepared,
    chat: Option<Arc<dyn ChatModel>>,
    threads: usize,
) -> Result<EvalReport> {
    let res = teacher_resources(p)?;
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
