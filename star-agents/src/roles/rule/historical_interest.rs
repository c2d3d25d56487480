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
#[path = "tests/historical_interest.rs"]
mod tests;
