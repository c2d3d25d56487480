//! Numeric CST evidence features of a candidate, fused into its `<item>` marker.

use star_cf::evidence::CandidateEvidence;

/// Names of the evidence features, in vector order.
pub const EVIDENCE_FEATURES: [&str; 10] = [
    "user_cf_hit_share",
    "user_cf_score",
    "item_cf_score",
    "anchor_count_log",
    "anchor_recency",
    "recent_co_occurrence_log",
    "co_occurring_share",
    "popularity_percentile",
    "popularity_log",
    "genre_share",
];

/// Number of evidence features.
pub const NUM_EVIDENCE_FEATURES: usize = EVIDENCE_FEATURES.len();

/// Names of the sequence features of a candidate (after the evidence features, when
/// [`super::StarConfig::sequence_evidence`] is on), from a sequential model's scores of the
/// request's candidates: the softmax over the candidates, the rank as a fraction (1 = best),
/// and the score standardised over the candidates (divided by 4, clamped to `[-1, 1]`).
pub const SEQUENCE_FEATURES: [&str; 3] = ["seq_softmax", "seq_rank", "seq_standardised"];

/// Number of sequence features.
pub const NUM_SEQUENCE_FEATURES: usize = SEQUENCE_FEATURES.len();

/// The [`SEQUENCE_FEATURES`] of every candidate, in the order of `scores` (one score per
/// candidate, higher is better). Non-finite scores count as the lowest.
pub fn sequence_features(scores: &[f32]) -> Vec<[f32; NUM_SEQUENCE_FEATURES]> {
    let c = scores.len();
    let s: Vec<f64> = scores
        .iter()
        .map(|&x| if x.is_finite() { x as f64 } else { f64::MIN })
        .collect();
    let finite: Vec<f64> = s.iter().copied().filter(|&x| x > f64::MIN).collect();
    let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = s
        .iter()
        .map(|&x| if x > f64::MIN { (x - max).exp() } else { 0.0 })
        .collect();
    let total: f64 = exp.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let n = finite.len().max(1) as f64;
    let mean = finite.iter().sum::<f64>() / n;
    let sd = (finite.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    (0..c)
        .map(|j| {
            // candidates strictly above this one (ties share the better rank)
            let above = s.iter().filter(|&&x| x > s[j]).count();
            let rank = if c > 1 {
                1.0 - above as f64 / (c - 1) as f64
            } else {
                1.0
            };
            let z = if s[j] > f64::MIN && sd > 0.0 {
                ((s[j] - mean) / sd / 4.0).clamp(-1.0, 1.0)
            } else if s[j] > f64::MIN {
                0.0
            } else {
                -1.0
            };
            [(exp[j] / total) as f32, rank as f32, z as f32]
        })
        .collect()
}

/// The evidence of one candidate as features of similar scale (mostly in `[0, 1]`), in the
/// order of [`EVIDENCE_FEATURES`]. `history_len` is the number of history items the evidence
/// was computed over; `num_items` the catalogue size.
pub fn evidence_features(
    ev: &CandidateEvidence,
    history_len: usize,
    num_items: usize,
) -> [f32; NUM_EVIDENCE_FEATURES] {
    let k = ev.user_cf_k.max(1) as f32;
    let log = |x: u32, scale: f32| (1.0 + x as f32).ln() / scale;
    let (anchor_count, anchor_recency) = match &ev.anchor {
        Some(a) => (log(a.count, 5.0), 1.0 / a.steps_ago.max(1) as f32),
        None => (0.0, 0.0),
    };
    [
        ev.user_cf_hits as f32 / k,
        ev.user_cf_score / k,
        ev.item_cf_score,
        anchor_count,
        anchor_recency,
        log(ev.recent_co_occurrence, 5.0),
        ev.co_occurring_items as f32 / history_len.max(1) as f32,
        1.0 - (ev.popularity_rank.saturating_sub(1)) as f32 / num_items.max(1) as f32,
        log(ev.popularity, 8.0),
        ev.genre_share,
    ]
}

/// The evidence of one candidate as a short line of text (the [`super::EvidenceMode::Text`]
/// prompt), e.g. `users 12/50, co-watched 8 recent, popularity #34, genres 60%`.
pub fn evidence_text(ev: &CandidateEvidence, recent_window: usize) -> String {
    let anchor = match &ev.anchor {
        Some(a) => format!(
            "co-watched {} {}",
            a.count,
            if a.steps_ago as usize <= recent_window {
                "recent"
            } else {
                "earlier"
            }
        ),
        None => "co-watched 0".into(),
    };
    format!(
        "users {}/{}, {anchor}, popularity #{}, genres {:.0}%",
        ev.user_cf_hits,
        ev.user_cf_k,
        ev.popularity_rank,
        100.0 * ev.genre_share
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_features_order_the_candidates_as_the_scores_do() {
        let f = sequence_features(&[1.0, 3.0, 2.0, 3.0, f32::NAN]);
        let soft: f32 = f.iter().map(|x| x[0]).sum();
        assert!((soft - 1.0).abs() < 1e-6, "{soft}");
        // softmax by hand: e^(s - 3) / Σ
        let z = (-2f64).exp() + 1.0 + (-1f64).exp() + 1.0;
        assert!((f[0][0] as f64 - (-2f64).exp() / z).abs() < 1e-6);
        assert_eq!(f[4][0], 0.0, "a NaN score gets no mass");
        // ranks: the two 3.0s tie for the best, NaN last
        let ranks: Vec<f32> = f.iter().map(|x| x[1]).collect();
        assert_eq!(ranks, [0.25, 1.0, 0.5, 1.0, 0.0]);
        // standardised over the finite scores (mean 2.25, sd 0.829), / 4
        let sd = (((1.0f64 - 2.25).powi(2) + 2.0 * 0.75f64.powi(2) + 0.25f64.powi(2)) / 4.0).sqrt();
        assert!((f[1][2] as f64 - 0.75 / sd / 4.0).abs() < 1e-6);
        assert_eq!(f[4][2], -1.0);
        // equal scores: uniform softmax, all ranked first, standardised 0
        for x in sequence_features(&[0.5; 4]) {
            assert_eq!(x, [0.25, 1.0, 0.0]);
        }
        assert_eq!(sequence_features(&[7.0]), vec![[1.0, 1.0, 0.0]]);
    }
}
