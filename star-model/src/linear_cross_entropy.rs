//! The vocabulary projection and its cross-entropy in one backend operation:
//! `loss = Σ_r w_r · (lse_r − x_r[t_r])` with `x_r = hidden_r · weightᵀ`, differentiable in
//! `hidden` and `weight` (a language-model head, tied or not).
//!
//! Composed, the step writes the `[N, K]` logits, reads them twice for the log-sum-exp, writes
//! their `[N, K]` gradient and reads it twice more for the two gradient products: for 1280
//! tokens over a 4000-token vocabulary that is 20 MB a pass, every buffer fresh memory. Here
//! (after Liger-Kernel's fused linear cross-entropy) each thread takes a block of rows: the
//! block's logits, each row's `lse` and loss, the row's gradient `w_r · (softmax − one-hot)` in
//! place, then `d hidden = G · W` and the block's `d weight = Gᵀ · H`, three direct matrix
//! products over strided views (no transposed copies, no separate gradient buffer). The
//! gradients are computed on the way forward, so the backward pass only scales them by the
//! incoming gradient of the (scalar) loss; this is why the operation returns the weighted sum
//! rather than per-row losses (those come back too, without a gradient, for logging).
//!
//! On Flex (f32) the blocks run on rayon's threads; their `d weight`s are added in block order,
//! so a result depends on the thread count (the block size) but not on scheduling. Every other
//! backend and dtype runs the composed reference ([`linear_cross_entropy_reference`]).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{binary, Backward, Ops, OpsKind};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, TensorMetadata};
use burn::prelude::*;

/// The weighted token loss of a language-model head and each row's loss.
#[derive(Clone, Debug)]
pub struct TokenLoss {
    /// `Σ_r w_r · nll_r`, `[1]`, differentiable in the hidden states and the head's weight.
    pub loss: Tensor<1>,
    /// `nll_r = −log softmax(hidden_r · weightᵀ)[t_r]` per row, `[N]`, without a gradient.
    pub nll: Tensor<1>,
}

/// `Σ_r w_r · CE(hidden_r · weightᵀ, targets_r)` for `hidden [N, d]`, `weight [K, d]` (a head
/// in the embedding's layout), `targets [N]` in `0..K`, `row_weights [N]` (constants: no
/// gradient flows into them).
///
/// # Panics
/// If the shapes disagree or a target is outside `0..K`.
pub fn linear_cross_entropy(
    hidden: Tensor<2>,
    weight: Tensor<2>,
    targets: Tensor<1, Int>,
    row_weights: Tensor<1>,
) -> TokenLoss {
    let [n, d] = hidden.dims();
    assert_eq!(weight.dims()[1], d, "the head's width is the hidden width");
    assert_eq!(targets.dims(), [n], "one target per row");
    assert_eq!(row_weights.dims(), [n], "one weight per row");
    let (loss, nll) = <burn::backend::Dispatch as LinearCrossEntropy>::linear_cross_entropy(
        hidden.into_dispatch(),
        weight.into_dispatch(),
        targets.into_dispatch(),
        row_weights.detach().into_dispatch(),
    );
    TokenLoss {
        loss: Tensor::from_dispatch(loss),
        nll: Tensor::from_dispatch(nll),
    }
}

backend_operation! {
    /// The fused projection + cross-entropy as a backend operation.
    pub trait LinearCrossEntropy: Backend {
        /// `(Σ_r w_r · nll_r [1], nll [N])`.
        fn linear_cross_entropy(
            hidden: FloatTensor<Self>, weight: FloatTensor<Self>,
            targets: IntTensor<Self>, row_weights: FloatTensor<Self>,
        ) -> (FloatTensor<Self>, FloatTensor<Self>) {
            let nll = Self::linear_nll(hidden, weight, targets);
            (weighted_sum::<Self>(nll.clone(), row_weights), nll)
        }

        /// `nll [N]` alone (no gradient wanted).
        fn linear_nll(
            hidden: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            targets: IntTensor<Self>,
        ) -> FloatTensor<Self> {
            linear_nll_reference::<Self>(hidden, weight, targets)
        }

        /// `(nll [N], ∂L/∂hidden [N, d], ∂L/∂weight [K, d])` for `L = Σ_r w_r · nll_r`.
        fn linear_cross_entropy_grads(
            hidden: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            targets: IntTensor<Self>,
            row_weights: FloatTensor<Self>,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            linear_cross_entropy_reference::<Self>(hidden, weight, targets, row_weights)
        }
    }
}

