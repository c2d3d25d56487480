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
use star_cf::candidates::CandidateSet;
use star_cf::data::{Dataset, Dedup, PreprocessOptions};
use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::scenario::{ScenarioConfig, ScenarioTagger};
use star_cf::split::{Split, SplitKind};
use star_eval::baselines;
use star_eval::{EvalReport, ProtocolRunner};
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

/// Evaluates Pop, ItemKNN, UserKNN and the CST evidence scorer on the prepared candidates.
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
    Ok(report)
}
