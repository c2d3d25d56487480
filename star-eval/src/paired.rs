//! Paired comparisons: how much better or worse a method is than a reference method on the
//! **same cases**, with a bootstrap 95 % interval.
//!
//! For each case `i` the per-case metric of the method minus that of the reference is
//! `d_i`; the difference is `mean(d)`. The interval resamples cases with replacement
//! ([`RESAMPLES`] times, from a ChaCha8 generator seeded with [`SEED`]) and takes the 2.5th and
//! 97.5th percentiles of the resampled means. Every comparison of a report uses the same
//! resampled case sets, so the numbers are reproducible and comparable with each other.
//!
//! The interval covers the choice of cases (users) only. Training the same method with
//! another seed, or on another CPU type, moves its numbers too; repeated seeds measure that.

use crate::error::{EvalError, Result};
use crate::metrics::Metrics;
use crate::runner::CaseResult;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bootstrap resamples of every interval.
pub const RESAMPLES: usize = 2000;
/// Seed of the resampled case sets.
pub const SEED: u64 = 42;
/// The metrics every comparison reports (keys of [`Metrics::KEYS`]).
pub const COMPARED: [&str; 3] = ["avg_HR", "HR@1", "NDCG@10"];

/// A mean paired difference (a fraction, like the metrics) and its bootstrap 95 % interval.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// Mean of the per-case differences.
    pub mean: f64,
    /// 2.5th percentile of the resampled means.
    pub low: f64,
    /// 97.5th percentile of the resampled means.
    pub high: f64,
}

impl Difference {
    /// Whether the interval lies wholly above 0 (`Some(true)`), wholly below
    /// (`Some(false)`), or contains 0 (`None`: no measurable difference).
    pub fn sign(&self) -> Option<bool> {
        if self.low > 0.0 {
            Some(true)
        } else if self.high < 0.0 {
            Some(false)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Difference {
    /// In points ×100: `+2.44 [+0.74, +4.07]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:+.2} [{:+.2}, {:+.2}]",
            100.0 * self.mean,
            100.0 * self.low,
            100.0 * self.high
        )
    }
}

/// Every method of a report against one reference method.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The reference method's name.
    pub against: String,
    /// Why it is the reference, e.g. `strongest baseline` or `teacher`.
    pub role: String,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Seed of the resampled case sets.
    pub seed: u64,
    /// Method → metric key ([`COMPARED`]) → method minus reference.
    pub methods: BTreeMap<String, BTreeMap<String, Difference>>,
}

/// `resamples` case sets of `n` cases each, drawn with replacement from a seeded generator.
#[derive(Clone, Debug)]
pub struct Resamples {
    n: usize,
    draws: Vec<u32>,
}

impl Resamples {
    /// Draws `resamples` sets of `n` case indices from `seed`.
    pub fn new(n: usize, resamples: usize, seed: u64) -> Resamples {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let draws = if n == 0 {
            Vec::new()
        } else {
            (0..resamples * n)
                .map(|_| rng.random_range(0..n as u32))
                .collect()
        };
        Resamples { n, draws }
    }

    /// The mean of `diffs` (one per case) and the 2.5th/97.5th percentiles of its resampled
    /// means.
    ///
    /// # Panics
    /// If `diffs` does not hold one value per case.
    pub fn interval(&self, diffs: &[f64]) -> Difference {
        assert_eq!(diffs.len(), self.n, "one difference per case");
        if self.n == 0 {
            return Difference {
                mean: 0.0,
                low: 0.0,
                high: 0.0,
            };
        }
        let mean = diffs.iter().sum::<f64>() / self.n as f64;
        let mut means: Vec<f64> = self
            .draws
            .chunks_exact(self.n)
            .map(|set| set.iter().map(|&i| diffs[i as usize]).sum::<f64>() / self.n as f64)
            .collect();
        means.sort_by(f64::total_cmp);
        // the nearest rank to the percentile (numpy's default at these sizes, to the index)
        let last = means.len() - 1;
        let at = |q: f64| means[((q * last as f64).round() as usize).min(last)];
        Difference {
            mean,
            low: at(0.025),
            high: at(0.975),
        }
    }
}

/// The per-case difference `method − reference` of each metric in [`COMPARED`], and its
/// interval. Errors when the two case lists are not the same users in the same order.
pub fn compare_cases(
    method: (&str, &[CaseResult]),
    reference: (&str, &[CaseResult]),
    resamples: &Resamples,
) -> Result<BTreeMap<String, Difference>> {
    let ((name, cases), (ref_name, ref_cases)) = (method, reference);
    if cases.len() != ref_cases.len() {
        return Err(EvalError::Mismatch(format!(
            "{name} has {} cases and {ref_name} {}: a paired comparison needs the same cases",
            cases.len(),
            ref_cases.len()
        )));
    }
    if let Some((a, b)) = cases
        .iter()
        .zip(ref_cases)
        .find(|(a, b)| a.user_raw != b.user_raw)
    {
        return Err(EvalError::Mismatch(format!(
            "{name} and {ref_name} are not on the same cases: user {} against user {}",
            a.user_raw, b.user_raw
        )));
    }
    let values = |cs: &[CaseResult], key: &str| -> Vec<f64> {
        cs.iter()
            .map(|c| {
                Metrics::of_case(c.outcome())
                    .get(key)
                    .expect("a metric key")
            })
            .collect()
    };
    Ok(COMPARED
        .iter()
        .map(|&key| {
            let diffs: Vec<f64> = values(cases, key)
                .into_iter()
                .zip(values(ref_cases, key))
                .map(|(a, b)| a - b)
                .collect();
            (key.to_string(), resamples.interval(&diffs))
        })
        .collect())
}