/// `Σ_r w_r · x_r` as `[1]`.
fn weighted_sum<B: Backend>(x: FloatTensor<B>, w: FloatTensor<B>) -> FloatTensor<B> {
    B::float_reshape(B::float_sum(B::float_mul(x, w)), [1].into())
}

/// The composed reference of [`LinearCrossEntropy::linear_nll`].
pub fn linear_nll_reference<B: Backend>(
    hidden: FloatTensor<B>,
    weight: FloatTensor<B>,
    targets: IntTensor<B>,
) -> FloatTensor<B> {
    let logits = B::float_matmul(hidden, B::float_transpose(weight));
    let lse = crate::cross_entropy::row_logsumexp_reference::<B>(logits.clone());
    crate::cross_entropy::nll_from_lse::<B>(logits, lse, targets)
}

/// The composed reference of [`LinearCrossEntropy::linear_cross_entropy_grads`]: the logits,
/// [`crate::cross_entropy::CrossEntropy::cross_entropy_backward`] with the row weights as the
/// incoming gradient, and the two gradient products.
pub fn linear_cross_entropy_reference<B: Backend>(
    hidden: FloatTensor<B>,
    weight: FloatTensor<B>,
    targets: IntTensor<B>,
    row_weights: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let logits = B::float_matmul(hidden.clone(), B::float_transpose(weight.clone()));
    let lse = crate::cross_entropy::row_logsumexp_reference::<B>(logits.clone());
    let nll = crate::cross_entropy::nll_from_lse::<B>(logits.clone(), lse.clone(), targets.clone());
    let g = crate::cross_entropy::cross_entropy_backward_reference::<B>(
        logits,
        lse,
        targets,
        row_weights,
    );
    let d_hidden = B::float_matmul(g.clone(), weight);
    let d_weight = B::float_matmul(B::float_transpose(g), hidden);
    (nll, d_hidden, d_weight)
}

#[cfg(feature = "flex")]
mod flex {
    use super::{linear_cross_entropy_reference, linear_nll_reference, LinearCrossEntropy};
    use crate::cross_entropy::{exp_f32, row_lse};
    use crate::flex_host::{contiguous, indices};
    use burn::backend::flex::FlexTensor;
    use burn::backend::Flex;
    use burn::tensor::TensorData;
    use rayon::prelude::*;

    /// The fewest rows a thread's block takes (smaller problems stay on fewer threads).
    const MIN_BLOCK_ROWS: usize = 64;

    /// `dst [m, n] (+)= a [m, k] · b [k, n]`, row-major with the given strides (`rs`: between
    /// rows, `cs`: between columns), on this thread.
    ///
    /// # Safety
    /// Each matrix's strides must address only elements of its slice.
    #[allow(clippy::too_many_arguments)]
    unsafe fn product(
        (m, n, k): (usize, usize, usize),
        dst: &mut [f32],
        accumulate: bool,
        a: &[f32],
        (a_rs, a_cs): (usize, usize),
        b: &[f32],
        (b_rs, b_cs): (usize, usize),
    ) {
        debug_assert!(dst.len() >= m * n);
        debug_assert!(m == 0 || k == 0 || a.len() > (m - 1) * a_rs + (k - 1) * a_cs);
        debug_assert!(k == 0 || n == 0 || b.len() > (k - 1) * b_rs + (n - 1) * b_cs);
        // SAFETY: the caller keeps every stride inside its slice (checked above in debug builds)
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                accumulate,
                a.as_ptr(),
                a_cs as isize,
                a_rs as isize,
                b.as_ptr(),
                b_cs as isize,
                b_rs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }

