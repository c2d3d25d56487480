//! The rule-based ranker: the plan-weighted sum of the analysts' claims.

use super::super::{
    Analysis, AnalystKind, EpisodeView, FinalRanker, FinalRanking, Plan, RoleError, Transcript,
};
use star_cf::ItemId;
use std::collections::BTreeMap;

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

#[cfg(test)]
mod tests {
    use super::super::fixture::hand;
    use super::*;
    use crate::roles::Claim;

    fn claim(candidate: ItemId, weight: f32, statement: &str) -> Claim {
        Claim {
            candidate,
            weight,
            statement: statement.into(),
            fact: None,
        }
    }

    #[test]
    fn ranks_by_the_plan_weighted_sum_and_justifies_with_the_strongest_claim() {
        let fx = hand();
        let req = fx.request("e", &["x", "y"], &["z", "w", "x"]);
        let (z, w, x, y) = (fx.item("z"), fx.item("w"), fx.item("x"), fx.item("y"));
        let plan = Plan {
            text: String::new(),
            // User-Profile 1, Historical-Interest 2, the others ignored
            weights: [1.0, 2.0, 0.0, 0.0],
        };
        let analyses = [
            Analysis {
                analyst: AnalystKind::UserProfile,
                // z 0.5, w 0.2; y is no candidate and is ignored
                claims: vec![
                    claim(z, 0.5, "z profile"),
                    claim(w, 0.2, "w profile"),
                    claim(y, 9.0, "y"),
                ],
                examined: vec![],
                summary: String::new(),
            },
            Analysis {
                analyst: AnalystKind::HistoricalInterest,
                // w 2 * 0.4 = 0.8, z 2 * -0.1 = -0.2
                claims: vec![claim(w, 0.4, "w history"), claim(z, -0.1, "z history")],
                examined: vec![],
                summary: String::new(),
            },
            Analysis {
                analyst: AnalystKind::RecentInterest,
                // plan weight 0: counts nothing, and is never the strongest claim
                claims: vec![claim(z, 5.0, "z recent")],
                examined: vec![],
                summary: String::new(),
            },
        ];
        let r = fx.with_view(&req, |ep| {
            RuleRanker
                .rank(ep, &plan, &analyses, &mut Transcript::default())
                .unwrap()
        });
        // w 1.0, z 0.3, x 0
        assert_eq!(r.items, vec![w, z, x]);
        assert!(r.valid && r.raw.is_none());
        // nothing is said about x: its label stands in
        assert_eq!(
            r.justification,
            "1. w history 2. z profile 3. [x] Ex (1990)"
        );
    }
}
