//! Full-catalogue evaluation under temporal leave-one-out: every item the user has not
//! interacted with before the target is a candidate (not just 19 sampled negatives), so
//! results can be compared with published numbers.
//!
//! For each user with a held-out item, `rank` = the number of eligible items scored above the
//! target, plus the equally scored ones with a smaller id (a fixed, documented tie-break).
//! Items in the request history are excluded. `HR@10 = [rank < 10]`,
//! `NDCG@10 = [rank < 10] / log2(rank + 2)`, `MRR@10 = [rank < 10] / (rank + 1)`.
//!
//! [`compare_catalogue`] adds each method's paired difference from a reference method over the
//! same users, with the bootstrap 95 % interval of [`crate::paired`].

use crate::error::{EvalError, Result};
use crate::paired::{Difference, Resamples, RESAMPLES, SEED};
use serde::{Deserialize, Serialize};
use star_cf::rank_metrics::{hit_at, ndcg_at, rank_of_among, reciprocal_rank_at};
use star_cf::split::{Split, SplitKind};
use star_cf::{CatalogueScorer, ItemId};
use std::time::Instant;

/// Full-catalogue metrics of one method (fractions in [0, 1]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogueResult {
    /// Method name.
    pub method: String,
    /// Users evaluated.
    pub users: usize,
    /// Hit rate at 10.
    #[serde(rename = "HR@10")]
    pub hr10: f64,
    /// NDCG at 10.
    #[serde(rename = "NDCG@10")]
    pub ndcg10: f64,
    /// Reciprocal rank cut at 10.
    #[serde(rename = "MRR@10")]
    pub mrr10: f64,
    /// Users whose scorer failed (counted as misses).
    pub failures: usize,
    /// Wall time.
    pub wall_s: f64,
    /// Each evaluated user's 0-based rank of the true item (`usize::MAX` where the scorer
    /// failed), in the order of [`Split::eval_users`]; not written to JSON.
    #[serde(skip)]
    pub ranks: Vec<usize>,
    /// The paired difference from a reference method ([`compare_catalogue`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub against: Option<CatalogueDifference>,
}

/// A method's full-catalogue metrics minus a reference method's, per user, with bootstrap 95 %
/// intervals (fractions, like the metrics).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogueDifference {
    /// The reference method.
    pub reference: String,
    /// HR@10 difference.
    #[serde(rename = "HR@10")]
    pub hr10: Difference,
    /// NDCG@10 difference.
    #[serde(rename = "NDCG@10")]
    pub ndcg10: Difference,
}

/// Sets [`CatalogueResult::against`] of every result but the reference's to its paired
/// difference from `reference` (the same users; [`RESAMPLES`] resamples from [`SEED`]).
/// Errors when `reference` is not among `results` or a result has other users.
pub fn compare_catalogue(results: &mut [CatalogueResult], reference: &str) -> Result<()> {
    let base = results
        .iter()
        .find(|r| r.method == reference)
        .map(|r| r.ranks.clone())
        .ok_or_else(|| EvalError::Mismatch(format!("no full-catalogue result of `{reference}`")))?;
    let resamples = Resamples::new(base.len(), RESAMPLES, SEED);
    for r in results.iter_mut().filter(|r| r.method != reference) {
        if r.ranks.len() != base.len() {
            return Err(EvalError::Mismatch(format!(
                "{} ranked {} users on the full catalogue and {reference} {}",
                r.method,
                r.ranks.len(),
                base.len()
            )));
        }
        let diff = |f: fn(usize, usize) -> f64| -> Difference {
            let d: Vec<f64> = r
                .ranks
                .iter()
                .zip(&base)
                .map(|(&a, &b)| f(a, 10) - f(b, 10))
                .collect();
            resamples.interval(&d)
        };
        r.against = Some(CatalogueDifference {
            reference: reference.to_string(),
            hr10: diff(hit_at),
            ndcg10: diff(ndcg_at),
        });
    }
    Ok(())
}

