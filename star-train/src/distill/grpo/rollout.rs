//! Rollouts: for each prompt of a step, `G` sampled outputs with their rewards and the
//! log-probabilities of their actions under the policy and the reference model.

use super::learner::{GrpoLearner, GrpoPart};
use super::reward::outcome_reward;
use super::sampling::{ranking_logp, sample_ranking};
use crate::distill::data::{collate, item_from_tokens, DistillBatch, DistillItem};
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use star_model::cross_entropy::cross_entropy;
use star_model::model::{Sampling, StarNet};

/// One rollout group's actions, on their way to the loss.
pub(super) struct Rollouts {
    /// `[N, U]` log-probabilities under the policy (with autodiff).
    pub(super) logp: Tensor<2>,
    /// `[N, U]` under the reference, on the training device.
    pub(super) reference: Tensor<2>,
    /// `[N, U]` 1 where a unit is an action.
    pub(super) mask: Tensor<2>,
    /// The reward of each rollout.
    pub(super) rewards: Vec<f64>,
    /// The format reward of each rollout (0 or 1).
    pub(super) formats: Vec<f64>,
}

fn rollout_rng(seed: u64, prompt: usize, g: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(
        seed ^ ((prompt as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
            ^ ((g as u64 + 1).wrapping_mul(0xc2b2_ae3d_27d4_eb4f)),
    )
}

fn host_f32(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec()
        .expect("float tensor data")
}

/// Moves a (detached) tensor to `device` through host memory.
fn to_device<const D: usize>(t: Tensor<D>, device: &Device) -> Tensor<D> {
    Tensor::from_data(t.into_data(), device)
}

impl GrpoLearner {
    /// The training device (the policy's).
    pub(super) fn device(&self) -> Device {
        self.net.model.embed_tokens.weight.device()
    }

    /// Rank-only rollouts: one forward pass, `G` rankings sampled from the scores.
    pub(super) fn rank_rollouts(&self, b: &GrpoPart) -> Rollouts {
        let ctx = &self.ctx;
        let cfg = &ctx.cfg;
        let device = self.device();
        let items: Vec<DistillItem> = b.prompts.iter().map(|(_, p)| p.item.clone()).collect();
        let batch = collate(&items, ctx.pad, &device);
        let scores = self
            .net
            .candidate_scores(self.net.hidden(&batch.inputs), &batch.inputs);
        let c = scores.dims()[1];
        let host = host_f32(scores.clone().detach());
        let g = cfg.group.max(1);
        let depth = cfg.rank_depth.clamp(1, c);
        let mut rankings = Vec::with_capacity(items.len() * g);
        let mut rows = Vec::with_capacity(items.len() * g);
        let mut rewards = Vec::with_capacity(items.len() * g);
        for (i, (it, &(place, _))) in items.iter().zip(&b.prompts).enumerate() {
            for k in 0..g {
                let ranking = sample_ranking(
                    &host[i * c..(i + 1) * c],
                    cfg.temperature,
                    depth,
                    &mut rollout_rng(b.seed, place, k),
                );
                let rank = star_cf::rank_metrics::rank_in(&ranking, &it.positive);
                rewards.push(outcome_reward(rank) + cfg.format_weight);
                rankings.push(ranking);
                rows.push(i as i64);
            }
        }
        let n = rows.len();
        let rows_on =
            |d: &Device| Tensor::<1, Int>::from_data(TensorData::new(rows.clone(), [n]), d);
        let logp = ranking_logp(
            scores.select(0, rows_on(&device)),
            &rankings,
            cfg.temperature,
        );
        let rbatch = collate(&items, ctx.pad, &ctx.plain);
        let rscores = ctx
            .reference
            .candidate_scores(ctx.reference.hidden(&rbatch.inputs), &rbatch.inputs);
        let reference = to_device(
            ranking_logp(
                rscores.select(0, rows_on(&ctx.plain)),
                &rankings,
                cfg.temperature,
            ),
            &device,
        );
        Rollouts {
            mask: Tensor::ones([n, depth], &device),
            logp,
            reference,
            formats: vec![1.0; rewards.len()],
            rewards,
        }
    }

    /// Explain-mode rollouts: `G` sampled trajectories per prompt with live tool calls, each
    /// followed by a ranking sampled from its scores at `<recommend>`.
    pub(super) fn explain_rollouts(&self, b: &GrpoPart) -> Rollouts {
        let ctx = &self.ctx;
        let cfg = &ctx.cfg;
        let device = self.device();
        let policy = ctx.model.clone().with_net(self.net.valid());
        let g = cfg.group.max(1);
        let mut items = Vec::new();
        let mut rankings = Vec::new();
        let mut rewards = Vec::new();
        let mut formats = Vec::new();
        for &(place, p) in &b.prompts {
            let c = p.sample.request.candidates.len();
            let depth = cfg.rank_depth.clamp(1, c);
            for k in 0..g {
                let mut rng = rollout_rng(b.seed, place, k);
                let mut decoding = Sampling::new(cfg.temperature as f32, rng.random());
                let e = policy
                    .explain_with(&p.sample.request, &mut decoding)
                    .unwrap_or_else(|m| panic!("explain-mode rollout of `{}`: {m}", p.sample.id));
                let ranking = sample_ranking(&e.scores, cfg.temperature, depth, &mut rng);
                let rank = star_cf::rank_metrics::rank_in(&ranking, &p.sample.positive);
                let format = if !e.forced && e.tool_errors == 0 {
                    1.0
                } else {
                    0.0
                };
                rewards.push(outcome_reward(rank) + cfg.format_weight * format);
                formats.push(format);
                rankings.push(ranking);
                items.push(
                    item_from_tokens(&policy, &p.sample, e.tokens)
                        .unwrap_or_else(|err| panic!("explain-mode rollout: {err}")),
                );
            }
        }
        let units = |net: &StarNet, batch: &DistillBatch| -> (Tensor<2>, Tensor<2>) {
            let hidden = net.hidden(&batch.inputs);
            let scores = net.candidate_scores(hidden.clone(), &batch.inputs);
            let logits = net.logits(hidden);
            let [n, t, v] = logits.dims();
            let tokens = cross_entropy(
                logits.reshape([n * t, v]),
                batch.targets.clone().reshape([n * t]),
            )
            .neg()
            .reshape([n, t]);
            let places = ranking_logp(scores, &rankings, cfg.temperature);
            let mut mask = Tensor::<2>::zeros([n, t], &batch.targets.device());
            for (_, m, _) in &batch.masks {
                mask = mask + m.clone();
            }
            let d = places.dims()[1];
            (
                Tensor::cat(vec![tokens, places], 1),
                Tensor::cat(vec![mask, Tensor::ones([n, d], &batch.targets.device())], 1),
            )
        };
        let batch = collate(&items, ctx.pad, &device);
        let (logp, mask) = units(&self.net, &batch);
        let rbatch = collate(&items, ctx.pad, &ctx.plain);
        let (reference, _) = units(&ctx.reference, &rbatch);
        Rollouts {
            logp,
            reference: to_device(reference, &device),
            mask,
            rewards,
            formats,
        }
    }
}
