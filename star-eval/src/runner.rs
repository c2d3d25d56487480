//! The protocol runner: scores any [`Ranker`] on the cases of one candidate file.
//!
//! For every case the runner builds the request with [`CandidateSet::request`] (the history the
//! split allows), times the [`Ranker::rank`] call, checks the output and records the 0-based
//! position of the true item:
//!
//! - **Valid** output: a permutation of the request's candidates (every candidate exactly once,
//!   nothing else).
//! - **Anything else is repaired deterministically** and the case is counted as invalid
//!   (see [`repair`]): the first occurrence of each item that is a candidate is kept in the
//!   ranker's order (unknown items and duplicates are dropped), then the missing candidates are
//!   appended in the order of the *repair ranker* (the CF-score order of the design; typically
//!   a popularity or item-CF baseline). If the repair ranker fails too, the rest follow the
//!   candidate-file order. An `Err` from the ranker is repaired from nothing.
//!
//! Cases can run on several threads ([`ProtocolRunner::threads`]: a rayon pool of exactly that
//! many threads, one case per task); results are ordered by case index, so everything except
//! the timings is identical whatever the thread count.
//!
//! ## Latency
//!
//! `latency_ms` of a case is the wall time of its `rank` call alone (repair excluded). The
//! method's [`Latency`] holds nearest-rank percentiles over cases: the `p`-th percentile of `n`
//! sorted values is the value at 1-based position `ceil(p / 100 · n)`. With several threads the
//! calls run concurrently, so per-call latencies include contention (and a ranker that runs
//! rayon work of its own, as burn's CPU backends do, runs it in the runner's pool, where a
//! thread waiting for that work may pick up another case meanwhile); measure latency with
//! one thread. `wall_s` is the wall time of the whole run (all cases, repair included).

use crate::error::{EvalError, Result};
use crate::metrics::{CaseOutcome, Metrics};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use star_cf::candidates::CandidateSet;
use star_cf::data::Dataset;
use star_cf::rank_metrics::rank_in;
use star_cf::scenario::{Scenario, ScenarioTagger};
use star_cf::split::Split;
use star_cf::{ItemId, Ranker, UserId};
use std::collections::{BTreeMap, HashSet};
use std::io::IsTerminal;
use std::time::Instant;

/// The result of one case for one method.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// The user (dense id).
    pub user: UserId,
    /// The user's original id in the dataset.
    pub user_raw: String,
    /// 0-based position of the true item in the (repaired) ranking.
    pub rank: usize,
    /// Whether the raw output was a valid permutation of the candidates.
    pub valid: bool,
    /// Wall time of the `rank` call in milliseconds.
    pub latency_ms: f64,
    /// The scenario slices the case belongs to (empty when the runner has no tagger).
    pub scenarios: Vec<Scenario>,
    /// The ranker's error message, when `rank` returned `Err`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CaseResult {
    /// What the metrics need from this case.
    pub fn outcome(&self) -> CaseOutcome {
        CaseOutcome {
            rank: self.rank,
            valid: self.valid,
        }
    }
}

/// Nearest-rank latency percentiles over cases, in milliseconds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
}

impl Latency {
    /// Percentiles of `samples` (any order); all zeros when there are none.
    pub fn from_samples(samples: &[f64]) -> Latency {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Latency {
            p50: percentile(&sorted, 50.0),
            p95: percentile(&sorted, 95.0),
        }
    }
}

/// The nearest-rank `p`-th percentile (`0 < p <= 100`) of ascending `sorted` values: the value
/// at 1-based position `ceil(p / 100 · n)`, clamped to `1..=n`. Returns 0 for no values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let n = sorted.len();
    let pos = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[pos.clamp(1, n) - 1]
}

/// Metrics of one scenario slice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// Number of cases (one per user) in the slice.
    pub users: usize,
    /// Mean metrics over the slice (all zeros when it is empty).
    #[serde(default)]
    pub metrics: Metrics,
    /// Percentiles of the slice's per-case `rank` latency (zeros when it is empty, and in
    /// reports written before slices carried latency).
    #[serde(default)]
    pub latency_ms: Latency,
}

