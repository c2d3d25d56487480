//! The rule-based Historical-Interest analyst: each candidate's co-occurrence with the whole
//! history (popularity without the CST tools).

use super::super::{Fact, ToolEnv};
use super::{ask_each, normalised_claims, pointer_f64, Findings, Pass};
use crate::tools::ToolError;
use star_cf::ItemId;

/// This analyst's claims about `pass.cands` and the candidates it examined.
pub(super) fn analyse(env: &mut ToolEnv, pass: &Pass) -> Result<Findings, ToolError> {
    let ep = env.view;
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
    let outs = ask_each(env, tool, pass.cands)?;
    let xs: Vec<(ItemId, f64, Fact, String)> = outs
        .iter()
        .filter_map(|(i, o)| {
            let c = ep.item_in(&o.data, "item")?;
            let v = pointer_f64(&o.data, pointer)?;
            let st = if tool == "popularity" {
                format!("{} has {v} users. ({label})", ep.ctx.label(c))
            } else {
                format!("{} ({label})", o.text)
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
    examined.extend(xs.iter().map(|x| x.0));
    claims.extend(normalised_claims(xs));
    Ok((claims, examined))
}

#[cfg(test)]
#[path = "tests/historical_interest.rs"]
mod tests;
