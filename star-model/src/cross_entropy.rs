//! Cross-entropy per row, fused: `−log softmax(logits[r])[targets[r]]`, as a backend operation
//! with its own backward pass.
//!
//! The composed version (`log_softmax`, `gather`, and their backward passes) walks the
//! `[N, K]` logits many times over (max, subtract, exp, sum, log, gather, and as many on the
//! way back), on one thread, with a scalar `exp` on Flex. Here:
//! - forward: per row, the maximum and `Σ exp(x − max)` (two passes), `lse = max + ln Σ`, and
//!   `lse − x[target]`;
//! - backward: per row, `g · (exp(x − lse) − [j = target])` (one pass).
//!
//! On Flex (f32 logits) both run on rayon's threads, a row at a time, with an `exp` that the
//! compiler vectorises ([`exp_f32`]); each row is summed in a fixed order, so the result does
//! not depend on the thread count. Every other backend and dtype runs the tensor reference
//! ([`row_logsumexp_reference`], [`cross_entropy_backward_reference`]).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, TensorMetadata};
use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;

/// `−log softmax(logits [N, K])[targets [N]]` per row: `[N]`. Differentiable in `logits`.
///
/// # Panics
/// If the shapes disagree (a burn shape check) or a target is outside `0..K`.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [n, _] = logits.dims();
    assert_eq!(targets.dims(), [n], "one target per row");
    Tensor::from_dispatch(<burn::backend::Dispatch as CrossEntropy>::cross_entropy(
        logits.into_dispatch(),
        targets.into_dispatch(),
    ))
}

backend_operation! {
    /// The fused cross-entropy as a backend operation.
    pub trait CrossEntropy: Backend {
        /// `lse[r] − logits[r, targets[r]]` for logits `[N, K]`, targets `[N]`: `[N]`.
        fn cross_entropy(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
            let lse = Self::row_logsumexp(logits.clone());
            nll_from_lse::<Self>(logits, lse, targets)
        }

        /// `log Σ_j exp(logits[r, j])` per row: `[N]`.
        fn row_logsumexp(logits: FloatTensor<Self>) -> FloatTensor<Self> {
            row_logsumexp_reference::<Self>(logits)
        }

        /// The gradient with respect to the logits for an output gradient `grad [N]`:
        /// `grad[r] · (exp(logits[r, j] − lse[r]) − [j = targets[r]])`, `[N, K]`.
        fn cross_entropy_backward(
            logits: FloatTensor<Self>,
            lse: FloatTensor<Self>,
            targets: IntTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            cross_entropy_backward_reference::<Self>(logits, lse, targets, grad)
        }
    }
}

/// `lse[r] − logits[r, targets[r]]`.
pub(crate) fn nll_from_lse<B: Backend>(
    logits: FloatTensor<B>,
    lse: FloatTensor<B>,
    targets: IntTensor<B>,
) -> FloatTensor<B> {
    let n = logits.shape()[0];
    let picked = B::float_gather(1, logits, B::int_reshape(targets, [n, 1].into()));
    B::float_sub(lse, B::float_reshape(picked, [n].into()))
}

/// The tensor reference of [`CrossEntropy::row_logsumexp`].
pub fn row_logsumexp_reference<B: Backend>(logits: FloatTensor<B>) -> FloatTensor<B> {
    let shape = logits.shape();
    let n = shape[0];
    let max = B::float_max_dim(logits.clone(), 1);
    let shifted = B::float_sub(logits, B::float_expand(max.clone(), shape));
    let sum = B::float_sum_dim(B::float_exp(shifted), 1);
    B::float_reshape(B::float_add(max, B::float_log(sum)), [n].into())
}

/// The tensor reference of [`CrossEntropy::cross_entropy_backward`].
pub fn cross_entropy_backward_reference<B: Backend>(
    logits: FloatTensor<B>,
    lse: FloatTensor<B>,
    targets: IntTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let shape = logits.shape();
    let n = shape[0];
    let column = |t: FloatTensor<B>| B::float_reshape(t, [n, 1].into());
    let softmax = B::float_exp(B::float_sub(
        logits,
        B::float_expand(column(lse), shape.clone()),
    ));
    let g = column(grad);
    let scaled = B::float_mul(softmax, B::float_expand(g.clone(), shape));
    B::float_scatter(
        1,
        scaled,
        B::int_reshape(targets, [n, 1].into()),
        B::float_neg(g),
        IndexingUpdateOp::Add,
    )
}

/// `eˣ` in single precision, in a form the compiler vectorises: `x = n·ln 2 + r` with
/// `|r| ≤ ln 2 / 2`, a degree-6 polynomial for `eʳ` (Cephes `expf`'s coefficients;
/// within 5e-7 relative of the standard library's over `[−87, 88]`, tested), and `2ⁿ` from the exponent bits. Arguments are clamped to `[−87, 88]`: below, the
/// result is about 1.6e-38 instead of a denormal or 0 (nothing for a softmax sum); NaN stays
/// NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2²³: adding it rounds to an integer, kept in the low mantissa bits
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // t's bits are ROUND's plus n
    let scale = f32::from_bits(((t.to_bits() as i32 - ROUND.to_bits() as i32 + 127) << 23) as u32);
    e * scale
}

