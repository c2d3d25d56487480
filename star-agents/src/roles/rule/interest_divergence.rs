//! The rule-based Interest-Divergence analyst: where the recent genre mix departs from the long-
//! term one.

use super::super::{Claim, Fact, ToolEnv};
use super::{ask_each, genre_shares, genres_of, ok_outputs, recent_genre_mix, Findings, Pass};
use crate::tools::ToolError;
use serde_json::json;

/// This analyst's claims about `pass.cands` and the candidates it examined.
pub(super) fn analyse(env: &mut ToolEnv, pass: &Pass) -> Result<Findings, ToolError> {
    let ep = env.view;
    let mut claims = Vec::new();
    let mut examined = Vec::new();
    let out = ok_outputs(env.turn(&[
        ("user_history", json!({"limit": 10})),
        ("user_history", json!({"limit": 200})),
    ])?);
    let infos = ask_each(env, "item_info", pass.cands)?;
    if let (Some((_, recent)), Some((li, long))) = (out.first(), out.get(1)) {
        let rmix = recent_genre_mix(&recent.data);
        let lmix = genre_shares(&long.data);
        for (_, info) in &infos {
            let Some(c) = ep.item_in(&info.data, "id") else {
                continue;
            };
            examined.push(c);
            let gs = genres_of(&info.data);
            let Some((g, (gi, ls))) = gs
                .iter()
                .filter_map(|g| lmix.get(g).map(|x| (g.clone(), *x)))
                .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            else {
                continue;
            };
            let d: f64 = gs
                .iter()
                .map(|g| rmix.get(g).copied().unwrap_or(0.0) - lmix.get(g).map_or(0.0, |x| x.1))
                .sum();
            let st = if d > 0.05 {
                format!(
                    "{} fits a rising interest in {g} (recently above its {:.0}% long-term share).",
                    ep.ctx.label(c),
                    100.0 * ls
                )
            } else if d < -0.05 {
                format!("{} fits {g}, which is fading from the recent history (long-term share {:.0}%).", ep.ctx.label(c), 100.0 * ls)
            } else {
                format!(
                    "{} matches a steady interest in {g} ({:.0}% of the history).",
                    ep.ctx.label(c),
                    100.0 * ls
                )
            };
            claims.push(Claim {
                candidate: c,
                weight: (2.0 * d).clamp(-1.0, 1.0) as f32,
                statement: st,
                fact: Some(Fact {
                    call: *li,
                    pointer: format!("/genres/{gi}/share"),
                    value: ls,
                }),
            });
        }
    }
    Ok((claims, examined))
}

#[cfg(test)]
#[path = "tests/interest_divergence.rs"]
mod tests;
