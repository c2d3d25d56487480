//! What every training run shares: the run directory (settings file, checkpoints, resume) and
//! the burn-train `Learner` set-up with validation HR@10/NDCG@10, early stopping on NDCG@10 and
//! checkpoints kept by NDCG@10.

use crate::checkpoint::{self, VerifiedCheckpointer};
use crate::devices::TrainDevices;
use crate::lr_decay::LrDecay;
use crate::metrics::{RankingInput, RankingMetric};
use crate::renderer::EpochLineRenderer;
use burn::config::Config;
use burn::data::dataloader::DataLoader;
use burn::optim::AdamConfig;
use burn::tensor::Device;
use burn::train::checkpoint::{
    ComposedCheckpointingStrategy, KeepLastNCheckpoints, MetricCheckpointingStrategy,
};
use burn::train::metric::store::EventStoreClient;
use burn::train::metric::store::{Aggregate, Direction, Split as MetricSplit};
use burn::train::metric::{Adaptor, LossInput, LossMetric};
use burn::train::{
    EarlyStoppingStrategy, ExecutionStrategy, InferenceStep, Learner, LearnerModel,
    MultiDeviceOptim, SupervisedTraining, TrainStep,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors of training runs.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file could not be read or written.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Training stopped with an error.
    #[error("training failed: {0}")]
    Training(String),
    /// A resumed run was started with other settings.
    #[error("{}: the run directory holds a run with other settings ({saved}); use another directory or drop --resume", dir.display())]
    ConfigMismatch {
        /// The settings found in the directory.
        saved: String,
        /// The run directory.
        dir: PathBuf,
    },
}

