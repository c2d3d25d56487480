//! Unit tests of [`super`] on the hand-made fixture.

use super::super::fixture::hand;
use super::*;
use crate::tools::ToolRegistry;

#[test]
fn rising_fading_and_steady_genres() {
    let fx = hand();
    // 10 Drama then 5 Comedy: recent 10 half Drama, half Comedy; long-term Drama 2/3
    let mut h = vec!["x"; 10];
    h.extend(["z"; 5]);
    let req = fx.request("e", &h, &["z", "x", "w"]);
    let (z, x, w) = (fx.item("z"), fx.item("x"), fx.item("w"));
    let ((claims, examined), t) = fx.first_pass(&req, &ToolRegistry::standard(), analyse);
    assert_eq!(t.calls[1].arguments["limit"], 200);
    // w is examined, but no genre of it is in the history: no claim
    assert_eq!(examined, vec![z, x, w]);
    let got: Vec<_> = claims
        .iter()
        .map(|c| (c.candidate, c.statement.as_str(), c.fact.clone().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                z,
                "[z] Zed (1992) fits a rising interest in Comedy (recently above its 33% long-term share).",
                Fact { call: 1, pointer: "/genres/1/share".into(), value: 5.0 / 15.0 }
            ),
            (
                x,
                "[x] Ex (1990) fits Drama, which is fading from the recent history (long-term share 67%).",
                Fact { call: 1, pointer: "/genres/0/share".into(), value: 10.0 / 15.0 }
            ),
        ]
    );
    // weight 2 * (recent - long-term share), in [-1, 1]
    assert!((claims[0].weight - 1.0 / 3.0).abs() < 1e-6);
    assert!((claims[1].weight + 1.0 / 3.0).abs() < 1e-6);
}

#[test]
fn a_steady_genre_weighs_nothing() {
    let fx = hand();
    let req = fx.request("e", &["x", "y"], &["z"]);
    let ((claims, _), _) = fx.first_pass(&req, &ToolRegistry::standard(), analyse);
    assert_eq!(claims.len(), 1);
    assert_eq!(
        claims[0].statement,
        "[z] Zed (1992) matches a steady interest in Comedy (25% of the history)."
    );
    assert_eq!(claims[0].weight, 0.0);
}
