//! Fused top-k scoring against the plain reference: random inputs, exact ties, k > N, N not a
//! multiple of the block size, both threading strategies, NaN, and the tensor API.

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use star_model::topk::{score_topk, score_topk_cpu, score_topk_reference, score_topk_tensor, TopK};

fn random(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n * d)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect()
}

/// Same scores (within tolerance) and the same indices, except where neighbouring scores are
/// so close that rounding may reorder them.
/// Reads device results `[B, k]` back as a [`TopK`].
fn read_topk(s: Tensor<2>, i: Tensor<2, Int>) -> TopK {
    TopK {
        k: s.dims()[1],
        scores: s.into_data().convert::<f32>().try_into_vec().unwrap(),
        indices: i
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .unwrap()
            .into_iter()
            .map(|x| x as u32)
            .collect(),
    }
}

fn agree(a: &TopK, b: &TopK, tol: f32) {
    assert_eq!((a.k, a.scores.len()), (b.k, b.scores.len()));
    for (i, (x, y)) in a.scores.iter().zip(&b.scores).enumerate() {
        assert!((x - y).abs() <= tol, "score {i}: {x} vs {y}");
        if a.indices[i] != b.indices[i] {
            let near = a
                .scores
                .iter()
                .any(|s| (s - x).abs() <= 2.0 * tol && s != x)
                || b.scores
                    .iter()
                    .filter(|s| (*s - y).abs() <= 2.0 * tol)
                    .count()
                    > 1;
            assert!(
                near,
                "index {i}: {} vs {} with distinct scores",
                a.indices[i], b.indices[i]
            );
        }
    }
}

#[test]
fn fused_equals_reference_on_random_inputs() {
    for &(b, n, d, k, threads) in &[
        (1, 1037, 16, 10, 4), // few queries: split items, merge; N not a multiple of 512
        (7, 3000, 33, 25, 2), // d not a multiple of 8
        (64, 1500, 64, 100, 4), // many queries: split queries
        (3, 5, 8, 10, 2),     // k > N
        (2, 600, 7, 600, 3),  // k = N
    ] {
        let (q, items) = (random(b, d, 1), random(n, d, 2));
        let fused = score_topk_cpu(&q, &items, d, k, threads);
        let reference = score_topk_reference(&q, &items, d, k);
        assert_eq!(fused.k, k.min(n));
        agree(&fused, &reference, 1e-4);
    }
}

#[test]
fn ties_go_to_the_smaller_index() {
    let d = 8;
    let base = random(50, d, 3);
    // items 0..50, then exact copies as 50..100 and 100..150
    let mut items = base.clone();
    items.extend(&base);
    items.extend(&base);
    let q = random(4, d, 4);
    let fused = score_topk_cpu(&q, &items, d, 30, 3);
    let reference = score_topk_reference(&q, &items, d, 30);
    assert_eq!(fused.indices, reference.indices);
    for qi in 0..4 {
        let row = &fused.indices[qi * 30..(qi + 1) * 30];
        // copies tie exactly: each group of three is (j, j+50, j+100) in that order
        for g in row.chunks(3) {
            assert_eq!(g, [g[0], g[0] + 50, g[0] + 100], "{row:?}");
        }
    }
    // all-equal scores: the first k indices
    let zeros = vec![0.0f32; 20 * d];
    let r = score_topk_cpu(&q, &zeros, d, 5, 2);
    assert_eq!(&r.indices[..5], &[0, 1, 2, 3, 4]);
}

#[test]
fn nan_scores_rank_last() {
    let d = 2;
    let items = vec![1.0, 0.0, f32::NAN, 0.0, 0.5, 0.0, -3.0, 0.0];
    let r = score_topk_cpu(&[1.0, 0.0], &items, d, 4, 1);
    // scores 1, NaN, 0.5, -3
    assert_eq!(r.indices, vec![0, 2, 3, 1]);
}

#[test]
fn tensor_api_matches_the_host_path_and_the_device_reference() {
    let dev = Device::flex();
    let (b, n, d, k) = (5, 777, 24, 12);
    let (q, items) = (random(b, d, 5), random(n, d, 6));
    let tq = Tensor::<2>::from_data(TensorData::new(q.clone(), [b, d]), &dev);
    let ti = Tensor::<2>::from_data(TensorData::new(items.clone(), [n, d]), &dev);
    let (s, i) = score_topk(tq.clone(), ti.clone(), k);
    let host = score_topk_reference(&q, &items, d, k);
    let got = read_topk(s, i);
    agree(&got, &host, 1e-4);
    let (s2, i2) = score_topk_tensor(tq, ti, k);
    let dev_ref = read_topk(s2, i2);
    agree(&dev_ref, &host, 1e-4);
}

/// The CubeCL kernels, on every GPU backend compiled in. Without a GPU, wgpu runs on Mesa's
/// software Vulkan driver (`apt-get install mesa-vulkan-drivers libvulkan1`);
/// `STAR_WGPU_DEVICE=default` picks the best adapter instead of the CPU one.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod gpu {
    use super::*;

    #[allow(clippy::vec_init_then_push)]
    fn devices() -> Vec<Device> {
        #[allow(unused_mut)]
        let mut v = Vec::new();
        #[cfg(feature = "wgpu")]
        v.push(match std::env::var("STAR_WGPU_DEVICE").as_deref() {
            Ok("default") => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
            _ => Device::wgpu(burn::tensor::DeviceKind::Cpu),
        });
        #[cfg(feature = "cuda")]
        v.push(Device::cuda(0));
        v
    }

    fn on_device(dev: &Device, q: &[f32], items: &[f32], d: usize, k: usize) -> TopK {
        let (b, n) = (q.len() / d, items.len() / d);
        let tq = Tensor::<2>::from_data(TensorData::new(q.to_vec(), [b, d]), dev);
        let ti = Tensor::<2>::from_data(TensorData::new(items.to_vec(), [n, d]), dev);
        let (s, i) = score_topk(tq, ti, k);
        read_topk(s, i)
    }

    #[test]
    fn kernel_equals_reference() {
        for dev in devices() {
            for &(b, n, d, k) in &[
                (1, 1037, 16, 10),
                (9, 3001, 33, 25),
                (3, 5, 8, 10),
                (2, 700, 7, 64),
                (1, 20_011, 64, 100),
                (2, 512, 64, 100),
                (70, 2000, 64, 100),
                (70, 20_011, 8, 100),
                (70, 20_011, 64, 100),
            ] {
                let (q, items) = (random(b, d, 11), random(n, d, 12));
                let got = on_device(&dev, &q, &items, d, k);
                assert_eq!(got.k, k.min(n), "k > N is clamped ({dev:?})");
                agree(&got, &score_topk_reference(&q, &items, d, k), 1e-4);
            }
        }
    }

    #[test]
    fn kernel_breaks_ties_by_index_and_sinks_nan() {
        for dev in devices() {
            let d = 8;
            let base = random(40, d, 13);
            let mut items = base.clone();
            items.extend(&base);
            items[3 * d] = f32::NAN; // item 3 scores NaN for every query
            let q = random(3, d, 14);
            let got = on_device(&dev, &q, &items, d, 80);
            let want = score_topk_reference(&q, &items, d, 80);
            assert_eq!(got.indices, want.indices, "{dev:?}");
            assert_eq!(got.indices[79], 3, "NaN ranks last ({dev:?})");
        }
    }
}
