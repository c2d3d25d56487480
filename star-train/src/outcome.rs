//! What every training run hands back: [`TrainOutcome`], whose model is the kept checkpoint
//! that [`select_best`] picks by its validation score.

use crate::run::{checkpoint_epochs, file_err, verified_checkpoint, TrainError};
use std::path::{Path, PathBuf};

/// What a training run produced: the model of its best checkpoint and how it got there. The
/// same for every trainer; `M` is what it trains (CF embeddings, SASRec, the STAR student).
#[derive(Debug)]
pub struct TrainOutcome<M> {
    /// The model of the best checkpoint (inference mode, on the training device).
    pub model: M,
    /// The epoch (1-based) of the best checkpoint, or the last of the averaged ones
    /// ([`average_last`]); GRPO reports 0 when it kept its starting model.
    pub best_epoch: usize,
    /// The model is the mean of the weights of this many consecutive epochs ending at
    /// `best_epoch` ([`average_last`]); 1: one checkpoint's.
    pub averaged: usize,
    /// Its validation score (fraction) on the metric that selected it: NDCG@10 for the CF
    /// encoders and SASRec, avg-HR for SFT and GRPO.
    pub valid_score: f64,
    /// Epochs run in total (including those of an interrupted run that was resumed).
    pub epochs_run: usize,
    /// Wall time of this call's training.
    pub train_seconds: f64,
    /// The epoch this call resumed after, if it resumed.
    pub resumed_after: Option<usize>,
    /// The run directory.
    pub dir: PathBuf,
}

impl<M> TrainOutcome<M> {
    /// Which model was kept, for logs: `best epoch 3`, or `the mean of epochs 2..=4`.
    pub fn kept(&self) -> String {
        if self.averaged > 1 {
            format!(
                "the mean of epochs {}..={}",
                self.best_epoch + 1 - self.averaged,
                self.best_epoch
            )
        } else {
            format!("best epoch {}", self.best_epoch)
        }
    }

    /// The same outcome with its model turned into another type by `f` (e.g. a network into
    /// the student that wraps it).
    pub fn map_model<N>(self, f: impl FnOnce(M) -> N) -> TrainOutcome<N> {
        TrainOutcome {
            model: f(self.model),
            best_epoch: self.best_epoch,
            averaged: self.averaged,
            valid_score: self.valid_score,
            epochs_run: self.epochs_run,
            train_seconds: self.train_seconds,
            resumed_after: self.resumed_after,
            dir: self.dir,
        }
    }
}

/// The outcome of the run in `dir`: every kept checkpoint (verified against its checksums) is
/// loaded with `load` and scored with `score`, and the best wins; on a tie the earlier epoch
/// does. `start_epoch` is the epoch the run resumed after (0: a fresh run) and `train_seconds`
/// its training time.
///
/// Errors: a checkpoint that fails its checksums or does not load (naming its file), or no
/// checkpoint at all.
pub fn select_best<M, E: std::fmt::Display>(
    dir: &Path,
    start_epoch: usize,
    train_seconds: f64,
    mut load: impl FnMut(&Path) -> Result<M, E>,
    mut score: impl FnMut(&M) -> f64,
) -> Result<TrainOutcome<M>, TrainError> {
    let epochs = checkpoint_epochs(dir);
    let mut best: Option<(usize, f64, M)> = None;
    for &epoch in &epochs {
        let model = load_checkpoint(dir, epoch, &mut load)?;
        let s = score(&model);
        if best.as_ref().is_none_or(|(_, b, _)| s > *b) {
            best = Some((epoch, s, model));
        }
    }
    let (best_epoch, valid_score, model) = best.ok_or_else(|| no_checkpoint(dir))?;
    Ok(TrainOutcome {
        model,
        best_epoch,
        averaged: 1,
        valid_score,
        epochs_run: epochs.last().copied().unwrap_or(0),
        train_seconds,
        resumed_after: (start_epoch > 0).then_some(start_epoch),
        dir: dir.to_path_buf(),
    })
}

/// The outcome of the run in `dir` whose model is the mean of the weights
/// ([`crate::average::average`]) of its last `n` epochs' checkpoints (all of them when it ran
/// fewer), each verified against its checksums and loaded with `load`; `score` gives its
/// validation score. Checkpoint averaging smooths the epoch-to-epoch noise that picking one
/// checkpoint by a noisy validation score is exposed to.
///
/// Errors: a missing, damaged or unloadable checkpoint among the last `n` (naming its file),
/// no checkpoint at all, or copies that cannot be averaged.
pub fn average_last<M: burn::module::Module, E: std::fmt::Display>(
    dir: &Path,
    n: usize,
    start_epoch: usize,
    train_seconds: f64,
    mut load: impl FnMut(&Path) -> Result<M, E>,
    score: impl FnOnce(&M) -> f64,
) -> Result<TrainOutcome<M>, TrainError> {
    let last = checkpoint_epochs(dir)
        .last()
        .copied()
        .ok_or_else(|| no_checkpoint(dir))?;
    let first = last.saturating_sub(n.max(1) - 1).max(1);
    let models = (first..=last)
        .map(|epoch| load_checkpoint(dir, epoch, &mut load))
        .collect::<Result<Vec<_>, _>>()?;
    let model = crate::average::average(models)
        .map_err(|e| TrainError::Training(format!("{}: {e}", dir.display())))?;
    Ok(TrainOutcome {
        valid_score: score(&model),
        model,
        best_epoch: last,
        averaged: last - first + 1,
        epochs_run: last,
        train_seconds,
        resumed_after: (start_epoch > 0).then_some(start_epoch),
        dir: dir.to_path_buf(),
    })
}

