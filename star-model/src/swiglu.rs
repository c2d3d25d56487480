//! The SwiGLU gate `silu(gate) ⊙ up` as one differentiable backend operation.
//!
//! Composed, autodiff records `sigmoid`, two products and their backward passes, each over a
//! fresh tensor, and Flex's sigmoid calls libm's scalar `expf`. Here, on Flex for f32, one pass
//! with the vectorisable [`exp_f32`](crate::cross_entropy::exp_f32) on rayon's threads each
//! way: forward `g·σ(g)·u`; backward `∂u = δ·g·σ(g)` and `∂g = δ·u·σ(g)·(1 + g·(1 − σ(g)))`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};
use burn::prelude::*;

/// `silu(gate) ⊙ up` (same shapes).
pub fn swiglu<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    assert_eq!(gate.dims(), up.dims(), "gate and up have one shape");
    Tensor::from_dispatch(<burn::backend::Dispatch as SwiGlu>::swiglu(
        gate.into_dispatch(),
        up.into_dispatch(),
    ))
}

backend_operation! {
    /// The SwiGLU gate with its own backward pass.
    pub trait SwiGlu: Backend {
        /// `silu(gate) ⊙ up`.
        fn swiglu(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self> {
            let s = Self::sigmoid(gate.clone());
            Self::float_mul(Self::float_mul(gate, s), up)
        }

        /// `(∂gate, ∂up)` for the output gradient `grad`.
        fn swiglu_backward(
            gate: FloatTensor<Self>,
            up: FloatTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> (FloatTensor<Self>, FloatTensor<Self>) {
            swiglu_backward_reference::<Self>(gate, up, grad)
        }
    }
}

/// The tensor reference of [`SwiGlu::swiglu_backward`].
pub fn swiglu_backward_reference<B: Backend>(
    gate: FloatTensor<B>,
    up: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let s = B::sigmoid(gate.clone());
    let silu = B::float_mul(gate.clone(), s.clone());
    let d_up = B::float_mul(grad.clone(), silu);
    // σ·(1 + g·(1 − σ))
    let one_minus = B::float_add_scalar(B::float_neg(s.clone()), 1.0.into());
    let slope = B::float_mul(
        s,
        B::float_add_scalar(B::float_mul(gate, one_minus), 1.0.into()),
    );
    let d_gate = B::float_mul(B::float_mul(grad, up), slope);
    (d_gate, d_up)
}

#[cfg(feature = "flex")]
mod flex {
    use super::{swiglu_backward_reference, SwiGlu};
    use crate::cross_entropy::exp_f32;
    use crate::flex_host::contiguous;
    use burn::backend::flex::FlexTensor;
    use burn::backend::Flex;
    use burn::tensor::TensorData;
    use rayon::prelude::*;

    /// Elements handed to one rayon task.
    const PER_TASK: usize = 32_768;

    #[inline(always)]
    fn sigmoid(x: f32) -> f32 {
        1.0 / (1.0 + exp_f32(-x))
    }

    impl SwiGlu for Flex {
        fn swiglu(gate: FlexTensor, up: FlexTensor) -> FlexTensor {
            let (gate, up) = (contiguous(gate), contiguous(up));
            let shape = gate.layout().shape().clone();
            let (Some(g), Some(u)) = (gate.as_slice::<f32>(), up.as_slice::<f32>()) else {
                let s = <Flex as burn::backend::ops::ActivationOps<Flex>>::sigmoid(gate.clone());
                let silu = <Flex as burn::backend::ops::FloatTensorOps<Flex>>::float_mul(gate, s);
                return <Flex as burn::backend::ops::FloatTensorOps<Flex>>::float_mul(silu, up);
            };
            let mut out = vec![0.0f32; g.len()];
            out.par_chunks_mut(PER_TASK)
                .zip(g.par_chunks(PER_TASK).zip(u.par_chunks(PER_TASK)))
                .for_each(|(o, (g, u))| {
                    for ((o, &g), &u) in o.iter_mut().zip(g).zip(u) {
                        *o = g * sigmoid(g) * u;
                    }
                });
            FlexTensor::from_data(TensorData::new(out, shape))
        }

        fn swiglu_backward(
            gate: FlexTensor,
            up: FlexTensor,
            grad: FlexTensor,
        ) -> (FlexTensor, FlexTensor) {
            let (gate, up, grad) = (contiguous(gate), contiguous(up), contiguous(grad));
            let shape = gate.layout().shape().clone();
            let (Some(g), Some(u), Some(d)) = (
                gate.as_slice::<f32>(),
                up.as_slice::<f32>(),
                grad.as_slice::<f32>(),
            ) else {
                return swiglu_backward_reference::<Flex>(gate, up, grad);
            };
            let mut d_gate = vec![0.0f32; g.len()];
            let mut d_up = vec![0.0f32; g.len()];
            d_gate
                .par_chunks_mut(PER_TASK)
                .zip(d_up.par_chunks_mut(PER_TASK))
                .zip(
                    g.par_chunks(PER_TASK)
                        .zip(u.par_chunks(PER_TASK).zip(d.par_chunks(PER_TASK))),
                )
                .for_each(|((dg, du), (g, (u, d)))| {
                    for ((((dg, du), &g), &u), &d) in
                        dg.iter_mut().zip(du.iter_mut()).zip(g).zip(u).zip(d)
                    {
                        let s = sigmoid(g);
                        *du = d * g * s;
                        *dg = d * u * s * (1.0 + g * (1.0 - s));
                    }
                });
            (
                FlexTensor::from_data(TensorData::new(d_gate, shape.clone())),
                FlexTensor::from_data(TensorData::new(d_up, shape)),
            )
        }
    }
}

impl<B: Backend + SwiGlu, C: CheckpointStrategy> SwiGlu for Autodiff<B, C> {
    fn swiglu(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self> {
        /// The backward pass from the saved inputs.
        #[derive(Debug)]
        struct SwiGluBackward;

        impl<B: Backend + SwiGlu> Backward<B, 2> for SwiGluBackward {
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let (gate, up) = ops.state;
                // both gradients come from one pass
                let grad = grads.consume::<B>(&ops.node);
                let (d_gate, d_up) = B::swiglu_backward(gate, up, grad);
                let [g_node, u_node] = ops.parents;
                if let Some(node) = g_node {
                    grads.register::<B>(node.id, d_gate);
                }
                if let Some(node) = u_node {
                    grads.register::<B>(node.id, d_up);
                }
            }
        }

        let (gate, g_node) = gate.into_parts();
        let (up, u_node) = up.into_parts();
        let out = B::swiglu(gate.clone(), up.clone());
        match SwiGluBackward
            .prepare::<C>([g_node, u_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((gate, up), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}
