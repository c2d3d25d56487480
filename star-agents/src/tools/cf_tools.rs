//! The eight CF tools: `user_history`, `item_info`, `item_cf`, `user_cf`, `candidate_evidence`,
//! `popularity`, `cf_score`, `sequence_score`.
//!
//! Each is one row of [`CF_TOOLS`]: a declaration (name, description, arguments, CST flag) and
//! the function that answers. The declared [`Params`] give both the JSON schema offered to an
//! LLM and the reading of a call's arguments ([`Args`]).

use super::args::{Args, Count, Params};
use super::{Tool, ToolContext, ToolError, ToolOutput};
use serde_json::{json, Value};
use star_cf::{ItemId, UserId};
use std::collections::BTreeMap;

/// One CF tool: its declaration and the function that answers a call.
#[derive(Clone, Copy)]
pub struct CfTool {
    name: &'static str,
    description: &'static str,
    params: Params,
    cst: bool,
    run: fn(&ToolContext, &Args) -> Result<ToolOutput, ToolError>,
}

impl Tool for CfTool {
    fn name(&self) -> &'static str {
        self.name
    }
    fn description(&self) -> &'static str {
        self.description
    }
    fn parameters(&self) -> Value {
        self.params.schema()
    }
    fn is_cst(&self) -> bool {
        self.cst
    }
    fn call(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, ToolError> {
        (self.run)(ctx, &Args::new(self.name, self.params, args))
    }
}

/// The eight CF tools (`cf_score` answers only when CF embeddings are loaded, `sequence_score`
/// only when a sequential model is).
pub const CF_TOOLS: [CfTool; 8] = [
    CfTool {
        name: "user_history",
        description:
            "The user's most recent items (newest last) and the genre mix of their whole history.",
        params: Params::Count(Count {
            name: "limit",
            what: "how many recent items",
            default: 20,
            max: 200,
        }),
        cst: false,
        run: user_history,
    },
    CfTool {
        name: "item_info",
        description: "Title, year, genres and popularity of an item.",
        params: Params::Item,
        cst: false,
        run: item_info,
    },
    CfTool {
        name: "item_cf",
        description:
            "The items most similar to an item by co-occurrence (cosine over their users), with counts.",
        params: Params::ItemCount(Count {
            name: "k",
            what: "how many neighbours",
            default: 10,
            max: 100,
        }),
        cst: true,
        run: item_cf,
    },
    CfTool {
        name: "user_cf",
        description:
            "How many of the users with the most similar histories interacted with each candidate.",
        params: Params::None,
        cst: true,
        run: user_cf,
    },
    CfTool {
        name: "candidate_evidence",
        description: "Collaborative evidence for a candidate: co-occurrence with the history (strongest anchor, recency), nearest users who watched it, popularity and shared genres.",
        params: Params::Item,
        cst: true,
        run: candidate_evidence,
    },
    CfTool {
        name: "popularity",
        description: "How many other users interacted with an item, and its popularity rank.",
        params: Params::Item,
        cst: false,
        run: popularity,
    },
    CfTool {
        name: "cf_score",
        description: "The trained CF model's score of a candidate for this user, and its rank among the candidates.",
        params: Params::Item,
        cst: true,
        run: cf_score,
    },
    CfTool {
        name: "sequence_score",
        description: "The trained sequential model's (SASRec) ranking of every candidate given the history: each candidate's probability among the candidates and its rank.",
        params: Params::None,
        cst: true,
        run: sequence_score,
    },
];

/// How many candidates `sequence_score`'s text names (its data holds all of them).
const SEQUENCE_SHOWN: usize = 5;

fn genres(ctx: &ToolContext, item: ItemId) -> Vec<String> {
    ctx.res
        .dataset
        .item_genres(item)
        .map(str::to_string)
        .collect()
}

/// The user's history: the most recent items and the genre mix of the whole history.
fn user_history(ctx: &ToolContext, args: &Args) -> Result<ToolOutput, ToolError> {
    let limit = args.count()?;
    let h = &ctx.request.history;
    let recent = &h[h.len().saturating_sub(limit)..];
    let mut mix: BTreeMap<String, f64> = BTreeMap::new();
    for &i in h {
        let g = genres(ctx, i);
        for name in &g {
            *mix.entry(name.clone()).or_default() += 1.0 / g.len() as f64;
        }
    }
    let total = h.len().max(1) as f64;
    let mut mix: Vec<(String, f64)> = mix.into_iter().map(|(g, c)| (g, c / total)).collect();
    mix.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let text = format!(
        "{} items in the history. Most recent: {}. Genre mix: {}.",
        h.len(),
        recent
            .iter()
            .rev()
            .take(10)
            .map(|&i| ctx.label(i))
            .collect::<Vec<_>>()
            .join("; "),
        mix.iter()
            .take(5)
            .map(|(g, s)| format!("{g} {:.0}%", 100.0 * s))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ToolOutput {
        text,
        data: json!({
            "length": h.len(),
            "recent": recent.iter().map(|&i| json!({"id": ctx.raw(i), "title": ctx.res.store.item_label(i), "genres": genres(ctx, i)})).collect::<Vec<_>>(),
            "genres": mix.iter().map(|(g, s)| json!({"genre": g, "share": s})).collect::<Vec<_>>(),
        }),
    })
}