    /// One block of rows: their logits, losses and gradient rows, `d hidden` of the block, and
    /// the block's share of `d weight` added to `d_weight`.
    #[allow(clippy::too_many_arguments)]
    fn block(
        h: &[f32],
        w: &[f32],
        t: &[usize],
        rw: Option<&[f32]>,
        (k, d): (usize, usize),
        nll: &mut [f32],
        grads: Option<(&mut [f32], &mut [f32])>,
    ) {
        let rows = nll.len();
        let mut logits = vec![0.0f32; rows * k];
        // SAFETY: h is [rows, d], w is [k, d] read as its transpose [d, k], logits [rows, k]
        unsafe { product((rows, k, d), &mut logits, false, h, (d, 1), w, (1, d)) };
        for (r, (x, out)) in logits.chunks_exact_mut(k).zip(nll.iter_mut()).enumerate() {
            let lse = row_lse(x);
            *out = lse - x[t[r]];
            if let Some(rw) = rw {
                let g = rw[r];
                for v in x.iter_mut() {
                    *v = g * exp_f32(*v - lse);
                }
                x[t[r]] -= g;
            }
        }
        if let Some((d_hidden, d_weight)) = grads {
            // SAFETY: logits [rows, k] · w [k, d] → d_hidden [rows, d]
            unsafe { product((rows, d, k), d_hidden, false, &logits, (k, 1), w, (d, 1)) };
            // SAFETY: logitsᵀ [k, rows] · h [rows, d] → d_weight [k, d], added
            unsafe { product((k, d, rows), d_weight, true, &logits, (1, k), h, (d, 1)) };
        }
    }

    /// The fused pass; `rw` is `None` for the losses alone.
    #[allow(clippy::type_complexity)]
    fn fused(
        h: &[f32],
        w: &[f32],
        t: &[usize],
        rw: Option<&[f32]>,
        (n, k, d): (usize, usize, usize),
    ) -> (Vec<f32>, Option<(Vec<f32>, Vec<f32>)>) {
        // one block of rows per thread: each matrix product is one call, whose packing of
        // the head's weight is paid once (blocks small enough to keep their logits in cache
        // were slower: every call packs the whole head again)
        let per = n
            .div_ceil(rayon::current_num_threads().max(1))
            .max(MIN_BLOCK_ROWS);
        let mut nll = vec![0.0f32; n];
        let mut d_hidden = rw.map(|_| vec![0.0f32; n * d]);
        let dh_blocks: Vec<Option<&mut [f32]>> = match d_hidden.as_mut() {
            Some(dh) => dh.chunks_mut(per * d).map(Some).collect(),
            None => (0..n.div_ceil(per)).map(|_| None).collect(),
        };
        // each block its own `d weight`, added below in block order
        let partial: Vec<Vec<f32>> = nll
            .par_chunks_mut(per)
            .zip(dh_blocks)
            .enumerate()
            .map(|(b, (nb, db))| {
                let (lo, hi) = (b * per, b * per + nb.len());
                let mut d_weight = rw.map_or_else(Vec::new, |_| vec![0.0f32; k * d]);
                block(
                    &h[lo * d..hi * d],
                    w,
                    &t[lo..hi],
                    rw.map(|rw| &rw[lo..hi]),
                    (k, d),
                    nb,
                    db.map(|db| (db, d_weight.as_mut_slice())),
                );
                d_weight
            })
            .collect();
        let grads = d_hidden.map(|dh| {
            let mut dw = vec![0.0f32; k * d];
            for p in &partial {
                for (o, v) in dw.iter_mut().zip(p) {
                    *o += v;
                }
            }
            (dh, dw)
        });
        (nll, grads)
    }

    /// The f32 slices of `hidden`, `weight`, the targets (checked against `k`) and the shapes,
    /// or `None` for another dtype.
    fn host(
        hidden: &FlexTensor,
        weight: &FlexTensor,
        targets: &FlexTensor,
    ) -> Option<(usize, usize, usize, Vec<usize>)> {
        let (hs, ws) = (hidden.layout().shape(), weight.layout().shape());
        let (n, d, k) = (hs[0], hs[1], ws[0]);
        hidden.as_slice::<f32>()?;
        weight.as_slice::<f32>()?;
        let t = indices(targets)?;
        if let Some(bad) = t.iter().find(|&&t| t >= k) {
            panic!("target {bad} is outside the vocabulary of {k}");
        }
        Some((n, k, d, t))
    }

