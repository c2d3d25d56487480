//! Training SASRec with burn-train's `Learner`: each user's train sequence shifted by one
//! (inputs `i_1..i_{n-1}`, targets `i_2..i_n`), cut into windows of `max_len` so that every
//! target is trained once an epoch ([`windows`]; or only the last `max_len` positions); at
//! every position the softmax cross-entropy of the next item against the whole
//! catalogue (default) or the paper's binary cross-entropy against one fresh negative per
//! position and epoch ([`SasRecLoss`]); validation on the valid candidate file; early
//! stopping, checkpoints and resume as for the CF encoders.

use crate::devices::TrainDevices;
use crate::loader::EpochLoader;
use crate::metrics::{host_f32, LossOutput, RankingMetric, RankingOutput};
use crate::outcome::{select_best, TrainOutcome};
use crate::parallel::split_step;
use crate::run::{fit, prepare_run_dir, FitOptions, TrainError};
use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::activation;
use burn::train::{InferenceStep, TrainOutput, TrainStep};
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use star_cf::candidates::CandidateSet;
use star_cf::graph::CfGraph;
use star_cf::split::{Split, SplitKind};
use star_cf::{NegativeSampler, UserId};
use star_model::sasrec::{left_pad, SasRec, SasRecConfig};
/// The model shape a [`SasRecTrainConfig`] nests.
pub use star_model::sasrec::{SasRecArch, SasRecLoss};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Hyper-parameters of SASRec training, nesting the model's shape.
#[derive(Config, Debug, PartialEq)]
pub struct SasRecTrainConfig {
    /// The model's shape (the number of items comes from the data).
    #[config(default = "SasRecArch::new()")]
    pub model: SasRecArch,
    /// Maximum epochs.
    #[config(default = 200)]
    pub max_epochs: usize,
    /// Sequences per batch.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Early-stopping patience in epochs.
    #[config(default = 10)]
    pub patience: usize,
    /// The loss at each position.
    #[config(default = "SasRecLoss::Ce")]
    pub loss: SasRecLoss,
    /// Seed of initialisation, negatives and dropout.
    #[config(default = 42)]
    pub seed: u64,
    /// Train every next-item target of every user, as RecBole does: long histories are cut into
    /// windows of `max_len` with a stride of `max_len / 2`, each target trained in one window
    /// only, with at least `max_len / 2` items before it there when it has them. `false`: each
    /// user's last `max_len` positions only (one sequence per user).
    #[config(default = true)]
    pub every_position: bool,
    /// Each batch is cut into this many parts (sequence `i` to part `i % parts`) whose forward
    /// and backward passes run on threads of their own; the loss is averaged over the whole
    /// batch's positions, and each part draws its dropout masks from its first sequence's seed.
    /// Results depend on this number, not on the thread count.
    #[config(default = 2)]
    pub parts: usize,
}

impl SasRecTrainConfig {
    /// The model configuration for `num_items` items.
    pub fn model(&self, num_items: usize) -> SasRecConfig {
        SasRecConfig::new(num_items, self.model.clone())
    }
}

/// SASRec as the `Learner` sees it.
#[derive(Module, Debug)]
pub struct SasRecLearner {
    /// The model.
    pub model: SasRec,
    /// The loss it trains with.
    #[module(skip)]
    pub loss: SasRecLoss,
}

/// A training batch of model-id sequences `[B, L]`.
#[derive(Clone, Debug)]
pub struct SeqBatch {
    /// Inputs.
    pub input: Tensor<2, Int>,
    /// The next item at each position (0 = padding).
    pub positives: Tensor<2, Int>,
    /// A sampled negative at each position.
    pub negatives: Tensor<2, Int>,
    /// Seed of the batch's dropout masks.
    pub dropout_seed: u64,
    /// The non-padding positions the loss is averaged over: `None` for this batch's own, or the
    /// whole step's when this batch is one of its parts ([`SasRecTrainConfig::parts`]).
    pub loss_positions: Option<usize>,
}