/// An item's metadata and popularity.
fn item_info(ctx: &ToolContext, args: &Args) -> Result<ToolOutput, ToolError> {
    let item = args.item(ctx)?;
    let it = &ctx.res.dataset.items[item.idx()];
    let g = ctx.res.store.graph();
    let pop = g.popularity_excluding(item, ctx.request.user);
    let gs = genres(ctx, item);
    Ok(ToolOutput {
        text: format!(
            "{}: genres {}; {} other users interacted with it.",
            ctx.label(item),
            if gs.is_empty() {
                "unknown".into()
            } else {
                gs.join(", ")
            },
            pop
        ),
        data: json!({"id": ctx.raw(item), "title": it.title, "year": it.year, "genres": gs, "popularity": pop}),
    })
}

/// Items most often co-consumed with an item (the asking user left out).
fn item_cf(ctx: &ToolContext, args: &Args) -> Result<ToolOutput, ToolError> {
    let item = args.item(ctx)?;
    let k = args.count()?;
    let nbrs = ctx
        .res
        .store
        .item_neighbors(item, k, Some(ctx.request.user));
    let cands: std::collections::HashSet<ItemId> = ctx.request.candidates.iter().copied().collect();
    let text = format!(
        "Most co-watched with {}: {}.",
        ctx.label(item),
        nbrs.iter()
            .map(|n| {
                let mark = if cands.contains(&ItemId(n.id)) {
                    " (a candidate)"
                } else {
                    ""
                };
                format!("{} x{}{mark}", ctx.label(ItemId(n.id)), n.count)
            })
            .collect::<Vec<_>>()
            .join("; ")
    );
    Ok(ToolOutput {
        text,
        data: json!({
            "item": ctx.raw(item),
            "neighbors": nbrs.iter().map(|n| json!({"id": ctx.raw(ItemId(n.id)), "co_occurrence": n.count, "score": n.score, "candidate": cands.contains(&ItemId(n.id))})).collect::<Vec<_>>(),
        }),
    })
}