    impl LinearCrossEntropy for Flex {
        fn linear_nll(hidden: FlexTensor, weight: FlexTensor, targets: FlexTensor) -> FlexTensor {
            let (hidden, weight, targets) =
                (contiguous(hidden), contiguous(weight), contiguous(targets));
            let Some((n, k, d, t)) = host(&hidden, &weight, &targets) else {
                return linear_nll_reference::<Flex>(hidden, weight, targets);
            };
            let (h, w) = (hidden.as_slice::<f32>(), weight.as_slice::<f32>());
            let (nll, _) = fused(h.unwrap(), w.unwrap(), &t, None, (n, k, d));
            FlexTensor::from_data(TensorData::new(nll, [n]))
        }

        fn linear_cross_entropy_grads(
            hidden: FlexTensor,
            weight: FlexTensor,
            targets: FlexTensor,
            row_weights: FlexTensor,
        ) -> (FlexTensor, FlexTensor, FlexTensor) {
            let (hidden, weight, targets, row_weights) = (
                contiguous(hidden),
                contiguous(weight),
                contiguous(targets),
                contiguous(row_weights),
            );
            let (Some((n, k, d, t)), Some(rw)) = (
                host(&hidden, &weight, &targets),
                row_weights.as_slice::<f32>(),
            ) else {
                return linear_cross_entropy_reference::<Flex>(
                    hidden,
                    weight,
                    targets,
                    row_weights,
                );
            };
            let (h, w) = (hidden.as_slice::<f32>(), weight.as_slice::<f32>());
            let (nll, grads) = fused(h.unwrap(), w.unwrap(), &t, Some(rw), (n, k, d));
            let (dh, dw) = grads.expect("gradients were asked for");
            (
                FlexTensor::from_data(TensorData::new(nll, [n])),
                FlexTensor::from_data(TensorData::new(dh, [n, d])),
                FlexTensor::from_data(TensorData::new(dw, [k, d])),
            )
        }
    }
}

impl<B: Backend + LinearCrossEntropy, C: CheckpointStrategy> LinearCrossEntropy for Autodiff<B, C> {
    fn linear_cross_entropy(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        row_weights: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        /// The backward pass: the gradients found on the way forward, times the loss's
        /// incoming gradient.
        #[derive(Debug)]
        struct LinearCrossEntropyBackward;

        /// `∂L/∂hidden` and `∂L/∂weight`, on the inner backend.
        #[derive(Clone, Debug)]
        struct Saved<B: Backend> {
            d_hidden: FloatTensor<B>,
            d_weight: FloatTensor<B>,
        }

        impl<B: Backend> Backward<B, 2> for LinearCrossEntropyBackward {
            type State = Saved<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let Saved { d_hidden, d_weight } = ops.state;
                let scale = |g: FloatTensor<B>, x: FloatTensor<B>| {
                    let shape = x.shape();
                    let g = B::float_expand(B::float_reshape(g, [1, 1].into()), shape);
                    B::float_mul(x, g)
                };
                binary::<B, _, _>(
                    ops.parents,
                    ops.node,
                    grads,
                    |g| scale(g, d_hidden),
                    |g| scale(g, d_weight),
                );
            }
        }

        let (hidden, h_node) = hidden.into_parts();
        let (weight, w_node) = weight.into_parts();
        let (row_weights, _) = row_weights.into_parts();
        match LinearCrossEntropyBackward
            .prepare::<C>([h_node, w_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (nll, d_hidden, d_weight) =
                    B::linear_cross_entropy_grads(hidden, weight, targets, row_weights.clone());
                let loss = weighted_sum::<B>(nll.clone(), row_weights);
                (
                    prep.finish(Saved::<B> { d_hidden, d_weight }, loss),
                    <FloatTensor<Self>>::new(nll),
                )
            }
            OpsKind::UnTracked(prep) => {
                let nll = B::linear_nll(hidden, weight, targets);
                let loss = weighted_sum::<B>(nll.clone(), row_weights);
                (prep.finish(loss), <FloatTensor<Self>>::new(nll))
            }
        }
    }
}
