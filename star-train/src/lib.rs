//! # star-train
//!
//! Training for STAR on burn-train's `Learner`:
//!
//! - [`cf`]: the CF encoders (BPR-MF, LightGCN) with BPR loss, validation HR@10/NDCG@10 on the
//!   1+N valid candidates, early stopping on NDCG@10, checkpoints and exact resume;
//! - [`loader`]: epoch-deterministic data loaders (an epoch's batches depend only on the seed
//!   and the epoch number, so resuming from a checkpoint replays the same batches);
//! - [`metrics`]: HR@k / NDCG@k as burn-train metrics.
//!
//! - [`distill`]: distillation data (episodes → samples → tokenised items with a segment per
//!   token → batches), the trajectory-aligned loss, SFT and GRPO;
//! - [`average`]: checkpoint averaging (the mean of several epochs' weights);
//! - [`checkpoint`]: checkpoints written atomically with SHA-256 sidecars, verified on resume;
//! - [`lr_decay`]: the learning-rate schedule (constant, linear or cosine decay);
//! - [`run`]: the run directory and the `Learner` set-up every training shares;
//! - [`devices`]: the device, or devices, a training runs on ([`TrainDevices`]);
//! - [`outcome`]: what every training hands back ([`outcome::TrainOutcome`]) and the choice of
//!   its best checkpoint.

pub mod average;
pub mod cf;
pub mod checkpoint;
pub mod devices;
pub mod distill;
pub mod loader;
pub mod lr_decay;
pub mod metrics;
pub mod outcome;
pub mod parallel;
pub mod renderer;
pub mod run;
pub mod sasrec;

pub use devices::TrainDevices;
