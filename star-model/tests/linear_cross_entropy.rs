//! The fused head loss (`linear_cross_entropy`) against the composed `matmul`, `log_softmax`
//! and `gather`: the weighted loss, each row's loss and both gradients, on Flex's fast path,
//! with autodiff and without; and the language model's `token_loss` for a tied and an untied
//! head.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn::tensor::Distribution;
use star_model::linear_cross_entropy::linear_cross_entropy;
use star_model::student::DecoderConfig;

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tol * b.abs().max(1.0),
            "{what}[{i}]: {a} vs {b}"
        );
    }
}

/// `Σ w_r · nll_r` through the composed operations, and the rows' losses.
fn composed(
    h: Tensor<2>,
    w: Tensor<2>,
    targets: Tensor<1, Int>,
    rw: Tensor<1>,
) -> (Tensor<1>, Tensor<1>) {
    let n = h.dims()[0];
    let nll = log_softmax(h.matmul(w.transpose()), 1)
        .gather(1, targets.reshape([n, 1]))
        .reshape([n])
        .neg();
    ((nll.clone() * rw).sum(), nll)
}

#[test]
fn loss_and_gradients_equal_the_composed_head() {
    let device = Device::flex().autodiff();
    device.seed(11);
    // 203 rows (not a multiple of any block), width 24, 1009 classes, a weight per row (some 0)
    let (n, d, k) = (203, 24, 1009);
    let h0 = Tensor::<2>::random([n, d], Distribution::Normal(0.0, 1.0), &device);
    let w0 = Tensor::<2>::random([k, d], Distribution::Normal(0.0, 0.5), &device);
    let targets: Vec<i64> = (0..n as i64).map(|r| (r * 389 + 7) % k as i64).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [n]), &device);
    let rw: Vec<f32> = (0..n)
        .map(|r| {
            if r % 7 == 3 {
                0.0
            } else {
                0.5 + (r % 5) as f32 / 4.0
            }
        })
        .collect();
    let rw = Tensor::<1>::from_data(TensorData::new(rw, [n]), &device);
    let run = |fused: bool| {
        let h = h0.clone().detach().require_grad();
        let w = w0.clone().detach().require_grad();
        let (loss, nll) = if fused {
            let out = linear_cross_entropy(h.clone(), w.clone(), targets.clone(), rw.clone());
            (out.loss, out.nll)
        } else {
            composed(h.clone(), w.clone(), targets.clone(), rw.clone())
        };
        // a non-unit incoming gradient: the backward pass must scale by it
        let grads = loss.clone().mul_scalar(3.0).backward();
        let gh: Tensor<2> = Tensor::from_inner(h.grad(&grads).expect("d hidden"));
        let gw: Tensor<2> = Tensor::from_inner(w.grad(&grads).expect("d weight"));
        (host(loss.inner()), host(nll.inner()), host(gh), host(gw))
    };
    let (loss_f, nll_f, gh_f, gw_f) = run(true);
    let (loss_c, nll_c, gh_c, gw_c) = run(false);
    close(&loss_f, &loss_c, 1e-5, "loss");
    close(&nll_f, &nll_c, 1e-5, "nll");
    close(&gh_f, &gh_c, 1e-5, "d hidden");
    close(&gw_f, &gw_c, 1e-5, "d weight");
    // the gradients are not trivially zero
    assert!(gw_f.iter().map(|g| g.abs()).sum::<f32>() > 1e-2);
    assert!(gh_f.iter().map(|g| g.abs()).sum::<f32>() > 1e-2);
}

#[test]
fn without_autodiff_the_losses_are_the_same() {
    let device = Device::flex();
    let h = Tensor::<2>::random([70, 8], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<2>::random([30, 8], Distribution::Normal(0.0, 1.0), &device);
    let targets = Tensor::<1, Int>::from_data(
        TensorData::new((0..70i64).map(|r| r % 30).collect::<Vec<_>>(), [70]),
        &device,
    );
    let rw = Tensor::<1>::ones([70], &device).div_scalar(70.0);
    let got = linear_cross_entropy(h.clone(), w.clone(), targets.clone(), rw.clone());
    let (loss, nll) = composed(h, w, targets, rw);
    close(&host(got.loss), &host(loss), 1e-5, "loss");
    close(&host(got.nll), &host(nll), 1e-5, "nll");
}

#[test]
fn token_loss_uses_the_tied_embedding_or_the_head() {
    let device = Device::flex().autodiff();
    device.seed(3);
    for tied in [true, false] {
        let mut cfg = DecoderConfig::student(50);
        cfg.tie_word_embeddings = tied;
        let lm = cfg.init_lm(&device);
        let tokens = Tensor::<2, Int>::from_data(
            TensorData::new((0..12i64).map(|i| (i * 7) % 50).collect::<Vec<_>>(), [2, 6]),
            &device,
        );
        let hidden = lm
            .model
            .forward_embeddings(lm.model.embed(tokens.clone()), None, None);
        let d = hidden.dims()[2];
        let targets = tokens.reshape([12]);
        let rw = Tensor::<1>::ones([12], &device).div_scalar(12.0);
        let got = lm.token_loss(hidden.clone().reshape([12, d]), targets.clone(), rw);
        let logits = lm.logits(hidden).reshape([12, 50]);
        let want = log_softmax(logits, 1)
            .gather(1, targets.reshape([12, 1]))
            .reshape([12])
            .neg()
            .mean();
        close(
            &host(got.loss.inner()),
            &host(want.inner()),
            1e-5,
            if tied { "tied" } else { "head" },
        );
    }
}
