//! Softmax over the last dimension as one differentiable backend operation (the attention
//! weights).
//!
//! burn 0.22's autodiff has no softmax of its own: it differentiates the composed `max`, `sub`,
//! `exp`, `sum`, `div`, five operations and their five backward passes, each over a fresh
//! tensor. Here the forward pass is the backend's softmax (on Flex, for f32, one pass per row
//! on rayon's threads with the vectorisable [`exp_f32`](crate::cross_entropy::exp_f32) instead
//! of libm's scalar `expf`, which takes a slow path for every masked score) and the backward
//! pass is `y ⊙ (g − Σ g ⊙ y)` per row, from the saved output.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, TensorMetadata};
use burn::prelude::*;

/// `softmax(x)` over the last dimension of `x`.
pub fn softmax_last<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<burn::backend::Dispatch as SoftmaxLast>::softmax_last(
        x.into_dispatch(),
    ))
}

backend_operation! {
    /// Softmax over the last dimension with its own backward pass.
    pub trait SoftmaxLast: Backend {
        /// `softmax(x)` over the last dimension.
        fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
            let last = x.shape().num_dims() - 1;
            <Self as burn::backend::ops::ActivationOps<Self>>::softmax(x, last)
        }

        /// The gradient of the input for softmax output `y` and output gradient `grad`:
        /// `y ⊙ (grad − Σ_last grad ⊙ y)`.
        fn softmax_last_backward(
            y: FloatTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            softmax_last_backward_reference::<Self>(y, grad)
        }
    }
}

/// The tensor reference of [`SoftmaxLast::softmax_last_backward`].
pub fn softmax_last_backward_reference<B: Backend>(
    y: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let shape = y.shape();
    let last = shape.num_dims() - 1;
    let dot = B::float_sum_dim(B::float_mul(grad.clone(), y.clone()), last);
    B::float_mul(y, B::float_sub(grad, B::float_expand(dot, shape)))
}

#[cfg(feature = "flex")]
mod flex {
    use super::{softmax_last_backward_reference, SoftmaxLast};
    use crate::cross_entropy::exp_f32;
    use crate::flex_host::contiguous;
    use burn::backend::flex::FlexTensor;
    use burn::backend::Flex;
    use burn::tensor::TensorData;
    use rayon::prelude::*;

    /// Rows handed to one rayon task (about 64 K elements).
    fn rows_per_task(k: usize) -> usize {
        (65_536 / k.max(1)).max(1)
    }

    /// `out = softmax(row)`.
    fn softmax_row(row: &[f32], out: &mut [f32]) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() {
            // all −∞, +∞ or NaN: the plain formula says what it is
            let sum: f32 = row.iter().map(|x| (x - max).exp()).sum();
            for (o, x) in out.iter_mut().zip(row) {
                *o = (x - max).exp() / sum;
            }
            return;
        }
        let mut sum = 0.0f32;
        for (o, &x) in out.iter_mut().zip(row) {
            *o = exp_f32(x - max);
            sum += *o;
        }
        let inv = 1.0 / sum;
        for o in out.iter_mut() {
            *o *= inv;
        }
    }

    impl SoftmaxLast for Flex {
        fn softmax_last(x: FlexTensor) -> FlexTensor {
            let x = contiguous(x);
            let shape = x.layout().shape().clone();
            let k = shape[shape.num_dims() - 1];
            let Some(v) = x.as_slice::<f32>().filter(|_| k > 0) else {
                let last = shape.num_dims() - 1;
                return <Flex as burn::backend::ops::ActivationOps<Flex>>::softmax(x, last);
            };
            let mut out = vec![0.0f32; v.len()];
            let per = rows_per_task(k) * k;
            out.par_chunks_mut(per)
                .zip(v.par_chunks(per))
                .for_each(|(o, rows)| {
                    for (o, row) in o.chunks_exact_mut(k).zip(rows.chunks_exact(k)) {
                        softmax_row(row, o);
                    }
                });
            FlexTensor::from_data(TensorData::new(out, shape))
        }

        fn softmax_last_backward(y: FlexTensor, grad: FlexTensor) -> FlexTensor {
            let (y, grad) = (contiguous(y), contiguous(grad));
            let shape = y.layout().shape().clone();
            let k = shape[shape.num_dims() - 1];
            let (Some(yv), Some(gv)) = (y.as_slice::<f32>(), grad.as_slice::<f32>()) else {
                return softmax_last_backward_reference::<Flex>(y, grad);
            };
            if k == 0 {
                return softmax_last_backward_reference::<Flex>(y, grad);
            }
            let mut out = vec![0.0f32; yv.len()];
            let per = rows_per_task(k) * k;
            out.par_chunks_mut(per)
                .zip(yv.par_chunks(per).zip(gv.par_chunks(per)))
                .for_each(|(o, (ys, gs))| {
                    for (o, (y, g)) in o
                        .chunks_exact_mut(k)
                        .zip(ys.chunks_exact(k).zip(gs.chunks_exact(k)))
                    {
                        let dot: f32 = y.iter().zip(g).map(|(y, g)| y * g).sum();
                        for ((o, y), g) in o.iter_mut().zip(y).zip(g) {
                            *o = y * (g - dot);
                        }
                    }
                });
            FlexTensor::from_data(TensorData::new(out, shape))
        }
    }
}

impl<B: Backend + SoftmaxLast, C: CheckpointStrategy> SoftmaxLast for Autodiff<B, C> {
    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        /// The backward pass from the saved output.
        #[derive(Debug)]
        struct SoftmaxBackward;

        impl<B: Backend + SoftmaxLast> Backward<B, 1> for SoftmaxBackward {
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let y = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::softmax_last_backward(y, grad)
                });
            }
        }

        let (x, node) = x.into_parts();
        let y = B::softmax_last(x);
        match SoftmaxBackward
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(y.clone(), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}
