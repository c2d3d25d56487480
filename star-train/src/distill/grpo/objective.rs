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
    let n = logp.dims()[0];
    let part = grpo_loss_part(logp, old, reference, mask, adv, clip, beta, n);
    let kl_mean = part.kl_sum / part.actions.clamp_min(1.0);
    (part.loss, kl_mean)
}

/// [`grpo_loss`] over some of a step's rollouts, so that the parts of a step add up to it.
#[derive(Clone, Debug)]
pub struct GrpoPartLoss {
    /// `−Σ_n [ … ] / total` over these rollouts (the parts' losses add up to the step's).
    pub loss: Tensor<1>,
    /// `Σ mask·KL_u` over these rollouts.
    pub kl_sum: Tensor<1>,
    /// `Σ mask`: the actions of these rollouts.
    pub actions: Tensor<1>,
}

/// The terms of [`grpo_loss`] for `N` of a step's `total` rollouts.
#[allow(clippy::too_many_arguments)]
pub fn grpo_loss_part(
    logp: Tensor<2>,
    old: Tensor<2>,
    reference: Tensor<2>,
    mask: Tensor<2>,
    adv: Tensor<1>,
    clip: f64,
    beta: f64,
    total: usize,
) -> GrpoPartLoss {
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
    let loss = (per.sum_dim(1) / count)
        .sum()
        .div_scalar(total.max(1) as f64)
        .neg();
    GrpoPartLoss {
        loss,
        kl_sum: (kl * mask.clone()).sum(),
        actions: mask.sum(),
    }
}
