//! Unit tests of [`super`] on the hand-made fixture.

use super::super::fixture::hand;
use super::*;
use crate::roles::Analysis;
use crate::tools::ToolRegistry;

#[test]
fn each_candidate_gets_its_best_link_to_the_three_most_recent_items() {
    let fx = hand();
    let req = fx.request("e", &["x", "y"], &["z", "w"]);
    let (z, w) = (fx.item("z"), fx.item("w"));
    let ((claims, examined), t) = fx.first_pass(&req, &ToolRegistry::standard(), analyse);
    // the most recent item first
    let anchors: Vec<&serde_json::Value> = t.calls.iter().map(|c| &c.arguments["item"]).collect();
    assert_eq!(anchors, ["y", "x"]);
    let claim = |c: ItemId| claims.iter().find(|x| x.candidate == c).unwrap();
    // cosine over the other users: y {a,b,c} ~ z {a,c} = 2/sqrt(6), the best link of z;
    // w {c,d} shares one user with y and one with x: 1/sqrt(6) both, the first one wins
    let (cz, cw) = (claim(z), claim(w));
    assert_eq!(
        cz.statement,
        "[z] Zed (1992) is co-watched 2 times with the recent [y] Why (1991) (similarity 0.82)."
    );
    assert_eq!(
        cw.statement,
        "[w] Double (1993) is co-watched 1 times with the recent [y] Why (1991) (similarity 0.41)."
    );
    assert_eq!(cz.weight, 1.0);
    assert!((cw.weight - 0.5).abs() < 1e-6, "{}", cw.weight);
    let fz = cz.fact.as_ref().unwrap();
    assert_eq!(fz.call, 0);
    assert!(fz.pointer.starts_with("/neighbors/") && fz.pointer.ends_with("/score"));
    let mut want = vec![z, w];
    want.sort();
    assert_eq!(examined, want);
}

#[test]
fn a_revision_scores_on_the_first_pass_scale() {
    let fx = hand();
    let req = fx.request("e", &["x", "y"], &["z", "w"]);
    let w = fx.item("w");
    let previous = Analysis {
        analyst: crate::roles::AnalystKind::RecentInterest,
        claims: vec![Claim {
            candidate: fx.item("z"),
            weight: 1.0,
            statement: String::new(),
            fact: Some(Fact {
                call: 0,
                pointer: String::new(),
                value: 2.0,
            }),
        }],
        examined: vec![],
        summary: String::new(),
    };
    let ((claims, examined), t) = fx.with_env(&req, &ToolRegistry::standard(), |env| {
        let pass = Pass {
            cands: &[w],
            previous: Some(&previous),
        };
        analyse(env, &pass).unwrap()
    });
    assert_eq!(t.calls.len(), 1);
    assert_eq!(t.calls[0].name, "candidate_evidence");
    assert_eq!(examined, vec![w]);
    assert_eq!(claims.len(), 1);
    let f = claims[0].fact.as_ref().unwrap();
    // w is as similar to y (1 step back) as to x (2 steps back): a tie quotes the
    // farther one; the weight divides by the earlier best, 2
    assert_eq!(f.pointer, "/recent/1/score");
    assert_eq!(claims[0].weight, (f.value / 2.0) as f32);
    assert_eq!(
        claims[0].statement,
        format!(
            "[w] Double (1993) is co-watched 1 times with the item 2 steps back (similarity {:.2}).",
            f.value
        )
    );
}

#[test]
fn without_cst_the_genres_of_the_recent_items_decide() {
    let fx = hand();
    // recent x (Drama), y (Drama|Comedy): Drama 75%, Comedy 25%
    let req = fx.request("e", &["x", "y"], &["z", "w"]);
    let ((claims, _), t) = fx.first_pass(&req, &ToolRegistry::standard().without_cst(), analyse);
    assert_eq!(t.calls[0].name, "user_history");
    let got: Vec<(&str, f32)> = claims
        .iter()
        .map(|c| (c.statement.as_str(), c.weight))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "[z] Zed (1992)'s genres cover 25% of the 10 most recent items.",
                0.25
            ),
            (
                "[w] Double (1993)'s genres cover 0% of the 10 most recent items.",
                0.0
            ),
        ]
    );
}

/// A sequential model for the tests: scores an item by its index (`sign` 1) or against it
/// (`sign` -1).
struct ByIndex(&'static str, f32);

impl star_cf::Ranker for ByIndex {
    fn name(&self) -> String {
        self.0.into()
    }
    fn rank(&self, r: &star_cf::RankRequest) -> Result<star_cf::Ranking, star_cf::RankError> {
        let scores: Vec<f32> = r.candidates.iter().map(|c| self.1 * c.0 as f32).collect();
        Ok(star_cf::Ranking::from_scores(&r.candidates, &scores))
    }
}

#[test]
fn the_sequential_models_ranking_leads_where_it_may_answer() {
    use crate::roles::rule::check_claim;
    use crate::tools::SequenceModels;
    use std::sync::Arc;
    let mut fx = hand();
    fx.res = fx.res.clone().with_sequence(SequenceModels {
        train: None,
        eval: Arc::new(ByIndex("up", 1.0)),
    });
    let w = fx.item("w");
    // e's whole train history (x y z): a test request, answered by the model
    let test = fx.request("e", &["x", "y", "z"], &["w", "p"]);
    let ((claims, examined), t) = fx.first_pass(&test, &ToolRegistry::standard(), analyse);
    assert_eq!(t.calls[0].name, "sequence_score");
    let (top, second) = if fx.item("p").0 > w.0 {
        (fx.item("p"), w)
    } else {
        (w, fx.item("p"))
    };
    let seq: Vec<&Claim> = claims
        .iter()
        .filter(|c| c.statement.starts_with("The sequential model"))
        .collect();
    assert_eq!(seq.len(), 2);
    assert_eq!(seq[0].candidate, top);
    assert_eq!(seq[0].weight, SEQUENCE_WEIGHT as f32);
    // the second in proportion to its probability: e^-(index gap) of the top's
    let gap = (top.0 - second.0) as f64;
    assert!((seq[1].weight as f64 - SEQUENCE_WEIGHT * (-gap).exp()).abs() < 1e-5);
    assert!(
        seq[1].statement.contains("(#2 of 2)"),
        "{}",
        seq[1].statement
    );
    // every claim cites the tool's answer faithfully, so the reflector lets it stand
    for c in &seq {
        assert_eq!(check_claim(c, &t.calls), None, "{}", c.statement);
    }
    assert!(examined.contains(&top) && examined.contains(&second));
    // a training sample (a prefix of e's train sequence) without fold models: not asked
    let train = fx.request("e", &["x", "y"], &["z", "w"]);
    let (_, t) = fx.first_pass(&train, &ToolRegistry::standard(), analyse);
    assert!(t.calls.iter().all(|c| c.name != "sequence_score"));
}
