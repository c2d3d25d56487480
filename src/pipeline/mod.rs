//! The pipeline's steps, shared by the `star` CLI and the examples, with every artefact cached
//! in a run directory ([`layout`] lists its files). A step whose artefact exists (and belongs
//! to the same dataset, by fingerprint) reuses it; one process writes a run directory at a
//! time.
//!
//! - [`layout`]: the run directory ([`RunDir`], locked while a process writes it), the
//!   evaluation [`Protocol`] (seed, negatives) and the training device ([`Compute`]);
//! - [`data`]: load and split a dataset, candidate files, the evidence store ([`Prepared`]);
//! - [`baselines`]: train BPR-MF, LightGCN and SASRec, evaluate every baseline;
//! - [`teacher`]: run the teacher into trajectory files, the outcome filter, its evaluation;
//! - [`samples`]: the student's fast-mode training and validation samples;
//! - [`student`]: SFT and GRPO distillation, loading and evaluating students;
//! - [`students`]: the ensemble of students the main job distils (`--students`);
//! - [`soft_targets`]: SFT's soft targets from the sequential model (`--soft-weight`);
//! - [`plots`]: a run's figures;
//! - [`run`]: all of it as one resumable run (`star run`, `examples/movielens.rs`).

pub mod baselines;
pub mod data;
pub mod layout;
pub mod plots;
pub mod run;
pub mod samples;
pub mod sequence;
pub mod soft_targets;
pub mod student;
pub mod student_resume;
pub mod students;
pub mod teacher;

pub use data::{prepare, DataSpec, Prepared};
pub use layout::{Compute, Protocol, RunDir};
