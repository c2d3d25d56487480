//! # star-train
//!
//! Distillation for STAR: the tokenizer, the trajectory dataset and batcher, the
//! trajectory-aligned loss, SFT with burn-train's `Learner`, and GRPO.
//!
//! *Not implemented yet.* This crate is a shell until the distillation issue lands.
