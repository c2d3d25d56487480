//! The rule-based planner.

use super::super::{EpisodeView, Plan, Planner, RoleError, ToolEnv};
use star_cf::ItemId;

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
    fn plan(&self, env: &mut ToolEnv) -> Result<Plan, RoleError> {
        let ep = env.view;
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

#[cfg(test)]
#[path = "tests/planner.rs"]
mod tests;
