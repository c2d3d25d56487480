//! The spread over training seeds: the same data and test candidates, every model trained
//! again with another seed, and each method's metrics summarised as mean ± standard deviation.
//!
//! A single run's paired interval says whether one method beats another on these users with
//! these trained weights; the spread over seeds says how much the trained weights themselves
//! move. Both are needed before a claim that one method beats another.

use crate::error::{EvalError, Result};
use crate::paired::COMPARED;
use crate::report::EvalReport;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Mean and sample standard deviation (`n − 1` in the denominator; 0 for one value) of values.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// The mean.
    pub mean: f64,
    /// The sample standard deviation.
    pub sd: f64,
}

impl Spread {
    /// The spread of `xs` (`NaN`s for none).
    pub fn of(xs: &[f64]) -> Spread {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = if xs.len() > 1 {
            xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Spread {
            mean,
            sd: var.sqrt(),
        }
    }
}

/// One method over the seeds: each of [`COMPARED`]'s metrics, and the method minus the
/// reference seed by seed (absent for the reference itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodSpread {
    /// The method.
    pub method: String,
    /// Metric key → spread of the metric.
    pub metrics: Vec<(String, Spread)>,
    /// Metric key → spread of (method − reference), paired by seed.
    pub minus_reference: Vec<(String, Spread)>,
}

/// Every method of a set of runs that differ only in their training seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedSpread {
    /// The training seeds, in run order.
    pub seeds: Vec<u64>,
    /// The method the differences are taken against (the strongest baseline of the first run).
    pub reference: String,
    /// The methods of the first run, in its order.
    pub methods: Vec<MethodSpread>,
}

impl SeedSpread {
    /// The spread of `runs` (training seed, report) against `reference`. Every report must hold
    /// the first one's methods and have been evaluated on the same candidate cases.
    ///
    /// Errors: no runs, a report with other cases (dataset, split, candidates, seed or users),
    /// or a method or the reference missing from a report; each names the seed.
    pub fn of(runs: &[(u64, EvalReport)], reference: &str) -> Result<SeedSpread> {
        let Some((_, first)) = runs.first() else {
            return Err(EvalError::Mismatch("no runs to summarise".into()));
        };
        for (seed, r) in runs {
            let same = (&r.dataset, r.split, r.candidates, r.seed, r.users)
                == (
                    &first.dataset,
                    first.split,
                    first.candidates,
                    first.seed,
                    first.users,
                );
            if !same {
                return Err(EvalError::Mismatch(format!(
                    "training seed {seed}: evaluated on other cases ({} {:?}, 1+{}, seed {}, {} users) than the first run",
                    r.dataset,
                    r.split,
                    r.candidates.saturating_sub(1),
                    r.seed,
                    r.users
                )));
            }
        }
        let value = |seed: u64, r: &EvalReport, method: &str, key: &str| -> Result<f64> {
            r.method(method)
                .and_then(|m| m.metrics.get(key))
                .ok_or_else(|| {
                    EvalError::Mismatch(format!(
                        "training seed {seed}: no method `{method}` in its report"
                    ))
                })
        };
        let mut methods = Vec::with_capacity(first.methods.len());
        for (name, _) in &first.methods {
            let mut metrics = Vec::new();
            let mut minus_reference = Vec::new();
            for key in COMPARED {
                let mut xs = Vec::with_capacity(runs.len());
                let mut ds = Vec::with_capacity(runs.len());
                for (seed, r) in runs {
                    let x = value(*seed, r, name, key)?;
                    xs.push(x);
                    ds.push(x - value(*seed, r, reference, key)?);
                }
                metrics.push((key.to_string(), Spread::of(&xs)));
                if name != reference {
                    minus_reference.push((key.to_string(), Spread::of(&ds)));
                }
            }
            methods.push(MethodSpread {
                method: name.clone(),
                metrics,
                minus_reference,
            });
        }
        Ok(SeedSpread {
            seeds: runs.iter().map(|(s, _)| *s).collect(),
            reference: reference.to_string(),
            methods,
        })
    }

    /// A Markdown section: per method, mean ± sd of each metric and of its difference to the
    /// reference (points ×100).
    pub fn to_markdown(&self) -> String {
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        let mut out = format!(
            "### Over {} training seeds ({})\n\nMean ± sample standard deviation over the seeds, points ×100; \"− {}\" is each method minus {} within each seed's run.\n\n| Method |",
            self.seeds.len(),
            seeds.join(", "),
            self.reference,
            self.reference
        );
        for key in COMPARED {
            let _ = write!(out, " {key} |");
        }
        for key in COMPARED {
            let _ = write!(out, " {key} − {} |", self.reference);
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(2 * COMPARED.len()));
        out.push('\n');
        for m in &self.methods {
            let _ = write!(out, "| {} |", m.method);
            for (_, s) in &m.metrics {
                let _ = write!(out, " {:.2} ± {:.2} |", 100.0 * s.mean, 100.0 * s.sd);
            }
            if m.minus_reference.is_empty() {
                out.push_str(&" – |".repeat(COMPARED.len()));
            }
            for (_, s) in &m.minus_reference {
                let _ = write!(out, " {:+.2} ± {:.2} |", 100.0 * s.mean, 100.0 * s.sd);
            }
            out.push('\n');
        }
        out
    }
}
