//! Fused top-k against the references, and this machine's memory bandwidth:
//! `cargo bench -p star-model --bench topk`.
//!
//! Items: 1M × 64 f32 (256 MB). Queries: 1 and 64. k = 100.

use burn::prelude::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use star_model::topk::{cpu_threads, score_topk_cpu, score_topk_reference, score_topk_tensor};
use std::hint::black_box;

const N: usize = 1_000_000;
const D: usize = 64;
const K: usize = 100;

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
}

fn bench(c: &mut Criterion) {
    let items = random(N * D, 1);
    let threads = cpu_threads();
    let mut g = c.benchmark_group("score_topk 1M x 64, k=100");
    g.sample_size(10);
    g.throughput(Throughput::Bytes((N * D * 4) as u64));
    // memory bandwidth: one pass over the item matrix on all threads, summing with 16
    // independent accumulators so the loop is bound by memory, not by the add latency
    g.bench_function("memory read (all threads)", |b| {
        b.iter(|| {
            let chunk = items.len().div_ceil(threads);
            std::thread::scope(|s| {
                let hs: Vec<_> = items
                    .chunks(chunk)
                    .map(|c| {
                        s.spawn(move || {
                            let mut acc = [0.0f32; 16];
                            for x in c.chunks_exact(16) {
                                for l in 0..16 {
                                    acc[l] += x[l];
                                }
                            }
                            acc.iter().sum::<f32>()
                        })
                    })
                    .collect();
                black_box(hs.into_iter().map(|h| h.join().unwrap()).sum::<f32>())
            })
        })
    });
    for b in [1usize, 64] {
        let q = random(b * D, 2);
        g.bench_with_input(BenchmarkId::new("fused cpu", b), &b, |bch, _| {
            bch.iter(|| black_box(score_topk_cpu(&q, &items, D, K, threads)))
        });
        if b == 1 {
            g.bench_with_input(
                BenchmarkId::new("reference: scores + sort", b),
                &b,
                |bch, _| bch.iter(|| black_box(score_topk_reference(&q, &items, D, K))),
            );
        }
        let dev = Device::flex();
        let tq = Tensor::<2>::from_data(TensorData::new(q.clone(), [b, D]), &dev);
        let ti = Tensor::<2>::from_data(TensorData::new(items.clone(), [N, D]), &dev);
        g.bench_with_input(
            BenchmarkId::new("burn flex: matmul + topk", b),
            &b,
            |bch, _| {
                bch.iter(|| {
                    let (s, i) = score_topk_tensor(tq.clone(), ti.clone(), K);
                    black_box((s.into_data(), i.into_data()))
                })
            },
        );
        #[cfg(any(feature = "wgpu", feature = "cuda"))]
        gpu(&mut g, &q, &items, b);
    }
    g.finish();
}

/// The CubeCL kernels against burn's matmul + top-k on the GPU backends compiled in (only
/// built with `--features wgpu` / `--features cuda`); results are read back to the host.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn gpu(
    g: &mut criterion::BenchmarkGroup<criterion::measurement::WallTime>,
    q: &[f32],
    items: &[f32],
    b: usize,
) {
    let mut devices = Vec::new();
    #[cfg(feature = "cuda")]
    devices.push(("cuda", Device::cuda(0)));
    #[cfg(feature = "wgpu")]
    devices.push((
        "wgpu",
        Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
    ));
    for (name, dev) in devices {
        let tq = Tensor::<2>::from_data(TensorData::new(q.to_vec(), [b, D]), &dev);
        let ti = Tensor::<2>::from_data(TensorData::new(items.to_vec(), [N, D]), &dev);
        g.bench_with_input(
            BenchmarkId::new(format!("{name}: fused kernels"), b),
            &b,
            |bch, _| {
                bch.iter(|| {
                    let (s, i) = star_model::topk::score_topk(tq.clone(), ti.clone(), K);
                    black_box((s.into_data(), i.into_data()))
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new(format!("{name}: matmul + topk"), b),
            &b,
            |bch, _| {
                bch.iter(|| {
                    let (s, i) = score_topk_tensor(tq.clone(), ti.clone(), K);
                    black_box((s.into_data(), i.into_data()))
                })
            },
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
