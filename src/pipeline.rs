//! Pipeline steps with their artefacts cached in a run directory (`runs/<dataset>` by default):
//!
//! ```text
//! runs/<dataset>/
//!   candidates/valid-seed42.jsonl   1+19 candidate files, drawn once, read by every method
//!   candidates/test-seed42.jsonl
//!   evidence.bin                    the CST evidence store (train graph + neighbour lists)
//!   eval-baselines-test.json / .md  results
//! ```
//!
//! A step whose artefact exists (and belongs to the same dataset, by fingerprint) reuses it.

use anyhow::{bail, Context, Result};
use burn::config::Config;
use burn::module::Module;
use star_agents::chat::openai::{OpenAiClient, OpenAiConfig};
use star_agents::chat::ChatModel;
use star_agents::tools::ToolResources;
use star_agents::{Teacher, TeacherConfig};
use star_cf::candidates::CandidateSet;
use star_cf::data::{Dataset, Dedup, PreprocessOptions};
use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::scenario::{ScenarioConfig, ScenarioTagger};
use star_cf::split::{Split, SplitKind};
use star_eval::baselines;
use star_eval::catalogue::{evaluate_catalogue, CatalogueResult};
use star_eval::{EvalReport, ProtocolRunner};
use star_model::cf::{CfEmbeddings, EmbeddingRanker};
use star_model::sasrec::{SasRecConfig, SasRecRanker};
use star_train::cf::{train_cf, CfModelKind, CfTrainConfig};
use star_train::sasrec::{train_sasrec, SasRecTrainConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Which dataset to load and how to preprocess it.
#[derive(Clone, Debug)]
pub struct DataSpec {
    /// A known name (`movielens-100k`, `movielens-1m`, `movielens-latest-small`,
    /// `movielens-25m`), `synthetic[:SEED]`, or any name when `data_dir` is given.
    pub dataset: String,
    /// Load the files in this directory instead of the cache (format detected).
    pub data_dir: Option<PathBuf>,
    /// The cache (`$STAR_HOME`, default `~/.cache/star`).
    pub home: PathBuf,
    /// Preprocessing options.
    pub preprocess: PreprocessOptions,
}

impl DataSpec {
    /// The default spec for a dataset name: cache in `$STAR_HOME`, no preprocessing.
    pub fn named(dataset: &str) -> DataSpec {
        DataSpec {
            dataset: dataset.to_string(),
            data_dir: None,
            home: star_cf::fetch::star_home(),
            preprocess: PreprocessOptions::default(),
        }
    }

    /// Loads (fetching when needed) and preprocesses the dataset.
    pub fn load(&self) -> Result<Dataset> {
        let t = Instant::now();
        let ds = star_cf::data::registry::load_named(
            &self.dataset,
            self.data_dir.as_deref(),
            &self.home,
            &self.preprocess,
        )?;
        tracing::info!(
            "loaded {}: {} users, {} items, {} interactions in {:.2}s",
            ds.name,
            ds.num_users(),
            ds.num_items(),
            ds.num_interactions(),
            t.elapsed().as_secs_f64()
        );
        Ok(ds)
    }
}

/// Parses a de-duplication policy name (`first`, `last`, `all`).
pub fn parse_dedup(s: &str) -> Result<Dedup, String> {
    match s {
        "first" => Ok(Dedup::KeepFirst),
        "last" => Ok(Dedup::KeepLast),
        "all" | "none" => Ok(Dedup::KeepAll),
        _ => Err(format!("unknown dedup policy `{s}` (first, last, all)")),
    }
}

/// The default run directory of a dataset: `runs/<dataset name>`.
pub fn default_run_dir(ds: &Dataset) -> PathBuf {
    PathBuf::from("runs").join(&ds.name)
}

/// Path of the candidate file of one split and seed.
pub fn candidate_path(run_dir: &Path, kind: SplitKind, seed: u64) -> PathBuf {
    run_dir
        .join("candidates")
        .join(format!("{kind}-seed{seed}.jsonl"))
}

/// Loads the candidate file of `kind`/`seed` from the run directory, or draws and writes it.
pub fn candidates(
    ds: &Dataset,
    split: &Split,
    run_dir: &Path,
    kind: SplitKind,
    seed: u64,
    negatives: usize,
) -> Result<CandidateSet> {
    let path = candidate_path(run_dir, kind, seed);
    if path.exists() {
        let set = CandidateSet::load(&path, ds).with_context(|| {
            format!(
                "the run directory {} belongs to other data; pass another --run-dir or delete it",
                run_dir.display()
            )
        })?;
        if set.header.num_candidates != negatives + 1 {
            bail!(
                "{} holds {} candidates per case, not {}; pass another --run-dir",
                path.display(),
                set.header.num_candidates,
                negatives + 1
            );
        }
        set.validate_against(ds, split)?;
        tracing::info!("reusing {}", path.display());
        return Ok(set);
    }
    let set = CandidateSet::sample(ds, split, kind, negatives, seed)?;
    set.save(&path, ds)?;
    tracing::info!("wrote {} ({} cases)", path.display(), set.cases.len());
    Ok(set)
}

/// Loads the evidence store from the run directory, or builds and saves it.
pub fn evidence_store(ds: &Dataset, split: &Split, run_dir: &Path) -> Result<Arc<EvidenceStore>> {
    let path = run_dir.join("evidence.bin");
    if path.exists() {
        match EvidenceStore::load(&path, Some(ds)) {
            Ok(s) if s.config() == &EvidenceConfig::default() => {
                tracing::info!("reusing {}", path.display());
                return Ok(Arc::new(s));
            }
            Ok(_) => tracing::warn!("{}: other evidence settings; rebuilding", path.display()),
            Err(e) => tracing::warn!("{e}; rebuilding"),
        }
    }
    let t = Instant::now();
    let store = EvidenceStore::build(ds, split, EvidenceConfig::default());
    tracing::info!(
        "built the evidence store ({} train edges) in {:.2}s",
        store.graph().num_edges(),
        t.elapsed().as_secs_f64()
    );
    store.save(&path)?;
    Ok(Arc::new(store))
}

/// The scenario tagger with the default thresholds and train popularity.
pub fn scenario_tagger(ds: &Dataset, store: &EvidenceStore) -> ScenarioTagger {
    ScenarioTagger::new(
        ScenarioConfig::default(),
        ds,
        store.graph().popularity_counts(),
    )
}

/// Everything the evaluation of one split needs.
pub struct Prepared {
    /// The dataset.
    pub ds: Dataset,
    /// Its temporal leave-one-out split.
    pub split: Split,
    /// The candidate file of the evaluated split.
    pub candidates: CandidateSet,
    /// The evidence store built from the train split.
    pub store: Arc<EvidenceStore>,
    /// The run directory.
    pub run_dir: PathBuf,
}

/// Loads the data, splits it, and loads or creates the candidate file of `kind` and the
/// evidence store in the run directory (`runs/<dataset>` when `run_dir` is `None`).
pub fn prepare(
    spec: &DataSpec,
    run_dir: Option<&Path>,
    kind: SplitKind,
    seed: u64,
    negatives: usize,
) -> Result<Prepared> {
    let ds = spec.load()?;
    let split = Split::temporal_leave_one_out(&ds);
    let run_dir = run_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| default_run_dir(&ds));
    let candidates = candidates(&ds, &split, &run_dir, kind, seed, negatives)?;
    let store = evidence_store(&ds, &split, &run_dir)?;
    Ok(Prepared {
        ds,
        split,
        candidates,
        store,
        run_dir,
    })
}

