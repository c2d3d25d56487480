//! # star
//!
//! STAR ("Single-agent Trajectory-Aligned Recommender", arXiv 2602.09829) on burn: a
//! multi-agent teacher reasons over collaborative-filtering evidence, and its trajectories are
//! distilled into one compact student that ranks candidates in a single pass.
//!
//! This facade re-exports the member crates and holds the pipeline steps shared by the `star`
//! CLI and the examples:
//!
//! - [`cf`] (`star-cf`): data, splits, candidate files, the [`cf::Ranker`] protocol, CF graph,
//!   neighbours and CST evidence;
//! - [`eval`] (`star-eval`): metrics, the protocol runner, baselines and reports;
//! - [`model`] (`star-model`), [`agents`] (`star-agents`), [`train`] (`star-train`): the
//!   student, the teacher and distillation;
//! - [`pipeline`]: load → split → candidate files → evidence store → evaluation, with every
//!   artefact cached in a run directory.
//!
//! ```no_run
//! use star::cf::evidence::{EvidenceConfig, EvidenceStore};
//! use star::cf::prelude::*;
//!
//! let ds = star::cf::data::load_dir("my-data".as_ref(), Some("mine"), &PreprocessOptions::default())?;
//! let split = Split::temporal_leave_one_out(&ds);
//! let cands = CandidateSet::sample(&ds, &split, SplitKind::Test, 19, 42)?;
//! let store = EvidenceStore::build(&ds, &split, EvidenceConfig::default());
//! let req = cands.request(0, &split);
//! for ev in store.evidence(&req).candidates {
//!     println!("{}: {}", store.item_label(ev.item), store.sentences(&ev).join(" "));
//! }
//! # Ok::<(), star::cf::CfError>(())
//! ```

pub use star_agents as agents;
pub use star_cf as cf;
pub use star_eval as eval;
pub use star_model as model;
pub use star_train as train;

pub mod allocator;
pub mod pipeline;
