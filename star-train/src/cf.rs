//! Training the CF encoders (BPR-MF, LightGCN) with burn-train's `Learner`.
//!
//! - Train batches: every train edge once per epoch with a fresh uniform negative
//!   ([`star_model::cf::sampler::epoch_triples`]), a pure function of (seed, epoch).
//! - Validation ([`CfValidation`]): the 1+N **valid** candidate file, or every item outside the
//!   user's training history (RecBole's full-sort protocol); metrics HR@10 and NDCG@10 (and a
//!   listwise loss) per epoch; early stopping when NDCG@10 has not improved for `patience`
//!   epochs.
//! - Checkpoints every epoch under `<dir>/checkpoint/` (the last two and the best by NDCG@10 are
//!   kept); `resume` continues from the latest one and replays exactly the epochs an
//!   uninterrupted run would have run, so the final model is the same.
//! - The returned model is the checkpoint with the best validation NDCG@10
//!   ([`crate::outcome::select_best`]).
//! - [`refit_cf`] trains the same settings again on the train and valid interactions for the
//!   epoch count validation chose: the embeddings for scoring the test split.

use crate::devices::TrainDevices;
use crate::loader::EpochLoader;
use crate::metrics::{host_f32, rank_of, LossOutput, RankingMetric, RankingOutput};
use crate::outcome::{select_best, TrainOutcome};
pub use crate::run::TrainError;
use crate::run::{fit, prepare_run_dir, FitOptions};
use burn::data::dataloader::DataLoader;
use burn::module::{Module, ModuleDisplay};
use burn::prelude::*;
use burn::store::RecordError;
use burn::tensor::activation;
use burn::train::{InferenceStep, TrainOutput, TrainStep};
use star_cf::candidates::CandidateSet;
use star_cf::graph::CfGraph;
use star_model::cf::sampler::{epoch_triples, to_batch, Triple};
use star_model::cf::{
    Adjacency, BprBatch, CfEmbeddings, CfEncoder, LightGcn, LightGcnConfig, Mf, MfConfig,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Which CF encoder to train.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CfModelKind {
    /// BPR matrix factorisation.
    Mf,
    /// LightGCN.
    LightGcn,
}

impl CfModelKind {
    /// The method name in results: `BPR-MF` or `LightGCN`.
    pub fn method_name(self) -> &'static str {
        match self {
            CfModelKind::Mf => "BPR-MF",
            CfModelKind::LightGcn => "LightGCN",
        }
    }
}

/// What CF validation ranks each valid user's true item against.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CfValidation {
    /// The 19 (N) sampled negatives of the valid candidate file.
    #[default]
    Candidates,
    /// Every item outside the user's training history, as RecBole 1.2.1's full-sort
    /// evaluation does (the true item stays a candidate even when the history holds it).
    Catalogue,
}

/// Hyper-parameters of CF training.
#[derive(Config, Debug, PartialEq)]
pub struct CfTrainConfig {
    /// The encoder.
    pub kind: CfModelKind,
    /// Embedding size.
    #[config(default = 64)]
    pub dim: usize,
    /// LightGCN propagation layers.
    #[config(default = 3)]
    pub layers: usize,
    /// Maximum number of epochs.
    #[config(default = 100)]
    pub max_epochs: usize,
    /// Triples per batch.
    #[config(default = 2048)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// L2 regularisation of the batch's input embeddings.
    #[config(default = 1e-4)]
    pub l2: f64,
    /// Stop when validation NDCG@10 has not improved for this many epochs (RecBole's
    /// `stopping_step`; 5 stopped LightGCN at a plateau far below its level on sparse data).
    #[config(default = 10)]
    pub patience: usize,
    /// Seed of initialisation and negative sampling.
    #[config(default = 42)]
    pub seed: u64,
    /// Standard deviation of the embeddings' normal initialisation.
    #[config(default = 0.1)]
    pub init_std: f64,
    /// BPR-MF only: a learned bias per item ([`MfConfig::item_bias`]).
    #[config(default = false)]
    pub item_bias: bool,
    /// What validation (early stopping, checkpoint selection) ranks the true item against.
    #[config(default = "CfValidation::Candidates")]
    pub validation: CfValidation,
}

