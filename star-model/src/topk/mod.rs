//! Fused top-k scoring: `score_topk(queries [B, d], items [N, d], k)` returns, per query, the
//! `k` best item scores and indices without holding the `B × N` score matrix.
//!
//! - On CPU devices (flex, ndarray) the work runs on the host: [`cpu::score_topk_cpu`], blocked,
//!   multi-threaded, SIMD dot products.
//! - On CubeCL devices (wgpu, cuda) two CubeCL kernels run ([`gpu`]): per-chunk partial top-k
//!   buffers, then a merge.
//! - Elsewhere the tensor reference runs on the device: a matmul and burn's top-k.
//!
//! Order: higher score first, then smaller index; `k` is clamped to `N`. Every path is checked
//! against [`cpu::score_topk_reference`] (the full score matrix plus a sort).

pub mod cpu;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub mod gpu;

use burn::prelude::*;
pub use cpu::{score_topk_cpu, score_topk_reference, TopK};

/// Worker threads for the CPU path: `STAR_THREADS` or the available parallelism.
pub fn cpu_threads() -> usize {
    std::env::var("STAR_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Whether a device computes on the host CPU (flex, ndarray).
pub fn is_cpu(device: &Device) -> bool {
    match device.as_dispatch() {
        #[cfg(feature = "flex")]
        burn::backend::DispatchDevice::Flex(_) => true,
        #[cfg(feature = "ndarray")]
        burn::backend::DispatchDevice::NdArray(_) => true,
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// The top `k` items of each query: scores `[B, k']` and indices `[B, k']`, `k' = min(k, N)`.
pub fn score_topk(queries: Tensor<2>, items: Tensor<2>, k: usize) -> (Tensor<2>, Tensor<2, Int>) {
    let device = queries.device();
    let [b, d] = queries.dims();
    let [n, d2] = items.dims();
    assert_eq!(d, d2, "queries and items must have the same width");
    let k = k.min(n);
    if is_cpu(&device) {
        let read = |t: Tensor<2>| {
            t.into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("f32 data")
        };
        let r = score_topk_cpu(&read(queries), &read(items), d, k, cpu_threads());
        let idx: Vec<i64> = r.indices.iter().map(|&i| i as i64).collect();
        (
            Tensor::from_data(TensorData::new(r.scores, [b, k]), &device),
            Tensor::from_data(TensorData::new(idx, [b, k]), &device),
        )
    } else {
        device_topk(queries, items, k)
    }
}

/// Non-CPU devices: the CubeCL kernels when a CubeCL runtime is compiled in, else the tensor
/// reference.
fn device_topk(queries: Tensor<2>, items: Tensor<2>, k: usize) -> (Tensor<2>, Tensor<2, Int>) {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if matches!(
        queries.device().as_dispatch(),
        burn::backend::DispatchDevice::Cube(_)
    ) {
        use burn::backend::Dispatch;
        use gpu::ScoreTopK;
        let idx_dtype = queries.device().settings().int_dtype;
        let (s, i) =
            <Dispatch as ScoreTopK>::score_topk(queries.into_dispatch(), items.into_dispatch(), k);
        // the kernels' u32 indices, in the dtype the device's int tensors use
        let idx = Tensor::<2, Int>::from_dispatch(i).cast(idx_dtype);
        return (Tensor::from_dispatch(s), idx);
    }
    score_topk_tensor(queries, items, k)
}

/// The tensor reference on any device: `matmul` then burn's `topk_with_indices` (holds the
/// `B × N` scores; tie order is the backend's).
pub fn score_topk_tensor(
    queries: Tensor<2>,
    items: Tensor<2>,
    k: usize,
) -> (Tensor<2>, Tensor<2, Int>) {
    let n = items.dims()[0];
    queries
        .matmul(items.transpose())
        .topk_with_indices(k.min(n), 1)
}
