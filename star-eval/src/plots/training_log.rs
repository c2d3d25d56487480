//! Reading burn-train's metric logs back: the numbers of the training-curve figure.

use super::canvas::plot_err;
use crate::error::{EvalError, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// One metric of one burn-train split (`train` or `valid`) across epochs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricLog {
    /// Per epoch (1-based, ascending): every logged value in order (one per iteration for
    /// training metrics, one per validation batch for validation metrics).
    pub iterations: BTreeMap<usize, Vec<f64>>,
    /// Per epoch: the epoch's value (burn-train's `final` line, else the count-weighted mean
    /// of the logged values).
    pub epochs: BTreeMap<usize, f64>,
}

/// The metric logs burn-train's file logger wrote under an artifact directory:
/// `<dir>/{train,valid}/epoch-<N>/<Metric>.log`, one `value,count` line per update and a
/// closing `value,final` line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingLog {
    /// Training metrics by name.
    pub train: BTreeMap<String, MetricLog>,
    /// Validation metrics by name.
    pub valid: BTreeMap<String, MetricLog>,
}

impl TrainingLog {
    /// Reads every metric log under `dir`. A missing `train` or `valid` directory reads as
    /// empty; a line that is not `value,count` or `value,final` is an error naming its file
    /// and line.
    pub fn read(dir: &Path) -> Result<TrainingLog> {
        Ok(TrainingLog {
            train: read_split(&dir.join("train"))?,
            valid: read_split(&dir.join("valid"))?,
        })
    }

    /// Whether no metric was logged at all.
    pub fn is_empty(&self) -> bool {
        self.train.is_empty() && self.valid.is_empty()
    }
}

fn read_split(dir: &Path) -> Result<BTreeMap<String, MetricLog>> {
    let mut out: BTreeMap<String, MetricLog> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in entries {
        let entry = entry.map_err(|e| EvalError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(epoch) = name
            .strip_prefix("epoch-")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        let epoch_dir = entry.path();
        for file in std::fs::read_dir(&epoch_dir).map_err(|e| EvalError::io(&epoch_dir, e))? {
            let file = file.map_err(|e| EvalError::io(&epoch_dir, e))?.path();
            let Some(metric) = file
                .file_name()
                .and_then(|f| f.to_str())
                .and_then(|f| f.strip_suffix(".log"))
            else {
                continue;
            };
            let text = std::fs::read_to_string(&file).map_err(|e| EvalError::io(&file, e))?;
            let log = out.entry(metric.to_string()).or_default();
            let (values, value) = parse_metric_log(&text, &file)?;
            if let Some(v) = value {
                log.epochs.insert(epoch, v);
            }
            log.iterations.insert(epoch, values);
        }
    }
    Ok(out)
}

/// One epoch's metric file: the logged values and the epoch value.
fn parse_metric_log(text: &str, file: &Path) -> Result<(Vec<f64>, Option<f64>)> {
    let mut values = Vec::new();
    let (mut sum, mut weight, mut last) = (0.0, 0.0, None);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || plot_err(file, format!("line {}: not `value,count`: {line:?}", i + 1));
        let (v, count) = line.rsplit_once(',').ok_or_else(bad)?;
        let v: f64 = v.trim().parse().map_err(|_| bad())?;
        if count.trim() == "final" {
            last = Some(v);
            continue;
        }
        let c: f64 = count.trim().parse().map_err(|_| bad())?;
        values.push(v);
        sum += v * c;
        weight += c;
    }
    let value = last.or((weight > 0.0).then(|| sum / weight));
    Ok((values, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use star_cf::metric_names::{AVG_HR, LOSS};

    #[test]
    fn metric_logs_read_final_lines_weighted_means_and_name_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write(
            &format!("train/epoch-1/{LOSS}.log"),
            "3,1\n1,1\n2.5,final\n",
        );
        write(&format!("train/epoch-2/{LOSS}.log"), "1,1\n4,3\n");
        write(&format!("valid/epoch-2/{AVG_HR}.log"), "70,10\n80,30\n");
        write(&format!("valid/epoch-1/{AVG_HR}.log"), "60,40\n60,final\n");
        write("train/epoch-1/notes.txt", "ignored");
        let log = TrainingLog::read(dir.path()).unwrap();
        let loss = &log.train[LOSS];
        assert_eq!(loss.iterations[&1], vec![3.0, 1.0]);
        assert_eq!(loss.epochs[&1], 2.5);
        assert_eq!(loss.epochs[&2], 3.25);
        let hr = &log.valid[AVG_HR];
        assert_eq!(
            hr.epochs.iter().map(|(e, v)| (*e, *v)).collect::<Vec<_>>(),
            vec![(1, 60.0), (2, 77.5)]
        );
        assert!(TrainingLog::read(&dir.path().join("missing"))
            .unwrap()
            .is_empty());

        write("valid/epoch-3/avg-HR.log", "70,10\nseventy,3\n");
        let err = TrainingLog::read(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("epoch-3") && err.contains("avg-HR.log") && err.contains("line 2"),
            "{err}"
        );
    }
}
