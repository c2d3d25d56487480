//! PNG plots of a run: metrics per method, accuracy against latency, training curves.
//!
//! Three figures, drawn with `plotters` from the same numbers the report tables show:
//!
//! - [`metrics_per_method`]: horizontal grouped bars, one group per method (HR@1, HR@5, HR@10,
//!   NDCG@10, MRR and avg-HR, ×100).
//! - [`accuracy_latency`]: avg-HR against the median latency of one ranking call on a log
//!   axis, with a whisker to the 95th percentile; baselines, teacher variants and students
//!   in their own colours.
//! - [`training_curves`]: one panel per trained model, read from burn-train's metric logs
//!   ([`TrainingLog::read`]): the training loss (or reward) per iteration, smoothed, on the
//!   left axis and the validation metric per epoch on the right axis, its best epoch marked.
//!
//! Text needs a TrueType/OpenType font, which is not shipped with the crate (no third-party
//! data in the repository). [`find_font`] takes `$STAR_FONT`, else asks `fontdb` for the
//! system's fonts and picks the first of [`PREFERRED_FAMILIES`] (DejaVu Sans, Liberation
//! Sans, Noto Sans, Arial, Helvetica), then the system's default sans-serif. Without one,
//! plotting fails with [`EvalError::Plot`] naming `STAR_FONT`.
//!
//! One file per concept: `font` (finding the font), `canvas` (drawing surface, colours, PNG
//! writer), one file per figure (`metric_bars`, `accuracy_latency`, `training_curves`),
//! `training_log` (burn-train's metric logs) and `check` ([`check_png`], used by
//! `star report check`).

mod accuracy_latency;
mod canvas;
mod check;
mod font;
mod metric_bars;
mod training_curves;
mod training_log;

pub use accuracy_latency::accuracy_latency;
pub use check::check_png;
pub use font::{find_font, FONT_ENV, PREFERRED_FAMILIES};
pub use metric_bars::metrics_per_method;
pub use training_curves::{training_curves, TrainingPanel};
pub use training_log::{MetricLog, TrainingLog};

use crate::error::{EvalError, Result};
use crate::report::EvalReport;
use std::path::{Path, PathBuf};

/// File names of the figures [`write_all`] writes into a run directory.
pub const METRICS_PNG: &str = "metrics.png";
/// See [`METRICS_PNG`].
pub const ACCURACY_LATENCY_PNG: &str = "accuracy_latency.png";
/// See [`METRICS_PNG`].
pub const TRAINING_PNG: &str = "training_curves.png";

/// The figures of a run directory: `metrics.png` and `accuracy_latency.png` from `report`,
/// and `training_curves.png` from the models' logs (`panels`; skipped when none has logs).
/// Returns the files written.
pub fn write_all(
    report: &EvalReport,
    panels: &[TrainingPanel],
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
    let mut written = Vec::new();
    let path = dir.join(METRICS_PNG);
    metrics_per_method(report, &path)?;
    written.push(path);
    let path = dir.join(ACCURACY_LATENCY_PNG);
    accuracy_latency(report, &path)?;
    written.push(path);
    if panels.iter().any(|p| !p.log.is_empty()) {
        let path = dir.join(TRAINING_PNG);
        training_curves(panels, &path)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::canvas::testing::{method, report};
    use super::*;
    use star_cf::metric_names::{LOSS, NDCG_10};

    #[test]
    fn write_all_writes_three_pngs_and_skips_curves_without_logs() {
        let dir = tempfile::tempdir().unwrap();
        let r = report(vec![
            ("Pop", method(0.4, 0.01)),
            ("teacher", method(0.5, 3.0)),
        ]);
        let logs = dir.path().join("model");
        std::fs::create_dir_all(logs.join("train/epoch-1")).unwrap();
        std::fs::write(logs.join(format!("train/epoch-1/{LOSS}.log")), "2,1\n1,1\n").unwrap();
        std::fs::create_dir_all(logs.join("valid/epoch-1")).unwrap();
        std::fs::write(logs.join(format!("valid/epoch-1/{NDCG_10}.log")), "40,5\n").unwrap();
        let panel = |log| TrainingPanel {
            title: "model".into(),
            log,
            train_metric: LOSS.into(),
            valid_metric: NDCG_10.into(),
        };
        let out = dir.path().join("run");
        let files = write_all(&r, &[panel(TrainingLog::read(&logs).unwrap())], &out).unwrap();
        assert_eq!(files.len(), 3);
        for f in &files {
            check_png(f).unwrap();
        }
        // One panel: 560 × 420.
        assert_eq!(check_png(&out.join(TRAINING_PNG)).unwrap(), (560, 420));
        let names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "no temporary files left: {names:?}");

        let files = write_all(&r, &[panel(TrainingLog::default())], &dir.path().join("b")).unwrap();
        assert_eq!(files.len(), 2);
        let empty = report(vec![]);
        assert!(write_all(&empty, &[], &dir.path().join("c")).is_err());
    }
}
