//! Full-catalogue evaluation under temporal leave-one-out: every item the user has not
//! interacted with before the target is a candidate (not just 19 sampled negatives), so
//! results can be compared with published numbers.
//!
//! For each user with a held-out item, `rank` = the number of eligible items scored above the
//! target, plus the equally scored ones with a smaller id (a fixed, documented tie-break).
//! Items in the request history are excluded. `HR@10 = [rank < 10]`,
//! `NDCG@10 = [rank < 10] / log2(rank + 2)`, `MRR@10 = [rank < 10] / (rank + 1)`.

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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
