//! # star-cf
//!
//! The data side of STAR, in plain Rust (no burn): dataset loaders, the temporal leave-one-out
//! split, the 1+19 candidate files, the [`Ranker`] protocol every method implements, the
//! bipartite CF graph with item and user neighbours, and the Collaborative Signal Translation
//! (CST) evidence store that turns those signals into structured facts and sentences.
//!
//! ```no_run
//! use star_cf::prelude::*;
//! let ds = star_cf::data::movielens::load_100k("ml-100k", &PreprocessOptions::default())?;
//! let split = Split::temporal_leave_one_out(&ds);
//! let cands = CandidateSet::sample(&ds, &split, SplitKind::Test, 19, 42)?;
//! # Ok::<(), star_cf::CfError>(())
//! ```

pub mod candidates;
pub mod data;
pub mod error;
pub mod evidence;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod fsutil;
pub mod graph;
pub mod ids;
pub mod lock;
pub mod metric_names;
pub mod negatives;
pub mod neighbors;
pub mod progress;
pub mod rank_metrics;
pub mod ranker;
pub mod scenario;
pub mod seed;
pub mod split;

pub use error::{CfError, Result};
pub use ids::{ItemId, UserId};
pub use negatives::NegativeSampler;
pub use ranker::{CatalogueScorer, RankError, RankRequest, Ranker, Ranking};

/// The types most programs need.
pub mod prelude {
    pub use crate::candidates::{CandidateCase, CandidateSet};
    pub use crate::data::{Dataset, DatasetBuilder, Dedup, PreprocessOptions};
    pub use crate::error::{CfError, Result};
    pub use crate::ids::{ItemId, UserId};
    pub use crate::ranker::{CatalogueScorer, RankError, RankRequest, Ranker, Ranking};
    pub use crate::scenario::{Scenario, ScenarioConfig, ScenarioTagger};
    pub use crate::split::{Split, SplitKind, TrainingSample};
}
