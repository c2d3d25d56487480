//! Ranking metrics for the 1+N protocol.
//!
//! Every case has exactly one relevant item (the held-out item). Let `rank` be its 0-based
//! position in the (repaired) ranking. Per case:
//!
//! | metric        | value                                   |
//! |---------------|-----------------------------------------|
//! | `HR@k`        | `1` if `rank < k`, else `0`             |
//! | `NDCG@k`      | `1 / log2(rank + 2)` if `rank < k`, else `0` (the ideal DCG is 1) |
//! | `MRR`         | `1 / (rank + 1)`, no cut-off            |
//! | `avg_HR`      | `(HR@1 + HR@3 + HR@5) / 3`, the paper's headline metric |
//! | `valid_ratio` | `1` if the raw output was a valid permutation of the candidates, else `0` |
//!
//! [`Metrics`] holds the mean of each over the cases; all values are fractions in `[0, 1]`
//! (reports may show them ×100). The per-case values come from [`star_cf::rank_metrics`].
//!
//! ## Ties
//!
//! Rankers return orderings, not scores, so a metric never sees a tie. A ranker that scores
//! candidates should convert scores with [`star_cf::Ranking::from_scores`], which keeps the
//! candidate-file order among equal scores. Candidate files are shuffled with a seed, so this
//! is a uniform, reproducible tie-break that never favours the true item: a scorer that gives
//! every candidate the same score ranks the true item at its `positive_index` and its `HR@1`
//! is the fraction of cases whose `positive_index` is 0 (about `1 / N`).

use serde::{Deserialize, Serialize};
use star_cf::rank_metrics::avg_hr;

/// What the metrics need from one evaluated case.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CaseOutcome {
    /// 0-based position of the true item in the (repaired) ranking.
    pub rank: usize,
    /// Whether the ranker's raw output was a valid permutation of the candidates.
    pub valid: bool,
}

// The per-case functions live in star-cf, shared with the trainer's validation metrics.
pub use star_cf::rank_metrics::{hit_at, ndcg_at, reciprocal_rank};

/// Mean metrics over a set of cases. Serialises as a JSON object with exactly the keys of
/// [`Metrics::KEYS`], in that order.
///
/// Missing keys deserialise as 0, so the empty object `{}` reads as all-zero metrics.
#[derive(Copy, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Metrics {
    /// Fraction of cases with the true item first.
    #[serde(rename = "HR@1")]
    pub hr1: f64,
    /// Fraction of cases with the true item in the top 3.
    #[serde(rename = "HR@3")]
    pub hr3: f64,
    /// Fraction of cases with the true item in the top 5.
    #[serde(rename = "HR@5")]
    pub hr5: f64,
    /// Fraction of cases with the true item in the top 10.
    #[serde(rename = "HR@10")]
    pub hr10: f64,
    /// Mean NDCG@5.
    #[serde(rename = "NDCG@5")]
    pub ndcg5: f64,
    /// Mean NDCG@10.
    #[serde(rename = "NDCG@10")]
    pub ndcg10: f64,
    /// Mean reciprocal rank (no cut-off).
    #[serde(rename = "MRR")]
    pub mrr: f64,
    /// Mean of HR@1, HR@3 and HR@5 (the paper's headline metric).
    #[serde(rename = "avg_HR")]
    pub avg_hr: f64,
    /// Fraction of cases whose raw output was a valid permutation of the candidates.
    pub valid_ratio: f64,
}

impl Metrics {
    /// The JSON keys, in serialisation order.
    pub const KEYS: [&'static str; 9] = [
        "HR@1",
        "HR@3",
        "HR@5",
        "HR@10",
        "NDCG@5",
        "NDCG@10",
        "MRR",
        "avg_HR",
        "valid_ratio",
    ];

    /// The metrics of one case.
    pub fn of_case(outcome: CaseOutcome) -> Metrics {
        let r = outcome.rank;
        Metrics {
            hr1: hit_at(r, 1),
            hr3: hit_at(r, 3),
            hr5: hit_at(r, 5),
            hr10: hit_at(r, 10),
            ndcg5: ndcg_at(r, 5),
            ndcg10: ndcg_at(r, 10),
            mrr: reciprocal_rank(r),
            avg_hr: avg_hr(r),
            valid_ratio: if outcome.valid { 1.0 } else { 0.0 },
        }
    }

    /// The mean metrics over `outcomes`. No cases gives all zeros (not NaN), so an empty
    /// scenario slice reports `0` everywhere; check the case count to tell the two apart.
    pub fn from_outcomes(outcomes: &[CaseOutcome]) -> Metrics {
        Metrics::from_outcome_iter(outcomes.iter().copied())
    }

    /// Like [`Metrics::from_outcomes`], for any iterator of outcomes.
    pub fn from_outcome_iter(outcomes: impl IntoIterator<Item = CaseOutcome>) -> Metrics {
        let mut sum = [0.0f64; 9];
        let mut n = 0usize;
        for o in outcomes {
            for (s, v) in sum.iter_mut().zip(Metrics::of_case(o).values()) {
                *s += v;
            }
            n += 1;
        }
        if n == 0 {
            return Metrics::default();
        }
        Metrics::from_values(sum.map(|s| s / n as f64))
    }

    /// The values in the order of [`Metrics::KEYS`].
    pub fn values(&self) -> [f64; 9] {
        [
            self.hr1,
            self.hr3,
            self.hr5,
            self.hr10,
            self.ndcg5,
            self.ndcg10,
            self.mrr,
            self.avg_hr,
            self.valid_ratio,
        ]
    }

