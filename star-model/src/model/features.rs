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