/// A validation batch: sequences, candidates (model ids) and where the true item is.
#[derive(Clone, Debug)]
pub struct SeqCandidateBatch {
    /// Sequences `[B, L]`.
    pub sequences: Tensor<2, Int>,
    /// Candidates `[B, C]`.
    pub candidates: Tensor<2, Int>,
    /// Index of the true item `[B]`.
    pub positive: Tensor<1, Int>,
}

impl TrainStep for SasRecLearner {
    /// The parts of one batch (one unless [`SasRecTrainConfig::parts`] says more).
    type Input = Vec<SeqBatch>;
    type Output = LossOutput;

    fn step(&self, parts: Vec<SeqBatch>) -> TrainOutput<LossOutput> {
        let device = parts[0].input.device();
        let (grads, outputs) = split_step(self, parts, &device, |learner, b| {
            let m = &learner.model;
            let loss = match learner.loss {
                SasRecLoss::Ce => {
                    m.ce_loss_over(b.input, b.positives, b.dropout_seed, b.loss_positions)
                }
                SasRecLoss::Bce => m.bce_loss_over(
                    b.input,
                    b.positives,
                    b.negatives,
                    b.dropout_seed,
                    b.loss_positions,
                ),
            };
            (loss, ())
        });
        let loss = outputs
            .into_iter()
            .map(|(l, ())| l)
            .reduce(|a, b| a + b)
            .expect("a batch has a part");
        TrainOutput {
            grads,
            item: LossOutput { loss },
        }
    }
}

impl InferenceStep for SasRecLearner {
    type Input = SeqCandidateBatch;
    type Output = RankingOutput;

    fn step(&self, b: SeqCandidateBatch) -> RankingOutput {
        let scores = self.model.score_candidates(b.sequences, b.candidates);
        let [n, _] = scores.dims();
        let loss = activation::log_softmax(scores.clone(), 1)
            .gather(1, b.positive.clone().reshape([n, 1]))
            .mean()
            .neg();
        RankingOutput {
            loss,
            scores,
            positive: b.positive,
        }
    }
}

#[derive(Clone, Debug)]
struct Example {
    input: Vec<i64>,
    positives: Vec<i64>,
    negatives: Vec<i64>,
    /// Drawn after the shuffle; a batch's dropout seed is its first example's.
    dropout_seed: u64,
}

/// The windows `(start, end, first)` of a sequence with `t` transitions (input `i` → target
/// `i + 1`, `i` in `0..t`): inputs `start..end` (at most `max_len`), of which those from
/// `first` on are trained. With `every_position` the windows end at `t`, `t − max_len/2`, …
/// and each trains its last `max_len/2` targets (the first window all of its own), so every
/// target is trained once; otherwise one window, the last `max_len`.
pub fn windows(t: usize, max_len: usize, every_position: bool) -> Vec<(usize, usize, usize)> {
    let stride = (max_len / 2).max(1);
    let mut out = Vec::new();
    let mut end = t;
    loop {
        let start = end.saturating_sub(max_len);
        if !every_position || start == 0 {
            out.push((start, end, start));
            return out;
        }
        out.push((start, end, end - stride));
        end -= stride;
    }
}

