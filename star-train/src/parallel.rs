//! Data-parallel training steps on the CPU: burn's CPU backend keeps about one core busy per
//! forward and backward pass, so a batch cut into parts runs its parts on rayon's threads.

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use rayon::prelude::*;

/// Runs `loss` on each part of a batch (one part on this thread; several as tasks of rayon's
/// pool, each on a fork of `model` on `device`, so that their autodiff graphs are separate) and
/// returns the sum of the parts' gradients, added in part order, with each part's detached loss
/// and output. The parts' losses must add up to the batch's loss, and `loss` must draw nothing
/// from a generator the threads share, so the result does not depend on timing.
pub fn split_step<M, B, O>(
    model: &M,
    parts: Vec<B>,
    device: &Device,
    loss: impl Fn(&M, B) -> (Tensor<1>, O) + Sync,
) -> (GradientsParams, Vec<(Tensor<1>, O)>)
where
    M: Module + Send + Sync,
    B: Send,
    O: Send,
{
    let run = |m: &M, b: B| {
        let (l, out) = loss(m, b);
        let grads = GradientsParams::from_grads(l.backward(), m);
        (grads, (l.detach(), out))
    };
    let results: Vec<(GradientsParams, (Tensor<1>, O))> = if parts.len() == 1 {
        parts.into_iter().map(|b| run(model, b)).collect()
    } else {
        // on rayon's threads, so the parts and the operations they fan out (matrix products,
        // the fused operations) share one pool instead of oversubscribing the cores; results
        // come back in part order
        let forks: Vec<M> = parts.iter().map(|_| model.clone().fork(device)).collect();
        forks
            .into_par_iter()
            .zip(parts)
            .map(|(fork, b)| run(&fork, b))
            .collect()
    };
    let mut acc = GradientsAccumulator::new();
    let mut outputs = Vec::with_capacity(results.len());
    for (grads, out) in results {
        acc.accumulate(model, grads);
        outputs.push(out);
    }
    (acc.grads(), outputs)
}

/// Runs `f` on each part of a batch (several as tasks of rayon's pool) and returns the results
/// in part order: inference, so the parts share `model` (there is no graph to keep apart).
pub fn split_forward<M, B, O>(model: &M, parts: Vec<B>, f: impl Fn(&M, B) -> O + Sync) -> Vec<O>
where
    M: Sync,
    B: Send,
    O: Send,
{
    if parts.len() == 1 {
        parts.into_iter().map(|b| f(model, b)).collect()
    } else {
        parts.into_par_iter().map(|b| f(model, b)).collect()
    }
}
