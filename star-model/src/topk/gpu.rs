//! The CubeCL kernels of fused top-k (wgpu, cuda), reached through a burn backend extension.
//!
//! Neither pass materialises the `B × N` scores:
//! 1. `partial_topk`: thread `(q, c)` scores query `q` against item chunk `c` (about
//!    [`WORK_PER_THREAD`] multiply-adds) and keeps its `k` best, sorted, in its slot of the
//!    `[B, C, k]` partial results;
//! 2. `merge_topk`, repeated: thread `(q, g)` merges [`MERGE_GROUP`] partial buffers into one,
//!    until one buffer per query is left (`[B, 1, k]`).
//!
//! Every thread's work is bounded, so the device has `B · C` threads to run for any `B`.
//!
//! Workgroups have 64 threads on a GPU and one thread on a device that is no card. On Mesa's
//! software Vulkan driver (lavapipe, Mesa 22.3), workgroups of 8 or more threads gave wrong
//! results in the tests: entries were lost. Workgroups of one or two threads gave exact
//! results. Whether the driver or the generated shader is at fault is not known. The 64-thread
//! configuration has not been run on a GPU here.
//!
//! Order: higher score first, then smaller index (NaN scores count as the lowest finite value).
//! `k` is a compile-time constant of the kernels, so each distinct `k` compiles once.

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{backend_extension, Backend, IntDType};

/// Score + top-k as a backend operation. The default body is the unfused reference (matmul +
/// top-k); CubeCL backends run the kernels below.
#[backend_extension(Cube)]
pub trait ScoreTopK: Backend {
    /// Top `k` of `queries [B, d] · items [N, d]ᵀ` per row: scores and `u32` indices `[B, k]`.
    fn score_topk(
        queries: FloatTensor<Self>,
        items: FloatTensor<Self>,
        k: usize,
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        let scores = Self::float_matmul(queries, Self::float_transpose(items));
        Self::float_topk_with_indices(scores, 1, k, IntDType::U32)
    }
}

mod kernels {
    use cubecl::prelude::*;

    #[cube]
    fn better<F: Float>(s: F, j: u32, best_s: F, best_j: u32) -> bool {
        s > best_s || (s == best_s && j < best_j)
    }

    /// Inserts `(s, j)` into the sorted `k` entries at `base` of `(out_s, out_j)` if it beats
    /// the last one, moving the entries below it down one slot. The buffer lives in the output
    /// tensors (it stays in cache on a GPU).
    #[cube]
    fn insert<F: Float>(
        out_s: &mut Tensor<F>,
        out_j: &mut Tensor<u32>,
        base: usize,
        s: F,
        j: u32,
        #[comptime] k: usize,
    ) {
        let last = base + k - 1;
        if better::<F>(s, j, out_s[last], out_j[last]) {
            let mut r = last;
            while r > base && better::<F>(s, j, out_s[r - 1], out_j[r - 1]) {
                out_s[r] = out_s[r - 1];
                out_j[r] = out_j[r - 1];
                r -= 1;
            }
            out_s[r] = s;
            out_j[r] = j;
        }
    }

    /// This thread's slot `q · S + s` of a `[B, S, k]` output, its `k` entries cleared; a
    /// thread past the end stops here.
    #[cube]
    fn own_slot<F: Float>(
        out_s: &mut Tensor<F>,
        out_j: &mut Tensor<u32>,
        #[comptime] k: usize,
    ) -> usize {
        let pos = ABSOLUTE_POS;
        if pos >= out_s.shape(0) * out_s.shape(1) {
            terminate!();
        }
        for r in 0..k {
            out_s[pos * k + r] = F::min_value();
            out_j[pos * k + r] = u32::MAX;
        }
        pos
    }

    /// Thread `(q, c)`: the top `k` of query `q` over item chunk `c`.
    #[cube(launch)]
    pub fn partial_topk<F: Float>(
        queries: &Tensor<F>,
        items: &Tensor<F>,
        out_scores: &mut Tensor<F>,
        out_idx: &mut Tensor<u32>,
        #[comptime] k: usize,
        #[comptime] dim: usize,
        #[define(F)] _dtype: ElemType,
    ) {
        let pos = own_slot::<F>(out_scores, out_idx, k);
        // the chunk: items lo..hi
        let (n, chunks) = (items.shape(0), out_scores.shape(1));
        let span = n.div_ceil(chunks);
        let lo = (pos % chunks) * span;
        let hi = (lo + span).min(n);
        let q = pos / chunks;
        for j in lo..hi {
            let mut s = F::new(0.0);
            for t in 0..dim {
                s += queries[q * dim + t] * items[j * dim + t];
            }
            if f32::cast_from(s).is_nan() {
                s = F::min_value();
            }
            insert::<F>(out_scores, out_idx, pos * k, s, u32::cast_from(j), k);
        }
    }

