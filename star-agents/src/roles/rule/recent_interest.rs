//! The rule-based Recent-Interest analyst: the sequential model's reading of the history where
//! one may answer, and what the most recent items co-occur with (their genres without the CST
//! tools).

use super::super::{Claim, Fact, ToolEnv};
use super::{
    array_in, ask_each, genres_of, normalised_claims, ok_outputs, recent_genre_mix, Findings, Pass,
};
use crate::tools::ToolError;
use serde_json::{json, Value};
use star_cf::ItemId;
use std::collections::{BTreeMap, BTreeSet};

/// The weight of the sequential model's top candidate among this analyst's claims (the others
/// in proportion to their probability); the co-occurrence claims weigh at most 1. Chosen on
/// MovieLens-100K's valid split from 1, 2, 4 and 8 (BENCHMARKS.md).
pub const SEQUENCE_WEIGHT: f64 = 4.0;

/// Claims from the sequential model's ranking (`sequence_score`), on a first pass, where a
/// model may answer the request.
fn sequence_claims(env: &mut ToolEnv, pass: &Pass) -> Result<Vec<Claim>, ToolError> {
    let ep = env.view;
    let answers = ep
        .ctx
        .res
        .sequence
        .as_ref()
        .is_some_and(|m| m.for_request(ep.ctx).is_ok());
    if pass.previous.is_some() || !env.has("sequence_score") || !answers || env.turns_left() == 0 {
        return Ok(Vec::new());
    }
    let want: BTreeSet<ItemId> = pass.cands.iter().copied().collect();
    let mut claims = Vec::new();
    for (i, o) in ok_outputs(env.turn(&[("sequence_score", json!({}))])?) {
        let rows = array_in(&o.data, "candidates");
        let probability = |r: &Value| r.get("probability").and_then(Value::as_f64);
        let top = rows.first().and_then(probability).unwrap_or(0.0);
        if top <= 0.0 {
            continue;
        }
        for (j, r) in rows.iter().enumerate() {
            let (Some(c), Some(p)) = (ep.item_in(r, "id"), probability(r)) else {
                continue;
            };
            if !want.contains(&c) {
                continue;
            }
            claims.push(Claim {
                candidate: c,
                weight: (SEQUENCE_WEIGHT * p / top) as f32,
                statement: format!(
                    "The sequential model gives {} {:.0}% (#{} of {}).",
                    ep.ctx.label(c),
                    100.0 * p,
                    j + 1,
                    rows.len()
                ),
                fact: Some(Fact {
                    call: i,
                    pointer: format!("/candidates/{j}/probability"),
                    value: p,
                }),
            });
        }
    }
    Ok(claims)
}

