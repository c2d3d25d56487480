//! Unit tests of [`super`] on the hand-made fixture.

use super::super::fixture::hand;
use super::*;
use crate::roles::Analysis;
use crate::roles::AnalystKind;
use crate::tools::ToolRegistry;

#[test]
fn genre_shares_and_closest_users_cite_their_tool_calls() {
    let fx = hand();
    // e's training sample: history x (Drama), y (Drama|Comedy) -> Drama 75%, Comedy 25%
    let req = fx.request("e", &["x", "y"], &["z", "w"]);
    let (z, w) = (fx.item("z"), fx.item("w"));
    let ((claims, examined), t) = fx.first_pass(&req, &ToolRegistry::standard(), analyse);
    let names: Vec<&str> = t.calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["user_history", "user_cf", "item_info", "item_info"]);
    let fact = |call, pointer: &str, value| {
        Some(Fact {
            call,
            pointer: pointer.into(),
            value,
        })
    };
    assert_eq!(
        claims,
        vec![
            Claim {
                candidate: z,
                weight: 0.25, // scale 0.5 * share 0.25 * 2
                statement: "[z] Zed (1992) is Comedy, 25% of the history.".into(),
                fact: fact(0, "/genres/1/share", 0.25),
            },
            Claim {
                candidate: w,
                weight: -0.15,
                statement: "[w] Double (1993) shares no genre with the history.".into(),
                fact: fact(0, "/length", 2.0),
            },
            // a, c watched z and c, d watched w: a tie, both normalised to 1
            Claim {
                candidate: z,
                weight: 1.0,
                statement: "2 of the 4 users closest to this user watched [z] Zed (1992).".into(),
                fact: fact(1, "/hits/z", 2.0),
            },
            Claim {
                candidate: w,
                weight: 1.0,
                statement: "2 of the 4 users closest to this user watched [w] Double (1993)."
                    .into(),
                fact: fact(1, "/hits/w", 2.0),
            },
        ]
    );
    assert_eq!(examined, vec![z, w]);
}

#[test]
fn a_revision_or_no_cst_asks_no_similar_users() {
    let fx = hand();
    let req = fx.request("e", &["x", "y"], &["z", "w"]);
    for (tools, revising) in [
        (ToolRegistry::standard().without_cst(), false),
        (ToolRegistry::standard(), true),
    ] {
        let previous = Analysis {
            analyst: AnalystKind::UserProfile,
            claims: vec![],
            examined: vec![],
            summary: String::new(),
        };
        let ((claims, _), t) = fx.with_env(&req, &tools, |env| {
            let pass = Pass {
                cands: &req.candidates,
                previous: revising.then_some(&previous),
            };
            analyse(env, &pass).unwrap()
        });
        assert!(t.calls.iter().all(|c| c.name != "user_cf"));
        assert_eq!(claims.len(), 2, "only the genre claims");
    }
}
