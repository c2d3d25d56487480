//! GRPO after SFT (group relative policy optimisation, DeepSeekMath's recipe applied to
//! ranking): for each prompt the policy draws a group of `G` outputs, each is rewarded, the
//! rewards are normalised within the group into advantages, and the policy maximises the
//! clipped-ratio surrogate minus a KL penalty to the SFT model.
//!
//! Two rollout modes:
//! - **rank-only** (default, cheap): one forward pass per prompt gives the candidate scores;
//!   `G` rankings are sampled from them as Plackett–Luce permutations (the Gumbel-top-k
//!   trick). The actions are the ranking's places; a ranking is always well formed.
//! - **explain**: `G` trajectories are sampled token by token in explain mode, with the tool
//!   calls answered live through the model's [`star_model::model::ToolExecutor`]; the ranking
//!   is then sampled from the scores at the `<recommend>` reached. The actions are the
//!   generated tokens (tool responses and the prompt are conditioned on) plus the ranking's
//!   places.
//!
//! Reward = tiered outcome ([`outcome_reward`]: 1, 2/3, 1/3, 0 for the true item at rank 1,
//! in the top 3, in the top 5, lower) + `format_weight` × format (1 when the rollout reached
//! `<recommend>` by itself and every tool call succeeded; always 1 in rank-only mode).
//!
//! Each rollout group is used for one gradient step (`μ = 1`, the common setting), so the
//! probability ratio to the sampling policy is exactly 1 at that step and the clip never
//! binds: the update is the advantage-weighted policy gradient plus the KL term.
//! [`grpo_loss`] implements the general clipped objective (tested with ratios away from 1), so
//! several updates per rollout group (`μ > 1`) would only need the rollouts kept.

mod config;
mod learner;
mod objective;
mod reward;
mod rollout;
mod sampling;
mod train;

pub use config::GrpoConfig;
pub use learner::{GrpoBatch, GrpoContext, GrpoLearner, GrpoPrompt};
pub use objective::{grpo_loss, GrpoLoss};
pub use reward::{group_advantages, outcome_reward};
pub use sampling::{ranking_logp, sample_ranking};
pub use train::{train_grpo, GrpoResult};
