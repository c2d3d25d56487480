//! Training-step throughput on the CPU, for the side-by-side table against PyTorch and RecBole in
//! BENCHMARKS.md: `cargo bench -p star-train --bench train_step` (the same shapes in PyTorch:
//! `scripts/peers/train_step_torch.py`).
//!
//! Each part times whole optimiser steps (forward, loss, backward, optimiser update, reading the
//! loss back) after a warm-up, and prints the median over `STAR_BENCH_STEPS` steps (default 20):
//! - `student-lm`: the student decoder (`DecoderConfig::student`: width 96, 2 blocks, 4/2 heads,
//!   SwiGLU 288, tied embeddings) as a causal LM over a vocabulary of 4000, batches of 16 × 80
//!   tokens, cross-entropy at every position, AdamW (lr 1e-3, weight decay 0.01) — the same
//!   step as PyTorch's `LlamaForCausalLM` in the script — once on this thread and once cut
//!   into two parts on two threads, as SFT runs;
//! - `sasrec`: SASRec's own training step (`SasRecLearner`, defaults: max_len 50, dim 64,
//!   2 blocks, 1 head) on 128 sequences of a 1682-item catalogue, Adam; with the paper's BCE
//!   against one negative and with the cross-entropy over the whole catalogue
//!   (`SasRecLoss`), each once whole and once cut into two parts on two threads
//!   (`SasRecTrainConfig::parts`);
//! - `lightgcn`: LightGCN's BPR step (`CfLearner`, dim 64, 3 layers, the full-graph
//!   propagation) with 8192 triples on a synthetic graph of MovieLens-100K's shape (943 users,
//!   1682 items, 101 928 train edges), Adam.
//!
//! The epoch estimates multiply the median step by the steps of one epoch on MovieLens-100K
//! (SASRec: 943 sequences / 128 = 8 steps; LightGCN: edges / 8192).

use burn::optim::{AdamConfig, AdamWConfig};
use burn::prelude::*;
use burn::train::TrainStep;
use star_cf::data::synthetic::{generate, SyntheticConfig};
use star_cf::graph::CfGraph;
use star_cf::split::Split;
use star_model::cf::{Adjacency, BprBatch, LightGcnConfig};
use star_model::student::{CausalLm, DecoderConfig};
use star_train::cf::CfLearner;
use star_train::parallel::split_step;
use star_train::sasrec::{SasRecLearner, SasRecLoss, SasRecTrainConfig, SeqBatch};
use std::time::Instant;