/// Everything one method scored on one candidate file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodResult {
    /// The method name ([`Ranker::name`]).
    pub name: String,
    /// Mean metrics over all cases.
    pub metrics: Metrics,
    /// Percentiles of the per-case `rank` latency.
    pub latency_ms: Latency,
    /// Wall time of the whole run in seconds.
    pub wall_s: f64,
    /// Per scenario except `classic` (which is `metrics`): the slice's size and metrics. Empty
    /// when the runner has no tagger; an empty slice has `users == 0` and all-zero metrics.
    pub scenarios: BTreeMap<String, ScenarioResult>,
    /// Per-case results, in case order.
    pub cases: Vec<CaseResult>,
}

impl MethodResult {
    /// Summarises per-case results. `slices` are the scenarios to report (each gets an entry,
    /// even when no case is in it); `classic` is skipped, since it is `metrics` itself.
    pub fn from_cases(
        name: String,
        cases: Vec<CaseResult>,
        wall_s: f64,
        slices: &[Scenario],
    ) -> MethodResult {
        let metrics = Metrics::from_outcome_iter(cases.iter().map(CaseResult::outcome));
        let latencies: Vec<f64> = cases.iter().map(|c| c.latency_ms).collect();
        let scenarios = slices
            .iter()
            .filter(|&&s| s != Scenario::Classic)
            .map(|&s| {
                let in_slice: Vec<&CaseResult> =
                    cases.iter().filter(|c| c.scenarios.contains(&s)).collect();
                let metrics = Metrics::from_outcome_iter(in_slice.iter().map(|c| c.outcome()));
                let latencies: Vec<f64> = in_slice.iter().map(|c| c.latency_ms).collect();
                let slice = ScenarioResult {
                    users: in_slice.len(),
                    metrics,
                    latency_ms: Latency::from_samples(&latencies),
                };
                (s.as_str().to_string(), slice)
            })
            .collect();
        MethodResult {
            name,
            metrics,
            latency_ms: Latency::from_samples(&latencies),
            wall_s,
            scenarios,
            cases,
        }
    }

    /// Number of cases whose raw output was not a valid permutation.
    pub fn invalid_cases(&self) -> usize {
        self.cases.iter().filter(|c| !c.valid).count()
    }
}

/// Whether `items` is a permutation of `candidates` (every candidate exactly once, nothing else).
pub fn is_permutation(candidates: &[ItemId], items: &[ItemId]) -> bool {
    if items.len() != candidates.len() {
        return false;
    }
    let mut a = candidates.to_vec();
    let mut b = items.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// Repairs a ranking into a permutation of `candidates`: the first occurrence of each item of
/// `raw` that is a candidate, in `raw`'s order; then the missing candidates in the order of
/// `repair_order` (when given; items in it that are not candidates are ignored); then any still
/// missing in `candidates` order.
pub fn repair(
    candidates: &[ItemId],
    raw: &[ItemId],
    repair_order: Option<&[ItemId]>,
) -> Vec<ItemId> {
    let allowed: HashSet<ItemId> = candidates.iter().copied().collect();
    let mut seen = HashSet::with_capacity(candidates.len());
    let mut out = Vec::with_capacity(candidates.len());
    let sources = [raw, repair_order.unwrap_or(&[]), candidates];
    for item in sources.into_iter().flatten() {
        if out.len() == candidates.len() {
            break;
        }
        if allowed.contains(item) && seen.insert(*item) {
            out.push(*item);
        }
    }
    out
}

/// Runs the 1+N protocol for any number of methods on one candidate file.
pub struct ProtocolRunner<'a> {
    dataset: &'a Dataset,
    split: &'a Split,
    candidates: &'a CandidateSet,
    repair: &'a dyn Ranker,
    tagger: Option<&'a ScenarioTagger>,
    tags: Vec<Vec<Scenario>>,
    threads: usize,
    progress: bool,
}

