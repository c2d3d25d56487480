//! A run's figures: metrics per method and accuracy against latency from the report, training
//! curves from the models' burn-train metric logs.

use super::layout::RunDir;
use anyhow::Result;
use star_cf::metric_names::{AVG_HR, LOSS, NDCG_10, REWARD};
use star_eval::plots::{TrainingLog, TrainingPanel};
use star_eval::EvalReport;
use star_train::cf::CfModelKind;
use std::path::PathBuf;

/// The training-curve panels of a run directory, from burn-train's metric logs: BPR-MF,
/// LightGCN and SASRec (train loss, valid NDCG@10), the student's SFT (train loss, valid
/// avg-HR) and GRPO (train reward, valid avg-HR). Models that were not trained have no logs
/// and are left out.
pub fn training_panels(run: &RunDir) -> Result<Vec<TrainingPanel>> {
    let models = [
        ("BPR-MF", run.cf(CfModelKind::Mf), LOSS, NDCG_10),
        ("LightGCN", run.cf(CfModelKind::LightGcn), LOSS, NDCG_10),
        ("SASRec", run.sasrec(), LOSS, NDCG_10),
        ("student SFT", run.student().join("sft"), LOSS, AVG_HR),
        ("student GRPO", run.grpo(), REWARD, AVG_HR),
    ];
    let mut panels = Vec::new();
    for (title, dir, train, valid) in models {
        let log = TrainingLog::read(&dir)?;
        if !log.is_empty() {
            panels.push(TrainingPanel {
                title: title.into(),
                log,
                train_metric: train.into(),
                valid_metric: valid.into(),
            });
        }
    }
    Ok(panels)
}

/// Draws a run's figures into the run directory (see [`star_eval::plots::write_all`]).
pub fn write_plots(report: &EvalReport, run: &RunDir) -> Result<Vec<PathBuf>> {
    let panels = training_panels(run)?;
    Ok(star_eval::plots::write_all(report, &panels, run.path())?)
}
