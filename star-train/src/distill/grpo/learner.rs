//! The policy as burn-train's `Learner` sees it: GRPO's prompts and batches, the context its
//! steps share, and the training step (rollouts, advantages, loss) and validation step.

use super::config::GrpoConfig;
use super::objective::{grpo_loss, GrpoLoss};
use super::reward::group_advantages;
use crate::distill::data::{DistillBatch, DistillItem, DistillSample};
use crate::distill::sft::DistillOutput;
use crate::metrics::RankingOutput;
use crate::parallel::split_step;
use burn::module::Module;
use burn::prelude::*;
use burn::train::{InferenceStep, TrainOutput, TrainStep};
use star_model::model::{StarModel, StarNet};
use std::sync::Arc;

/// A prompt GRPO trains on: its sample (request, true item) and its fast-mode tokens.
#[derive(Clone, Debug)]
pub struct GrpoPrompt {
    /// The sample (its trajectory is not used).
    pub sample: DistillSample,
    /// The prompt followed by `<recommend>`.
    pub item: DistillItem,
}

/// A GRPO step's prompts (equal candidate counts) and the seed of its rollouts.
#[derive(Clone, Debug)]
pub struct GrpoBatch {
    /// The prompts.
    pub prompts: Vec<GrpoPrompt>,
    /// Seed of the rollouts (a function of the run seed, the epoch and the batch).
    pub seed: u64,
}

impl GrpoBatch {
    /// The prompts cut into `parts` parts (prompt `i` to part `i % parts`), each prompt with its
    /// place in the batch, which seeds its rollouts: the rollouts do not depend on the cut.
    pub(super) fn parts(&self, parts: usize) -> Vec<GrpoPart<'_>> {
        let parts = parts.clamp(1, self.prompts.len().max(1));
        (0..parts)
            .map(|p| GrpoPart {
                prompts: self
                    .prompts
                    .iter()
                    .enumerate()
                    .skip(p)
                    .step_by(parts)
                    .collect(),
                seed: self.seed,
            })
            .collect()
    }
}

/// Some of a step's prompts, each with its place in the step's batch.
#[derive(Clone, Debug)]
pub(super) struct GrpoPart<'a> {
    pub(super) prompts: Vec<(usize, &'a GrpoPrompt)>,
    pub(super) seed: u64,
}

/// What GRPO steps share: the settings, the frozen SFT model (the KL reference) and the
/// model that renders prompts and runs explain-mode rollouts.
#[derive(Clone)]
pub struct GrpoContext {
    pub(super) cfg: GrpoConfig,
    /// The SFT network on the plain device.
    pub(super) reference: StarNet,
    /// The student (binding, tools, tokenizer); its network is replaced by the policy's.
    pub(super) model: StarModel,
    pub(super) pad: u32,
    pub(super) plain: Device,
}

impl std::fmt::Debug for GrpoContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpoContext")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// The policy as burn-train's `Learner` sees it.
#[derive(Module, Debug)]
pub struct GrpoLearner {
    /// The policy network.
    pub net: StarNet,
    /// Settings, reference model, rollout model.
    #[module(skip)]
    pub ctx: Arc<GrpoContext>,
}

impl GrpoLearner {
    /// The learner GRPO trains from `model` (a bound student whose tokenizer has `<pad>` = `pad`):
    /// the policy a fork of its network on `device` with autodiff, the KL reference a frozen copy
    /// on `device`.
    pub fn new(cfg: &GrpoConfig, model: &StarModel, pad: u32, device: &Device) -> GrpoLearner {
        let ctx = Arc::new(GrpoContext {
            cfg: cfg.clone(),
            reference: model.net().clone().fork(device).valid(),
            model: model.clone(),
            pad,
            plain: device.clone(),
        });
        GrpoLearner {
            net: model.net().clone().fork(&device.clone().autodiff()).train(),
            ctx,
        }
    }
}

impl TrainStep for GrpoLearner {
    type Input = GrpoBatch;
    type Output = DistillOutput;

    fn step(&self, b: GrpoBatch) -> TrainOutput<DistillOutput> {
        let cfg = &self.ctx.cfg;
        let device = self.device();
        let total = b.prompts.len() * cfg.group.max(1);
        let (grads, outputs) = split_step(self, b.parts(cfg.parts), &device, |learner, part| {
            let r = if cfg.explain {
                learner.explain_rollouts(&part)
            } else {
                learner.rank_rollouts(&part)
            };
            // groups never straddle parts: a part holds whole prompts
            let adv = group_advantages(&r.rewards, cfg.group);
            let n = adv.len();
            let adv = Tensor::<1>::from_data(
                TensorData::new(adv.iter().map(|&a| a as f32).collect::<Vec<_>>(), [n]),
                &device,
            );
            let old = r.logp.clone().detach();
            let GrpoLoss {
                loss,
                kl_sum,
                actions,
            } = grpo_loss(
                r.logp,
                old,
                r.reference,
                r.mask,
                adv,
                cfg.clip,
                cfg.kl,
                total,
            );
            (loss, (kl_sum.detach(), actions, r.rewards, r.formats))
        });
        let mut loss = Tensor::<1>::zeros([1], &device);
        let (mut kl_sum, mut actions) = (loss.clone(), loss.clone());
        let (mut rewards, mut formats) = (Vec::new(), Vec::new());
        for (l, (k, a, r, f)) in outputs {
            loss = loss + l;
            kl_sum = kl_sum + k;
            actions = actions + a;
            rewards.extend(r);
            formats.extend(f);
        }
        let kl = kl_sum / actions.clamp_min(1.0);
        let mean = |xs: &[f64]| (xs.iter().sum::<f64>() / xs.len().max(1) as f64) as f32;
        let (mean_reward, mean_format) = (mean(&rewards), mean(&formats));
        use star_cf::metric_names::{FORMAT, KL, REWARD};
        TrainOutput {
            grads,
            item: DistillOutput {
                loss,
                terms: vec![
                    (REWARD, Tensor::from_data([mean_reward], &device)),
                    (FORMAT, Tensor::from_data([mean_format], &device)),
                    (KL, kl),
                ],
            },
        }
    }
}

impl InferenceStep for GrpoLearner {
    type Input = Vec<DistillBatch>;
    type Output = RankingOutput;

    fn step(&self, parts: Vec<DistillBatch>) -> RankingOutput {
        crate::distill::sft::rank_parts(&self.net, parts)
    }
}
