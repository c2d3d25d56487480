//! Data: load and preprocess a dataset, split it, and load or draw the candidate files and the
//! evidence store of a run directory. A step whose artefact exists (and belongs to the same
//! dataset, by fingerprint) reuses it.

use super::layout::{Protocol, RunDir};
use anyhow::{bail, Context, Result};
use star_cf::candidates::CandidateSet;
use star_cf::data::{Dataset, PreprocessOptions};
use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::scenario::{ScenarioConfig, ScenarioTagger};
use star_cf::split::{Split, SplitKind};
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

/// The default run directory of a dataset: `runs/<dataset name>`.
pub fn default_run_dir(ds: &Dataset) -> PathBuf {
    PathBuf::from("runs").join(&ds.name)
}

/// Opens (and locks) `run_dir`, or the dataset's [`default_run_dir`] when it is `None`.
pub fn open_run_dir(ds: &Dataset, run_dir: Option<&Path>) -> Result<RunDir> {
    match run_dir {
        Some(dir) => RunDir::open(dir),
        None => RunDir::open(&default_run_dir(ds)),
    }
}

/// Loads the candidate file of `kind` under `protocol` from the run directory, or draws and
/// writes it.
pub fn candidates(
    ds: &Dataset,
    split: &Split,
    run: &RunDir,
    kind: SplitKind,
    protocol: Protocol,
) -> Result<CandidateSet> {
    let path = run.candidates(kind, protocol.seed);
    if path.exists() {
        let set = CandidateSet::load(&path, ds).with_context(|| {
            format!(
                "the run directory {} belongs to other data; pass another --run-dir or delete it",
                run.path().display()
            )
        })?;
        if set.header.num_candidates != protocol.negatives + 1 {
            bail!(
                "{} holds {} candidates per case, not {}; pass another --run-dir",
                path.display(),
                set.header.num_candidates,
                protocol.negatives + 1
            );
        }
        set.validate_against(ds, split)?;
        tracing::info!("reusing {}", path.display());
        return Ok(set);
    }
    let set = CandidateSet::sample(ds, split, kind, protocol.negatives, protocol.seed)?;
    set.save(&path, ds)?;
    tracing::info!("wrote {} ({} cases)", path.display(), set.cases.len());
    Ok(set)
}

/// Loads the evidence store from the run directory, or builds and saves it.
pub fn evidence_store(ds: &Dataset, split: &Split, run: &RunDir) -> Result<Arc<EvidenceStore>> {
    let path = run.evidence();
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

/// Everything the steps of one split need.
pub struct Prepared {
    /// The dataset.
    pub ds: Dataset,
    /// Its temporal leave-one-out split.
    pub split: Split,
    /// The candidate file of the evaluated split.
    pub candidates: CandidateSet,
    /// The evidence store built from the train split.
    pub store: Arc<EvidenceStore>,
    /// The run directory (locked while this lives).
    pub run: RunDir,
    /// The protocol the candidate files were drawn under.
    pub protocol: Protocol,
}

/// Loads the data, splits it, opens (and locks) the run directory (`runs/<dataset>` when
/// `run_dir` is `None`), and loads or creates the candidate file of `kind` and the evidence
/// store in it.
pub fn prepare(
    spec: &DataSpec,
    run_dir: Option<&Path>,
    kind: SplitKind,
    protocol: Protocol,
) -> Result<Prepared> {
    let ds = spec.load()?;
    let split = Split::temporal_leave_one_out(&ds);
    let run = open_run_dir(&ds, run_dir)?;
    let candidates = candidates(&ds, &split, &run, kind, protocol)?;
    let store = evidence_store(&ds, &split, &run)?;
    Ok(Prepared {
        ds,
        split,
        candidates,
        store,
        run,
        protocol,
    })
}

impl Prepared {
    /// The same data, split and evidence store with the candidate file of another split
    /// (loaded or created), without reloading the dataset.
    pub fn for_split(&self, kind: SplitKind) -> Result<Prepared> {
        Ok(Prepared {
            ds: self.ds.clone(),
            split: self.split.clone(),
            candidates: candidates(&self.ds, &self.split, &self.run, kind, self.protocol)?,
            store: self.store.clone(),
            run: self.run.clone(),
            protocol: self.protocol,
        })
    }

    /// The split the candidates are of.
    pub fn kind(&self) -> SplitKind {
        self.candidates.header.split
    }
}