    /// Thread `(q, g)`: into its slot of `out`, the top `k` of partial buffers `g·group ..` of
    /// query `q`.
    #[cube(launch)]
    pub fn merge_topk<F: Float>(
        out_scores: &mut Tensor<F>,
        out_idx: &mut Tensor<u32>,
        part_scores: &Tensor<F>,
        part_idx: &Tensor<u32>,
        #[comptime] k: usize,
        #[comptime] group: usize,
        #[define(F)] _dtype: ElemType,
    ) {
        let pos = own_slot::<F>(out_scores, out_idx, k);
        // partial buffers first..last of query q, from src on
        let (groups, chunks) = (out_scores.shape(1), part_scores.shape(1));
        let first = (pos % groups) * group;
        let last = (first + group).min(chunks);
        let src = (pos / groups) * chunks * k;
        for e in first * k..last * k {
            insert::<F>(
                out_scores,
                out_idx,
                pos * k,
                part_scores[src + e],
                part_idx[src + e],
                k,
            );
        }
    }
}

/// Multiply-adds per thread in the scoring pass.
pub const WORK_PER_THREAD: usize = 32_768;
/// Partial buffers merged per thread in a merge pass.
pub const MERGE_GROUP: usize = 8;

impl ScoreTopK for burn_cubecl::CubeBackend {
    fn score_topk(
        queries: FloatTensor<Self>,
        items: FloatTensor<Self>,
        k: usize,
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        use burn::backend::cubecl::dtype_to_storage_type;
        use burn::tensor::DType;
        use burn_cubecl::kernel::into_contiguous;
        use burn_cubecl::ops::numeric::empty_device_dtype;
        use cubecl::prelude::*;

        let (queries, items) = (into_contiguous(queries), into_contiguous(items));
        let b = queries.meta.shape()[0];
        let d = queries.meta.shape()[1];
        let n = items.meta.shape()[0];
        let k = k.min(n).max(1);
        let fd = queries.dtype;
        let client = queries.client.clone();
        let device = queries.device.clone();
        // 64 threads a workgroup on a GPU; one on a device that is no card (Mesa's software
        // Vulkan driver loses buffer entries when several invocations of a workgroup diverge in
        // these loops, measured by the tests; one thread a workgroup is exact there)
        let threads: u32 = if client.properties().identity.physical.is_some() {
            64
        } else {
            1
        };
        let grid = |work: usize| CubeCount::Static((work as u32).div_ceil(threads), 1, 1);

        // pass 1: chunks of about WORK_PER_THREAD / d items (at least k)
        let span = (WORK_PER_THREAD / d.max(1)).max(k).min(n);
        let mut chunks = n.div_ceil(span);
        // `[b, parts, k]` score and u32 index buffers
        let buffers = |parts: usize| {
            let alloc = |dtype| {
                empty_device_dtype(client.clone(), device.clone(), [b, parts, k].into(), dtype)
            };
            (alloc(fd), alloc(DType::U32))
        };
        let (mut part_s, mut part_i) = buffers(chunks);
        partial_topk::launch(
            &client,
            grid(b * chunks),
            CubeDim::new_1d(threads),
            queries.into_tensor_arg(),
            items.into_tensor_arg(),
            part_s.clone().into_tensor_arg(),
            part_i.clone().into_tensor_arg(),
            k,
            d,
            dtype_to_storage_type(fd),
        );
        // merge passes: MERGE_GROUP buffers into one, until one is left
        loop {
            let groups = chunks.div_ceil(MERGE_GROUP);
            let (out_s, out_i) = buffers(groups);
            merge_topk::launch(
                &client,
                grid(b * groups),
                CubeDim::new_1d(threads),
                out_s.clone().into_tensor_arg(),
                out_i.clone().into_tensor_arg(),
                part_s.into_tensor_arg(),
                part_i.into_tensor_arg(),
                k,
                MERGE_GROUP,
                dtype_to_storage_type(fd),
            );
            (part_s, part_i, chunks) = (out_s, out_i, groups);
            if groups == 1 {
                break;
            }
        }
        use burn_cubecl::ops::reshape;
        (
            reshape(part_s, [b, k].into()),
            reshape(part_i, [b, k].into()),
        )
    }
}

use kernels::{merge_topk, partial_topk};
