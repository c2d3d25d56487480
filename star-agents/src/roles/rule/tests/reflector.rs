//! Unit tests of [`super`] on the hand-made fixture.

use super::super::fixture::hand;
use super::*;
use crate::roles::Fact;
use crate::roles::Transcript;
use crate::tools::{ToolOutput, ToolRegistry};
use serde_json::json;
use star_cf::ItemId;

fn call(output: Result<serde_json::Value, &str>) -> ToolCallRecord {
    ToolCallRecord {
        role: "test".into(),
        name: "popularity".into(),
        arguments: json!({}),
        output: output
            .map(|data| ToolOutput {
                text: String::new(),
                data,
            })
            .map_err(str::to_string),
    }
}

fn claim(candidate: ItemId, call: usize, pointer: &str, value: f64) -> Claim {
    Claim {
        candidate,
        weight: 1.0,
        statement: String::new(),
        fact: Some(Fact {
            call,
            pointer: pointer.into(),
            value,
        }),
    }
}

#[test]
fn check_claim_names_what_is_wrong() {
    let calls = [call(Ok(json!({"popularity": 3}))), call(Err("boom"))];
    let c = ItemId(0);
    assert_eq!(check_claim(&claim(c, 0, "/popularity", 3.0), &calls), None);
    // within the relative tolerance
    assert_eq!(
        check_claim(&claim(c, 0, "/popularity", 3.0 + 1e-7), &calls),
        None
    );
    assert_eq!(
        check_claim(&claim(c, 0, "/popularity", 4.0), &calls),
        Some((
            FlagKind::Contradiction,
            "claims /popularity = 4 but popularity #0 says 3".into()
        ))
    );
    assert_eq!(
        check_claim(&claim(c, 0, "/rank", 1.0), &calls),
        Some((
            FlagKind::Unsupported,
            "`/rank` is not in the result of popularity #0".into()
        ))
    );
    assert_eq!(
        check_claim(&claim(c, 1, "/popularity", 3.0), &calls),
        Some((
            FlagKind::Unsupported,
            "cites tool call #1 which failed".into()
        ))
    );
    assert_eq!(
        check_claim(&claim(c, 2, "/popularity", 3.0), &calls),
        Some((
            FlagKind::Unsupported,
            "cites tool call #2 which does not exist".into()
        ))
    );
    let mut bare = claim(c, 0, "/popularity", 3.0);
    bare.fact = None;
    assert_eq!(
        check_claim(&bare, &calls),
        Some((FlagKind::Unsupported, "cites no tool result".into()))
    );
}

fn analysis(analyst: AnalystKind, claims: Vec<Claim>, examined: Vec<ItemId>) -> Analysis {
    Analysis {
        analyst,
        claims,
        examined,
        summary: String::new(),
    }
}

#[test]
fn a_clean_round_sends_nobody_back() {
    let fx = hand();
    let req = fx.request("e", &["x", "y"], &["z", "w"]);
    let (z, w) = (fx.item("z"), fx.item("w"));
    let mut t = Transcript::default();
    t.calls.push(call(Ok(json!({"popularity": 2}))));
    let analyses = [analysis(
        AnalystKind::HistoricalInterest,
        vec![claim(z, 0, "/popularity", 2.0)],
        vec![z, w],
    )];
    let r = fx.in_env(&req, (&ToolRegistry::new(), 0), &mut t, |env| {
        RuleReflector.reflect(env, &analyses).unwrap()
    });
    assert!(r.flags.is_empty() && r.revise.is_empty());
    assert_eq!(
        r.text,
        "all 1 claims match the tool results and every analyst examined all candidates."
    );
}

#[test]
fn contradictions_and_missed_candidates_are_flagged_and_sent_back() {
    let fx = hand();
    let req = fx.request("e", &["x", "y"], &["z", "w"]);
    let (z, w) = (fx.item("z"), fx.item("w"));
    let mut t = Transcript::default();
    t.calls.push(call(Ok(json!({"popularity": 2}))));
    let analyses = [
        // misquotes z's popularity, examined both
        analysis(
            AnalystKind::HistoricalInterest,
            vec![
                claim(z, 0, "/popularity", 5.0),
                claim(w, 0, "/popularity", 2.0),
            ],
            vec![z, w],
        ),
        // right, but never looked at w
        analysis(
            AnalystKind::UserProfile,
            vec![claim(z, 0, "/popularity", 2.0)],
            vec![z],
        ),
    ];
    let r = fx.in_env(&req, (&ToolRegistry::new(), 0), &mut t, |env| {
        RuleReflector.reflect(env, &analyses).unwrap()
    });
    assert_eq!(
        r.flags,
        vec![
            Flag {
                kind: FlagKind::Contradiction,
                analyst: AnalystKind::HistoricalInterest,
                candidate: Some(z),
                message: "Historical-Interest analyst about [z] Zed (1992): claims /popularity = 5 but popularity #0 says 2".into(),
            },
            Flag {
                kind: FlagKind::Unexamined,
                analyst: AnalystKind::UserProfile,
                candidate: Some(w),
                message: "User-Profile analyst never examined [w] Double (1993)".into(),
            },
        ]
    );
    // in AnalystKind order
    assert_eq!(
        r.revise,
        vec![AnalystKind::UserProfile, AnalystKind::HistoricalInterest]
    );
    assert_eq!(
        r.text,
        "checked 3 claims: 1 contradicted, 0 unsupported; 1 candidate examinations missing. \
         Historical-Interest analyst about [z] Zed (1992): claims /popularity = 5 but popularity #0 says 2 \
         User-Profile analyst must also examine [w]. \
         Sending back: User-Profile analyst, Historical-Interest analyst."
    );
}
