//! GRPO's hyper-parameters.

use burn::prelude::*;

/// Hyper-parameters of GRPO.
#[derive(Config, Debug, PartialEq)]
pub struct GrpoConfig {
    /// Rollouts per prompt (the group size `G`).
    #[config(default = 8)]
    pub group: usize,
    /// Explain-mode rollouts (sampled trajectories with live tool calls) instead of
    /// rank-only ones.
    #[config(default = false)]
    pub explain: bool,
    /// KL coefficient `β` to the SFT model.
    #[config(default = 0.001)]
    pub kl: f64,
    /// Clip range `ε` of the probability ratio.
    #[config(default = 0.2)]
    pub clip: f64,
    /// Sampling temperature of rankings (and of tokens in explain mode).
    #[config(default = 1.0)]
    pub temperature: f64,
    /// Places of the ranking sampled (the reward looks at the top 5).
    #[config(default = 5)]
    pub rank_depth: usize,
    /// Weight of the format reward.
    #[config(default = 0.5)]
    pub format_weight: f64,
    /// Token budget of an explain-mode rollout before `<recommend>` is forced.
    #[config(default = 256)]
    pub max_new_tokens: usize,
    /// Maximum epochs over the prompts.
    #[config(default = 3)]
    pub max_epochs: usize,
    /// Prompts per step (each with `group` rollouts).
    #[config(default = 16)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[config(default = 1e-4)]
    pub learning_rate: f64,
    /// Early-stopping patience in epochs (on validation avg-HR).
    #[config(default = 2)]
    pub patience: usize,
    /// Each step's prompts are cut into this many parts (prompt `i` to part `i % parts`) whose
    /// rollouts, forward and backward passes run on threads of their own; their gradients add up
    /// to the step's. Results depend on this number (floating-point sums), not on the thread
    /// count.
    #[config(default = 2)]
    pub parts: usize,
    /// Seed of the batch order and the rollouts.
    #[config(default = 42)]
    pub seed: u64,
}