impl<'a> ProtocolRunner<'a> {
    /// A runner over the cases of `candidates`. `repair` orders the candidates a method left
    /// out (see [`repair`]); `tagger`, when given, assigns cases to scenario slices using the
    /// user's train length from `split`.
    ///
    /// Fails when the three inputs do not belong together: the candidate file was drawn from a
    /// different dataset (fingerprint), the split has a different number of users, or a case's
    /// true item is not the split's held-out item for the file's split kind.
    pub fn new(
        dataset: &'a Dataset,
        split: &'a Split,
        candidates: &'a CandidateSet,
        repair: &'a dyn Ranker,
        tagger: Option<&'a ScenarioTagger>,
    ) -> Result<Self> {
        let fp = dataset.fingerprint();
        if candidates.header.fingerprint != fp {
            return Err(EvalError::Mismatch(format!(
                "candidate set was drawn from dataset `{}` ({}), not the loaded `{}` ({fp})",
                candidates.header.dataset, candidates.header.fingerprint, dataset.name
            )));
        }
        if split.num_users() != dataset.num_users() {
            return Err(EvalError::Mismatch(format!(
                "split has {} users, dataset `{}` has {}",
                split.num_users(),
                dataset.name,
                dataset.num_users()
            )));
        }
        let kind = candidates.header.split;
        let mut tags = Vec::with_capacity(candidates.cases.len());
        let raw = |u: UserId| {
            dataset
                .users
                .get(u.idx())
                .map_or_else(|| u.to_string(), |x| x.raw_id.clone())
        };
        for (i, case) in candidates.cases.iter().enumerate() {
            if case.user.idx() >= split.num_users()
                || split.target(case.user, kind)
                    != case.candidates.get(case.positive_index).copied()
            {
                return Err(EvalError::Mismatch(format!(
                    "case {i} (user `{}`): its true item is not the user's held-out {kind} item",
                    raw(case.user)
                )));
            }
            tags.push(match tagger {
                Some(t) => {
                    let request = candidates.request(i, split);
                    let train_len = split.users[case.user.idx()].train.len();
                    t.tag(&request, case.target(), train_len)
                }
                None => Vec::new(),
            });
        }
        Ok(ProtocolRunner {
            dataset,
            split,
            candidates,
            repair,
            tagger,
            tags,
            threads: 1,
            progress: true,
        })
    }