/// Lanes of the row reductions: eight independent sums, added in a fixed order at the end.
const LANES: usize = 8;

/// `log Σ exp(row)`, with the maximum taken out first.
pub(crate) fn row_lse(row: &[f32]) -> f32 {
    let mut max = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (m, &x) in max.iter_mut().zip(c) {
            *m = if x > *m { x } else { *m };
        }
    }
    let mut m = max.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for &x in tail {
        m = m.max(x);
    }
    if m == f32::NEG_INFINITY || m.is_nan() {
        // an empty row, all −∞, or NaN: the plain formula says what it is
        return row.iter().map(|x| x.exp()).sum::<f32>().ln();
    }
    let mut sum = [0.0f32; LANES];
    let chunks = row.chunks_exact(LANES);
    for c in chunks {
        for (s, &x) in sum.iter_mut().zip(c) {
            *s += exp_f32(x - m);
        }
    }
    let mut s: f32 = sum.iter().sum();
    for &x in tail {
        s += exp_f32(x - m);
    }
    m + s.ln()
}

#[cfg(feature = "flex")]
mod flex {
    use super::{
        cross_entropy_backward_reference, exp_f32, row_logsumexp_reference, row_lse, CrossEntropy,
    };
    use crate::flex_host::{contiguous, indices};
    use burn::backend::flex::FlexTensor;
    use burn::backend::Flex;
    use burn::tensor::TensorData;
    use rayon::prelude::*;

    /// Rows handed to one rayon task (a few hundred kilobytes of logits).
    fn rows_per_task(k: usize) -> usize {
        (65_536 / k.max(1)).max(1)
    }

    impl CrossEntropy for Flex {
        fn row_logsumexp(logits: FlexTensor) -> FlexTensor {
            let logits = contiguous(logits);
            let shape = logits.layout().shape().clone();
            let Some(x) = logits.as_slice::<f32>() else {
                return row_logsumexp_reference::<Flex>(logits);
            };
            let (n, k) = (shape[0], shape[1]);
            let mut lse = vec![0.0f32; n];
            if k > 0 {
                let per = rows_per_task(k);
                lse.par_chunks_mut(per)
                    .zip(x.par_chunks(per * k))
                    .for_each(|(out, rows)| {
                        for (o, row) in out.iter_mut().zip(rows.chunks_exact(k)) {
                            *o = row_lse(row);
                        }
                    });
            } else {
                lse.fill(f32::NEG_INFINITY);
            }
            FlexTensor::from_data(TensorData::new(lse, [n]))
        }

        fn cross_entropy_backward(
            logits: FlexTensor,
            lse: FlexTensor,
            targets: FlexTensor,
            grad: FlexTensor,
        ) -> FlexTensor {
            let (logits, lse, targets, grad) = (
                contiguous(logits),
                contiguous(lse),
                contiguous(targets),
                contiguous(grad),
            );
            let shape = logits.layout().shape().clone();
            let (n, k) = (shape[0], shape[1]);
            let (Some(x), Some(l), Some(g), Some(t)) = (
                logits.as_slice::<f32>(),
                lse.as_slice::<f32>(),
                grad.as_slice::<f32>(),
                indices(&targets),
            ) else {
                return cross_entropy_backward_reference::<Flex>(logits, lse, targets, grad);
            };
            let mut out = vec![0.0f32; n * k];
            if k > 0 {
                let per = rows_per_task(k);
                out.par_chunks_mut(per * k)
                    .zip(x.par_chunks(per * k))
                    .enumerate()
                    .for_each(|(task, (out, rows))| {
                        let first = task * per;
                        for (i, (o, row)) in out
                            .chunks_exact_mut(k)
                            .zip(rows.chunks_exact(k))
                            .enumerate()
                        {
                            let r = first + i;
                            let (lse, g) = (l[r], g[r]);
                            for (o, &x) in o.iter_mut().zip(row) {
                                *o = g * exp_f32(x - lse);
                            }
                            o[t[r]] -= g;
                        }
                    });
            }
            FlexTensor::from_data(TensorData::new(out, shape))
        }
    }
}

impl<B: Backend + CrossEntropy, C: CheckpointStrategy> CrossEntropy for Autodiff<B, C> {
    fn cross_entropy(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
        /// The backward pass: `grad · (softmax − one-hot)`.
        #[derive(Debug)]
        struct CrossEntropyBackward;

        /// What the backward pass needs, on the inner backend.
        #[derive(Clone, Debug)]
        struct Saved<B: Backend> {
            logits: FloatTensor<B>,
            lse: FloatTensor<B>,
            targets: IntTensor<B>,
        }

        impl<B: Backend + CrossEntropy> Backward<B, 1> for CrossEntropyBackward {
            type State = Saved<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let s = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::cross_entropy_backward(s.logits, s.lse, s.targets, grad)
                });
            }
        }

        let (logits, node) = logits.into_parts();
        let lse = B::row_logsumexp(logits.clone());
        let nll = nll_from_lse::<B>(logits.clone(), lse.clone(), targets.clone());
        match CrossEntropyBackward
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                Saved::<B> {
                    logits,
                    lse,
                    targets,
                },
                nll,
            ),
            OpsKind::UnTracked(prep) => prep.finish(nll),
        }
    }
}
