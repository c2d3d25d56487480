//! # star-agents
//!
//! The STAR teacher (MARS): agent roles as traits, CF tools over the `star-cf` evidence store,
//! chat-model backends, multi-turn orchestration with reflection, and trajectories.
//!
//! *Not implemented yet.* This crate is a shell until the teacher issue lands.
