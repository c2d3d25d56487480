//! Sparse × dense product with a symmetric sparse matrix, as a backend operation with its own
//! backward pass: `y = Â · x`, `∂x = Â · ∂y`.
//!
//! `Â` arrives in compressed sparse rows (CSR): `row_ptr [N + 1]`, and per stored entry its
//! column `cols [nnz]`, its row `rows [nnz]` (the same entries in coordinate form) and its value
//! `values [nnz]`. The caller guarantees `Â` is symmetric (every `(r, c, v)` has its `(c, r, v)`),
//! which is what lets the backward pass be the same product.
//!
//! - Flex, with f32 features: one pass over the rows on the host, split over
//!   rayon's threads by row. Each output row sums its entries in CSR order, so the result does
//!   not depend on the thread count.
//! - Every other backend (and other dtypes): the tensor reference, a gather of the `cols` rows,
//!   a scale and a scatter-add into the `rows` rows ([`spmm_reference`]).
//! - Autodiff: the product of the inner backend, and the same product on the output gradient as
//!   the backward pass. `values` are constants (no gradient flows to them).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, TensorMetadata};
use burn::tensor::IndexingUpdateOp;

backend_operation! {
    /// `Â · x` for a symmetric sparse `Â` in CSR form, as a backend operation.
    pub trait SymmetricSpmm: Backend {
        /// `Â · x` for `x [N, d]`: `Â`'s CSR `row_ptr [N + 1]`, and per entry its column,
        /// row and value (`[nnz]` each).
        fn symmetric_spmm(
            x: FloatTensor<Self>,
            _row_ptr: IntTensor<Self>,
            cols: IntTensor<Self>,
            rows: IntTensor<Self>,
            values: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            spmm_reference::<Self>(x, cols, rows, values)
        }
    }
}

/// The tensor reference of [`SymmetricSpmm::symmetric_spmm`]: a gather of `x`'s `cols` rows,
/// scaled by `values`, scatter-added into the `rows` rows of a zero `[N, d]` tensor.
pub fn spmm_reference<B: Backend>(
    x: FloatTensor<B>,
    cols: IntTensor<B>,
    rows: IntTensor<B>,
    values: FloatTensor<B>,
) -> FloatTensor<B> {
    let (shape, device, dtype) = (x.shape(), x.device(), x.dtype());
    let nnz = cols.shape()[0];
    let values = B::float_reshape(values, [nnz, 1].into());
    let messages = B::float_mul(B::float_select(x, 0, cols), values);
    let zeros = B::float_zeros(shape, &device, dtype.into());
    B::float_select_assign(zeros, 0, rows, messages, IndexingUpdateOp::Add)
}

#[cfg(feature = "flex")]
mod flex {
    use super::{spmm_reference, SymmetricSpmm};
    use crate::flex_host::{contiguous, index_slice, IndexSlice::*};
    use burn::backend::flex::FlexTensor;
    use burn::backend::Flex;
    use burn::tensor::TensorData;
    use rayon::prelude::*;

    /// `y[r] = Σ values[e] · x[cols[e]]` over `e` in `row_ptr[r]..row_ptr[r + 1]`, row by row.
    /// Row offsets and columns are read in place, in the integer type Flex stores them in
    /// (this runs for every propagation of every step).
    fn csr<I: Copy + Into<i64> + Sync>(
        x: &[f32],
        d: usize,
        row_ptr: &[I],
        cols: &[I],
        values: &[f32],
    ) -> Vec<f32> {
        let at = |i: I| i.into() as usize;
        let n = row_ptr.len() - 1;
        let mut y = vec![0.0f32; n * d];
        if d == 0 {
            return y;
        }
        y.par_chunks_mut(d).enumerate().for_each(|(r, out)| {
            for e in at(row_ptr[r])..at(row_ptr[r + 1]) {
                let v = values[e];
                let src = &x[at(cols[e]) * d..][..d];
                for (o, s) in out.iter_mut().zip(src) {
                    *o += v * s;
                }
            }
        });
        y
    }

    impl SymmetricSpmm for Flex {
        fn symmetric_spmm(
            x: FlexTensor,
            row_ptr: FlexTensor,
            cols: FlexTensor,
            rows: FlexTensor,
            values: FlexTensor,
        ) -> FlexTensor {
            let (x, row_ptr, cols, values) = (
                contiguous(x),
                contiguous(row_ptr),
                contiguous(cols),
                contiguous(values),
            );
            let shape = x.layout().shape().clone();
            let d = shape[1];
            let y = match (
                x.as_slice::<f32>(),
                values.as_slice::<f32>(),
                index_slice(&row_ptr),
                index_slice(&cols),
            ) {
                (Some(xs), Some(vs), Some(I32(p)), Some(I32(c))) => csr(xs, d, p, c, vs),
                (Some(xs), Some(vs), Some(I64(p)), Some(I64(c))) => csr(xs, d, p, c, vs),
                _ => return spmm_reference::<Flex>(x, cols, rows, values),
            };
            FlexTensor::from_data(TensorData::new(y, shape))
        }
    }
}

impl<B: Backend + SymmetricSpmm, C: CheckpointStrategy> SymmetricSpmm for Autodiff<B, C> {
    fn symmetric_spmm(
        x: FloatTensor<Self>,
        row_ptr: IntTensor<Self>,
        cols: IntTensor<Self>,
        rows: IntTensor<Self>,
        values: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        /// The backward pass: the same product on the output gradient.
        #[derive(Debug)]
        struct SpmmBackward;

        /// `Â` on the inner backend.
        #[derive(Clone, Debug)]
        struct Matrix<B: Backend> {
            row_ptr: IntTensor<B>,
            cols: IntTensor<B>,
            rows: IntTensor<B>,
            values: FloatTensor<B>,
        }

        impl<B: Backend + SymmetricSpmm> Backward<B, 1> for SpmmBackward {
            type State = Matrix<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let m = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::symmetric_spmm(grad, m.row_ptr, m.cols, m.rows, m.values)
                });
            }
        }

        let (x, node) = x.into_parts();
        let values = values.into_primitive();
        match SpmmBackward.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let m = Matrix::<B> {
                    row_ptr: row_ptr.clone(),
                    cols: cols.clone(),
                    rows: rows.clone(),
                    values: values.clone(),
                };
                prep.finish(m, B::symmetric_spmm(x, row_ptr, cols, rows, values))
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::symmetric_spmm(x, row_ptr, cols, rows, values))
            }
        }
    }
}
