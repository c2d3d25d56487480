//! Where the true item lands in a ranking, and the per-case ranking metrics of it: the one
//! implementation the evaluation protocol (star-eval), the full-catalogue evaluation and the
//! trainer's validation (star-train) share, so a rank means the same everywhere.
//!
//! Every case has exactly one relevant item. With `rank` its 0-based position:
//!
//! | metric   | value                                                       |
//! |----------|-------------------------------------------------------------|
//! | `HR@k`   | `1` if `rank < k`, else `0` ([`hit_at`])                    |
//! | `NDCG@k` | `1 / log2(rank + 2)` if `rank < k`, else `0` ([`ndcg_at`])  |
//! | `MRR`    | `1 / (rank + 1)` ([`reciprocal_rank`]; cut at k: [`reciprocal_rank_at`]) |
//! | `avg_HR` | `(HR@1 + HR@3 + HR@5) / 3` ([`avg_hr`])                     |
//!
//! Ranks come from an ordering ([`rank_in`]) or from scores ([`rank_of`]): the candidates
//! scored higher, plus the equally scored ones that come first (the stable tie-break of
//! [`crate::Ranking::from_scores`]); NaN scores rank last.

/// 0-based rank of `target` in `ordering` (its first position), `None` when it is absent.
pub fn rank_in<T: PartialEq>(ordering: &[T], target: &T) -> Option<usize> {
    ordering.iter().position(|x| x == target)
}

/// 0-based rank of candidate `positive` in `scores`: the candidates scored higher, plus the
/// equally scored ones that come before it. NaN ranks last.
///
/// # Panics
/// When `positive` is not an index of `scores`.
pub fn rank_of(scores: &[f32], positive: usize) -> usize {
    rank_of_among(scores, positive, |_| true)
}

/// Like [`rank_of`], counting only the candidates `i` for which `counts(i)` holds (e.g. the
/// items not in the user's history, in a full-catalogue ranking).
///
/// # Panics
/// When `positive` is not an index of `scores`.
pub fn rank_of_among(scores: &[f32], positive: usize, counts: impl Fn(usize) -> bool) -> usize {
    let key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
    let p = key(scores[positive]);
    scores
        .iter()
        .enumerate()
        .filter(|&(i, &s)| counts(i) && (key(s) > p || (key(s) == p && i < positive)))
        .count()
}

/// `HR@k` of one case: 1 when the true item is in the top `k`.
pub fn hit_at(rank: usize, k: usize) -> f64 {
    if rank < k {
        1.0
    } else {
        0.0
    }
}

/// `NDCG@k` of one case with a single relevant item: `1 / log2(rank + 2)` inside the top `k`.
pub fn ndcg_at(rank: usize, k: usize) -> f64 {
    if rank < k {
        1.0 / ((rank + 2) as f64).log2()
    } else {
        0.0
    }
}

/// Reciprocal rank of one case: `1 / (rank + 1)`.
pub fn reciprocal_rank(rank: usize) -> f64 {
    1.0 / (rank + 1) as f64
}

/// Reciprocal rank cut at `k`: `1 / (rank + 1)` inside the top `k`, else 0 (any `rank`,
/// `usize::MAX` included).
pub fn reciprocal_rank_at(rank: usize, k: usize) -> f64 {
    if rank < k {
        reciprocal_rank(rank)
    } else {
        0.0
    }
}

/// The paper's headline metric of one case: the mean of HR@1, HR@3 and HR@5.
pub fn avg_hr(rank: usize) -> f64 {
    (hit_at(rank, 1) + hit_at(rank, 3) + hit_at(rank, 5)) / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_the_protocol_tie_break() {
        assert_eq!(rank_of(&[0.1, 0.9, 0.5], 2), 1);
        assert_eq!(rank_of(&[0.5, 0.5, 0.5], 0), 0);
        assert_eq!(rank_of(&[0.5, 0.5, 0.5], 2), 2);
        assert_eq!(rank_of(&[f32::NAN, 0.0], 1), 0);
        assert_eq!(rank_of(&[0.0, f32::NAN], 1), 1);
        // Only the counted candidates are ahead.
        let scores = [0.9, 0.5, 0.7, 0.5, 0.1];
        assert_eq!(rank_of_among(&scores, 3, |_| true), 3);
        assert_eq!(rank_of_among(&scores, 3, |i| i != 0), 2);
        assert_eq!(rank_of_among(&scores, 3, |i| i == 4), 0);
        assert_eq!(rank_in(&[7, 3, 9], &9), Some(2));
        assert_eq!(rank_in(&[7, 3, 7], &7), Some(0));
        assert_eq!(rank_in(&[7, 3], &1), None);
    }

    #[test]
    fn per_case_metrics_match_hand_computed_values() {
        assert_eq!((hit_at(0, 1), hit_at(1, 1), hit_at(9, 10)), (1.0, 0.0, 1.0));
        assert_eq!(ndcg_at(0, 10), 1.0);
        assert_eq!(ndcg_at(2, 10), 0.5);
        assert_eq!(ndcg_at(9, 10), 1.0 / 11f64.log2());
        assert_eq!(ndcg_at(10, 10), 0.0);
        assert_eq!(reciprocal_rank(3), 0.25);
        assert_eq!(reciprocal_rank_at(3, 10), 0.25);
        assert_eq!(reciprocal_rank_at(10, 10), 0.0);
        assert_eq!(reciprocal_rank_at(usize::MAX, 10), 0.0);
        let avg: Vec<f64> = (0..7).map(avg_hr).collect();
        assert_eq!(
            avg,
            [1.0, 2.0 / 3.0, 2.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 0.0, 0.0]
        );
    }
}
