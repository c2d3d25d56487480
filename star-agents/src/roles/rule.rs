//! Rule-based roles: deterministic, data-driven, and they use only the tools. The default
//! teacher; it needs no model.

use super::*;
use crate::tools::ToolOutput;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn pointer_f64(data: &Value, pointer: &str) -> Option<f64> {
    data.pointer(pointer).and_then(Value::as_f64)
}

/// The successful calls of a turn.
fn ok_outputs(results: Vec<CallResult>) -> Vec<(usize, ToolOutput)> {
    results
        .into_iter()
        .filter_map(|(i, r)| r.ok().map(|o| (i, o)))
        .collect()
}

fn item_args(ep: &EpisodeView, items: &[ItemId]) -> Vec<Value> {
    items
        .iter()
        .map(|&c| json!({"item": ep.ctx.raw(c)}))
        .collect()
}

/// Total-variation distance between the genre mix of the last 10 history items and the rest.
fn genre_drift(ep: &EpisodeView) -> Option<f64> {
    let h = &ep.ctx.request.history;
    if h.len() < 20 {
        return None;
    }
    let ds = &ep.ctx.res.dataset;
    let mix = |items: &[ItemId]| {
        let mut m = vec![0.0f64; ds.genres.len()];
        for i in items {
            let g = &ds.items[i.idx()].genres;
            for &k in g {
                m[k as usize] += 1.0 / (g.len() as f64 * items.len() as f64);
            }
        }
        m
    };
    let (early, recent) = h.split_at(h.len() - 10);
    let (a, b) = (mix(early), mix(recent));
    Some(0.5 * a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f64>())
}

/// Plans from the history's length and genre drift, and sets how much the ranker trusts each
/// analyst.
#[derive(Clone, Debug, Default)]
pub struct RulePlanner;

impl Planner for RulePlanner {
    fn plan(&self, ep: &EpisodeView, _t: &mut Transcript) -> Result<Plan, RoleError> {
        let n = ep.ctx.request.history.len();
        let drift = genre_drift(ep);
        let (weights, why) = if n < 15 {
            (
                [1.3, 0.8, 1.0, 0.3],
                format!("The history is short ({n} items), so similar users and broad tastes carry the most weight."),
            )
        } else if drift.is_some_and(|d| d >= 0.5) {
            (
                [0.9, 0.8, 1.4, 1.0],
                format!(
                    "The last 10 items depart from the earlier taste (genre drift {:.2}), so recent interest and its divergence carry the most weight.",
                    drift.unwrap_or(0.0)
                ),
            )
        } else {
            (
                [1.0, 1.2, 1.0, 0.4],
                format!(
                    "The history is long ({n} items) and stable{}, so co-occurrence with the whole history carries the most weight.",
                    drift.map(|d| format!(" (genre drift {d:.2})")).unwrap_or_default()
                ),
            )
        };
        let text = format!(
            "{why} Steps: profile the user and the closest users; score every candidate against the whole history; check what the most recent items co-occur with; look for shifts in genre; verify every claim against the tool results; rank all {} candidates.",
            ep.ctx.request.candidates.len()
        );
        Ok(Plan { text, weights })
    }
}

/// A rule-based analyst of one kind.
#[derive(Clone, Debug)]
pub struct RuleAnalyst {
    kind: AnalystKind,
}

impl RuleAnalyst {
    /// The analyst of `kind`.
    pub fn new(kind: AnalystKind) -> Self {
        RuleAnalyst { kind }
    }

    /// One rule analyst of each kind.
    pub fn all() -> Vec<RuleAnalyst> {
        AnalystKind::ALL.into_iter().map(RuleAnalyst::new).collect()
    }
}