impl CfTrainConfig {
    /// Settings that worked well on MovieLens-100K for each model (valid NDCG@10, CPU time):
    /// BPR-MF with the defaults; LightGCN with learning rate 5e-3 and batches of 8192, which
    /// also needs 4× fewer full-graph propagations per epoch.
    pub fn recommended(kind: CfModelKind) -> Self {
        match kind {
            CfModelKind::Mf => CfTrainConfig::new(kind),
            CfModelKind::LightGcn => CfTrainConfig::new(kind)
                .with_learning_rate(5e-3)
                .with_batch_size(8192),
        }
    }
}

/// A CF encoder with its training hyper-parameters, as the `Learner` sees it.
#[derive(Module, Debug)]
pub struct CfLearner<M: Module> {
    /// The encoder.
    pub encoder: M,
    /// L2 regularisation.
    pub l2: f64,
}

/// A validation batch: users, what each is ranked against and where the true item is.
#[derive(Clone, Debug)]
pub struct CandidateBatch {
    /// User ids `[B]`.
    pub users: Tensor<1, Int>,
    /// The items each user's true item is ranked against.
    pub candidates: Candidates,
    /// Index of the true item in each row of the scores `[B]`: its column in `Listed`, its
    /// item id in `Catalogue`.
    pub positive: Tensor<1, Int>,
}

/// The items of a [`CandidateBatch`].
#[derive(Clone, Debug)]
pub enum Candidates {
    /// Candidate item ids `[B, C]`.
    Listed(Tensor<2, Int>),
    /// The whole catalogue; `seen` `[B, num_items]` marks the items of each user's training
    /// history, which score `-inf`.
    Catalogue {
        /// Items left out of each row.
        seen: Tensor<2, Bool>,
    },
}

/// Scores `[B, C]` of each user's candidates from final embeddings.
pub fn candidate_scores(
    users: Tensor<2>,
    items: Tensor<2>,
    batch_users: Tensor<1, Int>,
    candidates: Tensor<2, Int>,
) -> Tensor<2> {
    let [b, c] = candidates.dims();
    let d = users.dims()[1];
    let u = users.select(0, batch_users).reshape([b, 1, d]);
    let i = items
        .select(0, candidates.reshape([b * c]))
        .reshape([b, c, d]);
    (u * i).sum_dim(2).reshape([b, c])
}

impl<M: CfEncoder + Module + ModuleDisplay + 'static> TrainStep for CfLearner<M> {
    type Input = BprBatch;
    type Output = LossOutput;

    fn step(&self, batch: BprBatch) -> TrainOutput<LossOutput> {
        let out = self.encoder.bpr(&batch, self.l2);
        let grads = out.loss.backward();
        TrainOutput::new(self, grads, LossOutput { loss: out.loss })
    }
}

impl<M: CfEncoder + Module + ModuleDisplay + 'static> InferenceStep for CfLearner<M> {
    type Input = CandidateBatch;
    type Output = RankingOutput;

    fn step(&self, batch: CandidateBatch) -> RankingOutput {
        let (users, items) = self.encoder.embeddings();
        let scores = match batch.candidates {
            Candidates::Listed(c) => candidate_scores(users, items, batch.users, c),
            Candidates::Catalogue { seen } => users
                .select(0, batch.users)
                .matmul(items.transpose())
                .mask_fill(seen, f32::NEG_INFINITY),
        };
        let [b, _] = scores.dims();
        // listwise loss: -log softmax(scores)[positive]
        let loss = activation::log_softmax(scores.clone(), 1)
            .gather(1, batch.positive.clone().reshape([b, 1]))
            .mean()
            .neg();
        RankingOutput {
            loss,
            scores,
            positive: batch.positive,
        }
    }
}

/// One valid case as the loader sees it.
#[derive(Clone, Debug)]
struct Case {
    user: u32,
    ranked: Ranked,
    /// The true item's index in the case's scores (see [`CandidateBatch::positive`]).
    positive: usize,
}

/// What a [`Case`]'s true item is ranked against.
#[derive(Clone, Debug)]
enum Ranked {
    /// These items.
    Listed(Vec<u32>),
    /// Every item but these (the user's training history, less the true item).
    Catalogue { seen: Vec<u32> },
}

