//! The differentiable softmax (`softmax_last`) and SwiGLU gate (`swiglu`) against burn's
//! composed ones: values and gradients (the softmax with masked −1e9 scores, as attention has
//! them), with autodiff and without.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::Distribution;
use star_model::softmax::softmax_last;

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= tol, "{what}[{i}]: {a} vs {b}");
    }
}

#[test]
fn values_and_gradients_equal_the_composed_softmax() {
    let device = Device::flex().autodiff();
    device.seed(5);
    // [2, 3, 37, 37] scores, the upper triangle masked as causal attention does
    let (b, h, t) = (2, 3, 37);
    let mask = Tensor::<2, Bool>::tril_mask([t, t], 0, &device).reshape([1, 1, t, t]);
    let x0 = Tensor::<4>::random([b, h, t, t], Distribution::Normal(0.0, 3.0), &device)
        .mask_fill(mask.expand([b, h, t, t]), -1.0e9);
    let g = Tensor::<4>::random([b, h, t, t], Distribution::Normal(0.0, 1.0), &device);
    let run = |fused: bool| {
        let x = x0.clone().detach().require_grad();
        let y = if fused {
            softmax_last(x.clone())
        } else {
            softmax(x.clone(), 3)
        };
        let grads = (y.clone() * g.clone()).sum().backward();
        let gx: Tensor<4> = Tensor::from_inner(x.grad(&grads).expect("a gradient"));
        (host(y.inner()), host(gx))
    };
    let (y_f, g_f) = run(true);
    let (y_c, g_c) = run(false);
    close(&y_f, &y_c, 1e-6, "softmax");
    close(&g_f, &g_c, 1e-5, "gradient");
    // masked entries: no weight, no gradient; every row sums to 1
    for (i, (y, g)) in y_f.iter().zip(&g_f).enumerate() {
        let (q, k) = ((i / t) % t, i % t);
        if k > q {
            assert!(*y < 1e-30 && g.abs() < 1e-30, "masked [{q}, {k}]: {y}, {g}");
        }
    }
    for row in y_f.chunks(t) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

#[test]
fn without_autodiff_the_values_are_the_same() {
    let device = Device::flex();
    let x = Tensor::<3>::random([4, 5, 300], Distribution::Normal(0.0, 10.0), &device);
    close(
        &host(softmax_last(x.clone())),
        &host(softmax(x, 2)),
        1e-6,
        "softmax",
    );
}

#[test]
fn swiglu_values_and_gradients_equal_the_composed_gate() {
    use burn::tensor::activation::silu;
    use star_model::swiglu::swiglu;
    let device = Device::flex().autodiff();
    device.seed(9);
    // 70 001 elements: more than one task, not a multiple of any lane count
    let shape = [7, 10_001];
    let g0 = Tensor::<2>::random(shape, Distribution::Normal(0.0, 4.0), &device);
    let u0 = Tensor::<2>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<2>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let run = |fused: bool| {
        let (g, u) = (
            g0.clone().detach().require_grad(),
            u0.clone().detach().require_grad(),
        );
        let y = if fused {
            swiglu(g.clone(), u.clone())
        } else {
            silu(g.clone()) * u.clone()
        };
        let grads = (y.clone() * w.clone()).sum().backward();
        let dg: Tensor<2> = Tensor::from_inner(g.grad(&grads).expect("d gate"));
        let du: Tensor<2> = Tensor::from_inner(u.grad(&grads).expect("d up"));
        (host(y.inner()), host(dg), host(du))
    };
    let (y_f, dg_f, du_f) = run(true);
    let (y_c, dg_c, du_c) = run(false);
    for (what, a, b) in [
        ("y", &y_f, &y_c),
        ("d gate", &dg_f, &dg_c),
        ("d up", &du_f, &du_c),
    ] {
        for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
            assert!(
                (x - y).abs() <= 1e-5 * y.abs().max(1.0),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }
    // only `up` tracked: its gradient alone
    let u = u0.clone().detach().require_grad();
    let grads = swiglu(g0.clone().detach(), u.clone()).sum().backward();
    let du: Tensor<2> = Tensor::from_inner(u.grad(&grads).expect("d up"));
    let want = host(silu(g0.clone().detach()).inner());
    for (x, y) in host(du).iter().zip(&want) {
        assert!((x - y).abs() <= 1e-5 * y.abs().max(1.0));
    }
}
