//! The seven CF tools: `user_history`, `item_info`, `item_cf`, `user_cf`, `candidate_evidence`,
//! `popularity`, `cf_score`.

use super::{Tool, ToolContext, ToolError, ToolOutput};
use serde_json::{json, Value};
use star_cf::{ItemId, UserId};
use std::collections::BTreeMap;

fn item_arg(ctx: &ToolContext, tool: &str, args: &Value) -> Result<ItemId, ToolError> {
    let raw = args.get("item").ok_or_else(|| ToolError::BadArguments {
        tool: tool.into(),
        message: "missing `item`".into(),
    })?;
    ctx.item(tool, raw)
}

fn usize_arg(
    tool: &str,
    args: &Value,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ToolError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .map(|k| (k as usize).clamp(1, max))
            .ok_or_else(|| ToolError::BadArguments {
                tool: tool.into(),
                message: format!("`{name}` must be a positive integer, got {v}"),
            }),
    }
}

fn item_schema(extra: Value) -> Value {
    let mut props = json!({"item": {"type": "string", "description": "item id, as written in brackets in the prompt"}});
    if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({"type": "object", "properties": props, "required": ["item"]})
}

fn genres(ctx: &ToolContext, item: ItemId) -> Vec<String> {
    ctx.res
        .dataset
        .item_genres(item)
        .map(str::to_string)
        .collect()
}

/// The user's history: the most recent items and the genre mix of the whole history.
pub struct UserHistoryTool;

impl Tool for UserHistoryTool {
    fn name(&self) -> &'static str {
        "user_history"
    }
    fn description(&self) -> &'static str {
        "The user's most recent items (newest last) and the genre mix of their whole history."
    }
    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {"limit": {"type": "integer", "description": "how many recent items (default 20)"}}})
    }
    fn is_cst(&self) -> bool {
        false
    }
    fn call(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, ToolError> {
        let limit = usize_arg(self.name(), args, "limit", 20, 200)?;
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
}

/// An item's metadata and popularity.
pub struct ItemInfoTool;

impl Tool for ItemInfoTool {
    fn name(&self) -> &'static str {
        "item_info"
    }
    fn description(&self) -> &'static str {
        "Title, year, genres and popularity of an item."
    }
    fn parameters(&self) -> Value {
        item_schema(json!({}))
    }
    fn is_cst(&self) -> bool {
        false
    }
    fn call(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, ToolError> {
        let item = item_arg(ctx, self.name(), args)?;
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
}

/// Items most often co-consumed with an item (the asking user left out).
pub struct ItemCfTool;

impl Tool for ItemCfTool {
    fn name(&self) -> &'static str {
        "item_cf"
    }
    fn description(&self) -> &'static str {
        "The items most similar to an item by co-occurrence (cosine over their users), with counts."
    }
    fn parameters(&self) -> Value {
        item_schema(
            json!({"k": {"type": "integer", "description": "how many neighbours (default 10)"}}),
        )
    }
    fn is_cst(&self) -> bool {
        true
    }
    fn call(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, ToolError> {
        let item = item_arg(ctx, self.name(), args)?;
        let k = usize_arg(self.name(), args, "k", 10, 100)?;
        let nbrs = ctx
            .res
            .store
            .item_neighbors(item, k, Some(ctx.request.user));
        let cands: std::collections::HashSet<ItemId> =
            ctx.request.candidates.iter().copied().collect();
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
}

/// What the users closest to this user consumed among the candidates.
pub struct UserCfTool;

impl Tool for UserCfTool {
    fn name(&self) -> &'static str {
        "user_cf"
    }
    fn description(&self) -> &'static str {
        "How many of the users with the most similar histories interacted with each candidate."
    }
    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {}})
    }
    fn is_cst(&self) -> bool {
        true
    }
    fn call(&self, ctx: &ToolContext, _args: &Value) -> Result<ToolOutput, ToolError> {
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
}

/// The full CST evidence for one candidate, as numbers and sentences.
pub struct CandidateEvidenceTool;

impl Tool for CandidateEvidenceTool {
    fn name(&self) -> &'static str {
        "candidate_evidence"
    }
    fn description(&self) -> &'static str {
        "Collaborative evidence for a candidate: co-occurrence with the history (strongest anchor, recency), nearest users who watched it, popularity and shared genres."
    }
    fn parameters(&self) -> Value {
        item_schema(json!({}))
    }
    fn is_cst(&self) -> bool {
        true
    }
    fn call(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, ToolError> {
        let item = item_arg(ctx, self.name(), args)?;
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
}

/// Popularity of an item and its rank in the catalogue.
pub struct PopularityTool;

impl Tool for PopularityTool {
    fn name(&self) -> &'static str {
        "popularity"
    }
    fn description(&self) -> &'static str {
        "How many other users interacted with an item, and its popularity rank."
    }
    fn parameters(&self) -> Value {
        item_schema(json!({}))
    }
    fn is_cst(&self) -> bool {
        false
    }
    fn call(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, ToolError> {
        let item = item_arg(ctx, self.name(), args)?;
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
}

/// The CF encoder's score of a candidate for this user.
pub struct CfScoreTool;

impl Tool for CfScoreTool {
    fn name(&self) -> &'static str {
        "cf_score"
    }
    fn description(&self) -> &'static str {
        "The trained CF model's score of a candidate for this user, and its rank among the candidates."
    }
    fn parameters(&self) -> Value {
        item_schema(json!({}))
    }
    fn is_cst(&self) -> bool {
        true
    }
    fn call(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, ToolError> {
        let item = item_arg(ctx, self.name(), args)?;
        let cf = ctx.res.cf.as_ref().ok_or_else(|| ToolError::Unavailable {
            tool: self.name().into(),
            message: "no trained CF model is loaded (run `star train cf`)".into(),
        })?;
        let u = ctx.request.user;
        // The encoder was fit on the user's whole train sequence: for a training sample (a
        // prefix of it) its user vector has seen the future, so it must not be consulted.
        if !ctx.sees_whole_train_history() {
            return Err(ToolError::Unavailable {
                tool: self.name().into(),
                message: "the CF model was trained on this user's later interactions".into(),
            });
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
}
