//! The rule-based reflector: checks claims against the tool results they cite, and coverage.

use super::super::{
    Analysis, AnalystKind, Claim, EpisodeView, Flag, FlagKind, Reflection, Reflector, RoleError,
    ToolCallRecord, Transcript,
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

#[cfg(test)]
mod tests {
    use super::super::fixture::hand;
    use super::*;
    use crate::roles::Fact;
    use crate::tools::ToolOutput;
    use serde_json::json;
    use star_cf::ItemId;

    fn call(output: Result<serde_json::Value, &str>) -> ToolCallRecord {
        ToolCallRecord {
            role: "test".into(),
            name: "popularity".into(),
            arguments: json!({}),
            output: output
                .map(|data| ToolOutput {
                    text: String::new(),
                    data,
                })
                .map_err(str::to_string),
        }
    }

    fn claim(candidate: ItemId, call: usize, pointer: &str, value: f64) -> Claim {
        Claim {
            candidate,
            weight: 1.0,
            statement: String::new(),
            fact: Some(Fact {
                call,
                pointer: pointer.into(),
                value,
            }),
        }
    }

    #[test]
    fn check_claim_names_what_is_wrong() {
        let calls = [call(Ok(json!({"popularity": 3}))), call(Err("boom"))];
        let c = ItemId(0);
        assert_eq!(check_claim(&claim(c, 0, "/popularity", 3.0), &calls), None);
        // within the relative tolerance
        assert_eq!(
            check_claim(&claim(c, 0, "/popularity", 3.0 + 1e-7), &calls),
            None
        );
        assert_eq!(
            check_claim(&claim(c, 0, "/popularity", 4.0), &calls),
            Some((
                FlagKind::Contradiction,
                "claims /popularity = 4 but popularity #0 says 3".into()
            ))
        );
        assert_eq!(
            check_claim(&claim(c, 0, "/rank", 1.0), &calls),
            Some((
                FlagKind::Unsupported,
                "`/rank` is not in the result of popularity #0".into()
            ))
        );
        assert_eq!(
            check_claim(&claim(c, 1, "/popularity", 3.0), &calls),
            Some((
                FlagKind::Unsupported,
                "cites tool call #1 which failed".into()
            ))
        );
        assert_eq!(
            check_claim(&claim(c, 2, "/popularity", 3.0), &calls),
            Some((
                FlagKind::Unsupported,
                "cites tool call #2 which does not exist".into()
            ))
        );
        let mut bare = claim(c, 0, "/popularity", 3.0);
        bare.fact = None;
        assert_eq!(
            check_claim(&bare, &calls),
            Some((FlagKind::Unsupported, "cites no tool result".into()))
        );
    }

    fn analysis(analyst: AnalystKind, claims: Vec<Claim>, examined: Vec<ItemId>) -> Analysis {
        Analysis {
            analyst,
            claims,
            examined,
            summary: String::new(),
        }
    }

    #[test]
    fn a_clean_round_sends_nobody_back() {
        let fx = hand();
        let req = fx.request("e", &["x", "y"], &["z", "w"]);
        let (z, w) = (fx.item("z"), fx.item("w"));
        let mut t = Transcript::default();
        t.calls.push(call(Ok(json!({"popularity": 2}))));
        let analyses = [analysis(
            AnalystKind::HistoricalInterest,
            vec![claim(z, 0, "/popularity", 2.0)],
            vec![z, w],
        )];
        let r = fx.with_view(&req, |ep| {
            RuleReflector.reflect(ep, &analyses, &mut t).unwrap()
        });
        assert!(r.flags.is_empty() && r.revise.is_empty());
        assert_eq!(
            r.text,
            "all 1 claims match the tool results and every analyst examined all candidates."
        );
    }

    #[test]
    fn contradictions_and_missed_candidates_are_flagged_and_sent_back() {
        let fx = hand();
        let req = fx.request("e", &["x", "y"], &["z", "w"]);
        let (z, w) = (fx.item("z"), fx.item("w"));
        let mut t = Transcript::default();
        t.calls.push(call(Ok(json!({"popularity": 2}))));
        let analyses = [
            // misquotes z's popularity, examined both
            analysis(
                AnalystKind::HistoricalInterest,
                vec![
                    claim(z, 0, "/popularity", 5.0),
                    claim(w, 0, "/popularity", 2.0),
                ],
                vec![z, w],
            ),
            // right, but never looked at w
            analysis(
                AnalystKind::UserProfile,
                vec![claim(z, 0, "/popularity", 2.0)],
                vec![z],
            ),
        ];
        let r = fx.with_view(&req, |ep| {
            RuleReflector.reflect(ep, &analyses, &mut t).unwrap()
        });
        assert_eq!(
            r.flags,
            vec![
                Flag {
                    kind: FlagKind::Contradiction,
                    analyst: AnalystKind::HistoricalInterest,
                    candidate: Some(z),
                    message: "Historical-Interest analyst about [z] Zed (1992): claims /popularity = 5 but popularity #0 says 2".into(),
                },
                Flag {
                    kind: FlagKind::Unexamined,
                    analyst: AnalystKind::UserProfile,
                    candidate: Some(w),
                    message: "User-Profile analyst never examined [w] Double (1993)".into(),
                },
            ]
        );
        // in AnalystKind order
        assert_eq!(
            r.revise,
            vec![AnalystKind::UserProfile, AnalystKind::HistoricalInterest]
        );
        assert_eq!(
            r.text,
            "checked 3 claims: 1 contradicted, 0 unsupported; 1 candidate examinations missing. \
             Historical-Interest analyst about [z] Zed (1992): claims /popularity = 5 but popularity #0 says 2 \
             User-Profile analyst must also examine [w]. \
             Sending back: User-Profile analyst, Historical-Interest analyst."
        );
    }
}
