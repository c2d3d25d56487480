//! Rule-based roles: deterministic, data-driven, and they use only the tools. The default
//! teacher; it needs no model.
//!
//! One file per role: [`planner`], [`analyst`] (the revision loop shared by the four
//! analysts) with one file per analyst ([`user_profile`], [`historical_interest`],
//! [`recent_interest`], [`interest_divergence`]), [`reflector`] and [`ranker`]. This file holds
//! the helpers they share for reading tool results.

pub mod analyst;
pub mod historical_interest;
pub mod interest_divergence;
pub mod planner;
pub mod ranker;
pub mod recent_interest;
pub mod reflector;
pub mod user_profile;

#[cfg(test)]
mod fixture;

pub use analyst::RuleAnalyst;
use analyst::{Findings, Pass};
pub use planner::RulePlanner;
pub use ranker::RuleRanker;
pub use reflector::{check_claim, RuleReflector};

use super::{CallResult, Claim, Fact, ToolEnv};
use crate::tools::{ToolError, ToolOutput};
use serde_json::{json, Value};
use star_cf::ItemId;
use std::collections::BTreeMap;

pub(crate) fn pointer_f64(data: &Value, pointer: &str) -> Option<f64> {
    data.pointer(pointer).and_then(Value::as_f64)
}

/// The successful calls of a turn.
pub(crate) fn ok_outputs(results: Vec<CallResult>) -> Vec<(usize, ToolOutput)> {
    results
        .into_iter()
        .filter_map(|(i, r)| r.ok().map(|o| (i, o)))
        .collect()
}

/// One turn calling `tool` once per item (`{"item": raw id}`); its successful calls.
pub(crate) fn ask_each(
    env: &mut ToolEnv,
    tool: &str,
    items: &[ItemId],
) -> Result<Vec<(usize, ToolOutput)>, ToolError> {
    let ctx = env.view.ctx;
    let calls: Vec<_> = items
        .iter()
        .map(|&c| (tool, json!({"item": ctx.raw(c)})))
        .collect();
    Ok(ok_outputs(env.turn(&calls)?))
}

/// The array `data[field]` (empty when it is missing or not an array).
pub(crate) fn array_in<'a>(data: &'a Value, field: &str) -> &'a [Value] {
    data.get(field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Genre shares of the whole history from a `user_history` result: genre → (index, share).
pub(crate) fn genre_shares(data: &Value) -> BTreeMap<String, (usize, f64)> {
    array_in(data, "genres")
        .iter()
        .enumerate()
        .filter_map(|(i, g)| {
            Some((
                g.get("genre")?.as_str()?.to_string(),
                (i, g.get("share")?.as_f64()?),
            ))
        })
        .collect()
}

pub(crate) fn genres_of(data: &Value) -> Vec<String> {
    array_in(data, "genres")
        .iter()
        .filter_map(|g| g.as_str().map(str::to_string))
        .collect()
}

/// Claims from weighted evidence `(candidate, weight, fact, statement)`, the weights
/// normalised to [0, 1] by their maximum (all zero stays zero).
pub(crate) fn normalised_claims(mut xs: Vec<(ItemId, f64, Fact, String)>) -> Vec<Claim> {
    let max = xs.iter().map(|x| x.1).fold(0.0f64, f64::max);
    if max > 0.0 {
        for x in xs.iter_mut() {
            x.1 /= max;
        }
    }
    xs.into_iter()
        .map(|(candidate, w, fact, statement)| Claim {
            candidate,
            weight: w as f32,
            statement,
            fact: Some(fact),
        })
        .collect()
}

/// Genre shares of the items listed under `recent` in a `user_history` result.
pub(crate) fn recent_genre_mix(data: &Value) -> BTreeMap<String, f64> {
    let items = array_in(data, "recent");
    let mut m = BTreeMap::new();
    for it in items {
        let gs = genres_of(it);
        for g in &gs {
            *m.entry(g.clone()).or_insert(0.0) +=
                1.0 / (gs.len() as f64 * items.len().max(1) as f64);
        }
    }
    m
}
