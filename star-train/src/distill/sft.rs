//! Supervised fine-tuning of the student on teacher trajectories with burn-train's `Learner`:
//! the trajectory-aligned loss (its per-segment terms logged as metrics), validation HR@1 and
//! avg-HR on the valid candidates in fast mode, early stopping and checkpoint selection on
//! avg-HR (or the mean of the last epochs' weights, [`SftConfig::average`]), exact resume.

use super::data::{collate, collate_parts, DistillBatch, DistillItem};
use super::loss::{distill_loss, distill_loss_dropping, LossWeights};
use crate::devices::TrainDevices;
use crate::loader::EpochLoader;
use crate::lr_decay::LrDecay;
use crate::metrics::{host_f32, NumericMetric, NumericSource, RankingMetric, RankingOutput};
use crate::outcome::{average_last, select_best, TrainOutcome};
use crate::parallel::{split_forward, split_step};
use crate::run::{fit, prepare_run_dir, FitOptions, TrainError};
use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::{ExecutionError, TensorReadError};
use burn::train::metric::{Adaptor, ItemLazy, LossInput};
use burn::train::{InferenceStep, TrainOutput, TrainStep};
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use star_model::model::{StarModel, StarNet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Hyper-parameters of SFT.
#[derive(Config, Debug, PartialEq)]
pub struct SftConfig {
    /// Loss weights.
    pub weights: LossWeights,
    /// Maximum epochs.
    #[config(default = 20)]
    pub max_epochs: usize,
    /// Sequences per batch.
    #[config(default = 8)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Early-stopping patience in epochs (on validation avg-HR).
    #[config(default = 3)]
    pub patience: usize,
    /// Seed of the initialisation and the batch order.
    #[config(default = 42)]
    pub seed: u64,
    /// Each batch is split into this many parts whose forward and backward passes run on
    /// threads of their own (burn's CPU backend keeps about one core busy per pass). The
    /// gradients are those of the whole batch; the result depends on this number, not on the
    /// machine's thread count.
    #[config(default = 2)]
    pub parts: usize,
    /// Dropout probability (in `0..1`; 0: none) on the student's input embeddings and on each
    /// decoder block's attention and feed-forward outputs, in training only
    /// ([`super::distill_loss_dropping`]).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// How the learning rate moves over `max_epochs` (constant, or decayed to 0 at the last
    /// step of the epoch limit).
    #[config(default = "LrDecay::Constant")]
    pub lr_decay: LrDecay,
    /// With `n ≥ 2`, the trained model is the mean of the weights of the last `n` epochs'
    /// checkpoints ([`crate::outcome::average_last`]) instead of the checkpoint with the best
    /// validation avg-HR; 0 or 1: the best checkpoint.
    #[config(default = 0)]
    pub average: usize,
}

/// The student as the `Learner` sees it.
#[derive(Module, Debug)]
pub struct SftLearner {
    /// The network.
    pub net: StarNet,
    /// Loss weights.
    #[module(skip)]
    pub weights: LossWeights,
    /// Training dropout ([`SftConfig::dropout`]).
    #[module(skip)]
    pub dropout: f64,
}

/// What a training step returns: the loss and its terms.
#[derive(Clone, Debug)]
pub struct DistillOutput {
    /// The weighted loss `[1]`.
    pub loss: Tensor<1>,
    /// Named terms ([`TERMS`]: `plan`, `tool_call`, `reflection`, `recommend`, `rank`,
    /// `next_item`, `soft`), each `[1]`.
    pub terms: Vec<(&'static str, Tensor<1>)>,
}

impl ItemLazy for DistillOutput {
    fn sync(self) -> Result<Self, ExecutionError> {
        self.loss.device().flush()?;
        Ok(DistillOutput {
            loss: self.loss.without_autodiff(),
            terms: self
                .terms
                .into_iter()
                .map(|(n, t)| (n, t.without_autodiff()))
                .collect(),
        })
    }
}

impl Adaptor<LossInput> for DistillOutput {
    fn adapt(&self) -> LossInput {
        LossInput::new(self.loss.clone())
    }
}

/// Input of [`TermLossMetric`].
#[derive(Clone, Debug)]
pub struct TermsInput {
    terms: Vec<(&'static str, Tensor<1>)>,
}

impl Adaptor<TermsInput> for DistillOutput {
    fn adapt(&self) -> TermsInput {
        TermsInput {
            terms: self.terms.clone(),
        }
    }
}

/// The term of the trajectory-aligned loss a [`TermLossMetric`] reads (0 when absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LossTerm(&'static str);

impl NumericSource for LossTerm {
    type Input = TermsInput;

    fn read(&self, item: &TermsInput) -> Result<(f64, usize), TensorReadError> {
        let value = match item.terms.iter().find(|(n, _)| *n == self.0) {
            Some((_, t)) => t.clone().into_data().convert::<f64>().try_to_vec::<f64>()?[0],
            None => 0.0,
        };
        Ok((value, 1))
    }
}

/// One term of the trajectory-aligned loss as a training metric (`loss_plan`, …).
pub type TermLossMetric = NumericMetric<LossTerm>;

impl TermLossMetric {
    /// The metric of term `term` (one of [`TERMS`]).
    pub fn new(term: &'static str) -> Self {
        Self::named(term, &format!("loss_{term}"), false)
    }

    /// The metric of term `term` under the name `name` (e.g. GRPO's `reward` and `kl`).
    pub fn named(term: &'static str, name: &str, higher_is_better: bool) -> Self {
        Self::with_source(LossTerm(term), name, None, 4, higher_is_better)
    }
}

/// The loss terms, in the order of the metrics.
pub const TERMS: [&str; 7] = [
    star_model::student::Segment::LEARNED[0].name(),
    star_model::student::Segment::LEARNED[1].name(),
    star_model::student::Segment::LEARNED[2].name(),
    star_model::student::Segment::LEARNED[3].name(),
    "rank",
    "next_item",
    "soft",
];

impl TrainStep for SftLearner {
    /// The parts of one batch ([`collate_parts`]).
    type Input = Vec<DistillBatch>;
    type Output = DistillOutput;

    fn step(&self, parts: Vec<DistillBatch>) -> TrainOutput<DistillOutput> {
        let device = parts[0].positive.device();
        let (grads, outputs) = split_step(self, parts, &device, |learner, b| {
            let out = distill_loss_dropping(&learner.net, &b, &learner.weights, learner.dropout);
            let mut terms: Vec<(&'static str, Tensor<1>)> = out
                .segments
                .iter()
                .map(|(s, t)| (s.name(), t.clone()))
                .collect();
            terms.push(("rank", out.rank));
            terms.push(("next_item", out.next_item));
            terms.push(("soft", out.soft));
            (out.total, terms)
        });
        // the parts' terms add up to the batch's
        let mut outputs = outputs.into_iter();
        let (mut loss, mut terms) = outputs.next().expect("a batch has a part");
        for (l, ts) in outputs {
            loss = loss + l;
            for ((_, sum), (_, t)) in terms.iter_mut().zip(ts) {
                *sum = sum.clone() + t;
            }
        }
        TrainOutput {
            grads,
            item: DistillOutput { loss, terms },
        }
    }
}

impl InferenceStep for SftLearner {
    type Input = Vec<DistillBatch>;
    type Output = RankingOutput;

    fn step(&self, parts: Vec<DistillBatch>) -> RankingOutput {
        rank_parts(&self.net, parts)
    }
}

/// The validation step of SFT and GRPO: the rank-only loss and candidate scores of a batch's
/// parts ([`valid_loader`]), on rayon's threads, put back together in item order (the
/// language-model terms are training-only).
pub(crate) fn rank_parts(net: &StarNet, parts: Vec<DistillBatch>) -> RankingOutput {
    let outs = split_forward(net, parts, |net, b| {
        let out = distill_loss(net, &b, &LossWeights::rank_only());
        (out.rank, out.scores, b.positive)
    });
    let mut loss = None;
    let (mut scores, mut positive) = (Vec::new(), Vec::new());
    for (l, s, p) in outs {
        // each part's rank term is already divided by the whole batch's rows
        loss = Some(match loss {
            None => l,
            Some(sum) => sum + l,
        });
        scores.push(s);
        positive.push(p);
    }
    RankingOutput {
        loss: loss.expect("a validation batch has at least one part"),
        scores: Tensor::cat(scores, 0),
        positive: Tensor::cat(positive, 0),
    }
}

/// The batches of one epoch, as item indices. Items are grouped by candidate count (a batch
/// needs one), each group is shuffled by `(seed, epoch)` and cut into windows of 32 batches
/// sorted by length (so a batch holds similar lengths), and the batches of all groups are
/// shuffled. Every item appears once; the number of batches is the same in every epoch.
pub fn epoch_batches(
    items: &[DistillItem],
    batch: usize,
    seed: u64,
    epoch: usize,
) -> Vec<Vec<usize>> {
    let batch = batch.max(1);
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64 + 1).wrapping_mul(0x5851_f42d_4c95_7f2d));
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, it) in items.iter().enumerate() {
        groups
            .entry(it.prompt.candidates.len())
            .or_default()
            .push(i);
    }
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (_, mut group) in groups {
        group.shuffle(&mut rng);
        for window in group.chunks_mut(batch * 32) {
            window.sort_by_key(|&i| items[i].len());
            out.extend(window.chunks(batch).map(<[usize]>::to_vec));
        }
    }
    out.shuffle(&mut rng);
    out
}

/// The number of batches [`epoch_batches`] makes of `items`.
pub fn batch_count(items: &[DistillItem], batch: usize) -> usize {
    let mut groups: std::collections::BTreeMap<usize, usize> = Default::default();
    for it in items {
        *groups.entry(it.prompt.candidates.len()).or_default() += 1;
    }
    groups.values().map(|n| n.div_ceil(batch.max(1))).sum()
}

/// A loader of batches of `items`: epoch `e` serves `epoch_batches(items, batch, seed, e)`,
/// each made into a `T` by `make` with a seed of its own (drawn from `(seed, e)` in batch
/// order, so a resumed run replays it) for its dropout masks.
pub(crate) fn batch_loader<T: Send + Sync + 'static>(
    items: Arc<Vec<DistillItem>>,
    batch: usize,
    seed: u64,
    device: &Device,
    make: impl Fn(&[DistillItem], u64, &Device) -> T + Send + Sync + 'static,
) -> EpochLoader<(u64, Vec<DistillItem>), T> {
    let count = batch_count(&items, batch);
    EpochLoader::new(
        move |epoch| {
            let mut rng = ChaCha8Rng::seed_from_u64(
                seed ^ (epoch as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            epoch_batches(&items, batch, seed, epoch)
                .into_iter()
                .map(|b| {
                    let drop_seed = rng.next_u64();
                    (drop_seed, b.into_iter().map(|i| items[i].clone()).collect())
                })
                .collect()
        },
        move |xs: &[(u64, Vec<DistillItem>)], d: &Device| make(&xs[0].1, xs[0].0, d),
        1,
        count,
        device.clone(),
    )
}

/// The validation loader of SFT and GRPO: the same whole batches of 64 items every epoch, each
/// cut into `parts` contiguous slices ranked on threads of their own ([`rank_parts`]).
pub(crate) fn valid_loader(
    items: Arc<Vec<DistillItem>>,
    seed: u64,
    pad: u32,
    parts: usize,
    device: &Device,
) -> Arc<dyn DataLoader<Vec<DistillBatch>>> {
    Arc::new(batch_loader(items, 64, seed, device, move |xs, _, d| {
        let per = xs.len().div_ceil(parts.max(1)).max(1);
        xs.chunks(per)
            .map(|slice| {
                let mut b = collate(slice, pad, d);
                b.rank_rows = xs.len();
                b
            })
            .collect()
    }))
}

/// What SFT produced: the student with the best checkpoint's weights (on the training
/// device), its validation avg-HR as the score.
pub type SftResult = TrainOutcome<StarModel>;

/// Fine-tunes `student` on `train` items (trajectories and fast-mode items), validating in
/// fast mode on `valid` items, with all artefacts under `dir`; `resume` continues from the
/// latest checkpoint. Batches hold items of equal candidate count; within that, similar
/// lengths. Trains on `devices`: one device, or several ([`TrainDevices`]).
pub fn train_sft(
    cfg: &SftConfig,
    student: &StarModel,
    train: Vec<DistillItem>,
    valid: Vec<DistillItem>,
    dir: &Path,
    devices: &(impl TrainDevices + ?Sized),
    resume: bool,
) -> Result<SftResult, TrainError> {
    let device = devices.main_device()?;
    if train.is_empty() || valid.is_empty() {
        return Err(TrainError::Training(
            "SFT needs training and validation items".into(),
        ));
    }
    if cfg.parts == 0 {
        return Err(TrainError::Training(
            "SFT settings: parts must be at least 1".into(),
        ));
    }
    if !(0.0..1.0).contains(&cfg.dropout) {
        return Err(TrainError::Training(format!(
            "SFT settings: dropout must be in 0..1 (at least 0, below 1), not {}",
            cfg.dropout
        )));
    }
    check_soft_targets(&cfg.weights, &train)?;
    // a resume may raise the epoch limit, unless the learning rate decays over it
    let start_epoch = prepare_run_dir(dir, cfg, resume, |c: SftConfig| match c.lr_decay {
        LrDecay::Constant => c.with_max_epochs(0),
        LrDecay::Linear | LrDecay::Cosine => c,
    })?;
    let pad = student
        .tokenizer()
        .token_id("<pad>")
        .ok_or_else(|| TrainError::Training("the tokenizer has no <pad>".into()))?;
    let parts = cfg.parts;
    let train_loader: Arc<dyn DataLoader<Vec<DistillBatch>>> = Arc::new(
        batch_loader(
            Arc::new(train),
            cfg.batch_size,
            cfg.seed,
            device,
            move |xs, drop_seed, d| {
                let mut batches = collate_parts(xs, parts, pad, d);
                for (i, b) in batches.iter_mut().enumerate() {
                    b.dropout_seed = drop_seed.wrapping_add(i as u64);
                }
                batches
            },
        )
        .starting_at(start_epoch),
    );
    // validation: the same batches every epoch
    let vitems = Arc::new(valid);
    let valid_loader = valid_loader(vitems.clone(), cfg.seed, pad, cfg.parts, device);

    let t = Instant::now();
    let ad = device.clone().autodiff();
    ad.seed(cfg.seed);
    let learner = SftLearner {
        net: student.net().clone().fork(&ad).train(),
        weights: cfg.weights.clone(),
        dropout: cfg.dropout,
    };
    let opts = FitOptions::new(
        "SFT",
        cfg.max_epochs,
        cfg.patience,
        cfg.learning_rate,
        start_epoch,
    )
    .with_lr_decay(cfg.lr_decay)
    .on_avg_hr()
    .on_devices(devices);
    let opts = FitOptions {
        keep_last: cfg.average.max(2),
        ..opts
    };
    fit(learner, dir, train_loader, valid_loader, &opts, |mut t| {
        for term in TERMS {
            t = t.metric_train_numeric(TermLossMetric::new(term));
        }
        t
    })?;
    let train_seconds = t.elapsed().as_secs_f64();

    let load = |path: &Path| {
        SftLearner {
            net: student.net().clone().fork(device),
            weights: cfg.weights.clone(),
            dropout: cfg.dropout,
        }
        .try_load_file(path)
        .map(|l| l.net)
    };
    let score = |net: &StarNet| avg_hr(net, &vitems, pad, device);
    let outcome = if cfg.average >= 2 {
        average_last(dir, cfg.average, start_epoch, train_seconds, load, score)?
    } else {
        select_best(dir, start_epoch, train_seconds, load, score)?
    };
    Ok(outcome.map_model(|net| student.clone().with_net(net)))
}

/// Refuses, by name, soft-target settings SFT cannot honour: a weight that is negative or not
/// a number, a temperature that is not positive or is set (≠ 1) without a soft weight for it
/// to act on, or a training item whose prompt lacks
/// sequence scores, has another number of them than candidates, or no finite one.
fn check_soft_targets(w: &LossWeights, train: &[DistillItem]) -> Result<(), TrainError> {
    let bad = |m: String| Err(TrainError::Training(format!("SFT settings: {m}")));
    if !(w.soft >= 0.0 && w.soft.is_finite()) {
        return bad(format!(
            "weights.soft must be a number of at least 0, not {}",
            w.soft
        ));
    }
    if !(w.soft_temperature > 0.0 && w.soft_temperature.is_finite()) {
        return bad(format!(
            "weights.soft_temperature must be a positive number, not {}",
            w.soft_temperature
        ));
    }
    if w.soft == 0.0 {
        if w.soft_temperature != 1.0 {
            return bad(format!(
                "weights.soft_temperature is {} but weights.soft is 0: there is no soft-target \
                 term for it to act on (give a soft weight, or leave the temperature at 1)",
                w.soft_temperature
            ));
        }
        return Ok(());
    }
    for it in train {
        let why = match it.prompt.sequence_scores.as_deref() {
            None => "has no sequence scores to distil from (the student needs sequence evidence, star.sequence_evidence)".to_string(),
            Some(s) if s.len() != it.prompt.candidates.len() => format!(
                "has {} sequence scores for {} candidates",
                s.len(),
                it.prompt.candidates.len()
            ),
            Some(s) if !s.iter().any(|x| x.is_finite()) => {
                "has no finite sequence score".to_string()
            }
            Some(_) => continue,
        };
        return bad(format!(
            "weights.soft is {} but training item `{}` {why}",
            w.soft, it.id
        ));
    }
    Ok(())
}

/// Fast-mode avg-HR (fraction) of a network on items (their candidate scores at
/// `<recommend>`).
pub fn avg_hr(net: &StarNet, items: &[DistillItem], pad: u32, device: &Device) -> f64 {
    let metric = RankingMetric::avg_hr();
    let w = LossWeights::rank_only();
    let mut total = 0.0;
    for chunk in items.chunks(64) {
        for group in chunk.chunk_by(|a, b| a.prompt.candidates.len() == b.prompt.candidates.len()) {
            let b = collate(group, pad, device);
            let c = group[0].prompt.candidates.len();
            let scores = host_f32(distill_loss(net, &b, &w).scores);
            for v in metric
                .cases()
                .case_values(&scores, c, group.iter().map(|it| it.positive))
            {
                total += v;
            }
        }
    }
    total / items.len().max(1) as f64
}
