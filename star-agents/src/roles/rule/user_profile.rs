//! The rule-based User-Profile analyst: the user's genre mix, the closest users' picks, and the CF
//! model's rank where it may be consulted.

use super::super::{Claim, EpisodeView, Fact, ToolEnv};
use super::{
    ask_each, genre_shares, genres_of, normalised_claims, ok_outputs, pointer_f64, Findings, Pass,
};
use crate::tools::{ToolError, ToolOutput};
use serde_json::{json, Value};
use star_cf::ItemId;

/// Genre claims: how much of the user's history shares the candidate's genres.
fn genre_claims(
    ep: &EpisodeView,
    history: (usize, &Value),
    infos: &[(usize, ToolOutput)],
    scale: f32,
) -> Vec<Claim> {
    let shares = genre_shares(history.1);
    infos
        .iter()
        .filter_map(|(_, info)| {
            let c = ep.item_in(&info.data, "id")?;
            let best = genres_of(&info.data)
                .into_iter()
                .filter_map(|g| shares.get(&g).map(|&(i, s)| (g, i, s)))
                .max_by(|a, b| a.2.total_cmp(&b.2));
            Some(match best {
                Some((g, i, s)) => Claim {
                    candidate: c,
                    weight: scale * (s as f32).min(0.5) * 2.0,
                    statement: format!(
                        "{} is {g}, {:.0}% of the history.",
                        ep.ctx.label(c),
                        100.0 * s
                    ),
                    fact: Some(Fact {
                        call: history.0,
                        pointer: format!("/genres/{i}/share"),
                        value: s,
                    }),
                },
                None => Claim {
                    candidate: c,
                    weight: -0.3 * scale,
                    statement: format!("{} shares no genre with the history.", ep.ctx.label(c)),
                    fact: Some(Fact {
                        call: history.0,
                        pointer: "/length".into(),
                        value: ep.ctx.request.history.len() as f64,
                    }),
                },
            })
        })
        .collect()
}

/// This analyst's claims about `pass.cands` and the candidates it examined.
pub(super) fn analyse(env: &mut ToolEnv, pass: &Pass) -> Result<Findings, ToolError> {
    let ep = env.view;
    let mut claims = Vec::new();
    let mut examined = Vec::new();
    let mut calls = vec![("user_history", json!({"limit": 50}))];
    if env.has("user_cf") && pass.previous.is_none() {
        calls.push(("user_cf", json!({})));
    }
    let out = ok_outputs(env.turn(&calls)?);
    let infos = ask_each(env, "item_info", pass.cands)?;
    if let Some((hi, h)) = out.iter().find(|(_, o)| o.data.get("length").is_some()) {
        claims.extend(genre_claims(ep, (*hi, &h.data), &infos, 0.5));
    }
    if let Some((ui, u)) = out.iter().find(|(_, o)| o.data.get("hits").is_some()) {
        let k = u.data.get("k").and_then(Value::as_f64).unwrap_or(0.0);
        let xs: Vec<(ItemId, f64, Fact, String)> = pass
            .cands
            .iter()
            .filter_map(|&c| {
                let p = format!(
                    "/hits/{}",
                    ep.ctx.raw(c).replace('~', "~0").replace('/', "~1")
                );
                let h = pointer_f64(&u.data, &p)?;
                let st = format!(
                    "{h} of the {k} users closest to this user watched {}.",
                    ep.ctx.label(c)
                );
                Some((
                    c,
                    h,
                    Fact {
                        call: *ui,
                        pointer: p,
                        value: h,
                    },
                    st,
                ))
            })
            .collect();
        claims.extend(normalised_claims(xs));
    }
    examined.extend(infos.iter().filter_map(|(_, o)| ep.item_in(&o.data, "id")));
    // The CF model's opinion, where it may be consulted (it refuses training samples).
    if env.has("cf_score")
        && ep.ctx.res.cf.is_some()
        && ep.ctx.sees_whole_train_history()
        && env.turns_left() > 0
    {
        let n = ep.ctx.request.candidates.len().max(2) as f64;
        for (i, o) in ask_each(env, "cf_score", pass.cands)? {
            let (Some(c), Some(rank)) =
                (ep.item_in(&o.data, "item"), pointer_f64(&o.data, "/rank"))
            else {
                continue;
            };
            claims.push(Claim {
                candidate: c,
                weight: (1.0 - (rank - 1.0) / (n - 1.0)) as f32,
                statement: format!("The CF model ranks {} #{rank} of {n}.", ep.ctx.label(c)),
                fact: Some(Fact {
                    call: i,
                    pointer: "/rank".into(),
                    value: rank,
                }),
            });
        }
    }
    Ok((claims, examined))
}

#[cfg(test)]
#[path = "tests/user_profile.rs"]
mod tests;
