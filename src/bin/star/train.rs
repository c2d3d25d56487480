//! `star train`: the CF encoders and SASRec, with early stopping on the valid candidates.

use crate::args::{DataArgs, ProtocolArgs};
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use star::cf::split::Split;
use star::pipeline::baselines::{refit_cf_model, train_cf_model, train_sasrec_model};
use star::pipeline::data::open_run_dir;
use star::pipeline::Compute;
use star::train::cf::{CfModelKind, CfTrainConfig, CfValidation};
use star::train::sasrec::{SasRecArch, SasRecLoss, SasRecTrainConfig};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum TrainCommand {
    /// Train a CF encoder (BPR-MF or LightGCN) with BPR; early stopping on valid NDCG@10.
    Cf(CfArgs),
    /// Train SASRec (causal self-attention over item sequences); early stopping on valid NDCG@10.
    Sasrec(SasRecArgs),
}

/// SASRec's training loss.
#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum SasRecLossArg {
    /// Softmax cross-entropy of the next item against the whole catalogue (RecBole's default).
    Ce,
    /// The paper's binary cross-entropy against one sampled negative per position.
    Bce,
}

impl From<SasRecLossArg> for SasRecLoss {
    fn from(l: SasRecLossArg) -> SasRecLoss {
        match l {
            SasRecLossArg::Ce => SasRecLoss::Ce,
            SasRecLossArg::Bce => SasRecLoss::Bce,
        }
    }
}

/// What CF validation ranks against.
#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum CfValidationArg {
    /// The valid candidate file (1+N).
    Candidates,
    /// Every item outside the user's training history.
    Catalogue,
}

impl From<CfValidationArg> for CfValidation {
    fn from(v: CfValidationArg) -> CfValidation {
        match v {
            CfValidationArg::Candidates => CfValidation::Candidates,
            CfValidationArg::Catalogue => CfValidation::Catalogue,
        }
    }
}

/// Which CF encoders to train.
#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum CfChoice {
    /// BPR-MF.
    #[value(alias = "bpr-mf")]
    Mf,
    /// LightGCN.
    Lightgcn,
    /// Both.
    All,
}

impl CfChoice {
    fn kinds(self) -> Vec<CfModelKind> {
        match self {
            CfChoice::Mf => vec![CfModelKind::Mf],
            CfChoice::Lightgcn => vec![CfModelKind::LightGcn],
            CfChoice::All => vec![CfModelKind::Mf, CfModelKind::LightGcn],
        }
    }
}

#[derive(Args)]
pub struct CfArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Which encoders.
    #[arg(long, value_enum, default_value_t = CfChoice::All)]
    model: CfChoice,
    /// Maximum epochs.
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Embedding size.
    #[arg(long, default_value_t = 64)]
    dim: usize,
    /// LightGCN layers.
    #[arg(long, default_value_t = 3)]
    layers: usize,
    /// Adam learning rate (default: 1e-3 for BPR-MF, 5e-3 for LightGCN).
    #[arg(long)]
    lr: Option<f64>,
    /// Triples per batch (default: 2048 for BPR-MF, 8192 for LightGCN).
    #[arg(long)]
    batch_size: Option<usize>,
    /// L2 regularisation (default: the encoder's recommended setting).
    #[arg(long)]
    l2: Option<f64>,
    /// Standard deviation of the embeddings' normal initialisation (default: the encoder's
    /// recommended setting).
    #[arg(long)]
    init_std: Option<f64>,
    /// Early-stopping patience in epochs (default: the encoder's recommended setting).
    #[arg(long)]
    patience: Option<usize>,
    /// BPR-MF: learn a bias per item (the score is `e_u · e_i + b_i`); default: the
    /// recommended setting.
    #[arg(long)]
    item_bias: Option<bool>,
    /// What validation ranks the true item against: `candidates` (the valid candidate file)
    /// or `catalogue` (every item outside the user's training history, as RecBole does);
    /// default: the encoder's recommended setting.
    #[arg(long, value_enum)]
    validation: Option<CfValidationArg>,
    /// Then train each model again on the train and valid interactions, for the epoch count
    /// validation chose, into `cf/<method>/refit`: the test split is scored with the refit
    /// (its requests hold the valid item, which BPR-MF and LightGCN otherwise never see).
    #[arg(long)]
    refit: bool,
    /// Continue from the latest checkpoint in the run directory.
    #[arg(long)]
    resume: bool,
    /// Device: flex (default CPU), ndarray, wgpu, cuda[:N] — among the compiled backends; or
    /// several separated by commas (`--devices cuda:0,cuda:1`) to train on all of them.
    #[arg(long, visible_alias = "devices", default_value = "default")]
    device: String,
}

