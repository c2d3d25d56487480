//! Unit tests of [`super`] on the hand-made fixture.

use super::super::fixture::hand;
use super::*;
use crate::tools::ToolRegistry;

#[test]
fn without_cst_popularity_is_log_scaled_and_normalised() {
    let fx = hand();
    let req = fx.request("e", &["x", "y"], &["z", "w", "x"]);
    let ((claims, examined), t) =
        fx.first_pass(&req, &ToolRegistry::standard().without_cst(), analyse);
    assert!(t.calls.iter().all(|c| c.name == "popularity"));
    // other users: z a, c; w c, d; x a, b, d
    let got: Vec<(&str, f32, f64)> = claims
        .iter()
        .map(|c| {
            let f = c.fact.as_ref().unwrap();
            assert_eq!(f.pointer, "/popularity");
            (c.statement.as_str(), c.weight, f.value)
        })
        .collect();
    let two = (3.0f64.ln() / 4.0f64.ln()) as f32;
    assert_eq!(
        got,
        vec![
            ("[z] Zed (1992) has 2 users. (popularity)", two, 2.0),
            ("[w] Double (1993) has 2 users. (popularity)", two, 2.0),
            ("[x] Ex (1990) has 3 users. (popularity)", 1.0, 3.0),
        ]
    );
    assert_eq!(examined, req.candidates);
}

#[test]
fn co_occurrence_with_the_history_is_normalised_by_the_best_candidate() {
    let fx = hand();
    let req = fx.request("e", &["x", "y"], &["z", "w"]);
    let ((claims, examined), t) = fx.first_pass(&req, &ToolRegistry::standard(), analyse);
    assert_eq!(examined, req.candidates);
    assert_eq!(claims.len(), 2);
    let max = claims
        .iter()
        .map(|c| c.fact.as_ref().unwrap().value)
        .fold(0.0, f64::max);
    assert!(max > 0.0);
    for c in &claims {
        let f = c.fact.as_ref().unwrap();
        let call = &t.calls[f.call];
        assert_eq!(call.name, "candidate_evidence");
        let out = call.output.as_ref().unwrap();
        // the claim quotes the tool's value and text
        assert_eq!(out.data["item_cf_score"].as_f64(), Some(f.value));
        assert_eq!(f.pointer, "/item_cf_score");
        assert_eq!(
            c.statement,
            format!("{} (co-occurrence with the whole history)", out.text)
        );
        assert_eq!(c.weight, (f.value / max) as f32);
    }
    // z co-occurs with both history items, w with neither as often
    assert!(claims[0].weight > claims[1].weight);
    assert_eq!(claims[0].weight, 1.0);
}
