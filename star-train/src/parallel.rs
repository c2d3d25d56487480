//! Data-parallel training steps on the CPU: burn's CPU backend keeps about one core busy per
//! forward and backward pass, so a batch cut into parts runs its parts on threads of their own.

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;

/// Runs `loss` on each part of a batch (one part on this thread; several on threads of their
/// own, each on a fork of `model` on `device`, so that their autodiff graphs are separate) and
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
        std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .into_iter()
                .map(|b| {
                    let fork = model.clone().fork(device);
                    let run = &run;
                    s.spawn(move || run(&fork, b))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    let mut acc = GradientsAccumulator::new();
    let mut outputs = Vec::with_capacity(results.len());
    for (grads, out) in results {
        acc.accumulate(model, grads);
        outputs.push(out);
    }
    (acc.grads(), outputs)
}