/// This analyst's claims about `pass.cands` and the candidates it examined.
pub(super) fn analyse(env: &mut ToolEnv, pass: &Pass) -> Result<Findings, ToolError> {
    let ep = env.view;
    let mut claims = sequence_claims(env, pass)?;
    let mut examined: Vec<ItemId> = claims.iter().map(|c| c.candidate).collect();
    if pass.previous.is_none() && env.has("item_cf") {
        // What the three most recent items co-occur with.
        let h = &ep.ctx.request.history;
        let recent: Vec<ItemId> = h.iter().rev().take(3).copied().collect();
        let calls: Vec<_> = recent
            .iter()
            .map(|&r| ("item_cf", json!({"item": ep.ctx.raw(r), "k": 50})))
            .collect();
        let outs = ok_outputs(env.turn(&calls)?);
        let want: BTreeSet<ItemId> = pass.cands.iter().copied().collect();
        let mut best: BTreeMap<ItemId, (f64, Fact, String)> = BTreeMap::new();
        for (i, o) in &outs {
            let anchor = o.data.get("item").cloned().unwrap_or(Value::Null);
            let nbrs = array_in(&o.data, "neighbors");
            for (j, n) in nbrs.iter().enumerate() {
                let Some(c) = ep.item_in(n, "id") else {
                    continue;
                };
                if !want.contains(&c) {
                    continue;
                }
                let v = n.get("score").and_then(Value::as_f64).unwrap_or(0.0);
                let count = n.get("co_occurrence").and_then(Value::as_u64).unwrap_or(0);
                if best.get(&c).is_none_or(|b| v > b.0) {
                    let a = ep
                        .ctx
                        .item("item_cf", &anchor)
                        .map(|a| ep.ctx.label(a))
                        .unwrap_or_default();
                    best.insert(c, (v, Fact { call: *i, pointer: format!("/neighbors/{j}/score"), value: v }, format!("{} is co-watched {count} times with the recent {a} (similarity {v:.2}).", ep.ctx.label(c))));
                }
            }
        }
        let xs: Vec<(ItemId, f64, Fact, String)> = best
            .into_iter()
            .map(|(c, (v, f, s))| (c, v, f, s))
            .collect();
        examined.extend(xs.iter().map(|x| x.0));
        claims.extend(normalised_claims(xs));
    } else if env.has("candidate_evidence") {
        // Revision (or no item_cf): the co-occurrence of each remaining candidate
        // with the three most recent items, on the first pass's scale.
        let outs = ask_each(env, "candidate_evidence", pass.cands)?;
        let scale = pass
            .previous
            .and_then(|p| {
                p.claims
                    .iter()
                    .filter_map(|c| c.fact.as_ref().map(|f| f.value))
                    .reduce(f64::max)
            })
            .unwrap_or(0.0);
        let mut found = Vec::new();
        for (i, o) in &outs {
            let Some(c) = ep.item_in(&o.data, "item") else {
                continue;
            };
            examined.push(c);
            let links = array_in(&o.data, "recent");
            let best = links
                .iter()
                .take(3)
                .enumerate()
                .filter_map(|(j, l)| {
                    Some((
                        j,
                        l.get("score")?.as_f64()?,
                        l.get("co_occurrence")?.as_u64()?,
                    ))
                })
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((j, v, count)) = best.filter(|b| b.1 > 0.0) {
                found.push((c, v, Fact { call: *i, pointer: format!("/recent/{j}/score"), value: v }, format!("{} is co-watched {count} times with the item {} steps back (similarity {v:.2}).", ep.ctx.label(c), j + 1)));
            }
        }
        let scale = scale
            .max(found.iter().map(|x| x.1).fold(0.0, f64::max))
            .max(f64::MIN_POSITIVE);
        claims.extend(found.into_iter().map(|(c, v, f, s)| Claim {
            candidate: c,
            weight: (v / scale) as f32,
            statement: s,
            fact: Some(f),
        }));
    } else {
        // no CST: genres of the 10 most recent items
        let out = ok_outputs(env.turn(&[("user_history", json!({"limit": 10}))])?);
        let infos = ask_each(env, "item_info", pass.cands)?;
        if let Some((hi, h)) = out.first() {
            let recent_mix = recent_genre_mix(&h.data);
            for (_, info) in &infos {
                let Some(c) = ep.item_in(&info.data, "id") else {
                    continue;
                };
                let s: f64 = genres_of(&info.data)
                    .iter()
                    .map(|g| recent_mix.get(g).copied().unwrap_or(0.0))
                    .sum();
                examined.push(c);
                claims.push(Claim {
                    candidate: c,
                    weight: s.min(1.0) as f32,
                    statement: format!(
                        "{}'s genres cover {:.0}% of the 10 most recent items.",
                        ep.ctx.label(c),
                        100.0 * s.min(1.0)
                    ),
                    fact: Some(Fact {
                        call: *hi,
                        pointer: "/length".into(),
                        value: ep.ctx.request.history.len() as f64,
                    }),
                });
            }
        }
    }
    Ok((claims, examined))
}

#[cfg(test)]
#[path = "tests/recent_interest.rs"]
mod tests;
