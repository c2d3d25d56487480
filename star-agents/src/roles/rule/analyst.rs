//! The rule-based analyst: one per [`AnalystKind`], each kind's evidence in its own file; the
//! revision loop (keep the claims nobody objected to, re-examine what was flagged) and the
//! summary are shared.

use super::super::{Analysis, Analyst, AnalystKind, Claim, FlagKind, Revision, RoleError, ToolEnv};
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

/// What one pass of a rule analyst examines.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pass<'a> {
    /// The candidates to examine.
    pub cands: &'a [ItemId],
    /// The analysis being revised (`None` on the first pass).
    pub previous: Option<&'a Analysis>,
}

/// A pass's claims and the candidates it examined.
pub(super) type Findings = (Vec<Claim>, Vec<ItemId>);

impl RuleAnalyst {
    /// This analyst's findings on one pass.
    fn run(&self, env: &mut ToolEnv, pass: Pass) -> Result<Findings, ToolError> {
        match self.kind {
            AnalystKind::UserProfile => user_profile::analyse(env, &pass),
            AnalystKind::HistoricalInterest => historical_interest::analyse(env, &pass),
            AnalystKind::RecentInterest => recent_interest::analyse(env, &pass),
            AnalystKind::InterestDivergence => interest_divergence::analyse(env, &pass),
        }
    }
}

impl Analyst for RuleAnalyst {
    fn kind(&self) -> AnalystKind {
        self.kind
    }

    fn analyse(&self, env: &mut ToolEnv, revise: Option<Revision>) -> Result<Analysis, RoleError> {
        let fail = |e: ToolError| RoleError::Failed {
            role: self.kind.title().into(),
            message: e.to_string(),
        };
        let candidates = &env.view.ctx.request.candidates;
        let (mut claims, mut examined) = match revise {
            None => self
                .run(
                    env,
                    Pass {
                        cands: candidates,
                        previous: None,
                    },
                )
                .map_err(fail)?,
            Some(Revision { previous, flags }) => {
                // Keep the claims nobody objected to; examine what was missed.
                let bad: BTreeSet<(Option<ItemId>, FlagKind)> =
                    flags.iter().map(|f| (f.candidate, f.kind)).collect();
                let keep: Vec<Claim> = previous
                    .claims
                    .iter()
                    .filter(|c| {
                        !bad.contains(&(Some(c.candidate), FlagKind::Contradiction))
                            && !bad.contains(&(Some(c.candidate), FlagKind::Unsupported))
                    })
                    .cloned()
                    .collect();
                let redo: Vec<ItemId> = flags
                    .iter()
                    .filter_map(|f| f.candidate)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let (new_claims, new_examined) = if redo.is_empty() {
                    (Vec::new(), Vec::new())
                } else {
                    let pass = Pass {
                        cands: &redo,
                        previous: Some(previous),
                    };
                    self.run(env, pass).map_err(fail)?
                };
                let mut examined = previous.examined.clone();
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
                candidates.len()
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
