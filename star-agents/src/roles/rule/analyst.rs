//! The rule-based analyst: one per [`AnalystKind`], each kind's evidence in its own file; the
//! revision loop (keep the claims nobody objected to, re-examine what was flagged) and the
//! summary are shared.

use super::super::{
    Analysis, Analyst, AnalystKind, Claim, EpisodeView, Flag, FlagKind, RoleError, ToolEnv,
};
use super::{historical_interest, interest_divergence, recent_interest, user_profile};
use crate::tools::ToolError;
use star_cf::ItemId;
use std::collections::BTreeSet;

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

impl RuleAnalyst {
    /// This analyst's claims about `todo` and the candidates it examined.
    fn run(
        &self,
        ep: &EpisodeView,
        env: &mut ToolEnv,
        todo: &[ItemId],
        previous: Option<&Analysis>,
    ) -> Result<(Vec<Claim>, Vec<ItemId>), ToolError> {
        match self.kind {
            AnalystKind::UserProfile => user_profile::analyse(ep, env, todo, previous),
            AnalystKind::HistoricalInterest => {
                historical_interest::analyse(ep, env, todo, previous)
            }
            AnalystKind::RecentInterest => recent_interest::analyse(ep, env, todo, previous),
            AnalystKind::InterestDivergence => {
                interest_divergence::analyse(ep, env, todo, previous)
            }
        }
    }
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

#[cfg(test)]
#[path = "tests/analyst.rs"]
mod tests;