/// The model of epoch `epoch`'s checkpoint, verified against its checksums, then loaded with
/// `load` (an error names the file).
fn load_checkpoint<M, E: std::fmt::Display>(
    dir: &Path,
    epoch: usize,
    load: &mut impl FnMut(&Path) -> Result<M, E>,
) -> Result<M, TrainError> {
    let path = verified_checkpoint(dir, epoch)?;
    load(&path).map_err(|e| file_err(&path, &e))
}

fn no_checkpoint(dir: &Path) -> TrainError {
    TrainError::Training(format!("no checkpoint written in {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{sum_path, write_checkpoint_file};
    use crate::run::checkpoint_path;

    /// A run directory whose "model" checkpoints hold their validation scores as text.
    fn run_dir(scores: &[(usize, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("checkpoint")).unwrap();
        for &(epoch, score) in scores {
            write_checkpoint_file(&checkpoint_path(dir.path(), epoch), score.as_bytes()).unwrap();
        }
        dir
    }

    fn select(dir: &Path, start_epoch: usize) -> Result<TrainOutcome<f64>, TrainError> {
        select_best(
            dir,
            start_epoch,
            1.5,
            |p| {
                std::str::from_utf8(&std::fs::read(p).unwrap())
                    .unwrap()
                    .parse::<f64>()
                    .map_err(|e| e.to_string())
            },
            |s| *s,
        )
    }

    #[test]
    fn the_best_score_wins_and_a_tie_goes_to_the_earlier_epoch() {
        let dir = run_dir(&[(2, "0.25"), (3, "0.5"), (5, "0.5"), (6, "0.125")]);
        let o = select(dir.path(), 0).unwrap();
        assert_eq!((o.best_epoch, o.model, o.valid_score), (3, 0.5, 0.5));
        assert_eq!(o.epochs_run, 6, "the last checkpoint, not the best");
        assert_eq!((o.resumed_after, o.train_seconds), (None, 1.5));
        assert_eq!(o.dir, dir.path());
        let o = select(dir.path(), 4).unwrap();
        assert_eq!(o.resumed_after, Some(4));
        let o = o.map_model(|m| format!("{m}"));
        assert_eq!((o.model.as_str(), o.best_epoch), ("0.5", 3));
    }

    #[test]
    fn a_damaged_or_unloadable_checkpoint_or_none_at_all_is_an_error_naming_it() {
        let dir = run_dir(&[(1, "0.5"), (2, "0.75")]);
        std::fs::remove_file(sum_path(&checkpoint_path(dir.path(), 2))).unwrap();
        let e = select(dir.path(), 0).unwrap_err().to_string();
        assert!(
            e.contains("model-2.bpk") && e.contains("no checksum"),
            "{e}"
        );

        let dir = run_dir(&[(1, "0.5"), (2, "not a score")]);
        let e = select(dir.path(), 0).unwrap_err().to_string();
        assert!(
            e.contains("model-2.bpk") && e.contains("invalid float"),
            "{e}"
        );

        let dir = run_dir(&[]);
        let e = select(dir.path(), 0).unwrap_err().to_string();
        assert!(e.contains("no checkpoint written in"), "{e}");
    }

    /// A one-parameter module, so that a checkpoint's text is its weight.
    #[derive(burn::module::Module, Debug)]
    struct Weight {
        w: burn::module::Param<burn::tensor::Tensor<1>>,
    }

    fn mean_of_last(dir: &Path, n: usize) -> Result<TrainOutcome<Weight>, TrainError> {
        let dev = burn::tensor::Device::flex();
        average_last(
            dir,
            n,
            0,
            2.0,
            |p| {
                let x: f32 = std::str::from_utf8(&std::fs::read(p).unwrap())
                    .unwrap()
                    .parse()?;
                Ok::<_, std::num::ParseFloatError>(Weight {
                    w: burn::module::Param::from_tensor(burn::tensor::Tensor::from_floats(
                        [x],
                        &dev,
                    )),
                })
            },
            |m| m.w.val().into_scalar::<f32>() as f64,
        )
    }

    #[test]
    fn the_mean_of_the_last_epochs_and_its_missing_checkpoints_named() {
        let dir = run_dir(&[(1, "1"), (2, "2"), (3, "4"), (4, "8")]);
        let o = mean_of_last(dir.path(), 3).unwrap();
        assert!(
            (o.valid_score - 14.0 / 3.0).abs() < 1e-6,
            "{}",
            o.valid_score
        );
        assert_eq!((o.best_epoch, o.averaged, o.epochs_run), (4, 3, 4));
        assert_eq!(o.kept(), "the mean of epochs 2..=4");
        // fewer epochs than asked for: all of them
        let o = mean_of_last(dir.path(), 10).unwrap();
        assert!((o.valid_score - 15.0 / 4.0).abs() < 1e-6);
        assert_eq!(o.averaged, 4);
        // one: the last checkpoint alone
        let o = mean_of_last(dir.path(), 1).unwrap();
        assert_eq!(
            (o.valid_score, o.averaged, o.kept()),
            (8.0, 1, "best epoch 4".into())
        );
        // a checkpoint of the range that is gone is named
        std::fs::remove_file(checkpoint_path(dir.path(), 3)).unwrap();
        let e = mean_of_last(dir.path(), 3).unwrap_err().to_string();
        assert!(e.contains("model-3.bpk"), "{e}");
        let e = mean_of_last(run_dir(&[]).path(), 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no checkpoint written in"), "{e}");
    }
}
