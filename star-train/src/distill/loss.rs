//! The trajectory-aligned loss: `Σ_s w_s · CE_s + w_rank · CE_rank`, where `CE_s` is the mean
//! next-token cross-entropy over the tokens of segment `s` (plan, tool call, reflection,
//! recommend; prompt and tool responses are conditioned on, never predicted) and `CE_rank` the
//! listwise cross-entropy of the candidate scores at `<recommend>` against the true item,
//! plus `w_next · CE_next`, the next-item cross-entropy over the whole catalogue at every
//! history marker (the item that came next as the target, as SASRec learns), plus
//! `w_soft · T² · KL(p_T ‖ q_T)`, distillation from the sequential model's whole ranking of the
//! candidates: `p_T` the softmax of its scores over the candidates at temperature `T`, `q_T`
//! the student's.

use super::data::{DistillBatch, Segment};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use star_model::cross_entropy::cross_entropy;
use star_model::dropout::DropoutDraws;
use star_model::linear_cross_entropy::linear_cross_entropy;
use star_model::model::StarNet;

/// Weights of the loss terms.
#[derive(Config, Debug, PartialEq)]
pub struct LossWeights {
    /// Plan tokens.
    #[config(default = 1.0)]
    pub plan: f64,
    /// Tool-call tokens.
    #[config(default = 1.0)]
    pub tool_call: f64,
    /// Reflection tokens.
    #[config(default = 1.0)]
    pub reflection: f64,
    /// Recommendation tokens (the ranking written out).
    #[config(default = 1.0)]
    pub recommend: f64,
    /// The listwise ranking loss at `<recommend>`.
    #[config(default = 1.0)]
    pub rank: f64,
    /// The next-item loss: at each history marker, the ranking query against every item's
    /// catalogue key, with the item that came next as the target.
    #[config(default = 1.0)]
    pub next_item: f64,
    /// The soft-target term: the student's candidate distribution against the sequential
    /// model's ([`DistillBatch::soft_scores`]), as `T² · KL` (0: off).
    #[config(default = 0.0)]
    pub soft: f64,
    /// The temperature `T` of both distributions in the soft-target term.
    #[config(default = 1.0)]
    pub soft_temperature: f64,
}

impl LossWeights {
    /// Only the ranking term (no vocabulary logits are computed): validation and evaluation.
    pub fn rank_only() -> Self {
        LossWeights::new()
            .with_plan(0.0)
            .with_tool_call(0.0)
            .with_reflection(0.0)
            .with_recommend(0.0)
            .with_next_item(0.0)
            .with_soft(0.0)
    }

    /// The weight of a learned segment.
    pub fn of(&self, s: Segment) -> f64 {
        match s {
            Segment::Plan => self.plan,
            Segment::ToolCall => self.tool_call,
            Segment::Reflection => self.reflection,
            Segment::Recommend => self.recommend,
            Segment::Prompt | Segment::ToolResponse => 0.0,
        }
    }
}

/// The loss of a batch, with its terms.
#[derive(Clone, Debug)]
pub struct DistillLoss {
    /// The weighted sum `[1]`.
    pub total: Tensor<1>,
    /// Each learned segment's mean cross-entropy `[1]` (zero when the batch has none of it),
    /// without a gradient (for logging: `total` carries it).
    pub segments: Vec<(Segment, Tensor<1>)>,
    /// The listwise ranking cross-entropy `[1]`.
    pub rank: Tensor<1>,
    /// The next-item cross-entropy over the catalogue `[1]` (zero when not computed), without a
    /// gradient (for logging).
    pub next_item: Tensor<1>,
    /// `KL(p_T ‖ q_T)` of the soft-target term `[1]`, averaged over the rows (zero when not
    /// computed), without a gradient (for logging).
    pub soft: Tensor<1>,
    /// Candidate scores `[B, C]`.
    pub scores: Tensor<2>,
}

/// Computes the trajectory-aligned loss of a batch. Vocabulary logits are only computed when
/// some learned segment is present with a non-zero weight, and then only at the positions a
/// segment mask covers ([`DistillBatch::learned_positions`]), through the fused head loss
/// ([`StarNet::token_loss`]). The segment terms are reported without a gradient: the total
/// carries it.
///
/// # Panics
/// If the soft-target weight is not 0 and the batch has no soft targets
/// ([`DistillBatch::soft_scores`]; `train_sft` refuses such items by name first).
pub fn distill_loss(net: &StarNet, batch: &DistillBatch, w: &LossWeights) -> DistillLoss {
    distill_loss_dropping(net, batch, w, 0.0)
}

