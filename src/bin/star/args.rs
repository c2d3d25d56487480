//! Arguments shared by the command groups: which data, and which protocol and run directory.

use anyhow::Result;
use clap::{Args, ValueEnum};
use star::cf::data::{Dedup, PreprocessOptions};
use star::cf::split::SplitKind;
use star::pipeline::{self, DataSpec, Prepared, Protocol};
use std::path::PathBuf;

/// How repeated (user, item) pairs are kept.
#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum DedupArg {
    /// The first interaction.
    First,
    /// The last interaction.
    Last,
    /// All of them.
    #[value(alias = "none")]
    All,
}

impl From<DedupArg> for Dedup {
    fn from(d: DedupArg) -> Dedup {
        match d {
            DedupArg::First => Dedup::KeepFirst,
            DedupArg::Last => Dedup::KeepLast,
            DedupArg::All => Dedup::KeepAll,
        }
    }
}

/// Which dataset and how to preprocess it.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// Dataset name: movielens-100k, movielens-1m, movielens-latest-small, movielens-25m,
    /// synthetic[:SEED | :key=value,...] (e.g. synthetic:users=60,items=200), or any name together with --data.
    #[arg(long, default_value = "movielens-100k")]
    pub dataset: String,
    /// Read the dataset from this directory (format detected) instead of the cache.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Keep only interactions rated at least this much.
    #[arg(long)]
    pub min_rating: Option<f32>,
    /// k-core: every user and item keeps at least this many interactions.
    #[arg(long, default_value_t = 0)]
    pub k_core: usize,
    /// Repeated (user, item) pairs.
    #[arg(long, value_enum, default_value_t = DedupArg::First)]
    pub dedup: DedupArg,
}

impl DataArgs {
    /// The data spec, with the dataset cache `home` (default `$STAR_HOME`).
    pub fn spec(&self, home: &Option<PathBuf>) -> DataSpec {
        DataSpec {
            dataset: self.dataset.clone(),
            data_dir: self.data.clone(),
            home: home.clone().unwrap_or_else(star::cf::fetch::star_home),
            preprocess: PreprocessOptions {
                min_rating: self.min_rating,
                dedup: self.dedup.into(),
                user_core: self.k_core,
                item_core: self.k_core,
            },
        }
    }
}

/// The evaluation protocol and the run directory.
#[derive(Args, Clone)]
pub struct ProtocolArgs {
    /// Seed of the negative sampling (and of training).
    #[arg(long, default_value_t = Protocol::default().seed)]
    pub seed: u64,
    /// Negatives per case (the paper's protocol: 19, i.e. 20 candidates).
    #[arg(long, default_value_t = Protocol::default().negatives)]
    pub negatives: usize,
    /// Run directory holding candidate files and caches (default: runs/<dataset>).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
}

impl ProtocolArgs {
    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        Protocol {
            seed: self.seed,
            negatives: self.negatives,
        }
    }

    /// Prepares `spec` for `split` under these settings.
    pub fn prepare(&self, spec: &DataSpec, split: SplitKind) -> Result<Prepared> {
        pipeline::prepare(spec, self.run_dir.as_deref(), split, self.protocol())
    }
}
