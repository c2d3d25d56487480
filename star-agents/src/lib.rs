//! # star-agents
//!
//! The STAR teacher (MARS): a planner, four analysts (user profile, historical interest, recent
//! interest, interest divergence), a reflector and a ranker, each a trait with a rule-based
//! implementation (deterministic, data-driven, no model needed) and an LLM-prompted one over a
//! [`chat::ChatModel`]. Analysts call CF tools over the `star-cf` evidence store; the
//! orchestrator records every step of an episode, and episodes serialise into the tagged
//! trajectories the student is distilled from.

pub mod analyst;
pub mod chat;
pub mod episode;
pub mod orchestrator;
pub mod origin;
pub mod roles;
pub mod selection;
pub mod teach;
pub mod tools;
pub mod trajectory;

pub use orchestrator::{EpisodeMeta, Roles, Teacher, TeacherConfig};
pub use origin::Origin;
