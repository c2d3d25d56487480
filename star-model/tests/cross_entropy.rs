//! The fused cross-entropy against burn's composed `log_softmax` + `gather`: values and
//! gradients, on Flex's fast path; and its vectorisable `exp` against the standard library's.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn::tensor::Distribution;
use star_model::cross_entropy::{cross_entropy, exp_f32};

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

#[test]
fn exp_matches_the_standard_library() {
    let mut worst = 0.0f64;
    let mut x = -87.0f32;
    while x <= 88.0 {
        let (got, want) = (exp_f32(x) as f64, (x as f64).exp());
        worst = worst.max((got - want).abs() / want);
        x += 0.001_3;
    }
    assert!(worst < 5e-7, "worst relative error {worst}");
    assert!(exp_f32(f32::NAN).is_nan());
    assert!(exp_f32(-1e4) < 1e-37);
    assert_eq!(exp_f32(0.0), 1.0);
}

#[test]
fn values_and_gradients_equal_log_softmax_and_gather() {
    let device = Device::flex().autodiff();
    device.seed(7);
    // 37 rows of 1003 logits: not a multiple of the 8 lanes, some large
    let (n, k) = (37, 1003);
    let logits0 = Tensor::<2>::random([n, k], Distribution::Normal(0.0, 4.0), &device);
    let targets: Vec<i64> = (0..n as i64).map(|r| (r * 97 + 5) % k as i64).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [n]), &device);
    // a weight per row, so the backward pass sees an output gradient that is not constant
    let w = Tensor::<1>::random([n], Distribution::Uniform(0.5, 2.0), &device);
    let run = |fused: bool| {
        let logits = logits0.clone().detach().require_grad();
        let nll = if fused {
            cross_entropy(logits.clone(), targets.clone())
        } else {
            log_softmax(logits.clone(), 1)
                .gather(1, targets.clone().reshape([n, 1]))
                .reshape([n])
                .neg()
        };
        let grads = (nll.clone() * w.clone()).sum().backward();
        let g: Tensor<2> = Tensor::from_inner(logits.grad(&grads).expect("a gradient"));
        (host(nll.inner()), host(g))
    };
    let (v_fused, g_fused) = run(true);
    let (v_ref, g_ref) = run(false);
    for (a, b) in v_fused.iter().zip(&v_ref) {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
    }
    // a few ulps of the larger values (up to about 2 here)
    for (a, b) in g_fused.iter().zip(&g_ref) {
        assert!((a - b).abs() <= 2e-6 * b.abs().max(1.0), "{a} vs {b}");
    }
    // every row's gradient sums to 0 (softmax minus one-hot)
    for row in g_fused.chunks(k) {
        assert!(row.iter().sum::<f32>().abs() < 1e-5);
    }
}

#[test]
fn without_autodiff_the_values_are_the_same() {
    let device = Device::flex();
    let logits = Tensor::<2>::random([5, 20], Distribution::Normal(0.0, 1.0), &device);
    let targets = Tensor::<1, Int>::from_data([0i64, 19, 3, 3, 7], &device);
    let got = host(cross_entropy(logits.clone(), targets.clone()));
    let want = host(
        log_softmax(logits, 1)
            .gather(1, targets.reshape([5, 1]))
            .reshape([5])
            .neg(),
    );
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
}
