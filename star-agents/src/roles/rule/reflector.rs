//! The rule-based reflector: checks claims against the tool results they cite, and coverage.

use super::super::{
    Analysis, AnalystKind, Claim, Flag, FlagKind, Reflection, Reflector, RoleError, ToolCallRecord,
    ToolEnv,
};
use super::pointer_f64;

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
    fn reflect(&self, env: &mut ToolEnv, analyses: &[Analysis]) -> Result<Reflection, RoleError> {
        let (ep, calls) = (env.view, &env.transcript.calls);
        let mut flags = Vec::new();
        let mut checked = 0;
        for a in analyses {
            for c in &a.claims {
                checked += 1;
                if let Some((kind, msg)) = check_claim(c, calls) {
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

#[cfg(test)]
#[path = "tests/reflector.rs"]
mod tests;