/// As the `star` binary and the example do (see `src/bin/star/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median seconds of `steps` calls of `step`, after three warm-up calls.
fn median_secs(steps: usize, mut step: impl FnMut()) -> f64 {
    for _ in 0..3 {
        step();
    }
    let mut t: Vec<f64> = (0..steps)
        .map(|_| {
            let s = Instant::now();
            step();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn ints<const D: usize>(
    shape: [usize; D],
    hi: usize,
    seed: &mut u64,
    device: &Device,
) -> Tensor<D, Int> {
    let n: usize = shape.iter().product();
    let v: Vec<i64> = (0..n)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((*seed >> 33) % hi as u64) as i64
        })
        .collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// The student LM step on 16 × 80 tokens. With `parts > 1` the batch is cut into that many
/// row blocks whose forward and backward passes run on threads of their own
/// (`star_train::parallel::split_step`, what SFT does with `SftConfig::parts`).
fn student_lm(steps: usize, device: &Device, parts: usize) {
    let (b, t, vocab) = (16, 80, 4000);
    let cfg = DecoderConfig::student(vocab);
    let mut model: Option<CausalLm> = Some(cfg.init_lm(device).train());
    let mut optim = AdamWConfig::new().with_weight_decay(0.01).init();
    let mut seed = 1;
    let tokens = ints([b, t + 1], vocab, &mut seed, device);
    let rows = b / parts;
    let blocks: Vec<(Tensor<2, Int>, Tensor<1, Int>)> = (0..parts)
        .map(|p| {
            let block = tokens.clone().slice([p * rows..(p + 1) * rows, 0..t + 1]);
            (
                block.clone().slice([0..rows, 0..t]),
                block.slice([0..rows, 1..t + 1]).reshape([rows * t]),
            )
        })
        .collect();
    // the mean cross-entropy of one block, as its share of the batch's: every token weighs
    // 1 / (b · t); the head and its cross-entropy fused (`CausalLm::token_loss`)
    let weights = Tensor::<1>::full([rows * t], 1.0 / (b * t) as f64, device);
    let loss = |m: &CausalLm, (input, target): &(Tensor<2, Int>, Tensor<1, Int>)| {
        let hidden = m
            .model
            .forward_embeddings(m.model.embed(input.clone()), None, None);
        let d = hidden.dims()[2];
        m.token_loss(
            hidden.reshape([rows * t, d]),
            target.clone(),
            weights.clone(),
        )
        .loss
    };
    let s = median_secs(steps, || {
        let m = model.take().unwrap();
        let (grads, losses) =
            split_step(&m, blocks.clone(), device, |m, block| (loss(m, &block), ()));
        for (l, ()) in losses {
            let _: f32 = l.into_scalar();
        }
        model = Some(optim.step(1e-3, m, grads));
    });
    println!(
        "student-lm   16 x 80 tokens, vocab {vocab}, {parts} part(s): {:7.1} ms/step  {:8.0} tokens/s",
        s * 1e3,
        (b * t) as f64 / s
    );
}

/// SASRec's training step with `loss`; with `parts > 1` the batch is cut into that many parts
/// on threads of their own (`SasRecTrainConfig::parts`).
fn sasrec(steps: usize, device: &Device, parts: usize, loss: SasRecLoss) {
    let (b, l, items) = (128, 50, 1682);
    let cfg = SasRecTrainConfig::new();
    let mut learner = Some(SasRecLearner {
        model: cfg.model(items).init(device),
        loss,
    });
    let mut optim = AdamConfig::new().init();
    let mut seed = 2;
    let (input, positives, negatives) = (
        ints([b, l], items + 1, &mut seed, device),
        // no padding among the targets, so every one of the b · l positions carries loss
        ints([b, l], items, &mut seed, device).add_scalar(1),
        ints([b, l], items, &mut seed, device).add_scalar(1),
    );
    let rows = b / parts;
    let batch: Vec<SeqBatch> = (0..parts)
        .map(|p| {
            let r = p * rows..(p + 1) * rows;
            SeqBatch {
                input: input.clone().slice([r.clone(), 0..l]),
                positives: positives.clone().slice([r.clone(), 0..l]),
                negatives: negatives.clone().slice([r, 0..l]),
                dropout_seed: 4 + p as u64,
                loss_positions: (parts > 1).then_some(b * l),
            }
        })
        .collect();
    let s = median_secs(steps, || {
        let m = learner.take().unwrap();
        let out = TrainStep::step(&m, batch.clone());
        let _: f32 = out.item.loss.into_scalar();
        learner = Some(optim.step(1e-3, m, out.grads));
    });
    println!(
        "sasrec       128 x 50, {items} items, {loss:?}, {parts} part(s): {:7.1} ms/step  {:8.2} s/epoch (8 steps)",
        s * 1e3,
        s * 8.0
    );
}

fn lightgcn(steps: usize, device: &Device) {
    let ds = generate(&SyntheticConfig::movielens_100k_shape(7)).expect("synthetic data");
    let graph = CfGraph::from_split(&Split::temporal_leave_one_out(&ds));
    let (nu, ni, e) = (graph.num_users(), graph.num_items(), graph.num_edges());
    let encoder = LightGcnConfig::new(nu, ni)
        .with_dim(64)
        .with_layers(3)
        .init(Adjacency::from_graph(&graph, device), device);
    let mut learner = Some(CfLearner { encoder, l2: 1e-4 });
    let mut optim = AdamConfig::new().init();
    let mut seed = 3;
    let n = 8192;
    let batch = BprBatch {
        users: ints([n], nu, &mut seed, device),
        positives: ints([n], ni, &mut seed, device),
        negatives: ints([n], ni, &mut seed, device),
    };
    let s = median_secs(steps, || {
        let m = learner.take().unwrap();
        let out = TrainStep::step(&m, batch.clone());
        let _: f32 = out.item.loss.into_scalar();
        learner = Some(optim.step(5e-3, m, out.grads));
    });
    let per_epoch = e.div_ceil(n);
    println!(
        "lightgcn     8192 triples, {e} edges:  {:7.1} ms/step  {:8.2} s/epoch ({per_epoch} steps)",
        s * 1e3,
        s * per_epoch as f64
    );
}

fn main() {
    let steps = env("STAR_BENCH_STEPS", 20);
    let device = Device::flex().autodiff();
    device.seed(42);
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let want = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    if want("student-lm") {
        student_lm(steps, &device, 1);
        student_lm(steps, &device, 2);
    }
    if want("sasrec") {
        for loss in [SasRecLoss::Bce, SasRecLoss::Ce] {
            sasrec(steps, &device, 1, loss);
            sasrec(steps, &device, 2, loss);
        }
    }
    if want("lightgcn") {
        lightgcn(steps, &device);
    }
}