impl Prepared {
    /// The same data, split and evidence store with the candidate file of another split
    /// (loaded or created), without reloading the dataset.
    pub fn for_split(&self, kind: SplitKind, seed: u64, negatives: usize) -> Result<Prepared> {
        Ok(Prepared {
            ds: self.ds.clone(),
            split: self.split.clone(),
            candidates: candidates(&self.ds, &self.split, &self.run_dir, kind, seed, negatives)?,
            store: self.store.clone(),
            run_dir: self.run_dir.clone(),
        })
    }
}

/// Evaluates Pop, ItemKNN, UserKNN, the CST evidence scorer and every trained CF model found
/// in the run directory on the prepared candidates.
pub fn eval_baselines(p: &Prepared, threads: usize) -> Result<EvalReport> {
    let tagger = scenario_tagger(&p.ds, &p.store);
    // Invalid outputs are completed in item-CF score order.
    let repair = baselines::ItemKnn::new(p.store.clone());
    let runner = ProtocolRunner::new(&p.ds, &p.split, &p.candidates, &repair, Some(&tagger))?
        .threads(threads.max(1));
    let mut report = EvalReport::new(&p.candidates.header);
    for method in baselines::all(&p.store) {
        report.push(runner.run(method.as_ref()));
    }
    for model in trained_cf_models(&p.run_dir)? {
        report.push(runner.run(&model));
    }
    if let Some(model) = trained_sasrec(&p.run_dir, p.ds.num_items())? {
        report.push(runner.run(&model));
    }
    Ok(report)
}

