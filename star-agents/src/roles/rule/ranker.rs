//! The rule-based ranker: the plan-weighted sum of the analysts' claims.

use super::super::{AnalystKind, Deliberation, FinalRanker, FinalRanking, RoleError, ToolEnv};
use star_cf::ItemId;
use std::collections::BTreeMap;

/// Ranks by the plan-weighted sum of the analysts' claims.
#[derive(Clone, Debug, Default)]
pub struct RuleRanker;

impl FinalRanker for RuleRanker {
    fn rank(&self, env: &mut ToolEnv, d: Deliberation) -> Result<FinalRanking, RoleError> {
        let Deliberation { plan, analyses } = d;
        let ep = env.view;
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

#[cfg(test)]
#[path = "tests/ranker.rs"]
mod tests;