pub(crate) fn file_err(path: &Path, e: &dyn std::fmt::Display) -> TrainError {
    TrainError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The epochs that have a model checkpoint file in `dir/checkpoint`, ascending (whether or not
/// the file is complete; see [`verified_checkpoint`]).
pub fn checkpoint_epochs(dir: &Path) -> Vec<usize> {
    let mut epochs: Vec<usize> = std::fs::read_dir(dir.join("checkpoint"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_prefix("model-")?
                .strip_suffix(".bpk")?
                .parse()
                .ok()
        })
        .collect();
    epochs.sort_unstable();
    epochs
}

/// Path of the model checkpoint of `epoch`.
pub fn checkpoint_path(dir: &Path, epoch: usize) -> PathBuf {
    checkpoint::record_path(&dir.join("checkpoint"), "model", epoch)
}

/// Path of the model checkpoint of `epoch`, once its checksum has been verified.
pub fn verified_checkpoint(dir: &Path, epoch: usize) -> Result<PathBuf, TrainError> {
    let path = checkpoint_path(dir, epoch);
    checkpoint::read_verified(&path).map_err(|message| TrainError::File {
        path: path.clone(),
        message,
    })?;
    Ok(path)
}

/// Marks a checkpoint directory whose records carry SHA-256 sidecars (written when a run
/// starts); older directories without it are refused on resume rather than wiped.
const FORMAT_FILE: &str = "format";

/// Marker of a run that early stopping ended: resuming it trains nothing more.
fn early_stop_marker(dir: &Path) -> PathBuf {
    dir.join("checkpoint").join("early-stopped")
}

/// The latest epoch whose checkpoint is complete and matches its checksums. Later epochs
/// (cut short by a crash, or damaged) are reported and removed, with their metric logs, so
/// the resumed run replays them exactly as an uninterrupted run would have.
fn latest_complete_epoch(dir: &Path) -> usize {
    let ckpt = dir.join("checkpoint");
    let mut done = 0;
    for &epoch in checkpoint_epochs(dir).iter().rev() {
        match checkpoint::verify_epoch(&ckpt, epoch) {
            Ok(()) => {
                done = epoch;
                break;
            }
            Err(e) => {
                tracing::warn!("skipping the checkpoint of epoch {epoch}: {e}");
                checkpoint::remove_epoch(&ckpt, epoch);
            }
        }
    }
    // leftovers of later epochs (records without a model file, interrupted writes)
    for entry in std::fs::read_dir(&ckpt).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let later = checkpoint::RECORDS.iter().any(|r| {
            name.strip_prefix(&format!("{r}-"))
                .and_then(|rest| rest.split('.').next())
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n > done)
        });
        if later {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    for split in ["train", "valid"] {
        for entry in std::fs::read_dir(dir.join(split))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let later = name
                .strip_prefix("epoch-")
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n > done);
            if later {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let marker = early_stop_marker(dir);
    if read_marker(&marker) != Some(done) {
        let _ = std::fs::remove_file(marker);
    }
    done
}

fn read_marker(path: &Path) -> Option<usize> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Prepares `dir` for a run with settings `cfg` and returns the number of epochs already done.
///
/// Without `resume` (or with nothing to resume) earlier checkpoints and logs are removed and the
/// settings are written to `train-config.json`. With `resume`, the run continues after the
/// latest epoch whose checkpoint is complete and matches its checksums (later, damaged ones are
/// reported and dropped), and the saved settings must equal `cfg` once `normalise` has been
/// applied to both (it clears fields, such as the epoch limit, that do not change the
/// trajectory).
pub fn prepare_run_dir<C: Config + PartialEq + Clone + std::fmt::Debug>(
    dir: &Path,
    cfg: &C,
    resume: bool,
    normalise: impl Fn(C) -> C,
) -> Result<usize, TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| file_err(dir, &e))?;
    let cfg_path = dir.join("train-config.json");
    // Nothing is removed before the settings are known to match.
    if resume && cfg_path.is_file() {
        let saved = C::load(&cfg_path).map_err(|e| {
            file_err(
                &cfg_path,
                &format!(
                    "{e} (settings written by another version of star cannot be resumed; train without --resume, or in another directory, to start over)"
                ),
            )
        })?;
        if normalise(saved.clone()) != normalise(cfg.clone()) {
            return Err(TrainError::ConfigMismatch {
                saved: format!("{saved:?}"),
                dir: dir.to_path_buf(),
            });
        }
    }
    let ckpt = dir.join("checkpoint");
    let format = ckpt.join(FORMAT_FILE);
    if resume && !format.is_file() && !checkpoint_epochs(dir).is_empty() {
        return Err(file_err(
            &ckpt,
            &"these checkpoints have no checksums (written by an older star) and cannot be verified; delete this directory, or train without --resume, to start over",
        ));
    }
    let done = if resume {
        latest_complete_epoch(dir)
    } else {
        0
    };
    if done == 0 {
        for sub in ["checkpoint", "train", "valid"] {
            let _ = std::fs::remove_dir_all(dir.join(sub));
        }
        let json = serde_json::to_string_pretty(cfg).map_err(|e| file_err(&cfg_path, &e))?;
        star_cf::fsutil::write_atomic(&cfg_path, |w| w.write_all(json.as_bytes()))
            .map_err(|e| file_err(&cfg_path, &e))?;
        star_cf::fsutil::write_atomic(&format, |w| w.write_all(b"sha256 sidecars\n"))
            .map_err(|e| file_err(&format, &e))?;
    }
    Ok(done)
}

/// Early stopping on a validation metric (higher is better) after `patience` epochs without a
/// new best, decided from the metric logs of every epoch so far. burn-train's
/// `MetricEarlyStoppingStrategy` keeps its best epoch in memory only, so a resumed run would
/// count its first epoch as a new best and stop later than an uninterrupted one; this
/// strategy holds no state and decides the same either way.
#[derive(Clone)]
struct LoggedEarlyStopping {
    metric: burn::train::metric::MetricName,
    patience: usize,
}

impl EarlyStoppingStrategy for LoggedEarlyStopping {
    fn should_stop(&mut self, epoch: usize, store: &EventStoreClient) -> bool {
        let value = |e| store.find_metric(&self.metric, e, Aggregate::Mean, &MetricSplit::Valid);
        if value(epoch).is_none() {
            return false;
        }
        // the first strictly greater value wins, as in burn-train's strategy
        let mut best: Option<(usize, f64)> = None;
        for e in 1..=epoch {
            if let Some(v) = value(e) {
                if best.is_none_or(|(_, b)| v > b) {
                    best = Some((e, v));
                }
            }
        }
        best.is_some_and(|(e, _)| epoch - e >= self.patience)
    }
}

/// How long and how fast to train, and on which validation metric.
#[derive(Clone)]
pub struct FitOptions {
    /// Label of the progress lines (the method name).
    pub label: String,
    /// Epoch limit.
    pub max_epochs: usize,
    /// Early-stopping patience (epochs without a better value of `select`).
    pub patience: usize,
    /// Adam learning rate (the starting one under a decay).
    pub learning_rate: f64,
    /// How the learning rate moves over the epoch limit.
    pub lr_decay: LrDecay,
    /// The last this many epochs' checkpoints are kept (at least 1), besides the best one.
    pub keep_last: usize,
    /// Epochs already done (resume after this many).
    pub start_epoch: usize,
    /// The validation ranking metric that drives early stopping and checkpoint selection.
    pub select: RankingMetric,
    /// Validation ranking metrics logged besides `select`.
    pub report: Vec<RankingMetric>,
    /// The devices to train on when more than one (see [`TrainDevices`]); empty or one device:
    /// the model's own device.
    pub devices: Vec<Device>,
}

impl FitOptions {
    /// Options for a run labelled `label`, selecting on validation NDCG@10 with HR@10 logged
    /// besides (the CF encoders and SASRec); see [`FitOptions::on_avg_hr`].
    pub fn new(
        label: impl Into<String>,
        max_epochs: usize,
        patience: usize,
        learning_rate: f64,
        start_epoch: usize,
    ) -> Self {
        FitOptions {
            label: label.into(),
            max_epochs,
            patience,
            learning_rate,
            lr_decay: LrDecay::Constant,
            keep_last: 2,
            start_epoch,
            select: RankingMetric::ndcg(10),
            report: vec![RankingMetric::hr(10)],
            devices: Vec::new(),
        }
    }

    /// Trains on `devices` (the main one first, where the model is): with more than one,
    /// burn-train's multi-device strategy (see [`TrainDevices`]).
    pub fn on_devices(self, devices: &(impl TrainDevices + ?Sized)) -> Self {
        FitOptions {
            devices: devices.as_devices().to_vec(),
            ..self
        }
    }

    /// Decays the learning rate with `decay` over the epoch limit.
    pub fn with_lr_decay(self, decay: LrDecay) -> Self {
        FitOptions {
            lr_decay: decay,
            ..self
        }
    }

    /// Selects on validation avg-HR and logs HR@1 besides, as distillation does.
    pub fn on_avg_hr(self) -> Self {
        FitOptions {
            select: RankingMetric::avg_hr(),
            report: vec![RankingMetric::hr(1)],
            ..self
        }
    }
}

/// Runs burn-train's `Learner` on `model`: Adam, train loss; validation loss and the ranking
/// metrics of `opts`; early stopping and checkpoint selection on `opts.select` (the last two
/// checkpoints are kept too). `extra` may register more (training) metrics. Progress is one
/// plain-text line per epoch and split (also in CI logs); set `STAR_TUI=1` for burn's terminal
/// dashboard instead.
pub fn fit<M>(
    model: M,
    dir: &Path,
    train: Arc<dyn DataLoader<<M as TrainStep>::Input>>,
    valid: Arc<dyn DataLoader<<M as InferenceStep>::Input>>,
    opts: &FitOptions,
    extra: impl FnOnce(SupervisedTraining<M>) -> SupervisedTraining<M>,
) -> Result<(), TrainError>
where
    M: LearnerModel + 'static,
    <M as TrainStep>::Output: Adaptor<LossInput>,
    <M as InferenceStep>::Output: Adaptor<LossInput> + Adaptor<RankingInput>,
{
    let ckpt = dir.join("checkpoint");
    let marker = early_stop_marker(dir);
    if opts.start_epoch > 0 && read_marker(&marker) == Some(opts.start_epoch) {
        tracing::info!(
            "{}: early stopping ended this run after epoch {}; nothing to resume",
            opts.label,
            opts.start_epoch
        );
        return Ok(());
    }
    let ndcg = opts.select.clone();
    let strategy = ComposedCheckpointingStrategy::builder()
        .add(KeepLastNCheckpoints::new(opts.keep_last.max(1)))
        .add(MetricCheckpointingStrategy::new(
            &ndcg,
            Aggregate::Mean,
            Direction::Highest,
            MetricSplit::Valid,
        ))
        .build();
    let early = LoggedEarlyStopping {
        metric: burn::train::metric::Metric::name(&ndcg),
        patience: opts.patience,
    };
    // one optimizer step per batch, or per round of batches across several devices
    let steps_per_epoch = train.num_items().div_ceil(opts.devices.len().max(1));
    let scheduler = opts
        .lr_decay
        .scheduler(opts.learning_rate, opts.max_epochs * steps_per_epoch)?;
    let mut training = SupervisedTraining::new(dir, train, valid)
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new());
    for m in opts.report.iter().cloned() {
        training = training.metric_valid_numeric(m);
    }
    let mut training = extra(training)
        .metric_valid_numeric(ndcg)
        .with_application_logger(None)
        .with_custom_checkpointers(
            VerifiedCheckpointer::new(&ckpt, "model"),
            VerifiedCheckpointer::new(&ckpt, "optim"),
            VerifiedCheckpointer::new(&ckpt, "scheduler"),
        )
        .with_checkpointing_strategy(strategy)
        .early_stopping(early)
        .num_epochs(opts.max_epochs);
    // One plain line per epoch by default, stopping on a NaN or infinite training metric;
    // STAR_TUI=1 opts into burn's dashboard (terminal only, without that check).
    if std::env::var("STAR_TUI").map_or(true, |v| v != "1") {
        let renderer =
            EpochLineRenderer::new(&opts.label).stop_on_non_finite(training.interrupter());
        training = training.renderer(Box::new(renderer));
    }
    if opts.start_epoch > 0 {
        training = training.checkpoint(opts.start_epoch);
    }
    if opts.devices.len() > 1 {
        let devices = opts.devices.clone();
        training = training.with_training_strategy(
            ExecutionStrategy::MultiDevice(devices, MultiDeviceOptim::OptimMainDevice).into(),
        );
    }
    let learner = Learner::new(model, AdamConfig::new().init(), scheduler);
    // Checkpoints are verified before a resume starts (see `prepare_run_dir`); should one still
    // fail to load, burn-train panics: report that as an error naming the checkpoint instead.
    let launched =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| training.launch(learner)));
    let result = match launched {
        Ok(result) => result,
        Err(payload) => {
            let message = star_cf::error::panic_message(payload.as_ref());
            if opts.start_epoch == 0 || !message.contains("checkpoint") {
                std::panic::resume_unwind(payload);
            }
            return Err(TrainError::File {
                path: dir.join("checkpoint"),
                message: format!(
                    "{}: cannot resume from the checkpoint of epoch {} ({message}); delete its files (model-, optim-, scheduler-{}.bpk*) to resume from the epoch before, or train without --resume",
                    opts.label, opts.start_epoch, opts.start_epoch
                ),
            });
        }
    };
    match (result.error, result.interrupted) {
        (Some(e), _) => Err(TrainError::Training(e.to_string())),
        (None, Some(stop)) => Err(TrainError::Training(
            stop.reason.unwrap_or_else(|| "interrupted".into()),
        )),
        (None, None) => {
            // Resuming a run that stopped early must not train on past the stop.
            let last = checkpoint_epochs(dir).last().copied().unwrap_or(0);
            if last < opts.max_epochs {
                star_cf::fsutil::write_atomic(&marker, |w| write!(w, "{last}"))
                    .map_err(|e| file_err(&marker, &e))?;
            }
            Ok(())
        }
    }
}
