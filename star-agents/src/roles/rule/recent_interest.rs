//! The rule-based Recent-Interest analyst: what the most recent items co-occur with (their genres
//! without the CST tools).

use super::super::{Analysis, Claim, EpisodeView, Fact, ToolEnv};
use super::{array_in, ask_each, genres_of, normalise, ok_outputs, recent_genre_mix};
use crate::tools::ToolError;
use serde_json::{json, Value};
use star_cf::ItemId;
use std::collections::{BTreeMap, BTreeSet};

/// This analyst's claims about `cands` and the candidates it examined; `previous` is its
/// earlier analysis when it revises.
pub(super) fn analyse(
    ep: &EpisodeView,
    env: &mut ToolEnv,
    cands: &[ItemId],
    previous: Option<&Analysis>,
) -> Result<(Vec<Claim>, Vec<ItemId>), ToolError> {
    let mut claims = Vec::new();
    let mut examined = Vec::new();
    if previous.is_none() && env.has("item_cf") {
        // What the three most recent items co-occur with.
        let h = &ep.ctx.request.history;
        let recent: Vec<ItemId> = h.iter().rev().take(3).copied().collect();
        let calls: Vec<_> = recent
            .iter()
            .map(|&r| ("item_cf", json!({"item": ep.ctx.raw(r), "k": 50})))
            .collect();
        let outs = ok_outputs(env.turn(&calls)?);
        let want: BTreeSet<ItemId> = cands.iter().copied().collect();
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
        let mut xs: Vec<(ItemId, f64, Fact, String)> = best
            .into_iter()
            .map(|(c, (v, f, s))| (c, v, f, s))
            .collect();
        normalise(&mut xs);
        examined.extend(xs.iter().map(|x| x.0));
        claims.extend(xs.into_iter().map(|(c, w, f, s)| Claim {
            candidate: c,
            weight: w as f32,
            statement: s,
            fact: Some(f),
        }));
    } else if env.has("candidate_evidence") {
        // Revision (or no item_cf): the co-occurrence of each remaining candidate
        // with the three most recent items, on the first pass's scale.
        let outs = ask_each(ep, env, "candidate_evidence", cands)?;
        let scale = previous
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
        let infos = ask_each(ep, env, "item_info", cands)?;
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
mod tests {
    use super::super::fixture::hand;
    use super::*;
    use crate::tools::ToolRegistry;

    #[test]
    fn each_candidate_gets_its_best_link_to_the_three_most_recent_items() {
        let fx = hand();
        let req = fx.request("e", &["x", "y"], &["z", "w"]);
        let (z, w) = (fx.item("z"), fx.item("w"));
        let ((claims, examined), t) = fx.first_pass(&req, &ToolRegistry::standard(), analyse);
        // the most recent item first
        let anchors: Vec<&serde_json::Value> =
            t.calls.iter().map(|c| &c.arguments["item"]).collect();
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
        let ((claims, examined), t) = fx.with_env(&req, &ToolRegistry::standard(), |ep, env| {
            analyse(ep, env, &[w], Some(&previous)).unwrap()
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
        let ((claims, _), t) =
            fx.first_pass(&req, &ToolRegistry::standard().without_cst(), analyse);
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
}