/// Full-catalogue HR@10 / NDCG@10 / MRR@10 (temporal leave-one-out) of Pop and every trained CF
/// model in the run directory, on the split of the prepared candidates.
pub fn eval_full_catalogue(p: &Prepared) -> Result<Vec<CatalogueResult>> {
    let kind = p.candidates.header.split;
    let mut out = vec![evaluate_catalogue(
        &p.split,
        kind,
        &baselines::Pop::new(p.store.clone()),
    )];
    for model in trained_cf_models(&p.run_dir)? {
        out.push(evaluate_catalogue(&p.split, kind, &model));
    }
    if let Some(model) = trained_sasrec(&p.run_dir, p.ds.num_items())? {
        out.push(evaluate_catalogue(&p.split, kind, &model));
    }
    Ok(out)
}

/// Renders full-catalogue results as a Markdown table (×100).
pub fn catalogue_markdown(results: &[CatalogueResult]) -> String {
    let mut s = String::from(
        "| Method | users | HR@10 | NDCG@10 | MRR@10 | wall s |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        s.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            r.method,
            r.users,
            100.0 * r.hr10,
            100.0 * r.ndcg10,
            100.0 * r.mrr10,
            r.wall_s
        ));
    }
    s
}

/// Where a CF model's training run lives: `<run_dir>/cf/<method name>`.
pub fn cf_dir(run_dir: &Path, kind: CfModelKind) -> PathBuf {
    run_dir.join("cf").join(kind.method_name())
}

/// The summary written next to a trained model.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunSummary<C> {
    /// Method name (`BPR-MF`, `LightGCN`, `SASRec`).
    pub method: String,
    /// Hyper-parameters.
    pub config: C,
    /// Best epoch (by validation NDCG@10).
    pub best_epoch: usize,
    /// Epochs run.
    pub epochs_run: usize,
    /// Validation NDCG@10 of the best epoch.
    pub valid_ndcg10: f64,
    /// Training wall time of the last call (a resumed run counts only its own part).
    pub train_seconds: f64,
    /// The device it trained on.
    pub device: String,
}

/// Summary of a CF model run.
pub type CfRunSummary = RunSummary<CfTrainConfig>;

/// The device name as reported: `default` resolved to the backend it picks.
fn device_label(name: &str) -> String {
    if name == "default" {
        star_model::available_devices()
            .first()
            .map_or("default", |d| *d)
            .to_string()
    } else {
        name.to_string()
    }
}

fn write_summary<C: serde::Serialize>(dir: &Path, summary: &RunSummary<C>) -> Result<()> {
    let json = serde_json::to_string_pretty(summary)?;
    star_cf::fsutil::write_atomic(&dir.join("summary.json"), |w| {
        std::io::Write::write_all(w, json.as_bytes())
    })?;
    Ok(())
}

/// Trains a CF model on the prepared data (valid candidates for early stopping), writes
/// `embeddings.safetensors` and `summary.json` into [`cf_dir`], and returns the summary.
pub fn train_cf_model(
    ds: &Dataset,
    split: &Split,
    run_dir: &Path,
    cfg: &CfTrainConfig,
    seed: u64,
    device_name: &str,
    resume: bool,
) -> Result<CfRunSummary> {
    let device = star_model::device_from_name(device_name).map_err(anyhow::Error::msg)?;
    let valid = candidates(ds, split, run_dir, SplitKind::Valid, seed, 19)?;
    let graph = star_cf::graph::CfGraph::from_split(split);
    let dir = cf_dir(run_dir, cfg.kind);
    let r = train_cf(cfg, &graph, &valid, &dir, &device, resume)?;
    let path = dir.join("embeddings.safetensors");
    r.embeddings
        .save_safetensors(&path)
        .map_err(anyhow::Error::msg)?;
    let summary = CfRunSummary {
        method: cfg.kind.method_name().to_string(),
        config: cfg.clone(),
        best_epoch: r.best_epoch,
        epochs_run: r.epochs_run,
        valid_ndcg10: r.valid_ndcg10,
        train_seconds: r.train_seconds,
        device: device_label(device_name),
    };
    write_summary(&dir, &summary)?;
    Ok(summary)
}

/// Where the SASRec run lives: `<run_dir>/sasrec`.
pub fn sasrec_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("sasrec")
}

