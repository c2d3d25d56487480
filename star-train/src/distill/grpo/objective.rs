//! The GRPO objective: the clipped-ratio surrogate minus a KL penalty to the reference model.

use burn::prelude::*;

/// The GRPO objective over `N` of a step's `total` rollouts: for rollout `n` with actions `u`
/// (mask 1), log-probabilities `logp` under the policy, `old` under the sampling policy and
/// `reference` under the SFT model, and advantage `adv[n]`, the step's loss is
///
/// `loss = −mean_n [ Σ_u mask·(min(ρ·A, clip(ρ, 1−ε, 1+ε)·A) − β·KL_u) / Σ_u mask ]`
///
/// with `ρ = exp(logp − old)` and `KL_u = exp(ref − logp) − (ref − logp) − 1` (the unbiased,
/// non-negative estimator of DeepSeekMath), the mean taken over all `total` rollouts, so the
/// losses of a step's parts add up to the step's. All log-probability tensors are `[N, U]`.
#[allow(clippy::too_many_arguments)]
pub fn grpo_loss(
    logp: Tensor<2>,
    old: Tensor<2>,
    reference: Tensor<2>,
    mask: Tensor<2>,
    adv: Tensor<1>,
    clip: f64,
    beta: f64,
    total: usize,
) -> GrpoLoss {
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
    GrpoLoss {
        loss,
        kl_sum: (kl * mask.clone()).sum(),
        actions: mask.sum(),
    }
}

/// [`grpo_loss`] over some of a step's rollouts.
#[derive(Clone, Debug)]
pub struct GrpoLoss {
    /// `−Σ_n [ … ] / total` over these rollouts (the parts' losses add up to the step's).
    pub loss: Tensor<1>,
    /// `Σ mask·KL_u` over these rollouts.
    pub kl_sum: Tensor<1>,
    /// `Σ mask`: the actions of these rollouts.
    pub actions: Tensor<1>,
}

impl GrpoLoss {
    /// The mean KL estimate over these rollouts' actions.
    pub fn kl_mean(&self) -> Tensor<1> {
        self.kl_sum.clone() / self.actions.clone().clamp_min(1.0)
    }
}