    /// Builds metrics from values in the order of [`Metrics::KEYS`].
    pub fn from_values(v: [f64; 9]) -> Metrics {
        Metrics {
            hr1: v[0],
            hr3: v[1],
            hr5: v[2],
            hr10: v[3],
            ndcg5: v[4],
            ndcg10: v[5],
            mrr: v[6],
            avg_hr: v[7],
            valid_ratio: v[8],
        }
    }

    /// The value of a metric by its JSON key (e.g. `"NDCG@10"`).
    pub fn get(&self, key: &str) -> Option<f64> {
        Metrics::KEYS
            .iter()
            .position(|k| *k == key)
            .map(|i| self.values()[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn one(rank: usize) -> Metrics {
        Metrics::from_outcomes(&[CaseOutcome { rank, valid: true }])
    }

    #[test]
    fn single_cases_match_hand_computed_values() {
        // rank 0: everything is 1.
        assert_eq!(one(0), Metrics::from_values([1.0; 9]));

        // rank 2: in top 3, NDCG = 1/log2(4) = 0.5, MRR = 1/3.
        let m = one(2);
        assert_eq!((m.hr1, m.hr3, m.hr5, m.hr10), (0.0, 1.0, 1.0, 1.0));
        assert!(close(m.ndcg5, 0.5) && close(m.ndcg10, 0.5));
        assert!(close(m.mrr, 1.0 / 3.0));
        assert!(close(m.avg_hr, 2.0 / 3.0));

        // rank 4: last place inside top 5, NDCG = 1/log2(6).
        let m = one(4);
        assert_eq!((m.hr1, m.hr3, m.hr5, m.hr10), (0.0, 0.0, 1.0, 1.0));
        assert!(close(m.ndcg5, 1.0 / 6f64.log2()) && close(m.ndcg5, 0.386_852_807_234_541_6));
        assert!(close(m.ndcg10, m.ndcg5));
        assert!(close(m.mrr, 0.2));
        assert!(close(m.avg_hr, 1.0 / 3.0));

        // rank 9: only inside top 10, NDCG@10 = 1/log2(11).
        let m = one(9);
        assert_eq!((m.hr1, m.hr3, m.hr5, m.hr10), (0.0, 0.0, 0.0, 1.0));
        assert_eq!(m.ndcg5, 0.0);
        assert!(close(m.ndcg10, 1.0 / 11f64.log2()) && close(m.ndcg10, 0.289_064_826_317_888));
        assert!(close(m.mrr, 0.1));
        assert_eq!(m.avg_hr, 0.0);

        // rank 19 (last of 20): only MRR is non-zero.
        let m = one(19);
        assert_eq!(
            Metrics { mrr: 0.0, ..m },
            Metrics {
                valid_ratio: 1.0,
                ..Metrics::default()
            }
        );
        assert!(close(m.mrr, 0.05));
    }

    #[test]
    fn mean_over_cases() {
        let outcomes: Vec<CaseOutcome> = [0, 2, 4, 9, 19]
            .iter()
            .enumerate()
            .map(|(i, &rank)| CaseOutcome {
                rank,
                valid: i % 2 == 0,
            })
            .collect();
        let m = Metrics::from_outcomes(&outcomes);
        assert!(close(m.hr1, 0.2));
        assert!(close(m.hr3, 0.4));
        assert!(close(m.hr5, 0.6));
        assert!(close(m.hr10, 0.8));
        assert!(close(m.ndcg5, (1.0 + 0.5 + 1.0 / 6f64.log2()) / 5.0));
        assert!(close(
            m.ndcg10,
            (1.0 + 0.5 + 1.0 / 6f64.log2() + 1.0 / 11f64.log2()) / 5.0
        ));
        assert!(close(m.mrr, (1.0 + 1.0 / 3.0 + 0.2 + 0.1 + 0.05) / 5.0));
        assert!(close(m.avg_hr, (m.hr1 + m.hr3 + m.hr5) / 3.0));
        assert!(close(m.valid_ratio, 0.6));
    }

    #[test]
    fn empty_input_is_all_zero() {
        assert_eq!(Metrics::from_outcomes(&[]), Metrics::default());
        assert!(Metrics::default().values().iter().all(|&v| v == 0.0));
    }

    #[test]
    fn json_has_exactly_the_keys_in_order_and_round_trips() {
        let m = Metrics::from_outcomes(&[
            CaseOutcome {
                rank: 2,
                valid: true,
            },
            CaseOutcome {
                rank: 7,
                valid: false,
            },
        ]);
        let text = serde_json::to_string(&m).unwrap();
        let mut last = 0;
        for k in Metrics::KEYS {
            let pos = text.find(&format!("\"{k}\":")).expect(k);
            assert!(pos >= last, "{k} out of order in {text}");
            last = pos;
        }
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut expected = Metrics::KEYS.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected); // serde_json's default map is sorted
                                    // serde_json's parser may be 1 ULP off the shortest representation it wrote.
        let back = serde_json::from_str::<Metrics>(&text).unwrap();
        for (x, y) in back.values().iter().zip(m.values()) {
            assert!((x - y).abs() < 1e-15, "{x} vs {y}");
        }
        assert_eq!(m.get("HR@3"), Some(0.5));
        assert_eq!(m.get("nope"), None);
        assert_eq!(
            serde_json::from_str::<Metrics>("{}").unwrap(),
            Metrics::default()
        );
    }
}