/// The valid cases of `valid` for `validation`: its candidates, or the catalogue without each
/// user's training history in `graph`.
fn valid_cases(valid: &CandidateSet, graph: &CfGraph, validation: CfValidation) -> Vec<Case> {
    valid
        .cases
        .iter()
        .map(|c| match validation {
            CfValidation::Candidates => Case {
                user: c.user.0,
                ranked: Ranked::Listed(c.candidates.iter().map(|i| i.0).collect()),
                positive: c.positive_index,
            },
            CfValidation::Catalogue => {
                let target = c.candidates[c.positive_index].0;
                Case {
                    user: c.user.0,
                    ranked: Ranked::Catalogue {
                        seen: graph
                            .items_of(c.user)
                            .iter()
                            .copied()
                            .filter(|&i| i != target)
                            .collect(),
                    },
                    positive: target as usize,
                }
            }
        })
        .collect()
}

/// The batch of `cases` (all of one [`Ranked`] kind) over a catalogue of `num_items`.
fn case_batch(cases: &[Case], num_items: usize, device: &Device) -> CandidateBatch {
    let b = cases.len();
    let users: Vec<i64> = cases.iter().map(|x| x.user as i64).collect();
    let pos: Vec<i64> = cases.iter().map(|x| x.positive as i64).collect();
    let candidates = match cases.first().map(|x| &x.ranked) {
        Some(Ranked::Catalogue { .. }) => {
            let mut seen = vec![false; b * num_items];
            for (r, x) in cases.iter().enumerate() {
                if let Ranked::Catalogue { seen: items } = &x.ranked {
                    for &i in items {
                        seen[r * num_items + i as usize] = true;
                    }
                }
            }
            Candidates::Catalogue {
                seen: Tensor::from_data(TensorData::new(seen, [b, num_items]), device),
            }
        }
        _ => {
            let c = cases.first().map_or(0, |x| x.listed().len());
            let cands: Vec<i64> = cases
                .iter()
                .flat_map(|x| x.listed().iter().map(|&i| i as i64))
                .collect();
            Candidates::Listed(Tensor::from_data(TensorData::new(cands, [b, c]), device))
        }
    };
    CandidateBatch {
        users: Tensor::from_data(TensorData::new(users, [b]), device),
        candidates,
        positive: Tensor::from_data(TensorData::new(pos, [b]), device),
    }
}

impl Case {
    fn listed(&self) -> &[u32] {
        match &self.ranked {
            Ranked::Listed(items) => items,
            Ranked::Catalogue { .. } => &[],
        }
    }

    /// The case's scores under user embedding `u` and item embeddings `items` (row-major,
    /// `u.len()` wide), as the validation step computes them.
    fn scores(&self, u: &[f32], items: &[f32]) -> Vec<f32> {
        let d = u.len();
        let dot =
            |i: usize| -> f32 { u.iter().zip(&items[i * d..][..d]).map(|(a, b)| a * b).sum() };
        match &self.ranked {
            Ranked::Listed(c) => c.iter().map(|&i| dot(i as usize)).collect(),
            Ranked::Catalogue { seen } => {
                let mut s: Vec<f32> = (0..items.len() / d.max(1)).map(dot).collect();
                for &i in seen {
                    s[i as usize] = f32::NEG_INFINITY;
                }
                s
            }
        }
    }
}

/// What CF training produced: the final embeddings of the best checkpoint, its validation
/// NDCG@10 as the score.
pub type CfTrainResult = TrainOutcome<CfEmbeddings>;

/// The model of either kind, built for a graph.
enum Encoder {
    Mf(Box<Mf>),
    LightGcn(Box<LightGcn>),
}

/// Trains one encoder of either kind with the `Learner`.
fn fit_encoder<M: CfEncoder + Module + ModuleDisplay + 'static>(
    encoder: M,
    l2: f64,
    dir: &Path,
    train: Arc<dyn DataLoader<BprBatch>>,
    valid: Arc<dyn DataLoader<CandidateBatch>>,
    opts: &FitOptions,
) -> Result<(), TrainError> {
    fit(CfLearner { encoder, l2 }, dir, train, valid, opts, |t| t)
}