impl CfArgs {
    /// The training config of one encoder: the recommended one with these flags set.
    fn config(&self, kind: CfModelKind) -> CfTrainConfig {
        let rec = CfTrainConfig::recommended(kind);
        CfTrainConfig::new(kind)
            .with_max_epochs(self.epochs)
            .with_dim(self.dim)
            .with_layers(self.layers)
            .with_learning_rate(self.lr.unwrap_or(rec.learning_rate))
            .with_batch_size(self.batch_size.unwrap_or(rec.batch_size))
            .with_l2(self.l2.unwrap_or(rec.l2))
            .with_patience(self.patience.unwrap_or(rec.patience))
            .with_init_std(self.init_std.unwrap_or(rec.init_std))
            .with_item_bias(self.item_bias.unwrap_or(rec.item_bias))
            .with_validation(self.validation.map_or(rec.validation, Into::into))
            .with_seed(self.protocol.seed)
    }
}

#[derive(Args)]
pub struct SasRecArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Maximum epochs.
    #[arg(long, default_value_t = 200)]
    epochs: usize,
    /// Longest sequence.
    #[arg(long, default_value_t = 50)]
    max_len: usize,
    /// Hidden size.
    #[arg(long, default_value_t = 64)]
    dim: usize,
    /// Self-attention blocks.
    #[arg(long, default_value_t = 2)]
    blocks: usize,
    /// Dropout.
    #[arg(long, default_value_t = 0.2)]
    dropout: f64,
    /// Training loss at each position.
    #[arg(long, value_enum, default_value_t = SasRecLossArg::Ce)]
    loss: SasRecLossArg,
    /// Train only each user's last --max-len positions (one sequence per user) instead of
    /// every target of every user.
    #[arg(long)]
    last_positions_only: bool,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Sequences per batch.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Early-stopping patience in epochs.
    #[arg(long, default_value_t = 10)]
    patience: usize,
    /// Cut each batch into this many parts trained on threads of their own (the result
    /// depends on this number, not on the machine's thread count).
    #[arg(long, default_value_t = 2)]
    parts: usize,
    /// Continue from the latest checkpoint in the run directory.
    #[arg(long)]
    resume: bool,
    /// Device among the compiled backends; or several separated by commas
    /// (`--devices cuda:0,cuda:1`) to train on all of them.
    #[arg(long, visible_alias = "devices", default_value = "default")]
    device: String,
}

impl SasRecArgs {
    /// The training config these flags describe.
    fn config(&self) -> SasRecTrainConfig {
        SasRecTrainConfig::new()
            .with_max_epochs(self.epochs)
            .with_model(
                SasRecArch::new()
                    .with_max_len(self.max_len)
                    .with_dim(self.dim)
                    .with_blocks(self.blocks)
                    .with_dropout(self.dropout),
            )
            .with_loss(self.loss.into())
            .with_every_position(!self.last_positions_only)
            .with_learning_rate(self.lr)
            .with_batch_size(self.batch_size)
            .with_patience(self.patience)
            .with_parts(self.parts)
            .with_seed(self.protocol.seed)
    }
}

impl TrainCommand {
    pub fn run(self, home: &Option<PathBuf>) -> Result<()> {
        match self {
            TrainCommand::Cf(a) => {
                let compute = Compute::new(&a.device)?;
                let ds = a.data.spec(home).load()?;
                let split = Split::temporal_leave_one_out(&ds);
                let run = open_run_dir(&ds, a.protocol.run_dir.as_deref())?;
                for kind in a.model.kinds() {
                    let s = train_cf_model(
                        &ds,
                        &split,
                        &run,
                        &a.config(kind),
                        a.protocol.protocol(),
                        &compute,
                        a.resume,
                    )?;
                    println!(
                        "{}: best epoch {} of {} (valid NDCG@10 {:.2}), {:.1}s on {} -> {}",
                        s.method,
                        s.best_epoch,
                        s.epochs_run,
                        100.0 * s.valid_ndcg10,
                        s.train_seconds,
                        s.device,
                        run.cf(kind).display()
                    );
                    if a.refit {
                        let r = refit_cf_model(
                            &ds,
                            &split,
                            &run,
                            &a.config(kind),
                            a.protocol.protocol(),
                            &compute,
                            a.resume,
                        )?;
                        println!(
                            "{} refit on train + valid: {} epochs, {:.1}s -> {}",
                            r.method,
                            r.epochs_run,
                            r.train_seconds,
                            run.cf_refit(kind).display()
                        );
                    }
                }
            }
            TrainCommand::Sasrec(a) => {
                let compute = Compute::new(&a.device)?;
                let ds = a.data.spec(home).load()?;
                let split = Split::temporal_leave_one_out(&ds);
                let run = open_run_dir(&ds, a.protocol.run_dir.as_deref())?;
                let s = train_sasrec_model(
                    &ds,
                    &split,
                    &run,
                    &a.config(),
                    a.protocol.protocol(),
                    &compute,
                    a.resume,
                )?;
                println!(
                    "SASRec: best epoch {} of {} (valid NDCG@10 {:.2}), {:.1}s on {} -> {}",
                    s.best_epoch,
                    s.epochs_run,
                    100.0 * s.valid_ndcg10,
                    s.train_seconds,
                    s.device,
                    run.sasrec().display()
                );
            }
        }
        Ok(())
    }
}