    /// Runs cases on `n` threads (default 1; 0 is taken as 1). Results do not depend on `n`.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Whether to show a progress bar (default true; it is only drawn when stderr is a terminal).
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }

    /// Number of cases.
    pub fn num_cases(&self) -> usize {
        self.candidates.cases.len()
    }

    /// The candidate set being evaluated.
    pub fn candidates(&self) -> &CandidateSet {
        self.candidates
    }

    /// The scenarios reported per method: every scenario but `classic` with a tagger, none without.
    pub fn slices(&self) -> Vec<Scenario> {
        match self.tagger {
            Some(_) => Scenario::ALL
                .into_iter()
                .filter(|&s| s != Scenario::Classic)
                .collect(),
            None => Vec::new(),
        }
    }

    /// Evaluates case `i` (an index into the candidate set) with `ranker`.
    pub fn evaluate_case(&self, i: usize, ranker: &dyn Ranker) -> CaseResult {
        let case = &self.candidates.cases[i];
        let request = self.candidates.request(i, self.split);
        let start = Instant::now();
        let output = ranker.rank(&request);
        let latency_ms = start.elapsed().as_secs_f64() * 1e3;
        let (items, valid, error) = match output {
            Ok(r) if is_permutation(&request.candidates, &r.items) => (r.items, !r.repaired, None),
            Ok(r) => (self.repaired(&request, &r.items), false, None),
            Err(e) => (self.repaired(&request, &[]), false, Some(e.to_string())),
        };
        let target = case.target();
        let rank = rank_in(&items, &target).expect("a repaired ranking holds every candidate");
        CaseResult {
            user: case.user,
            user_raw: self.dataset.users[case.user.idx()].raw_id.clone(),
            rank,
            valid,
            latency_ms,
            scenarios: self.tags[i].clone(),
            error,
        }
    }

    fn repaired(&self, request: &star_cf::RankRequest, raw: &[ItemId]) -> Vec<ItemId> {
        let allowed: HashSet<ItemId> = request.candidates.iter().copied().collect();
        let kept: HashSet<ItemId> = raw
            .iter()
            .filter(|i| allowed.contains(i))
            .copied()
            .collect();
        if kept.len() == allowed.len() {
            // Only duplicates or unknown items were dropped; nothing is missing.
            return repair(&request.candidates, raw, None);
        }
        match self.repair.rank(request) {
            Ok(order) => repair(&request.candidates, raw, Some(&order.items)),
            Err(e) => {
                tracing::debug!(
                    repair = %self.repair.name(),
                    user = %self.dataset.users[request.user.idx()].raw_id,
                    "repair ranker failed ({e}); appending in candidate-file order"
                );
                repair(&request.candidates, raw, None)
            }
        }
    }

    fn progress_bar(&self, name: &str) -> ProgressBar {
        let target = if self.progress && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let pb = ProgressBar::with_draw_target(Some(self.num_cases() as u64), target);
        pb.set_style(
            ProgressStyle::with_template(
                "{msg:>16} [{bar:32}] {pos}/{len} cases {per_sec} eta {eta}",
            )
            .expect("valid progress template")
            .progress_chars("=> "),
        );
        pb.set_message(name.to_string());
        pb
    }

    /// Scores `ranker` on every case.
    pub fn run(&self, ranker: &dyn Ranker) -> MethodResult {
        let name = ranker.name();
        let n = self.num_cases();
        let pb = self.progress_bar(&name);
        let start = Instant::now();
        let threads = self.threads.min(n).max(1);
        let evaluate = |i: usize| {
            let r = self.evaluate_case(i, ranker);
            pb.inc(1);
            r
        };
        let pool = (threads > 1)
            .then(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("star-eval-{i}"))
                    .build()
                    .map_err(|e| {
                        tracing::warn!("cannot start {threads} evaluation threads ({e}); running the cases on one");
                    })
                    .ok()
            })
            .flatten();
        let cases: Vec<CaseResult> = match pool {
            // One case per task, so a slow case does not hold back a batch of others;
            // `collect` keeps case order.
            Some(pool) => pool.install(|| {
                (0..n)
                    .into_par_iter()
                    .with_max_len(1)
                    .map(evaluate)
                    .collect()
            }),
            None => (0..n).map(evaluate).collect(),
        };
        let wall_s = start.elapsed().as_secs_f64();
        pb.finish_and_clear();
        let result = MethodResult::from_cases(name, cases, wall_s, &self.slices());
        let errors = result.cases.iter().filter(|c| c.error.is_some()).count();
        if let Some(first) = result.cases.iter().find_map(|c| c.error.as_deref()) {
            tracing::warn!(method = %result.name, errors, "ranker failed on {errors} cases, first error: {first}");
        }
        let m = &result.metrics;
        tracing::info!(
            method = %result.name,
            dataset = %self.candidates.header.dataset,
            split = %self.candidates.header.split,
            cases = n,
            threads,
            hr1 = m.hr1,
            hr3 = m.hr3,
            hr5 = m.hr5,
            ndcg10 = m.ndcg10,
            mrr = m.mrr,
            avg_hr = m.avg_hr,
            valid_ratio = m.valid_ratio,
            p50_ms = result.latency_ms.p50,
            p95_ms = result.latency_ms.p95,
            wall_s,
            "{}: avg-HR {:.2}, HR@1 {:.2}, valid {:.2}% on {n} cases",
            result.name,
            100.0 * m.avg_hr,
            100.0 * m.hr1,
            100.0 * m.valid_ratio,
        );
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u32]) -> Vec<ItemId> {
        v.iter().map(|&i| ItemId(i)).collect()
    }

    #[test]
    fn permutation_check() {
        let c = ids(&[5, 1, 9]);
        assert!(is_permutation(&c, &ids(&[9, 5, 1])));
        assert!(!is_permutation(&c, &ids(&[9, 5])));
        assert!(!is_permutation(&c, &ids(&[9, 5, 5])));
        assert!(!is_permutation(&c, &ids(&[9, 5, 2])));
        assert!(!is_permutation(&c, &ids(&[9, 5, 1, 1])));
    }

    #[test]
    fn repair_keeps_first_occurrences_then_repair_order_then_file_order() {
        let c = ids(&[5, 1, 9, 4, 7]);
        // duplicate 9, unknown 100; missing 5, 4, 7; repair order knows 7 and 5 only (+ junk 3).
        let out = repair(&c, &ids(&[9, 100, 1, 9]), Some(&ids(&[7, 3, 5, 9])));
        assert_eq!(out, ids(&[9, 1, 7, 5, 4]));
        // without a repair order: candidate-file order.
        assert_eq!(repair(&c, &ids(&[4]), None), ids(&[4, 5, 1, 9, 7]));
        assert_eq!(repair(&c, &[], None), c);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 10.0);
        assert_eq!(percentile(&v, 95.0), 19.0);
        assert_eq!(percentile(&v, 100.0), 20.0);
        assert_eq!(percentile(&[3.0], 95.0), 3.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        let l = Latency::from_samples(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!((l.p50, l.p95), (2.0, 4.0));
    }
}