/// The final embeddings of a checkpoint, read into a fresh encoder of its kind.
fn load_encoder<M: CfEncoder + Module + ModuleDisplay + 'static>(
    encoder: M,
    l2: f64,
    path: &Path,
) -> Result<CfEmbeddings, RecordError> {
    CfLearner { encoder, l2 }
        .try_load_file(path)
        .map(|l| l.encoder.export())
}

fn init_encoder(cfg: &CfTrainConfig, graph: &CfGraph, device: &Device) -> Encoder {
    match cfg.kind {
        CfModelKind::Mf => Encoder::Mf(Box::new(
            MfConfig::new(graph.num_users(), graph.num_items())
                .with_dim(cfg.dim)
                .with_init_std(cfg.init_std)
                .with_seed(cfg.seed)
                .with_item_bias(cfg.item_bias)
                .init(device),
        )),
        CfModelKind::LightGcn => Encoder::LightGcn(Box::new(
            LightGcnConfig::new(graph.num_users(), graph.num_items())
                .with_dim(cfg.dim)
                .with_init_std(cfg.init_std)
                .with_seed(cfg.seed)
                .with_layers(cfg.layers)
                .init(Adjacency::from_graph(graph, device), device),
        )),
    }
}

/// NDCG@10 (fraction) of final embeddings on the valid cases.
fn valid_ndcg10(emb: &CfEmbeddings, cases: &[Case]) -> f64 {
    let users = host_f32(emb.users.val());
    let items = host_f32(emb.items.val());
    let d = emb.users.val().dims()[1];
    let metric = RankingMetric::ndcg(10);
    let total: f64 = cases
        .iter()
        .map(|c| {
            let scores = c.scores(&users[c.user as usize * d..][..d], &items);
            metric.case_value(rank_of(&scores, c.positive))
        })
        .sum();
    total / cases.len().max(1) as f64
}

/// Trains a CF encoder of `cfg.kind` on the train graph, validating on `valid` (a valid-split
/// candidate file), with all artefacts under `dir`. With `resume`, continues from the latest
/// checkpoint in `dir` (the settings must be the same). Trains on `devices`: one device, or
/// several ([`TrainDevices`]); the model returned is on the first.
pub fn train_cf(
    cfg: &CfTrainConfig,
    graph: &CfGraph,
    valid: &CandidateSet,
    dir: &Path,
    devices: &(impl TrainDevices + ?Sized),
    resume: bool,
) -> Result<CfTrainResult, TrainError> {
    let fitted = fit_cf(cfg, graph, valid, dir, devices, resume)?;
    let device = devices.main_device()?;
    select_best(
        dir,
        fitted.start_epoch,
        fitted.train_seconds,
        |path| load_checkpoint(cfg, graph, device, path),
        |emb| valid_ndcg10(emb, &fitted.cases),
    )
}

/// Trains `cfg.kind` again from its initialisation (same seed) for exactly `epochs` epochs,
/// the number validation chose ([`train_cf`]'s `best_epoch`), on `graph`: the train **and
/// valid** interactions ([`star_cf::split::Split::with_valid_in_train`]). Its embeddings are
/// for scoring the test split, whose requests already hold the valid item in their history:
/// BPR-MF and LightGCN score from their training data alone, so without a refit they never see
/// each user's most recent interaction. The returned model is the last epoch's; its
/// `valid_score` is the valid candidates' NDCG@10, which this model has trained on, so it is
/// logged but chooses nothing. Artefacts go under `dir`; `resume` as in [`train_cf`].
///
/// Errors: `epochs` of 0, and whatever [`train_cf`] returns.
pub fn refit_cf(
    cfg: &CfTrainConfig,
    graph: &CfGraph,
    valid: &CandidateSet,
    epochs: usize,
    dir: &Path,
    devices: &(impl TrainDevices + ?Sized),
    resume: bool,
) -> Result<CfTrainResult, TrainError> {
    if epochs == 0 {
        return Err(TrainError::Training(format!(
            "{} refit: 0 epochs (the refit trains as many epochs as validation chose)",
            cfg.kind.method_name()
        )));
    }
    // no early stopping: the validation metric cannot stop a run it has trained on
    let cfg = cfg
        .clone()
        .with_max_epochs(epochs)
        .with_patience(epochs)
        .with_validation(CfValidation::Candidates);
    let fitted = fit_cf(&cfg, graph, valid, dir, devices, resume)?;
    let device = devices.main_device()?;
    let path = crate::run::verified_checkpoint(dir, epochs)?;
    let model =
        load_checkpoint(&cfg, graph, device, &path).map_err(|e| crate::run::file_err(&path, &e))?;
    Ok(TrainOutcome {
        valid_score: valid_ndcg10(&model, &fitted.cases),
        model,
        best_epoch: epochs,
        averaged: 1,
        epochs_run: epochs,
        train_seconds: fitted.train_seconds,
        resumed_after: (fitted.start_epoch > 0).then_some(fitted.start_epoch),
        dir: dir.to_path_buf(),
    })
}

