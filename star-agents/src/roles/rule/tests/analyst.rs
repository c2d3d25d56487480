//! Unit tests of [`super`] on the hand-made fixture.

use super::super::fixture::hand;
use super::*;
use crate::roles::Flag;
use crate::tools::ToolRegistry;

const Z_USERS: &str = "2 of the 4 users closest to this user watched [z] Zed (1992).";
const W_USERS: &str = "2 of the 4 users closest to this user watched [w] Double (1993).";
const Z_GENRE: &str = "[z] Zed (1992) is Comedy, 25% of the history.";

fn statements(a: &Analysis) -> Vec<(&str, f32)> {
    a.claims
        .iter()
        .map(|c| (c.statement.as_str(), c.weight))
        .collect()
}

#[test]
fn claims_are_sorted_by_weight_and_summarised_by_the_top_three() {
    let fx = hand();
    let req = fx.request("e", &["x", "y"], &["z", "w"]);
    let a = RuleAnalyst::new(AnalystKind::UserProfile);
    let (a, _) = fx.with_env(&req, &ToolRegistry::standard(), |env| {
        a.analyse(env, None).unwrap()
    });
    assert_eq!(a.analyst, AnalystKind::UserProfile);
    assert_eq!(
        statements(&a),
        vec![
            (Z_USERS, 1.0),
            (W_USERS, 1.0),
            (Z_GENRE, 0.25),
            ("[w] Double (1993) shares no genre with the history.", -0.15),
        ]
    );
    assert_eq!(a.examined, {
        let mut v = vec![fx.item("z"), fx.item("w")];
        v.sort();
        v
    });
    assert_eq!(
        a.summary,
        format!("{Z_USERS} {W_USERS} {Z_GENRE} (examined 2 of 2 candidates)")
    );
}

#[test]
fn a_revision_keeps_unflagged_claims_and_redoes_the_flagged_candidates() {
    let fx = hand();
    let req = fx.request("e", &["x", "y"], &["z", "w"]);
    let (z, w) = (fx.item("z"), fx.item("w"));
    let a = RuleAnalyst::new(AnalystKind::UserProfile);
    let (revised, t) = fx.with_env(&req, &ToolRegistry::standard(), |env| {
        let first = a.analyse(env, None).unwrap();
        let calls = env.transcript.calls.len();
        let flag = Flag {
            kind: FlagKind::Contradiction,
            analyst: AnalystKind::UserProfile,
            candidate: Some(z),
            message: String::new(),
        };
        let revise = Revision {
            previous: &first,
            flags: &[flag],
        };
        let revised = a.analyse(env, Some(revise)).unwrap();
        // the calls it repeats are answered from the log
        assert_eq!(env.transcript.calls.len(), calls);
        revised
    });
    assert_eq!(t.calls.len(), 4);
    // z's claims are redone (no user_cf on a revision); w's are kept
    assert_eq!(
        statements(&revised),
        vec![
            (W_USERS, 1.0),
            (Z_GENRE, 0.25),
            ("[w] Double (1993) shares no genre with the history.", -0.15),
        ]
    );
    assert_eq!(revised.examined.len(), 2);
    assert!(revised.examined.contains(&z) && revised.examined.contains(&w));
    assert_eq!(
        revised.summary,
        format!("{W_USERS} {Z_GENRE} (examined 2 of 2 candidates)")
    );
}

#[test]
fn feedback_without_a_candidate_keeps_the_analysis_and_calls_nothing() {
    let fx = hand();
    let req = fx.request("e", &["x", "y"], &["z", "w"]);
    let a = RuleAnalyst::new(AnalystKind::UserProfile);
    let (_, t) = fx.with_env(&req, &ToolRegistry::standard(), |env| {
        let first = a.analyse(env, None).unwrap();
        let steps = env.transcript.steps.len();
        let flag = Flag {
            kind: FlagKind::Unsupported,
            analyst: AnalystKind::UserProfile,
            candidate: None,
            message: String::new(),
        };
        let revise = Revision {
            previous: &first,
            flags: &[flag],
        };
        let again = a.analyse(env, Some(revise)).unwrap();
        assert_eq!(again, first);
        assert_eq!(env.transcript.steps.len(), steps);
    });
    assert_eq!(t.calls.len(), 4);
}

#[test]
fn nothing_positive_says_no_candidate_stands_out() {
    let fx = hand();
    let req = fx.request("e", &["x", "y"], &["z", "w"]);
    let a = RuleAnalyst::new(AnalystKind::InterestDivergence);
    let (a, _) = fx.with_env(&req, &ToolRegistry::standard(), |env| {
        a.analyse(env, None).unwrap()
    });
    assert_eq!(a.summary, "no candidate stands out (2 examined).");
}

#[test]
fn an_exhausted_tool_budget_is_a_role_error_naming_the_analyst() {
    let fx = hand();
    let req = fx.request("e", &["x", "y"], &["z", "w"]);
    let a = RuleAnalyst::new(AnalystKind::HistoricalInterest);
    let tools = ToolRegistry::standard();
    let mut t = crate::roles::Transcript::default();
    let out = fx.in_env(&req, (&tools, 0), &mut t, |env| a.analyse(env, None));
    let err = out.unwrap_err().to_string();
    assert!(
        err.starts_with("Historical-Interest analyst: ") && err.contains("budget exhausted"),
        "{err}"
    );
}
