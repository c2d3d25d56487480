//! Unit tests of [`super`] on the hand-made fixture.

use super::super::fixture::hand;
use super::*;
use crate::roles::{Analysis, Claim, Plan};

fn claim(candidate: ItemId, weight: f32, statement: &str) -> Claim {
    Claim {
        candidate,
        weight,
        statement: statement.into(),
        fact: None,
    }
}

#[test]
fn ranks_by_the_plan_weighted_sum_and_justifies_with_the_strongest_claim() {
    let fx = hand();
    let req = fx.request("e", &["x", "y"], &["z", "w", "x"]);
    let (z, w, x, y) = (fx.item("z"), fx.item("w"), fx.item("x"), fx.item("y"));
    let plan = Plan {
        text: String::new(),
        // User-Profile 1, Historical-Interest 2, the others ignored
        weights: [1.0, 2.0, 0.0, 0.0],
    };
    let analyses = [
        Analysis {
            analyst: AnalystKind::UserProfile,
            // z 0.5, w 0.2; y is no candidate and is ignored
            claims: vec![
                claim(z, 0.5, "z profile"),
                claim(w, 0.2, "w profile"),
                claim(y, 9.0, "y"),
            ],
            examined: vec![],
            summary: String::new(),
        },
        Analysis {
            analyst: AnalystKind::HistoricalInterest,
            // w 2 * 0.4 = 0.8, z 2 * -0.1 = -0.2
            claims: vec![claim(w, 0.4, "w history"), claim(z, -0.1, "z history")],
            examined: vec![],
            summary: String::new(),
        },
        Analysis {
            analyst: AnalystKind::RecentInterest,
            // plan weight 0: counts nothing, and is never the strongest claim
            claims: vec![claim(z, 5.0, "z recent")],
            examined: vec![],
            summary: String::new(),
        },
    ];
    let tools = crate::tools::ToolRegistry::new();
    let (r, _) = fx.with_env(&req, &tools, |env| {
        let d = Deliberation {
            plan: &plan,
            analyses: &analyses,
        };
        RuleRanker.rank(env, d).unwrap()
    });
    // w 1.0, z 0.3, x 0
    assert_eq!(r.items, vec![w, z, x]);
    assert!(r.valid && r.raw.is_none());
    // nothing is said about x: its label stands in
    assert_eq!(
        r.justification,
        "1. w history 2. z profile 3. [x] Ex (1990)"
    );
}