/// What [`fit_cf`] leaves for picking a checkpoint.
struct Fitted {
    start_epoch: usize,
    train_seconds: f64,
    cases: Vec<Case>,
}

/// The final embeddings of the checkpoint at `path`, read into a fresh encoder of `cfg.kind`.
fn load_checkpoint(
    cfg: &CfTrainConfig,
    graph: &CfGraph,
    device: &Device,
    path: &Path,
) -> Result<CfEmbeddings, RecordError> {
    match init_encoder(cfg, graph, device) {
        Encoder::Mf(e) => load_encoder(*e, cfg.l2, path),
        Encoder::LightGcn(e) => load_encoder(*e, cfg.l2, path),
    }
}

/// Runs the `Learner` over `cfg`'s epochs (checkpoints under `dir`).
fn fit_cf(
    cfg: &CfTrainConfig,
    graph: &CfGraph,
    valid: &CandidateSet,
    dir: &Path,
    devices: &(impl TrainDevices + ?Sized),
    resume: bool,
) -> Result<Fitted, TrainError> {
    if cfg.item_bias && cfg.kind != CfModelKind::Mf {
        return Err(TrainError::Training(format!(
            "CF settings: item_bias is a BPR-MF setting; {} has none",
            cfg.kind.method_name()
        )));
    }
    let device = devices.main_device()?;
    let start_epoch = prepare_run_dir(dir, cfg, resume, |c: CfTrainConfig| {
        // the epoch limit only says where to stop
        c.with_max_epochs(0)
    })?;

    let cases = valid_cases(valid, graph, cfg.validation);
    let graph_arc = Arc::new(graph.clone());
    let seed = cfg.seed;
    let g = graph_arc.clone();
    let train_loader: Arc<dyn DataLoader<BprBatch>> = Arc::new(
        EpochLoader::new(
            move |epoch| epoch_triples(&g, seed, epoch),
            |t: &[Triple], d: &Device| to_batch(t, d),
            cfg.batch_size,
            graph.num_edges(),
            device.clone(),
        )
        .starting_at(start_epoch),
    );
    let valid_cases = cases.clone();
    let n_valid = cases.len();
    let num_items = graph.num_items();
    // a catalogue batch holds a [B, num_items] mask and score matrix
    let valid_batch = match cfg.validation {
        CfValidation::Candidates => 4096,
        CfValidation::Catalogue => (1 << 24) / num_items.max(1),
    }
    .max(1);
    let valid_loader: Arc<dyn DataLoader<CandidateBatch>> = Arc::new(EpochLoader::new(
        move |_| valid_cases.clone(),
        move |xs: &[Case], d: &Device| case_batch(xs, num_items, d),
        valid_batch,
        n_valid,
        device.clone(),
    ));

    let t = Instant::now();
    let opts = FitOptions::new(
        cfg.kind.method_name(),
        cfg.max_epochs,
        cfg.patience,
        cfg.learning_rate,
        start_epoch,
    )
    .on_devices(devices);
    let l2 = cfg.l2;
    // parameters must be created on an autodiff device to be tracked
    match init_encoder(cfg, graph, &device.clone().autodiff()) {
        Encoder::Mf(e) => fit_encoder(*e, l2, dir, train_loader, valid_loader, &opts)?,
        Encoder::LightGcn(e) => fit_encoder(*e, l2, dir, train_loader, valid_loader, &opts)?,
    }
    let train_seconds = t.elapsed().as_secs_f64();

    Ok(Fitted {
        start_epoch,
        train_seconds,
        cases,
    })
}
