//! Training the CF encoders (BPR-MF, LightGCN) with burn-train's `Learner`.
//!
//! - Train batches: every train edge once per epoch with a fresh uniform negative
//!   ([`star_model::cf::sampler::epoch_triples`]), a pure function of (seed, epoch).
//! - Validation: the 1+N **valid** candidate file; metrics HR@10 and NDCG@10 (and a listwise
//!   loss) per epoch; early stopping when NDCG@10 has not improved for `patience` epochs.
//! - Checkpoints every epoch under `<dir>/checkpoint/` (the last two and the best by NDCG@10 are
//!   kept); `resume` continues from the latest one and replays exactly the epochs an
//!   uninterrupted run would have run, so the final model is the same.
//! - The returned model is the checkpoint with the best validation NDCG@10
//!   ([`crate::outcome::select_best`]).

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
    /// Stop when validation NDCG@10 has not improved for this many epochs.
    #[config(default = 5)]
    pub patience: usize,
    /// Seed of initialisation and negative sampling.
    #[config(default = 42)]
    pub seed: u64,
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

/// A validation batch: users, their candidates and where the true item is.
#[derive(Clone, Debug)]
pub struct CandidateBatch {
    /// User ids `[B]`.
    pub users: Tensor<1, Int>,
    /// Candidate item ids `[B, C]`.
    pub candidates: Tensor<2, Int>,
    /// Index of the true item in each row `[B]`.
    pub positive: Tensor<1, Int>,
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
        let scores = candidate_scores(users, items, batch.users, batch.candidates);
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
    candidates: Vec<u32>,
    positive: usize,
}

fn case_batch(cases: &[Case], device: &Device) -> CandidateBatch {
    let b = cases.len();
    let c = cases.first().map_or(0, |x| x.candidates.len());
    let users: Vec<i64> = cases.iter().map(|x| x.user as i64).collect();
    let cands: Vec<i64> = cases
        .iter()
        .flat_map(|x| x.candidates.iter().map(|&i| i as i64))
        .collect();
    let pos: Vec<i64> = cases.iter().map(|x| x.positive as i64).collect();
    CandidateBatch {
        users: Tensor::from_data(TensorData::new(users, [b]), device),
        candidates: Tensor::from_data(TensorData::new(cands, [b, c]), device),
        positive: Tensor::from_data(TensorData::new(pos, [b]), device),
    }
}

/// What CF training produced: the final embeddings of the best checkpoint, its validation
/// NDCG@10 as the score.
pub type CfTrainResult = TrainOutcome<CfEmbeddings>;

/// The model of either kind, built for a graph.
enum Encoder {
    Mf(Mf),
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
        CfModelKind::Mf => Encoder::Mf(
            MfConfig::new(graph.num_users(), graph.num_items())
                .with_dim(cfg.dim)
                .with_seed(cfg.seed)
                .init(device),
        ),
        CfModelKind::LightGcn => Encoder::LightGcn(Box::new(
            LightGcnConfig::new(graph.num_users(), graph.num_items())
                .with_dim(cfg.dim)
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
            let u = &users[c.user as usize * d..][..d];
            let scores: Vec<f32> = c
                .candidates
                .iter()
                .map(|&i| {
                    u.iter()
                        .zip(&items[i as usize * d..][..d])
                        .map(|(a, b)| a * b)
                        .sum()
                })
                .collect();
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
    let device = devices.main_device()?;
    let start_epoch = prepare_run_dir(dir, cfg, resume, |c: CfTrainConfig| {
        // the epoch limit only says where to stop
        c.with_max_epochs(0)
    })?;

    let cases: Vec<Case> = valid
        .cases
        .iter()
        .map(|c| Case {
            user: c.user.0,
            candidates: c.candidates.iter().map(|i| i.0).collect(),
            positive: c.positive_index,
        })
        .collect();
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
    let valid_loader: Arc<dyn DataLoader<CandidateBatch>> = Arc::new(EpochLoader::new(
        move |_| valid_cases.clone(),
        case_batch,
        4096,
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
        Encoder::Mf(e) => fit_encoder(e, l2, dir, train_loader, valid_loader, &opts)?,
        Encoder::LightGcn(e) => fit_encoder(*e, l2, dir, train_loader, valid_loader, &opts)?,
    }
    let train_seconds = t.elapsed().as_secs_f64();

    select_best(
        dir,
        start_epoch,
        train_seconds,
        |path| match init_encoder(cfg, graph, device) {
            Encoder::Mf(e) => load_encoder(e, l2, path),
            Encoder::LightGcn(e) => load_encoder(*e, l2, path),
        },
        |emb| valid_ndcg10(emb, &cases),
    )
}
