//! Reading Flex tensors on the host, for the backend operations that have a Flex path of their
//! own ([`crate::cf::spmm`], [`crate::cross_entropy`]).

use burn::backend::flex::FlexTensor;
use burn::tensor::DType;

/// `t` itself when its elements are contiguous, else a contiguous copy.
pub(crate) fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.is_contiguous() {
        t
    } else {
        t.to_contiguous()
    }
}

/// The values of a contiguous integer tensor, borrowed as Flex stores them.
pub(crate) enum IndexSlice<'a> {
    I32(&'a [i32]),
    I64(&'a [i64]),
}

/// The values of a contiguous integer tensor (i32 or i64), without copying; `None` for another
/// dtype or layout.
pub(crate) fn index_slice(t: &FlexTensor) -> Option<IndexSlice<'_>> {
    match t.dtype() {
        DType::I32 => t.as_slice::<i32>().map(IndexSlice::I32),
        DType::I64 => t.as_slice::<i64>().map(IndexSlice::I64),
        _ => None,
    }
}

/// The values of a contiguous integer tensor as indices; `None` for another dtype or layout.
pub(crate) fn indices(t: &FlexTensor) -> Option<Vec<usize>> {
    Some(match index_slice(t)? {
        IndexSlice::I32(s) => s.iter().map(|&v| v as usize).collect(),
        IndexSlice::I64(s) => s.iter().map(|&v| v as usize).collect(),
    })
}