/// What the users closest to this user consumed among the candidates.
fn user_cf(ctx: &ToolContext, _args: &Args) -> Result<ToolOutput, ToolError> {
    let store = &ctx.res.store;
    let nbrs = store.user_neighbors(ctx.request);
    let g = store.graph();
    let mut hits: Vec<(ItemId, usize)> = ctx
        .request
        .candidates
        .iter()
        .map(|&c| {
            (
                c,
                nbrs.iter().filter(|n| g.has_edge(UserId(n.id), c)).count(),
            )
        })
        .collect();
    hits.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let text = format!(
        "Of the {} users closest to you: {}.",
        nbrs.len(),
        hits.iter()
            .map(|(c, h)| format!("{} {}", h, ctx.label(*c)))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let by_id: serde_json::Map<String, Value> = hits
        .iter()
        .map(|(c, h)| (ctx.raw(*c).to_string(), json!(h)))
        .collect();
    Ok(ToolOutput {
        text,
        data: json!({"k": nbrs.len(), "hits": by_id}),
    })
}

/// The full CST evidence for one candidate, as numbers and sentences.
fn candidate_evidence(ctx: &ToolContext, args: &Args) -> Result<ToolOutput, ToolError> {
    let item = args.item(ctx)?;
    let store = &ctx.res.store;
    let nbrs = store.user_neighbors(ctx.request);
    let ev = store.candidate_evidence(ctx.request.user, &ctx.request.history, &nbrs, item);
    let text = format!("{}: {}", ctx.label(item), store.sentences(&ev).join(" "));
    let anchor = ev.anchor.as_ref().map(|a| {
        json!({"id": ctx.raw(a.item), "count": a.count, "score": a.score, "steps_ago": a.steps_ago})
    });
    Ok(ToolOutput {
        text,
        data: json!({
            "item": ctx.raw(item),
            "popularity": ev.popularity,
            "popularity_rank": ev.popularity_rank,
            "item_cf_score": ev.item_cf_score,
            "anchor": anchor,
            "co_occurring_items": ev.co_occurring_items,
            "recent_co_occurrence": ev.recent_co_occurrence,
            "recent": ev.recent_links.iter().map(|&(count, score)| json!({"co_occurrence": count, "score": score})).collect::<Vec<_>>(),
            "user_cf_hits": ev.user_cf_hits,
            "user_cf_k": ev.user_cf_k,
            "user_cf_score": ev.user_cf_score,
            "shared_genres": ev.shared_genres.iter().map(|&(g, c)| json!({"genre": store.genre_name(g), "count": c})).collect::<Vec<_>>(),
            "genre_share": ev.genre_share,
        }),
    })
}

/// Popularity of an item and its rank in the catalogue.
fn popularity(ctx: &ToolContext, args: &Args) -> Result<ToolOutput, ToolError> {
    let item = args.item(ctx)?;
    let g = ctx.res.store.graph();
    let pop = g.popularity_excluding(item, ctx.request.user);
    let rank = g.popularity_rank(item);
    Ok(ToolOutput {
        text: format!(
            "{}: {} users, #{} of {} by popularity.",
            ctx.label(item),
            pop,
            rank,
            g.num_items()
        ),
        data: json!({"item": ctx.raw(item), "popularity": pop, "rank": rank, "items": g.num_items()}),
    })
}

/// The CF encoder's score of a candidate for this user.
fn cf_score(ctx: &ToolContext, args: &Args) -> Result<ToolOutput, ToolError> {
    let item = args.item(ctx)?;
    let cf =
        ctx.res.cf.as_ref().ok_or_else(|| {
            args.unavailable("no trained CF model is loaded (run `star train cf`)")
        })?;
    let u = ctx.request.user;
    // The encoder was fit on the user's whole train sequence: for a training sample (a
    // prefix of it) its user vector has seen the future, so it must not be consulted.
    if !ctx.sees_whole_train_history() {
        return Err(args.unavailable("the CF model was trained on this user's later interactions"));
    }
    let score = cf.score(u.idx(), item);
    let rank = ctx
        .request
        .candidates
        .iter()
        .filter(|&&c| cf.score(u.idx(), c) > score)
        .count()
        + 1;
    Ok(ToolOutput {
        text: format!(
            "{}: CF score {score:.3}, #{rank} of {} candidates.",
            ctx.label(item),
            ctx.request.candidates.len()
        ),
        data: json!({"item": ctx.raw(item), "score": score, "rank": rank}),
    })
}

/// The sequential model's ranking of the candidates, as probabilities (a softmax of its scores
/// over the candidates) and ranks; answered by the model that never trained on the request's
/// target ([`super::SequenceModels::for_request`]).
fn sequence_score(ctx: &ToolContext, args: &Args) -> Result<ToolOutput, ToolError> {
    let models = ctx.res.sequence.as_ref().ok_or_else(|| {
        args.unavailable("no trained sequential model is loaded (run `star train sasrec`)")
    })?;
    let model = models.for_request(ctx).map_err(|m| args.unavailable(m))?;
    let ranking = model
        .rank(ctx.request)
        .map_err(|e| args.unavailable(&format!("{}: {e}", model.name())))?;
    let scores = match ranking.scores.as_deref() {
        Some(s) if s.len() == ranking.items.len() && s.iter().all(|x| x.is_finite()) => s,
        _ => {
            return Err(args.unavailable(&format!(
                "{} did not give a finite score for every candidate",
                model.name()
            )))
        }
    };
    // the softmax over the candidates, as the student's `seq_softmax` feature has it
    let probability: Vec<f64> = star_model::model::sequence_features(scores)
        .iter()
        .map(|f| f64::from(f[0]))
        .collect();
    let text = format!(
        "{} ranks {} candidates: {}.",
        model.name(),
        ranking.items.len(),
        ranking
            .items
            .iter()
            .zip(&probability)
            .take(SEQUENCE_SHOWN)
            .enumerate()
            .map(|(r, (&c, p))| format!("#{} {} {:.0}%", r + 1, ctx.label(c), 100.0 * p))
            .collect::<Vec<_>>()
            .join("; ")
    );
    Ok(ToolOutput {
        text,
        data: json!({
            "model": model.name(),
            "candidates": ranking.items.iter().zip(&probability).enumerate().map(|(r, (&c, p))| json!({"id": ctx.raw(c), "probability": p, "rank": r + 1})).collect::<Vec<_>>(),
        }),
    })
}