/// The training examples of one epoch ([`windows`] of every user with at least two train
/// items), shuffled.
fn epoch_examples(
    split: &Split,
    graph: &CfGraph,
    max_len: usize,
    every_position: bool,
    seed: u64,
    epoch: usize,
) -> Vec<Example> {
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let n_items = graph.num_items();
    let mut out = Vec::new();
    for (u, us) in split.users.iter().enumerate() {
        let n = us.train.len();
        if n < 2 || graph.items_of(UserId::from(u)).len() >= n_items {
            continue;
        }
        let sampler = NegativeSampler::new(n_items, |i| graph.has_edge(UserId::from(u), i));
        for (start, end, first) in windows(n - 1, max_len, every_position) {
            let input = left_pad(&us.train[start..end], max_len);
            let mut positives = left_pad(&us.train[start + 1..end + 1], max_len);
            // targets before `first` are trained in the window after this one
            let pad = max_len - (end - start);
            positives[pad..pad + (first - start)].fill(0);
            let negatives = positives
                .iter()
                .map(|&p| {
                    if p == 0 {
                        0
                    } else {
                        sampler.one(&mut rng).0 as i64 + 1
                    }
                })
                .collect();
            out.push(Example {
                input,
                positives,
                negatives,
                dropout_seed: 0,
            });
        }
    }
    out.shuffle(&mut rng);
    for x in &mut out {
        x.dropout_seed = rng.next_u64();
    }
    out
}

/// The batch of `xs`, cut into `parts` parts (one: the batch itself).
fn seq_parts(xs: &[Example], parts: usize, device: &Device) -> Vec<SeqBatch> {
    // `train_sasrec` refuses 0 parts
    let parts = parts.clamp(1, xs.len().max(1));
    let positions = (parts > 1).then(|| {
        xs.iter()
            .map(|x| x.positives.iter().filter(|&&p| p != 0).count())
            .sum::<usize>()
    });
    (0..parts)
        .map(|p| {
            let mine: Vec<&Example> = xs.iter().skip(p).step_by(parts).collect();
            let (b, l) = (mine.len(), mine.first().map_or(0, |x| x.input.len()));
            let t = |f: fn(&Example) -> &Vec<i64>| {
                let v: Vec<i64> = mine.iter().flat_map(|x| f(x).iter().copied()).collect();
                Tensor::<2, Int>::from_data(TensorData::new(v, [b, l]), device)
            };
            SeqBatch {
                input: t(|x| &x.input),
                positives: t(|x| &x.positives),
                negatives: t(|x| &x.negatives),
                dropout_seed: mine.first().map_or(0, |x| x.dropout_seed),
                loss_positions: positions,
            }
        })
        .collect()
}

#[derive(Clone, Debug)]
struct ValidCase {
    sequence: Vec<i64>,
    candidates: Vec<i64>,
    positive: usize,
}

fn valid_batch(xs: &[ValidCase], device: &Device) -> SeqCandidateBatch {
    let b = xs.len();
    let (l, c) = xs
        .first()
        .map_or((0, 0), |x| (x.sequence.len(), x.candidates.len()));
    let seqs: Vec<i64> = xs.iter().flat_map(|x| x.sequence.iter().copied()).collect();
    let cands: Vec<i64> = xs
        .iter()
        .flat_map(|x| x.candidates.iter().copied())
        .collect();
    let pos: Vec<i64> = xs.iter().map(|x| x.positive as i64).collect();
    SeqCandidateBatch {
        sequences: Tensor::from_data(TensorData::new(seqs, [b, l]), device),
        candidates: Tensor::from_data(TensorData::new(cands, [b, c]), device),
        positive: Tensor::from_data(TensorData::new(pos, [b]), device),
    }
}

/// What SASRec training produced: the best model (inference mode, on the training device),
/// its validation NDCG@10 as the score.
pub type SasRecTrainResult = TrainOutcome<SasRec>;

