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

/// The values of a contiguous integer tensor (i32 or i64, as Flex stores them) as indices;
/// `None` for another dtype or layout.
pub(crate) fn indices(t: &FlexTensor) -> Option<Vec<usize>> {
    match t.dtype() {
        DType::I32 => t
            .as_slice::<i32>()
            .map(|s| s.iter().map(|&v| v as usize).collect()),
        DType::I64 => t
            .as_slice::<i64>()
            .map(|s| s.iter().map(|&v| v as usize).collect()),
        _ => None,
    }
}
