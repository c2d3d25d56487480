//! Unit tests of [`super`] on the hand-made fixture.

use super::super::fixture::hand;
use super::*;

const STEPS: &str = "Steps: profile the user and the closest users; score every candidate against the whole history; check what the most recent items co-occur with; look for shifts in genre; verify every claim against the tool results; rank all 2 candidates.";

fn plan(history: &[&str]) -> Plan {
    let fx = hand();
    let req = fx.request("e", history, &["z", "w"]);
    let tools = crate::tools::ToolRegistry::new();
    fx.with_env(&req, &tools, |env| RulePlanner.plan(env).unwrap())
        .0
}

#[test]
fn a_short_history_trusts_similar_users() {
    let p = plan(&["x", "y"]);
    assert_eq!(p.weights, [1.3, 0.8, 1.0, 0.3]);
    assert_eq!(
        p.text,
        format!("The history is short (2 items), so similar users and broad tastes carry the most weight. {STEPS}")
    );
}

#[test]
fn a_long_history_without_room_for_drift_trusts_co_occurrence() {
    // 16 items: long, but under the 20 that genre drift needs
    let p = plan(&["x"; 16]);
    assert_eq!(p.weights, [1.0, 1.2, 1.0, 0.4]);
    assert_eq!(
        p.text,
        format!("The history is long (16 items) and stable, so co-occurrence with the whole history carries the most weight. {STEPS}")
    );
}

#[test]
fn a_stable_genre_mix_is_reported_with_its_drift() {
    // Drama all along: drift 0
    let p = plan(&["x"; 20]);
    assert_eq!(p.weights, [1.0, 1.2, 1.0, 0.4]);
    assert!(
        p.text
            .starts_with("The history is long (20 items) and stable (genre drift 0.00), so"),
        "{}",
        p.text
    );
}

#[test]
fn a_genre_shift_in_the_last_ten_items_trusts_recent_interest() {
    // 10 Drama items, then 10 Horror: the recent mix shares nothing with the earlier one
    let mut h = vec!["x"; 10];
    h.extend(["w"; 10]);
    let p = plan(&h);
    assert_eq!(p.weights, [0.9, 0.8, 1.4, 1.0]);
    assert_eq!(
        p.text,
        format!("The last 10 items depart from the earlier taste (genre drift 1.00), so recent interest and its divergence carry the most weight. {STEPS}")
    );
    // six of the ten recent items Horror: drift 0.6 counts
    let mut h = vec!["x"; 10];
    h.extend(["w"; 6]);
    h.extend(["x"; 4]);
    assert_eq!(plan(&h).weights, [0.9, 0.8, 1.4, 1.0]);
    // four of them: drift 0.4 does not
    let mut h = vec!["x"; 10];
    h.extend(["w"; 4]);
    h.extend(["x"; 6]);
    assert_eq!(plan(&h).weights, [1.0, 1.2, 1.0, 0.4]);
}