/// Genre shares of the whole history from a `user_history` result: genre → (index, share).
fn genre_shares(data: &Value) -> BTreeMap<String, (usize, f64)> {
    data.get("genres")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .enumerate()
                .filter_map(|(i, g)| {
                    Some((
                        g.get("genre")?.as_str()?.to_string(),
                        (i, g.get("share")?.as_f64()?),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn genres_of(data: &Value) -> Vec<String> {
    data.get("genres")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Normalises weights to [0, 1] by the maximum (all zero stays zero).
fn normalise(xs: &mut [(ItemId, f64, Fact, String)]) {
    let max = xs.iter().map(|x| x.1).fold(0.0f64, f64::max);
    if max > 0.0 {
        for x in xs.iter_mut() {
            x.1 /= max;
        }
    }
}

impl RuleAnalyst {
    /// Genre claims: how much of the user's history shares the candidate's genres.
    fn genre_claims(
        &self,
        ep: &EpisodeView,
        history: (usize, &Value),
        infos: &[(usize, ToolOutput)],
        scale: f32,
    ) -> Vec<Claim> {
        let shares = genre_shares(history.1);
        infos
            .iter()
            .filter_map(|(_, info)| {
                let c = ep.ctx.item("item_info", info.data.get("id")?).ok()?;
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

    fn run(
        &self,
        ep: &EpisodeView,
        env: &mut ToolEnv,
        todo: &[ItemId],
        previous: Option<&Analysis>,
    ) -> Result<(Vec<Claim>, Vec<ItemId>), ToolError> {
        let cands = todo;
        let mut claims = Vec::new();
        let mut examined = Vec::new();
        match self.kind {
            AnalystKind::UserProfile => {
                let mut calls = vec![("user_history", json!({"limit": 50}))];
                if env.has("user_cf") && previous.is_none() {
                    calls.push(("user_cf", json!({})));
                }
                let out = ok_outputs(env.turn(&calls)?);
                let infos: Vec<_> = item_args(ep, cands)
                    .into_iter()
                    .map(|a| ("item_info", a))
                    .collect();
                let infos = ok_outputs(env.turn(&infos)?);
                if let Some((hi, h)) = out.iter().find(|(_, o)| o.data.get("length").is_some()) {
                    claims.extend(self.genre_claims(ep, (*hi, &h.data), &infos, 0.5));
                }
                if let Some((ui, u)) = out.iter().find(|(_, o)| o.data.get("hits").is_some()) {
                    let k = u.data.get("k").and_then(Value::as_f64).unwrap_or(0.0);
                    let mut xs: Vec<(ItemId, f64, Fact, String)> = cands
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
                    normalise(&mut xs);
                    claims.extend(xs.into_iter().map(|(c, w, f, s)| Claim {
                        candidate: c,
                        weight: w as f32,
                        statement: s,
                        fact: Some(f),
                    }));
                }
                examined.extend(
                    infos
                        .iter()
                        .filter_map(|(_, o)| ep.ctx.item("item_info", o.data.get("id")?).ok()),
                );
                // The CF model's opinion, where it may be consulted (it refuses training samples).
                if env.has("cf_score")
                    && ep.ctx.res.cf.is_some()
                    && ep.ctx.sees_whole_train_history()
                    && env.turns_left() > 0
                {
                    let calls: Vec<_> = item_args(ep, cands)
                        .into_iter()
                        .map(|a| ("cf_score", a))
                        .collect();
                    let n = ep.ctx.request.candidates.len().max(2) as f64;
                    for (i, o) in ok_outputs(env.turn(&calls)?) {
                        let (Some(c), Some(rank)) = (
                            o.data
                                .get("item")
                                .and_then(|id| ep.ctx.item("cf_score", id).ok()),
                            pointer_f64(&o.data, "/rank"),
                        ) else {
                            continue;
                        };
                        claims.push(Claim {
                            candidate: c,
                            weight: (1.0 - (rank - 1.0) / (n - 1.0)) as f32,
                            statement: format!(
                                "The CF model ranks {} #{rank} of {n}.",
                                ep.ctx.label(c)
                            ),
                            fact: Some(Fact {
                                call: i,
                                pointer: "/rank".into(),
                                value: rank,
                            }),
                        });
                    }
                }
            }
            AnalystKind::HistoricalInterest => {
                let (tool, pointer, label) = if env.has("candidate_evidence") {
                    (
                        "candidate_evidence",
                        "/item_cf_score",
                        "co-occurrence with the whole history",
                    )
                } else {
                    ("popularity", "/popularity", "popularity")
                };
                let calls: Vec<_> = item_args(ep, cands)
                    .into_iter()
                    .map(|a| (tool, a))
                    .collect();
                let outs = ok_outputs(env.turn(&calls)?);
                let mut xs: Vec<(ItemId, f64, Fact, String)> = outs
                    .iter()
                    .filter_map(|(i, o)| {
                        let c = ep.ctx.item(tool, o.data.get("item")?).ok()?;
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
            }
            AnalystKind::RecentInterest => {
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
                        let nbrs = o
                            .data
                            .get("neighbors")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        for (j, n) in nbrs.iter().enumerate() {
                            let Some(c) =
                                n.get("id").and_then(|id| ep.ctx.item("item_cf", id).ok())
                            else {
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
                    let calls: Vec<_> = item_args(ep, cands)
                        .into_iter()
                        .map(|a| ("candidate_evidence", a))
                        .collect();
                    let outs = ok_outputs(env.turn(&calls)?);
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
                        let Some(c) = o
                            .data
                            .get("item")
                            .and_then(|id| ep.ctx.item("candidate_evidence", id).ok())
                        else {
                            continue;
                        };
                        examined.push(c);
                        let links = o
                            .data
                            .get("recent")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
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
                    let infos: Vec<_> = item_args(ep, cands)
                        .into_iter()
                        .map(|a| ("item_info", a))
                        .collect();
                    let infos = ok_outputs(env.turn(&infos)?);
                    if let Some((hi, h)) = out.first() {
                        let recent_mix = recent_genre_mix(&h.data);
                        for (_, info) in &infos {
                            let Some(c) = info
                                .data
                                .get("id")
                                .and_then(|id| ep.ctx.item("item_info", id).ok())
                            else {
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
            }
            AnalystKind::InterestDivergence => {
                let out = ok_outputs(env.turn(&[
                    ("user_history", json!({"limit": 10})),
                    ("user_history", json!({"limit": 200})),
                ])?);
                let infos: Vec<_> = item_args(ep, cands)
                    .into_iter()
                    .map(|a| ("item_info", a))
                    .collect();
                let infos = ok_outputs(env.turn(&infos)?);
                if let (Some((_, recent)), Some((li, long))) = (out.first(), out.get(1)) {
                    let rmix = recent_genre_mix(&recent.data);
                    let lmix = genre_shares(&long.data);
                    for (_, info) in &infos {
                        let Some(c) = info
                            .data
                            .get("id")
                            .and_then(|id| ep.ctx.item("item_info", id).ok())
                        else {
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
                            .map(|g| {
                                rmix.get(g).copied().unwrap_or(0.0)
                                    - lmix.get(g).map_or(0.0, |x| x.1)
                            })
                            .sum();
                        let st = if d > 0.05 {
                            format!("{} fits a rising interest in {g} (recently above its {:.0}% long-term share).", ep.ctx.label(c), 100.0 * ls)
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
            }
        }
        Ok((claims, examined))
    }
}

/// Genre shares of the items listed under `recent` in a `user_history` result.
fn recent_genre_mix(data: &Value) -> BTreeMap<String, f64> {
    let items = data
        .get("recent")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut m = BTreeMap::new();
    for it in &items {
        let gs = genres_of(it);
        for g in &gs {
            *m.entry(g.clone()).or_insert(0.0) +=
                1.0 / (gs.len() as f64 * items.len().max(1) as f64);
        }
    }
    m
}

impl Analyst for RuleAnalyst {
    fn kind(&self) -> AnalystKind {
        self.kind
    }

    fn analyse(
        &self,
        ep: &EpisodeView,
        env: &mut ToolEnv,
        feedback: &[Flag],
        previous: Option<&Analysis>,
    ) -> Result<Analysis, RoleError> {
        let fail = |e: ToolError| RoleError::Failed {
            role: self.kind.title().into(),
            message: e.to_string(),
        };
        let (mut claims, mut examined) = match previous {
            None => self
                .run(ep, env, &ep.ctx.request.candidates, None)
                .map_err(fail)?,
            Some(prev) => {
                // Keep the claims nobody objected to; examine what was missed.
                let bad: BTreeSet<(Option<ItemId>, FlagKind)> =
                    feedback.iter().map(|f| (f.candidate, f.kind)).collect();
                let keep: Vec<Claim> = prev
                    .claims
                    .iter()
                    .filter(|c| {
                        !bad.contains(&(Some(c.candidate), FlagKind::Contradiction))
                            && !bad.contains(&(Some(c.candidate), FlagKind::Unsupported))
                    })
                    .cloned()
                    .collect();
                let redo: Vec<ItemId> = feedback
                    .iter()
                    .filter_map(|f| f.candidate)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let (new_claims, new_examined) = if redo.is_empty() {
                    (Vec::new(), Vec::new())
                } else {
                    self.run(ep, env, &redo, Some(prev)).map_err(fail)?
                };
                let mut examined = prev.examined.clone();
                examined.extend(new_examined);
                (
                    keep.into_iter()
                        .filter(|c| !redo.contains(&c.candidate))
                        .chain(new_claims)
                        .collect(),
                    examined,
                )
            }
        };
        examined.sort();
        examined.dedup();
        claims.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        let top: Vec<String> = claims
            .iter()
            .filter(|c| c.weight > 0.0)
            .take(3)
            .map(|c| c.statement.clone())
            .collect();
        let summary = if top.is_empty() {
            format!("no candidate stands out ({} examined).", examined.len())
        } else {
            format!(
                "{} (examined {} of {} candidates)",
                top.join(" "),
                examined.len(),
                ep.ctx.request.candidates.len()
            )
        };
        Ok(Analysis {
            analyst: self.kind,
            claims,
            examined,
            summary,
        })
    }
}

/// Checks every claim against the tool result it cites and every analyst's coverage of the
/// candidates.
#[derive(Clone, Debug, Default)]
pub struct RuleReflector;

/// Checks one claim; `None` when it holds.
pub fn check_claim(claim: &Claim, calls: &[ToolCallRecord]) -> Option<(FlagKind, String)> {
    let Some(fact) = &claim.fact else {
        return Some((FlagKind::Unsupported, "cites no tool result".into()));
    };
    let Some(call) = calls.get(fact.call) else {
        return Some((
            FlagKind::Unsupported,
            format!("cites tool call #{} which does not exist", fact.call),
        ));
    };
    let Ok(out) = &call.output else {
        return Some((
            FlagKind::Unsupported,
            format!("cites tool call #{} which failed", fact.call),
        ));
    };
    match pointer_f64(&out.data, &fact.pointer) {
        None => Some((
            FlagKind::Unsupported,
            format!(
                "`{}` is not in the result of {} #{}",
                fact.pointer, call.name, fact.call
            ),
        )),
        Some(v) if (v - fact.value).abs() > 1e-6 * v.abs().max(1.0) => Some((
            FlagKind::Contradiction,
            format!(
                "claims {} = {} but {} #{} says {v}",
                fact.pointer, fact.value, call.name, fact.call
            ),
        )),
        Some(_) => None,
    }
}

impl Reflector for RuleReflector {
    fn reflect(
        &self,
        ep: &EpisodeView,
        analyses: &[Analysis],
        t: &mut Transcript,
    ) -> Result<Reflection, RoleError> {
        let mut flags = Vec::new();
        let mut checked = 0;
        for a in analyses {
            for c in &a.claims {
                checked += 1;
                if let Some((kind, msg)) = check_claim(c, &t.calls) {
                    flags.push(Flag {
                        kind,
                        analyst: a.analyst,
                        candidate: Some(c.candidate),
                        message: format!(
                            "{} about {}: {msg}",
                            a.analyst.title(),
                            ep.ctx.label(c.candidate)
                        ),
                    });
                }
            }
            for &c in &ep.ctx.request.candidates {
                if !a.examined.contains(&c) {
                    flags.push(Flag {
                        kind: FlagKind::Unexamined,
                        analyst: a.analyst,
                        candidate: Some(c),
                        message: format!(
                            "{} never examined {}",
                            a.analyst.title(),
                            ep.ctx.label(c)
                        ),
                    });
                }
            }
        }
        let mut revise: Vec<AnalystKind> = flags.iter().map(|f| f.analyst).collect();
        revise.sort();
        revise.dedup();
        let count = |k: FlagKind| flags.iter().filter(|f| f.kind == k).count();
        let text = if flags.is_empty() {
            format!("all {checked} claims match the tool results and every analyst examined all candidates.")
        } else {
            let mut parts = vec![format!(
                "checked {checked} claims: {} contradicted, {} unsupported; {} candidate examinations missing.",
                count(FlagKind::Contradiction),
                count(FlagKind::Unsupported),
                count(FlagKind::Unexamined)
            )];
            parts.extend(
                flags
                    .iter()
                    .filter(|f| f.kind != FlagKind::Unexamined)
                    .take(5)
                    .map(|f| f.message.clone()),
            );
            for a in &revise {
                let missing: Vec<String> = flags
                    .iter()
                    .filter(|f| f.analyst == *a && f.kind == FlagKind::Unexamined)
                    .filter_map(|f| f.candidate.map(|c| format!("[{}]", ep.ctx.raw(c))))
                    .collect();
                if !missing.is_empty() {
                    parts.push(format!(
                        "{} must also examine {}.",
                        a.title(),
                        missing.join(" ")
                    ));
                }
            }
            parts.push(format!(
                "Sending back: {}.",
                revise
                    .iter()
                    .map(|a| a.title())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            parts.join(" ")
        };
        Ok(Reflection {
            text,
            flags,
            revise,
        })
    }
}

/// Ranks by the plan-weighted sum of the analysts' claims.
#[derive(Clone, Debug, Default)]
pub struct RuleRanker;

impl FinalRanker for RuleRanker {
    fn rank(
        &self,
        ep: &EpisodeView,
        plan: &Plan,
        analyses: &[Analysis],
        _t: &mut Transcript,
    ) -> Result<FinalRanking, RoleError> {
        let cands = &ep.ctx.request.candidates;
        let mut score: BTreeMap<ItemId, f32> = cands.iter().map(|&c| (c, 0.0)).collect();
        let mut best: BTreeMap<ItemId, (f32, String)> = BTreeMap::new();
        for a in analyses {
            let w = plan.weights[AnalystKind::ALL
                .iter()
                .position(|k| *k == a.analyst)
                .unwrap_or(0)];
            for c in &a.claims {
                if let Some(s) = score.get_mut(&c.candidate) {
                    *s += w * c.weight;
                    if best.get(&c.candidate).is_none_or(|b| w * c.weight > b.0) {
                        best.insert(c.candidate, (w * c.weight, c.statement.clone()));
                    }
                }
            }
        }
        let scores: Vec<f32> = cands.iter().map(|c| score[c]).collect();
        let ranking = star_cf::Ranking::from_scores(cands, &scores);
        let justification = ranking
            .items
            .iter()
            .take(3)
            .enumerate()
            .map(|(i, c)| {
                format!(
                    "{}. {}",
                    i + 1,
                    best.get(c)
                        .map_or_else(|| ep.ctx.label(*c), |b| b.1.clone())
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        Ok(FinalRanking {
            items: ranking.items,
            valid: true,
            raw: None,
            justification,
        })
    }
}
