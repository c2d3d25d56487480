//! The GRPO objective: the clipped-ratio surrogate minus a KL penalty to the reference model.

use burn::prelude::*;

/// The GRPO objective as a loss, with the mean KL estimate: for rollout `n` with actions
/// `u` (mask 1), log-probabilities `logp` under the policy, `old` under the sampling policy
/// and `reference` under the SFT model, and advantage `adv[n]`,
///
/// `loss = −mean_n [ Σ_u mask·(min(ρ·A, clip(ρ, 1−ε, 1+ε)·A) − β·KL_u) / Σ_u mask ]`
///
/// with `ρ = exp(logp − old)` and `KL_u = exp(ref − logp) − (ref − logp) − 1` (the unbiased,
/// non-negative estimator of DeepSeekMath). All log-probability tensors are `[N, U]`.
pub fn grpo_loss(
    logp: Tensor<2>,
    old: Tensor<2>,
    reference: Tensor<2>,
    mask: Tensor<2>,
    adv: Tensor<1>,
    clip: f64,
    beta: f64,
) -> (Tensor<1>, Tensor<1>) {
    let [n, _] = logp.dims();
    let a = adv.reshape([n, 1]);
    let ratio = (logp.clone() - old).exp();
    let unclipped = ratio.clone() * a.clone();
    let clipped = ratio.clamp(1.0 - clip, 1.0 + clip) * a;
    let surrogate = unclipped.min_pair(clipped);
    let diff = reference - logp;
    let kl = diff.clone().exp() - diff - 1.0;
    let per = (surrogate - kl.clone().mul_scalar(beta)) * mask.clone();
    let count = mask.clone().sum_dim(1).clamp_min(1.0);
    let loss = (per.sum_dim(1) / count).mean().neg();
    let kl_mean = (kl * mask.clone()).sum() / mask.sum().clamp_min(1.0);
    (loss, kl_mean)
}