/// Trains SASRec (valid candidates for early stopping) and writes `model.bpk`,
/// `model-config.json` and `summary.json` into [`sasrec_dir`].
pub fn train_sasrec_model(
    ds: &Dataset,
    split: &Split,
    run_dir: &Path,
    cfg: &SasRecTrainConfig,
    seed: u64,
    device_name: &str,
    resume: bool,
) -> Result<RunSummary<SasRecTrainConfig>> {
    let device = star_model::device_from_name(device_name).map_err(anyhow::Error::msg)?;
    let valid = candidates(ds, split, run_dir, SplitKind::Valid, seed, 19)?;
    let dir = sasrec_dir(run_dir);
    let r = train_sasrec(cfg, split, &valid, &dir, &device, resume)?;
    let model_cfg = serde_json::to_string_pretty(&cfg.model(ds.num_items()))?;
    star_cf::fsutil::write_atomic(&dir.join("model-config.json"), |w| {
        std::io::Write::write_all(w, model_cfg.as_bytes())
    })?;
    // burnpack files are written to a scratch file and renamed into place by burn itself
    star_cf::fsutil::remove_stale_temps(&dir.join("model.bpk"));
    r.model
        .save_file(dir.join("model.bpk"))
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join("model.bpk").display()))?;
    let summary = RunSummary {
        method: "SASRec".to_string(),
        config: cfg.clone(),
        best_epoch: r.best_epoch,
        epochs_run: r.epochs_run,
        valid_ndcg10: r.valid_ndcg10,
        train_seconds: r.train_seconds,
        device: device_label(device_name),
    };
    write_summary(&dir, &summary)?;
    Ok(summary)
}