/// Trains SASRec on the train sequences of `split`, validating on `valid` (a valid-split
/// candidate file), with all artefacts under `dir`; `resume` continues from the latest
/// checkpoint. Trains on `devices`: one device, or several ([`TrainDevices`]).
pub fn train_sasrec(
    cfg: &SasRecTrainConfig,
    split: &Split,
    valid: &CandidateSet,
    dir: &Path,
    devices: &(impl TrainDevices + ?Sized),
    resume: bool,
) -> Result<SasRecTrainResult, TrainError> {
    let device = devices.main_device()?;
    let a = &cfg.model;
    let invalid = if cfg.parts == 0 {
        Some("parts must be at least 1".to_string())
    } else if a.max_len == 0 {
        Some("max_len must be at least 1".to_string())
    } else if !(0.0..1.0).contains(&a.dropout) {
        Some(format!("dropout {} is not in [0, 1)", a.dropout))
    } else if a.heads == 0 || !a.dim.is_multiple_of(a.heads) {
        Some(format!("{} heads do not divide width {}", a.heads, a.dim))
    } else {
        None
    };
    if let Some(why) = invalid {
        return Err(TrainError::Training(format!("SASRec settings: {why}")));
    }
    let start_epoch = prepare_run_dir(dir, cfg, resume, |c: SasRecTrainConfig| {
        c.with_max_epochs(0)
    })?;
    let graph = Arc::new(CfGraph::from_split(split));
    let split_arc = Arc::new(split.clone());
    let num_items = split.num_items;
    let cases: Vec<ValidCase> = valid
        .cases
        .iter()
        .map(|c| ValidCase {
            sequence: left_pad(&split.history(c.user, SplitKind::Valid), cfg.model.max_len),
            candidates: c.candidates.iter().map(|i| i.0 as i64 + 1).collect(),
            positive: c.positive_index,
        })
        .collect();
    let (seed, max_len, every) = (cfg.seed, cfg.model.max_len, cfg.every_position);
    let n_train: usize = split
        .users
        .iter()
        .filter(|u| u.train.len() >= 2)
        .map(|u| windows(u.train.len() - 1, max_len, every).len())
        .sum();
    let (g, s) = (graph.clone(), split_arc.clone());
    let parts = cfg.parts;
    let train_loader: Arc<dyn DataLoader<Vec<SeqBatch>>> = Arc::new(
        EpochLoader::new(
            // the dropout seeds come with the examples, so a resumed run replays the same masks
            move |epoch| epoch_examples(&s, &g, max_len, every, seed, epoch),
            move |xs: &[Example], d: &Device| seq_parts(xs, parts, d),
            cfg.batch_size,
            n_train,
            device.clone(),
        )
        .starting_at(start_epoch),
    );
    let vc = cases.clone();
    let valid_loader: Arc<dyn DataLoader<SeqCandidateBatch>> = Arc::new(EpochLoader::new(
        move |_| vc.clone(),
        valid_batch,
        512,
        cases.len(),
        device.clone(),
    ));

    let t = Instant::now();
    let ad = device.clone().autodiff();
    ad.seed(cfg.seed);
    let model = SasRecLearner {
        model: cfg.model(num_items).init(&ad),
        loss: cfg.loss,
    };
    let opts = FitOptions::new(
        "SASRec",
        cfg.max_epochs,
        cfg.patience,
        cfg.learning_rate,
        start_epoch,
    )
    .on_devices(devices);
    fit(model, dir, train_loader, valid_loader, &opts, |t| t)?;
    let train_seconds = t.elapsed().as_secs_f64();

    select_best(
        dir,
        start_epoch,
        train_seconds,
        |path| {
            SasRecLearner {
                model: cfg.model(num_items).init(device),
                loss: cfg.loss,
            }
            .try_load_file(path)
            .map(|l| l.model)
        },
        |m| valid_ndcg10(m, &cases, device),
    )
}

fn valid_ndcg10(model: &SasRec, cases: &[ValidCase], device: &Device) -> f64 {
    let metric = RankingMetric::ndcg(10);
    let mut total = 0.0;
    for chunk in cases.chunks(512) {
        let b = valid_batch(chunk, device);
        let c = chunk[0].candidates.len();
        let scores = host_f32(model.score_candidates(b.sequences, b.candidates));
        for v in metric
            .cases()
            .case_values(&scores, c, chunk.iter().map(|case| case.positive))
        {
            total += v;
        }
    }
    total / cases.len().max(1) as f64
}
