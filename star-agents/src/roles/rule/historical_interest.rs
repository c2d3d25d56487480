//! The rule-based Historical-Interest analyst: each candidate's co-occurrence with the whole
//! history (popularity without the CST tools).

use super::super::{Analysis, Claim, EpisodeView, Fact, ToolEnv};
use super::{ask_each, normalise, pointer_f64};
use crate::tools::ToolError;
use star_cf::ItemId;

/// This analyst's claims about `cands` and the candidates it examined; `previous` is its
/// earlier analysis when it revises.
pub(super) fn analyse(
    ep: &EpisodeView,
    env: &mut ToolEnv,
    cands: &[ItemId],
    _previous: Option<&Analysis>,
) -> Result<(Vec<Claim>, Vec<ItemId>), ToolError> {
    let mut claims = Vec::new();
    let mut examined = Vec::new();
    let (tool, pointer, label) = if env.has("candidate_evidence") {
        (
            "candidate_evidence",
            "/item_cf_score",
            "co-occurrence with the whole history",
        )
    } else {
        ("popularity", "/popularity", "popularity")
    };
    let outs = ask_each(ep, env, tool, cands)?;
    let mut xs: Vec<(ItemId, f64, Fact, String)> = outs
        .iter()
        .filter_map(|(i, o)| {
            let c = ep.item_in(&o.data, "item")?;
            let v = pointer_f64(&o.data, pointer)?;
            let st = if tool == "popularity" {
                format!("{} has {v} users.", ep.ctx.label(c))
            } else {
                o.text.clone()
            };
            Some((
                c,
                if tool == "popularity" {
                    (1.0 + v).ln()
                } else {
                    v
                },
                Fact {
                    call: *i,
                    pointer: pointer.into(),
                    value: v,
                },
                st,
            ))
        })
        .collect();
    normalise(&mut xs);
    examined.extend(xs.iter().map(|x| x.0));
    claims.extend(xs.into_iter().map(|(c, w, f, s)| Claim {
        candidate: c,
        weight: w as f32,
        statement: format!("{s} ({label})"),
        fact: Some(f),
    }));
    Ok((claims, examined))
}

#[cfg(test)]
mod tests {
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
}
