//! The same training on every CPU-runnable backend: a tiny SASRec and a tiny student start from
//! the same weights (initialised on flex, then forked onto each device), take the same Adam steps on the same
//! batches on flex, ndarray and wgpu (Mesa's lavapipe in CI), and must agree on every step's
//! loss and on the fast-mode scores after training.
//!
//! Compiled only with both backend features: `cargo test --workspace --features ndarray,wgpu
//! --test cross_backend` (`.ci/run` does).

#![cfg(all(feature = "ndarray", feature = "wgpu"))]

mod support;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::train::TrainStep;
use star_model::device::device_from_name;
use star_model::model::StarNet;
use star_model::sasrec::SasRec;
use star_train::distill::{collate, distill_loss, LossWeights};
use star_train::sasrec::{SasRecArch, SasRecLearner, SasRecLoss, SasRecTrainConfig, SeqBatch};

/// Adam steps each backend takes.
const STEPS: usize = 5;
/// Largest relative difference of a loss from flex's. Measured (2-core AMD EPYC, lavapipe):
/// at most 6e-6 (SASRec) and 1e-6 (student); flex runs star-model's fused host kernels, the
/// others the tensor reference, so f32 sums run in another order.
const LOSS_TOL: f32 = 1e-4;
/// Largest difference of a score from flex's, relative to flex's largest score. Measured: at
/// most 2.3e-4 (SASRec) and 1e-5 (student).
const SCORE_TOL: f32 = 1e-3;

/// The backends, flex (the reference) first.
fn devices() -> Vec<(&'static str, Device)> {
    ["flex", "ndarray", "wgpu"]
        .into_iter()
        .map(|name| (name, device_from_name(name).unwrap()))
        .collect()
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec().unwrap()
}

/// Asserts that every backend's losses and scores match flex's.
fn assert_agree(what: &str, runs: &[(&str, Vec<f32>, Vec<f32>)]) {
    let (_, ref_losses, ref_scores) = &runs[0];
    assert!(
        ref_losses.last() < ref_losses.first(),
        "{what}: flex does not learn: {ref_losses:?}"
    );
    let scale = ref_scores.iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!(scale > 0.0, "{what}: all scores are 0");
    for (name, losses, scores) in &runs[1..] {
        for (step, (a, b)) in ref_losses.iter().zip(losses).enumerate() {
            assert!(
                (a - b).abs() <= LOSS_TOL * a.abs().max(1.0),
                "{what} on {name}, step {step}: loss {b} against flex's {a}"
            );
        }
        let worst = ref_scores
            .iter()
            .zip(scores)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= SCORE_TOL * scale,
            "{what} on {name}: a score differs from flex's by {worst} (largest score {scale})"
        );
        println!(
            "{what} on {name}: losses {losses:?} (flex {ref_losses:?}), worst score difference \
             {worst:e} (largest score {scale})"
        );
    }
}

fn ids(v: &[i64], device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(v.to_vec(), [4, 6]), device)
}

/// `STEPS` steps of SASRec on `device` from `init`: every step's loss, and the scores of 5
/// candidates after each sequence.
fn sasrec_run(init: &SasRec, device: &Device) -> (Vec<f32>, Vec<f32>) {
    let dev = device.clone().autodiff();
    // four sequences, left-padded (0 = padding), their next items and sampled negatives
    let input = [
        0, 0, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 0, 0, 0, 7, 8, 9, 9, 8, 7, 6, 5, 4,
    ];
    let positives = [
        0, 0, 4, 5, 6, 7, 0, 2, 3, 4, 5, 6, 0, 0, 0, 8, 9, 10, 8, 7, 6, 5, 4, 3,
    ];
    let negatives = [
        0, 0, 9, 9, 9, 9, 0, 8, 8, 8, 8, 8, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2,
    ];
    let mut model = init.clone().fork(&dev);
    let mut optim = AdamConfig::new().init();
    let mut losses = Vec::new();
    for step in 0..STEPS {
        let learner = SasRecLearner {
            model: model.clone(),
            loss: SasRecLoss::Ce,
        };
        let batch = SeqBatch {
            input: ids(&input, &dev),
            positives: ids(&positives, &dev),
            negatives: ids(&negatives, &dev),
            dropout_seed: step as u64,
            loss_positions: None,
        };
        let out = TrainStep::step(&learner, vec![batch]);
        losses.push(out.item.loss.into_scalar());
        model = optim.step(1e-2, model, out.grads);
    }
    let model = model.valid();
    let cands: Vec<i64> = (0..4)
        .flat_map(|r| (1..=5).map(move |c| c + 2 * r))
        .collect();
    let cands = Tensor::from_data(TensorData::new(cands, [4, 5]), device);
    let scores = model.score_candidates(ids(&input, device), cands);
    (losses, host(scores))
}

#[test]
fn sasrec_trains_alike_on_every_backend() {
    let arch = SasRecArch::new()
        .with_max_len(6)
        .with_dim(16)
        .with_dropout(0.0);
    // made on flex with gradients tracked; each run forks it onto its device (a graph of its own)
    let flex = Device::flex().autodiff();
    flex.seed(3);
    let init = SasRecTrainConfig::new()
        .with_model(arch)
        .model(20)
        .init(&flex);
    let runs: Vec<_> = devices()
        .into_iter()
        .map(|(name, device)| {
            let (losses, scores) = sasrec_run(&init, &device);
            (name, losses, scores)
        })
        .collect();
    assert_agree("SASRec", &runs);
}

/// `STEPS` steps of the student on `device` from `init` over `items`: every step's loss (all
/// terms: trajectory tokens, ranking, next item), and the fast-mode candidate scores after.
fn student_run(
    init: &StarNet,
    items: &[star_train::distill::DistillItem],
    device: &Device,
) -> (Vec<f32>, Vec<f32>) {
    let dev = device.clone().autodiff();
    let weights = LossWeights::new();
    let batch = collate(items, 0, &dev);
    let mut net = init.clone().fork(&dev);
    let mut optim = AdamConfig::new().init();
    let mut losses = Vec::new();
    for _ in 0..STEPS {
        let out = distill_loss(&net, &batch, &weights);
        losses.push(out.total.clone().into_scalar());
        let grads = GradientsParams::from_grads(out.total.backward(), &net);
        net = optim.step(1e-2, net, grads);
    }
    let scores = distill_loss(&net.valid(), &collate(items, 0, device), &weights).scores;
    (losses, host(scores))
}

#[test]
fn the_student_trains_alike_on_every_backend() {
    let w = support::world();
    let flex = Device::flex().autodiff();
    flex.seed(5);
    let m = support::model(&w, &support::corpus(&w), &flex);
    let items = support::items(&w, &m);
    let runs: Vec<_> = devices()
        .into_iter()
        .map(|(name, device)| {
            let (losses, scores) = student_run(m.net(), &items, &device);
            (name, losses, scores)
        })
        .collect();
    assert_agree("student", &runs);
}
