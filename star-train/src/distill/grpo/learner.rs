//! The policy as burn-train's `Learner` sees it: GRPO's prompts and batches, the context its
//! steps share, and the training step (rollouts, advantages, loss) and validation step.

use super::config::GrpoConfig;
use super::objective::grpo_loss;
use super::reward::group_advantages;
use crate::distill::data::{DistillBatch, DistillItem, DistillSample};
use crate::distill::loss::LossWeights;
use crate::distill::sft::DistillOutput;
use crate::metrics::RankingOutput;
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

impl TrainStep for GrpoLearner {
    type Input = GrpoBatch;
    type Output = DistillOutput;

    fn step(&self, b: GrpoBatch) -> TrainOutput<DistillOutput> {
        let cfg = &self.ctx.cfg;
        let r = if cfg.explain {
            self.explain_rollouts(&b)
        } else {
            self.rank_rollouts(&b)
        };
        let device = self.device();
        let adv = group_advantages(&r.rewards, cfg.group);
        let n = adv.len();
        let adv = Tensor::<1>::from_data(
            TensorData::new(adv.iter().map(|&a| a as f32).collect::<Vec<_>>(), [n]),
            &device,
        );
        let old = r.logp.clone().detach();
        let (loss, kl) = grpo_loss(r.logp, old, r.reference, r.mask, adv, cfg.clip, cfg.kl);
        let mean = |xs: &[f64]| (xs.iter().sum::<f64>() / xs.len().max(1) as f64) as f32;
        let (mean_reward, mean_format) = (mean(&r.rewards), mean(&r.formats));
        let grads = loss.backward();
        use star_cf::metric_names::{FORMAT, KL, REWARD};
        TrainOutput::new(
            self,
            grads,
            DistillOutput {
                loss: loss.clone(),
                terms: vec![
                    (REWARD, Tensor::from_data([mean_reward], &device)),
                    (FORMAT, Tensor::from_data([mean_format], &device)),
                    (KL, kl),
                ],
            },
        )
    }
}

impl InferenceStep for GrpoLearner {
    type Input = DistillBatch;
    type Output = RankingOutput;

    fn step(&self, b: DistillBatch) -> RankingOutput {
        let out = crate::distill::loss::distill_loss(&self.net, &b, &LossWeights::rank_only());
        RankingOutput {
            loss: out.rank,
            scores: out.scores,
            positive: b.positive,
        }
    }
}
