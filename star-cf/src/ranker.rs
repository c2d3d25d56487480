//! The ranking protocol shared by every method: baselines, the teacher and the student.
//!
//! A [`RankRequest`] is one test case (a user, their history, the candidates); a [`Ranker`]
//! returns a [`Ranking`] of those candidates, best first. `star-eval` scores any `Ranker` on the
//! same candidate files, so methods can be compared without depending on each other.

use crate::ids::{ItemId, UserId};
use serde::{Deserialize, Serialize};

/// Errors a ranker may return; the protocol runner counts them as invalid outputs.
pub type RankError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One ranking request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankRequest {
    /// The user asking.
    pub user: UserId,
    /// The user's history in time order, oldest first. Only interactions before the target's
    /// time are here; a ranker must not look up anything else the user did.
    pub history: Vec<ItemId>,
    /// The candidates to order, in the (shuffled) order of the candidate file.
    pub candidates: Vec<ItemId>,
}

/// A ranker's answer: the candidates, best first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// Candidates best first. Should be a permutation of the request's candidates; the
    /// protocol runner repairs (and counts) anything else.
    pub items: Vec<ItemId>,
    /// Optional scores aligned with `items` (higher is better).
    pub scores: Option<Vec<f32>>,
    /// Set by a ranker that had to repair its own raw output (e.g. an LLM answer that was not
    /// a permutation); the protocol runner counts such outputs as invalid.
    #[serde(default)]
    pub repaired: bool,
}

impl Ranking {
    /// Orders `candidates` by `scores` (higher first). Ties keep the order of `candidates`,
    /// which in a candidate file is a seeded shuffle, so a tie is broken uniformly at random
    /// and reproducibly — never in favour of the true item. NaN scores rank last.
    pub fn from_scores(candidates: &[ItemId], scores: &[f32]) -> Ranking {
        Ranking::ordered(candidates, scores, None)
    }

    /// Orders `candidates` by `scores` (higher first), breaking ties by `fallback` (higher
    /// first), then by the order of `candidates` as [`Ranking::from_scores`] does. Rankers
    /// whose scores are often all zero on sparse data (no co-occurrence, no neighbour voted)
    /// pass popularity as the fallback, so a case without evidence ranks as popularity would
    /// rather than at random. The ranking's scores are `scores`.
    pub fn from_scores_then(candidates: &[ItemId], scores: &[f32], fallback: &[f32]) -> Ranking {
        assert_eq!(
            candidates.len(),
            fallback.len(),
            "one fallback score per candidate is required"
        );
        Ranking::ordered(candidates, scores, Some(fallback))
    }

    /// Sorts by `scores`, then by `fallback` when given, then by candidate order (a stable
    /// sort); NaN counts as `-inf`.
    fn ordered(candidates: &[ItemId], scores: &[f32], fallback: Option<&[f32]>) -> Ranking {
        assert_eq!(
            candidates.len(),
            scores.len(),
            "one score per candidate is required"
        );
        let key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| {
            let first = key(scores[b]).total_cmp(&key(scores[a]));
            match fallback {
                Some(f) => first.then(key(f[b]).total_cmp(&key(f[a]))),
                None => first,
            }
        });
        Ranking {
            items: order.iter().map(|&i| candidates[i]).collect(),
            scores: Some(order.iter().map(|&i| scores[i]).collect()),
            repaired: false,
        }
    }
}

/// Anything that orders candidates for a user.
pub trait Ranker: Send + Sync {
    /// The method name used in results (e.g. `"Pop"`, `"ItemKNN"`, `"student-fast"`).
    fn name(&self) -> String;

    /// Orders the request's candidates, best first.
    fn rank(&self, request: &RankRequest) -> Result<Ranking, RankError>;
}

/// Anything that scores the whole catalogue for a request (full-catalogue evaluation, where
/// every item the user has not interacted with is a candidate).
pub trait CatalogueScorer: Send + Sync {
    /// The method name used in results.
    fn name(&self) -> String;

    /// One score per item of the catalogue (higher is better), indexed by [`ItemId`].
    fn score_all(&self, request: &RankRequest) -> Result<Vec<f32>, RankError>;
}

impl<R: Ranker + ?Sized> Ranker for Box<R> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn rank(&self, request: &RankRequest) -> Result<Ranking, RankError> {
        (**self).rank(request)
    }
}

impl<R: Ranker + ?Sized> Ranker for &R {
    fn name(&self) -> String {
        (**self).name()
    }
    fn rank(&self, request: &RankRequest) -> Result<Ranking, RankError> {
        (**self).rank(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_scores_breaks_ties_by_candidate_order_and_sinks_nan() {
        let c = [ItemId(7), ItemId(3), ItemId(9), ItemId(1)];
        let r = Ranking::from_scores(&c, &[0.5, f32::NAN, 0.9, 0.5]);
        assert_eq!(r.items, [ItemId(9), ItemId(7), ItemId(1), ItemId(3)]);
    }

    #[test]
    fn from_scores_then_breaks_ties_by_the_fallback_only() {
        let c = [ItemId(7), ItemId(3), ItemId(9), ItemId(1), ItemId(4)];
        // 7, 1 and 4 tie on the score; the fallback orders them (4 over 1 over 7); 3 and 9
        // differ on the score, so the fallback's opposite order does not matter
        let r =
            Ranking::from_scores_then(&c, &[0.0, 0.2, 0.5, 0.0, 0.0], &[1.0, 9.0, 0.0, 5.0, 6.0]);
        assert_eq!(
            r.items,
            [ItemId(9), ItemId(3), ItemId(4), ItemId(1), ItemId(7)]
        );
        assert_eq!(r.scores.unwrap(), [0.5, 0.2, 0.0, 0.0, 0.0]);
        // equal fallbacks keep the candidate order
        let r = Ranking::from_scores_then(&c[..2], &[0.0, 0.0], &[1.0, 1.0]);
        assert_eq!(r.items, [ItemId(7), ItemId(3)]);
    }
}
