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
//! Distillation (tokenizer, trajectory dataset, trajectory-aligned loss, SFT, GRPO) lands with
//! its issue.

pub mod cf;
pub mod loader;
pub mod metrics;
pub mod renderer;
pub mod run;
pub mod sasrec;