/// The trained SASRec of the run directory, if there is one, loaded on the CPU for ranking.
pub fn trained_sasrec(run_dir: &Path, num_items: usize) -> Result<Option<SasRecRanker>> {
    let dir = sasrec_dir(run_dir);
    let (cfg_path, model_path) = (dir.join("model-config.json"), dir.join("model.bpk"));
    if !model_path.is_file() {
        return Ok(None);
    }
    let cfg = SasRecConfig::load(&cfg_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", cfg_path.display()))?;
    if cfg.num_items != num_items {
        anyhow::bail!(
            "{}: trained for {} items, the dataset has {num_items}",
            cfg_path.display(),
            cfg.num_items
        );
    }
    let device = star_model::device_from_name("default").map_err(anyhow::Error::msg)?;
    let model = cfg
        .init(&device)
        .try_load_file(&model_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", model_path.display()))?;
    Ok(Some(SasRecRanker::new(model, num_items)))
}

/// The trained CF models in the run directory (those with `embeddings.safetensors`), loaded on
/// the CPU for ranking.
pub fn trained_cf_models(run_dir: &Path) -> Result<Vec<EmbeddingRanker>> {
    let mut out = Vec::new();
    for kind in [CfModelKind::Mf, CfModelKind::LightGcn] {
        let path = cf_dir(run_dir, kind).join("embeddings.safetensors");
        if path.is_file() {
            let device = star_model::device_from_name("default").map_err(anyhow::Error::msg)?;
            let emb = CfEmbeddings::load_safetensors(&path, &device).map_err(anyhow::Error::msg)?;
            out.push(EmbeddingRanker::new(kind.method_name(), &emb).map_err(anyhow::Error::msg)?);
        }
    }
    Ok(out)
}

/// The teacher's shared resources for a prepared run: dataset, evidence store, and the trained
/// BPR-MF embeddings when the run directory has them (for the `cf_score` tool).
pub fn teacher_resources(p: &Prepared) -> Result<ToolResources> {
    let cf = trained_cf_models(&p.run_dir)?
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
    pub summary: star_agents::teach::TeachSummary,
    /// The trajectory file.
    pub path: PathBuf,
    /// The kept (outcome-filtered) trajectories.
    pub kept_path: PathBuf,
    /// The filter's counts.
    pub filter: star_agents::trajectory::FilterStats,
}

/// Runs `teacher` on the jobs of `shard` (the first `limit` of them, if given) that are not yet
/// in `out/STEM.jsonl` on `threads` threads, with a progress bar, then keeps the episodes whose
/// true item is in the top `keep_top` in `out/STEM.kept.jsonl` (counts in
/// `out/STEM.filter.json`). Rerunning resumes: finished episodes are skipped.
#[allow(clippy::too_many_arguments)]
pub fn teach_and_filter(
    teacher: &Teacher,
    mut jobs: Vec<star_agents::teach::TeachJob>,
    shard: star_agents::teach::Shard,
    limit: Option<usize>,
    threads: usize,
    out: &Path,
    stem: &str,
    keep_top: usize,
) -> Result<TeachOutcome> {
    use star_agents::trajectory::{filter_file, FilterConfig, TrajectoryWriter};
    let path = out.join(format!("{stem}.jsonl"));
    let mut writer = TrajectoryWriter::open(&path)?;
    if let Some(limit) = limit {
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
    let summary =
        star_agents::teach::teach(teacher, &jobs, shard, &mut writer, threads, &stop, &|| {
            bar.inc(1)
        })?;
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

/// The chat model for `--llm`: an OpenAI-compatible server from `STAR_LLM_*` variables.
pub fn chat_model_from_env() -> Result<Arc<dyn ChatModel>> {
    let cfg = OpenAiConfig::from_env()?;
    Ok(Arc::new(OpenAiClient::new(cfg)))
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
    let runner = ProtocolRunner::new(&p.ds, &p.split, &p.candidates, &repair, Some(&tagger))?
        .threads(threads.max(1));
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

/// How to distil the teacher into the student (`star distill sft`).
#[derive(Clone, Debug)]
pub struct DistillOptions {
    /// SFT hyper-parameters.
    pub sft: star_train::distill::SftConfig,
    /// What the student learns of each trajectory.
    pub view: star_train::distill::TrajectoryView,
    /// Use at most this many kept trajectories (`None`: all; `Some(0)`: none).
    pub max_trajectories: Option<usize>,
    /// Fast-mode samples (prompt + `<recommend>`, ranking loss only): the last this many train
    /// positions of every user, each with 19 negatives.
    pub fast_per_user: usize,
    /// Tokenizer vocabulary size.
    pub vocab: usize,
    /// Device name.
    pub device: String,
    /// Continue from the latest checkpoint.
    pub resume: bool,
    /// How the CST evidence enters the prompt (`EvidenceMode::None`: the no-CST ablation).
    pub evidence: star_model::model::EvidenceMode,
    /// The student directory (`sft/`, `model/`); `None`: [`student_dir`] of the run.
    pub out: Option<PathBuf>,
    /// The kept trajectories (JSONL); `None`: the rule-based teacher's,
    /// `trajectories/teacher-train.kept.jsonl` of the run (an LLM teacher writes
    /// `teacher-llm-train.kept.jsonl`).
    pub trajectories: Option<PathBuf>,
}

impl DistillOptions {
    /// The student directory of a run with these options.
    pub fn dir(&self, run_dir: &Path) -> PathBuf {
        self.out.clone().unwrap_or_else(|| student_dir(run_dir))
    }

    /// The kept-trajectory file of a run with these options.
    pub fn trajectories(&self, run_dir: &Path) -> PathBuf {
        self.trajectories.clone().unwrap_or_else(|| {
            run_dir
                .join("trajectories")
                .join("teacher-train.kept.jsonl")
        })
    }
}

/// Fast-mode samples (no trajectory) of the train split: of every user, the `per_user` train
/// positions before the last `skip` ones, each with 19 negatives drawn with `seed` (the
/// candidates of a position do not depend on `per_user` or `skip`).
pub fn fast_samples(
    p: &Prepared,
    per_user: usize,
    skip: usize,
    seed: u64,
) -> Result<Vec<star_train::distill::DistillSample>> {
    star_agents::teach::training_jobs_before(&p.ds, &p.split, per_user, skip, 50, 19, seed)
        .into_iter()
        .map(|job| {
            let target = job.meta.target.context("training jobs have targets")?;
            let positive = job
                .request
                .candidates
                .iter()
                .position(|&c| c == target)
                .context("the target is a candidate")?;
            Ok(star_train::distill::DistillSample {
                id: job.meta.id.to_string(),
                request: job.request,
                positive,
                trajectory: None,
            })
        })
        .collect()
}

/// The prepared candidate cases as fast-mode samples.
pub fn valid_samples(p: &Prepared) -> Vec<star_train::distill::DistillSample> {
    p.candidates
        .cases
        .iter()
        .enumerate()
        .map(|(i, c)| star_train::distill::DistillSample {
            id: format!(
                "{}:{}",
                p.candidates.header.split,
                p.ds.users[c.user.idx()].raw_id
            ),
            request: p.candidates.request(i, &p.split),
            positive: c.positive_index,
            trajectory: None,
        })
        .collect()
}

/// The student's directory in a run: `sft/` (checkpoints, logs) and `model/` (the model
/// directory).
pub fn student_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("student")
}

/// Distils the teacher's kept trajectories ([`DistillOptions::trajectories`]) into a
/// student with SFT, validating on the valid candidates of `p` (prepared with
/// `SplitKind::Valid`). The CF item embeddings are BPR-MF's, trained first if missing. Writes
/// the model directory to `student/model`.
pub fn distill_sft(
    p: &Prepared,
    opts: &DistillOptions,
) -> Result<(star_model::model::StarModel, star_train::distill::SftResult)> {
    use star_model::model::{ModelConfig, StarConfig, StarModel};
    use star_model::student::{DecoderConfig, StarTokenizer};
    use star_train::distill::{sample_from_episode, tokenize, train_sft, DistillSample};
    if p.candidates.header.split != SplitKind::Valid {
        bail!("distillation validates on the valid candidates");
    }
    let device = star_model::device_from_name(&opts.device).map_err(anyhow::Error::msg)?;
    let t0 = Instant::now();
    // trajectories
    let kept = opts.trajectories(&p.run_dir);
    let mut samples: Vec<DistillSample> = Vec::new();
    if opts.max_trajectories != Some(0) {
        if !kept.is_file() {
            bail!(
                "{}: no kept trajectories; run `star teach` and its filter first (or pass --max-trajectories 0)",
                kept.display()
            );
        }
        // The teacher writes episodes as its threads finish them, so the file's order varies
        // from run to run. Sort the ids, then shuffle them with the seed: the same subset and
        // order for the same seed, however the file was written. Two passes over the file
        // (ids, then the chosen episodes) hold only the episodes used in memory.
        use star_agents::trajectory::for_each_episode;
        let mut ids: Vec<String> = Vec::new();
        for_each_episode(&kept, |ep, _| {
            ids.push(ep.id.to_string());
            Ok(())
        })?;
        ids.sort();
        ids.dedup(); // a file from elsewhere may repeat an id: its first episode is used
        {
            use rand::seq::SliceRandom;
            use rand::SeedableRng;
            ids.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(opts.sft.seed));
        }
        if let Some(n) = opts.max_trajectories {
            ids.truncate(n);
        }
        let order: std::collections::HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(k, id)| (id.as_str(), k))
            .collect();
        let mut chosen: Vec<Option<star_agents::episode::Episode>> = vec![None; ids.len()];
        for_each_episode(&kept, |ep, _| {
            if let Some(&k) = order.get(ep.id.to_string().as_str()) {
                chosen[k].get_or_insert(ep);
            }
            Ok(())
        })?;
        let episodes: Vec<_> = chosen.into_iter().flatten().collect();
        for ep in &episodes {
            samples.push(sample_from_episode(ep, &p.ds, &p.split, &opts.view)?);
        }
    }
    let n_traj = samples.len();
    samples.extend(fast_samples(p, opts.fast_per_user, 0, opts.sft.seed)?);
    let valid = valid_samples(p);

    // the CF item embeddings
    let mf_path = cf_dir(&p.run_dir, CfModelKind::Mf).join("embeddings.safetensors");
    if !mf_path.is_file() {
        train_cf_model(
            &p.ds,
            &p.split,
            &p.run_dir,
            &CfTrainConfig::recommended(CfModelKind::Mf),
            p.candidates.header.seed,
            "flex",
            false,
        )?;
    }
    let emb = CfEmbeddings::load_safetensors(&mf_path, &device).map_err(anyhow::Error::msg)?;
    let items = emb.items.val();
    let cf_dim = items.dims()[1];

    // tokenizer: prompts and trajectories (a bounded sample of each)
    let raw: Vec<String> = p.ds.items.iter().map(|i| i.raw_id.clone()).collect();
    let mut star = StarConfig::new(raw.clone(), cf_dim);
    star.evidence = opts.evidence;
    let probe_tok = StarTokenizer::train(["<s>History:<item>".to_string()].into_iter(), 300)?;
    let probe = StarModel::init(
        ModelConfig::new(DecoderConfig::student(probe_tok.vocab_size()), star.clone()),
        probe_tok,
        items.clone(),
        &device,
    )
    .map_err(anyhow::Error::msg)?
    .bind(&raw, Some(p.store.clone()));
    let mut corpus: Vec<String> = Vec::new();
    for s in samples.iter().step_by((samples.len() / 2000).max(1)) {
        corpus.push(probe.prompt(&s.request).map_err(anyhow::Error::msg)?.text);
    }
    corpus.extend(
        samples
            .iter()
            .filter_map(|s| s.trajectory.clone())
            .take(2000),
    );
    // a resumed run must tokenise exactly as its checkpoints were trained: keep the tokenizer
    let dir = opts.dir(&p.run_dir);
    let tok_path = dir.join("sft").join("tokenizer.json");
    let tok = if opts.resume && tok_path.is_file() {
        StarTokenizer::load(&tok_path)?
    } else {
        let tok = StarTokenizer::train(corpus.into_iter(), opts.vocab)?;
        std::fs::create_dir_all(dir.join("sft"))?;
        tok.save(&tok_path)?;
        tok
    };
    device.seed(opts.sft.seed);
    let student = StarModel::init(
        ModelConfig::new(DecoderConfig::student(tok.vocab_size()), star),
        tok,
        items,
        &device,
    )
    .map_err(anyhow::Error::msg)?
    .bind(&raw, Some(p.store.clone()));

    // tokens
    let tokenize_all = |xs: &[DistillSample]| -> Result<Vec<star_train::distill::DistillItem>> {
        xs.iter()
            .map(|s| tokenize(&student, s).map_err(anyhow::Error::from))
            .collect()
    };
    let train = tokenize_all(&samples)?;
    let valid = tokenize_all(&valid)?;
    let tokens: usize = train.iter().map(|i| i.len()).sum();
    eprintln!(
        "distill: {} trajectories + {} fast samples ({} tokens), {} valid cases, vocabulary {}, prepared in {:.1}s",
        n_traj,
        samples.len() - n_traj,
        tokens,
        valid.len(),
        student.tokenizer().vocab_size(),
        t0.elapsed().as_secs_f64()
    );
    let result = train_sft(
        &opts.sft,
        &student,
        train,
        valid,
        &dir.join("sft"),
        &device,
        opts.resume,
    )?;
    result
        .model
        .save(&dir.join("model"))
        .map_err(anyhow::Error::msg)?;
    Ok((result.model.clone(), result))
}

/// Options of GRPO after SFT.
#[derive(Clone, Debug)]
pub struct GrpoOptions {
    /// GRPO hyper-parameters.
    pub grpo: star_train::distill::GrpoConfig,
    /// The SFT model directory to start from (and to stay close to).
    pub from: PathBuf,
    /// The output directory: checkpoints and logs, and the model in `model/`.
    pub out: PathBuf,
    /// Training prompts: this many train positions of every user, before the last `skip`.
    pub per_user: usize,
    /// Leave out the last this many train positions of every user (e.g. those SFT's fast
    /// samples already fit, where the SFT model's rewards are saturated).
    pub skip: usize,
    /// Use at most this many prompts, drawn with the seed (explain-mode rollouts are slow on a
    /// CPU).
    pub max_prompts: Option<usize>,
    /// Device name.
    pub device: String,
    /// Continue from the latest checkpoint.
    pub resume: bool,
}

/// The teacher's tools answering the student's tool calls (explain mode).
pub fn student_tools(p: &Prepared) -> Result<Arc<dyn star_model::model::ToolExecutor>> {
    Ok(Arc::new(star_agents::tools::StudentTools {
        registry: star_agents::tools::ToolRegistry::standard(),
        resources: teacher_resources(p)?,
    }))
}

/// Loads a student model directory bound to the prepared dataset's items and evidence, with
/// `tools` answering explain-mode tool calls (build them once with [`student_tools`]; fast
/// mode needs none).
pub fn load_student(
    p: &Prepared,
    model_dir: &Path,
    device: &burn::tensor::Device,
    tools: Option<Arc<dyn star_model::model::ToolExecutor>>,
) -> Result<star_model::model::StarModel> {
    let raw: Vec<String> = p.ds.items.iter().map(|i| i.raw_id.clone()).collect();
    let model = star_model::model::StarModel::load(model_dir, device)
        .map_err(anyhow::Error::msg)?
        .bind(&raw, Some(p.store.clone()));
    Ok(match tools {
        Some(t) => model.with_tools(t),
        None => model,
    })
}

/// GRPO from an SFT student (`opts.from`), on the fast samples of the train split, validating
/// on the valid candidates of `p` (prepared with `SplitKind::Valid`). Writes the model to
/// `opts.out/model`.
pub fn distill_grpo(
    p: &Prepared,
    opts: &GrpoOptions,
) -> Result<(
    star_model::model::StarModel,
    star_train::distill::GrpoResult,
)> {
    use star_train::distill::{tokenize, train_grpo};
    if p.candidates.header.split != SplitKind::Valid {
        bail!("GRPO validates on the valid candidates");
    }
    let device = star_model::device_from_name(&opts.device).map_err(anyhow::Error::msg)?;
    let t0 = Instant::now();
    let tools = if opts.grpo.explain {
        Some(student_tools(p)?)
    } else {
        None
    };
    let sft = load_student(p, &opts.from, &device, tools)?;
    let mut train = fast_samples(p, opts.per_user, opts.skip, opts.grpo.seed)?;
    if let Some(n) = opts.max_prompts {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        train.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(opts.grpo.seed));
        train.truncate(n);
    }
    let valid = valid_samples(p)
        .iter()
        .map(|s| tokenize(&sft, s).map_err(anyhow::Error::from))
        .collect::<Result<Vec<_>>>()?;
    eprintln!(
        "grpo: {} prompts × {} {} rollouts, {} valid cases, prepared in {:.1}s",
        train.len(),
        opts.grpo.group,
        if opts.grpo.explain {
            "explain-mode"
        } else {
            "rank-only"
        },
        valid.len(),
        t0.elapsed().as_secs_f64()
    );
    let result = train_grpo(
        &opts.grpo,
        &sft,
        train,
        valid,
        &opts.out,
        &device,
        opts.resume,
    )?;
    result
        .model
        .save(&opts.out.join("model"))
        .map_err(anyhow::Error::msg)?;
    Ok((result.model.clone(), result))
}

/// Evaluates student model directories on the prepared candidates, each under its method
/// name; `explain` runs explain mode (with the teacher's tools answering tool calls) instead
/// of fast mode. Cases run on `threads` threads (latency stays per request).
pub fn eval_students(
    p: &Prepared,
    models: &[(String, PathBuf)],
    device: &str,
    explain: bool,
    threads: usize,
) -> Result<EvalReport> {
    let device = star_model::device_from_name(device).map_err(anyhow::Error::msg)?;
    let tagger = scenario_tagger(&p.ds, &p.store);
    let repair = baselines::ItemKnn::new(p.store.clone());
    let runner = ProtocolRunner::new(&p.ds, &p.split, &p.candidates, &repair, Some(&tagger))?
        .threads(threads);
    let mut report = EvalReport::new(&p.candidates.header);
    let (mode, tools) = if explain {
        (
            star_model::model::InferenceMode::Explain,
            Some(student_tools(p)?),
        )
    } else {
        (star_model::model::InferenceMode::Fast, None)
    };
    for (name, dir) in models {
        let student = load_student(p, dir, &device, tools.clone())
            .with_context(|| format!("model `{name}`"))?
            .with_mode(mode)
            .with_name(name.clone());
        eprintln!(
            "eval: {name} ({}) on {} cases",
            dir.display(),
            p.candidates.cases.len()
        );
        report.push(runner.run(&student));
    }
    Ok(report)
}

/// Evaluates a student model directory in fast mode on the prepared candidates.
pub fn eval_student(
    p: &Prepared,
    model_dir: &Path,
    device: &str,
    name: &str,
) -> Result<EvalReport> {
    eval_students(
        p,
        &[(name.to_string(), model_dir.to_path_buf())],
        device,
        false,
        1,
    )
}

/// The training-curve panels of a run directory, from burn-train's metric logs: BPR-MF,
/// LightGCN and SASRec (train loss, valid NDCG@10), the student's SFT (train loss, valid
/// avg-HR) and GRPO (train reward, valid avg-HR). Models that were not trained have no logs
/// and are left out.
pub fn training_panels(run_dir: &Path) -> Result<Vec<star_eval::plots::TrainingPanel>> {
    let student = student_dir(run_dir);
    let models = [
        (
            "BPR-MF",
            cf_dir(run_dir, CfModelKind::Mf),
            "Loss",
            "NDCG@10",
        ),
        (
            "LightGCN",
            cf_dir(run_dir, CfModelKind::LightGcn),
            "Loss",
            "NDCG@10",
        ),
        ("SASRec", sasrec_dir(run_dir), "Loss", "NDCG@10"),
        ("student SFT", student.join("sft"), "Loss", "avg-HR"),
        ("student GRPO", student.join("grpo"), "reward", "avg-HR"),
    ];
    let mut panels = Vec::new();
    for (title, dir, train, valid) in models {
        let log = star_eval::plots::TrainingLog::read(&dir)?;
        if !log.is_empty() {
            panels.push(star_eval::plots::TrainingPanel {
                title: title.into(),
                log,
                train_metric: train.into(),
                valid_metric: valid.into(),
            });
        }
    }
    Ok(panels)
}

/// Draws a run's figures into `run_dir` (see [`star_eval::plots::write_all`]): metrics per
/// method and accuracy against latency from `report`, training curves from the run's logs.
pub fn write_plots(report: &EvalReport, run_dir: &Path) -> Result<Vec<PathBuf>> {
    let panels = training_panels(run_dir)?;
    Ok(star_eval::plots::write_all(report, &panels, run_dir)?)
}