/// [`distill_loss`] with dropout of probability `dropout` (in `0..1`; 0: none) on the
/// network's input embeddings and on each decoder block's attention and feed-forward outputs
/// ([`StarNet::hidden_dropping`]), its masks drawn from [`DistillBatch::dropout_seed`]: the
/// training loss.
///
/// # Panics
/// As [`distill_loss`], and if `dropout` is not in `0..1` (`train_sft` refuses it by name
/// first).
pub fn distill_loss_dropping(
    net: &StarNet,
    batch: &DistillBatch,
    w: &LossWeights,
    dropout: f64,
) -> DistillLoss {
    let hidden = if dropout == 0.0 {
        net.hidden(&batch.inputs)
    } else {
        net.hidden_dropping(
            &batch.inputs,
            &mut DropoutDraws::new(dropout, batch.dropout_seed),
        )
    };
    let scores = net.candidate_scores(hidden.clone(), &batch.inputs);
    let device = scores.device();
    // averaged over the step's rows (this batch's unless it is one part of a split step)
    let rank = cross_entropy(scores.clone(), batch.positive.clone())
        .sum()
        .div_scalar(batch.rank_rows.max(1) as f64);
    let mut total = rank.clone().mul_scalar(w.rank);
    let mut next_item = Tensor::zeros([1], &device);
    if let Some((at, rows)) = batch.next_items.as_ref().filter(|_| w.next_item != 0.0) {
        let [bb, t, d] = hidden.dims();
        let m = at.dims()[0];
        let q = net.query(hidden.clone().reshape([bb * t, d]).select(0, at.clone()));
        let per_row = w.next_item / batch.next_rows.max(1) as f64;
        let ce = linear_cross_entropy(
            q,
            net.catalogue_keys(),
            rows.clone(),
            Tensor::ones([m], &device).mul_scalar(per_row),
        );
        total = total + ce.loss;
        next_item = ce.nll.sum().div_scalar(batch.next_rows.max(1) as f64);
    }
    let mut soft = Tensor::zeros([1], &device);
    if w.soft != 0.0 {
        let targets = batch.soft_scores.as_ref().expect(
            "the soft-target weight is set, but some row of the batch has no sequence scores",
        );
        let kl = soft_target_kl(scores.clone(), targets.clone(), w.soft_temperature)
            .sum()
            .div_scalar(batch.rank_rows.max(1) as f64);
        let t = w.soft_temperature;
        total = total + kl.clone().mul_scalar(w.soft * t * t);
        soft = kl.detach();
    }
    let needs_lm = batch
        .masks
        .iter()
        .any(|(s, _, n)| *n > 0 && w.of(*s) != 0.0);
    let mut segments = Vec::with_capacity(batch.masks.len());
    if let Some(rows) = batch.learned_positions.as_ref().filter(|_| needs_lm) {
        // the vocabulary projection only where a segment is learned: a fast-mode sample
        // learns one or two tokens out of its 70-odd
        let [bb, t, d] = hidden.dims();
        let n_rows = rows.dims()[0];
        let flat = |x: Tensor<2>| x.reshape([bb * t]).select(0, rows.clone());
        let h = hidden.reshape([bb * t, d]).select(0, rows.clone());
        let targets = batch
            .targets
            .clone()
            .reshape([bb * t])
            .select(0, rows.clone());
        // each learned row weighs Σ_s w_s · [row in s] / n_s, so the fused head loss is
        // Σ_s w_s · CE_s; the terms themselves are read from the rows' losses
        let mut row_weights = Tensor::<1>::zeros([n_rows], &device);
        for (s, mask, n) in &batch.masks {
            if *n > 0 && w.of(*s) != 0.0 {
                row_weights = row_weights + flat(mask.clone()).mul_scalar(w.of(*s) / *n as f64);
            }
        }
        let head = net.token_loss(h, targets, row_weights);
        total = total + head.loss;
        for (s, mask, n) in &batch.masks {
            let term = if *n == 0 {
                Tensor::zeros([1], &device)
            } else {
                (head.nll.clone() * flat(mask.clone()))
                    .sum()
                    .div_scalar(*n as f64)
            };
            segments.push((*s, term));
        }
    } else {
        for (s, _, _) in &batch.masks {
            segments.push((*s, Tensor::zeros([1], &device)));
        }
    }
    DistillLoss {
        total,
        segments,
        rank,
        next_item,
        soft,
        scores,
    }
}

/// `KL(softmax(targets / t) ‖ softmax(scores / t))` per row `[B]`, differentiable in `scores`
/// (`targets` carries no gradient).
pub fn soft_target_kl(scores: Tensor<2>, targets: Tensor<2>, t: f64) -> Tensor<1> {
    let log_p = log_softmax(targets.detach().div_scalar(t), 1);
    let log_q = log_softmax(scores.div_scalar(t), 1);
    let [b, _] = log_p.dims();
    (log_p.clone().exp() * (log_p - log_q))
        .sum_dim(1)
        .reshape([b])
}