/// The 0-based full-catalogue rank of `target` among items not in `history`
/// ([`rank_of_among`]: items scored higher, then equal scores with a smaller id).
pub fn catalogue_rank(scores: &[f32], target: ItemId, history: &[ItemId]) -> usize {
    let mut excluded = vec![false; scores.len()];
    for h in history {
        if let Some(x) = excluded.get_mut(h.idx()) {
            *x = true;
        }
    }
    rank_of_among(scores, target.idx(), |i| !excluded[i])
}

/// Evaluates `scorer` on every user with a held-out item of `kind`.
pub fn evaluate_catalogue(
    split: &Split,
    kind: SplitKind,
    scorer: &dyn CatalogueScorer,
) -> CatalogueResult {
    let start = Instant::now();
    let users = split.eval_users(kind);
    let (mut hr, mut ndcg, mut mrr, mut failures) = (0.0, 0.0, 0.0, 0usize);
    let mut ranks = Vec::with_capacity(users.len());
    for &u in &users {
        let target = split.target(u, kind).expect("eval user has a target");
        let request = split.request(u, kind, Vec::new());
        let rank = match scorer.score_all(&request) {
            Ok(scores) if scores.len() == split.num_items => {
                catalogue_rank(&scores, target, &request.history)
            }
            _ => {
                failures += 1;
                usize::MAX
            }
        };
        ranks.push(rank);
        hr += hit_at(rank, 10);
        ndcg += ndcg_at(rank, 10);
        mrr += reciprocal_rank_at(rank, 10);
    }
    let n = users.len().max(1) as f64;
    CatalogueResult {
        method: scorer.name(),
        users: users.len(),
        hr10: hr / n,
        ndcg10: ndcg / n,
        mrr10: mrr / n,
        failures,
        wall_s: start.elapsed().as_secs_f64(),
        ranks,
        against: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(method: &str, ranks: Vec<usize>) -> CatalogueResult {
        CatalogueResult {
            method: method.into(),
            users: ranks.len(),
            hr10: 0.0,
            ndcg10: 0.0,
            mrr10: 0.0,
            failures: 0,
            wall_s: 0.0,
            ranks,
            against: None,
        }
    }

    #[test]
    fn comparisons_are_paired_per_user_and_refuse_other_users() {
        // a hits at rank 0 where b misses, and the other way round at rank 1 (ndcg 1/log2 3)
        let mut rs = vec![result("b", vec![50, 1, 3]), result("a", vec![0, 50, 3])];
        compare_catalogue(&mut rs, "b").unwrap();
        assert!(rs[0].against.is_none());
        let d = rs[1].against.as_ref().unwrap();
        assert_eq!(d.reference, "b");
        assert!(d.hr10.mean.abs() < 1e-12);
        let want = (1.0 - 1.0 / 3f64.log2()) / 3.0;
        assert!((d.ndcg10.mean - want).abs() < 1e-12, "{:?}", d.ndcg10);
        assert!(d.ndcg10.low <= d.ndcg10.mean && d.ndcg10.mean <= d.ndcg10.high);

        assert!(compare_catalogue(&mut rs, "c").is_err());
        rs.push(result("short", vec![0]));
        let err = compare_catalogue(&mut rs, "b").unwrap_err().to_string();
        assert!(err.contains("short"), "{err}");
    }

    #[test]
    fn rank_skips_history_and_breaks_ties_by_id() {
        let scores = [0.9, 0.5, 0.7, 0.5, 0.1];
        // target 3 (0.5): above it 0 (0.9) and 2 (0.7); item 1 ties with a smaller id
        assert_eq!(catalogue_rank(&scores, ItemId(3), &[]), 3);
        // with item 0 in the history it no longer counts
        assert_eq!(catalogue_rank(&scores, ItemId(3), &[ItemId(0)]), 2);
        assert_eq!(catalogue_rank(&scores, ItemId(1), &[]), 2);
        assert_eq!(catalogue_rank(&scores, ItemId(0), &[]), 0);
    }
}
