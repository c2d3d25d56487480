//! LLM-prompted roles over a [`ChatModel`], with prompts from `assets/prompts/`.
//!
//! Model output is untrusted: JSON is extracted tolerantly, claims citing unknown items or
//! calls are kept for the reflector to flag, and a ranking that is not a permutation is
//! repaired (missing candidates appended in the rule-based ranker's order) and marked invalid.
//! Claim checking stays deterministic: the LLM reflector starts from the rule-based checks and
//! adds its own verdict.

use super::rule::{RuleRanker, RuleReflector};
use super::*;
use crate::chat::parse::{extract_json, parse_arguments, parse_ranking};
use crate::chat::{ChatMessage, ChatModel, ChatResponse};
use serde_json::{json, Value};
use std::sync::Arc;

const PLANNER: &str = include_str!("../../../assets/prompts/planner.txt");
const ANALYST: &str = include_str!("../../../assets/prompts/analyst.txt");
const REFLECTOR: &str = include_str!("../../../assets/prompts/reflector.txt");
const RANKER: &str = include_str!("../../../assets/prompts/ranker.txt");

fn chat(
    model: &dyn ChatModel,
    t: &mut Transcript,
    messages: &[ChatMessage],
    tools: Option<&[crate::chat::ToolSpec]>,
) -> Result<ChatResponse, RoleError> {
    let r = model.chat(messages, tools)?;
    t.tokens += r.usage.prompt_tokens + r.usage.completion_tokens;
    t.chat_calls += 1;
    Ok(r)
}

fn kind_key(k: AnalystKind) -> &'static str {
    match k {
        AnalystKind::UserProfile => "user_profile",
        AnalystKind::HistoricalInterest => "historical_interest",
        AnalystKind::RecentInterest => "recent_interest",
        AnalystKind::InterestDivergence => "interest_divergence",
    }
}

fn focus(k: AnalystKind) -> &'static str {
    match k {
        AnalystKind::UserProfile => "who this user is: their long-term genre mix and what the users most similar to them watched.",
        AnalystKind::HistoricalInterest => "how each candidate relates to the user's whole history (co-occurrence, shared genres, popularity).",
        AnalystKind::RecentInterest => "what the user's most recent items lead to next.",
        AnalystKind::InterestDivergence => "where the user's recent tastes depart from their long-term ones, and which candidates fit the new direction.",
    }
}

/// Plans with the model; falls back to equal weights when the answer has none.
pub struct LlmPlanner {
    model: Arc<dyn ChatModel>,
}

impl LlmPlanner {
    /// A planner over `model`.
    pub fn new(model: Arc<dyn ChatModel>) -> Self {
        LlmPlanner { model }
    }
}

impl Planner for LlmPlanner {
    fn plan(&self, env: &mut ToolEnv) -> Result<Plan, RoleError> {
        let ep = env.view;
        let r = chat(
            self.model.as_ref(),
            env.transcript,
            &[ChatMessage::system(PLANNER), ChatMessage::user(ep.prompt)],
            None,
        )?;
        let content = r.message.content.trim().to_string();
        let json = extract_json(&content);
        let text = json
            .as_ref()
            .and_then(|j| j.get("plan"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or(content);
        let mut weights = [1.0f32; 4];
        if let Some(w) = json.as_ref().and_then(|j| j.get("weights")) {
            for (i, k) in AnalystKind::ALL.iter().enumerate() {
                if let Some(x) = w.get(kind_key(*k)).and_then(Value::as_f64) {
                    weights[i] = (x as f32).clamp(0.0, 3.0);
                }
            }
        }
        Ok(Plan { text, weights })
    }
}

/// An analyst that calls tools through the model's tool calls.
pub struct LlmAnalyst {
    kind: AnalystKind,
    model: Arc<dyn ChatModel>,
}

impl LlmAnalyst {
    /// The analyst of `kind` over `model`.
    pub fn new(kind: AnalystKind, model: Arc<dyn ChatModel>) -> Self {
        LlmAnalyst { kind, model }
    }
}

fn parse_claims(ep: &EpisodeView, v: &Value) -> Vec<Claim> {
    let Some(claims) = v.get("claims").and_then(Value::as_array) else {
        return Vec::new();
    };
    claims
        .iter()
        .filter_map(|c| {
            let candidate = ep.item_in(c, "item")?;
            if !ep.ctx.request.candidates.contains(&candidate) {
                return None;
            }
            let fact = match (
                c.get("call").and_then(Value::as_u64),
                c.get("field").and_then(Value::as_str),
                c.get("value").and_then(Value::as_f64),
            ) {
                (Some(call), Some(field), Some(value)) => Some(Fact {
                    call: call as usize,
                    pointer: field.to_string(),
                    value,
                }),
                _ => None,
            };
            Some(Claim {
                candidate,
                weight: c
                    .get("weight")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0)
                    .clamp(-1.0, 1.0) as f32,
                statement: c
                    .get("statement")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                fact,
            })
        })
        .collect()
}

impl Analyst for LlmAnalyst {
    fn kind(&self) -> AnalystKind {
        self.kind
    }

    fn analyse(&self, env: &mut ToolEnv, revise: Option<Revision>) -> Result<Analysis, RoleError> {
        let ep = env.view;
        let system = ANALYST
            .replace("{title}", self.kind.title())
            .replace("{focus}", focus(self.kind));
        let mut user = ep.prompt.to_string();
        if let Some(Revision { previous, flags }) = revise {
            user.push_str(&format!(
                "\n\nYour previous analysis: {}\nThe reflector found: {}\nRevise: fix these problems and answer again.",
                previous.summary,
                flags.iter().map(|f| f.message.clone()).collect::<Vec<_>>().join("; ")
            ));
        }
        let mut messages = vec![ChatMessage::system(system), ChatMessage::user(user)];
        let specs = env.tools.specs();
        let mut examined: Vec<ItemId> = revise
            .map(|r| r.previous.examined.clone())
            .unwrap_or_default();
        let answer = loop {
            let offer = (env.turns_left() > 0).then_some(specs.as_slice());
            if offer.is_none() {
                messages.push(ChatMessage::user(
                    "No tool turns are left: give your final JSON answer now.",
                ));
            }
            let r = chat(self.model.as_ref(), env.transcript, &messages, offer)?;
            let calls = r.message.tool_calls.clone();
            if calls.is_empty() || offer.is_none() {
                break r.message.content;
            }
            messages.push(r.message.clone());
            let parsed: Vec<(String, Result<Value, String>)> = calls
                .iter()
                .map(|c| (c.name.clone(), parse_arguments(&c.arguments)))
                .collect();
            let runnable: Vec<(&str, Value)> = parsed
                .iter()
                .filter_map(|(n, a)| a.as_ref().ok().map(|a| (n.as_str(), a.clone())))
                .collect();
            let mut results = env
                .turn(&runnable)
                .map_err(|e| RoleError::Failed {
                    role: self.kind.title().into(),
                    message: e.to_string(),
                })?
                .into_iter();
            for (call, (_, args)) in calls.iter().zip(&parsed) {
                let content = match args {
                    Err(e) => format!("error: bad arguments: {e}"),
                    Ok(a) => {
                        if let Some(c) = ep.item_in(a, "item") {
                            examined.push(c);
                        }
                        match results.next() {
                            Some((idx, Ok(out))) => {
                                format!("call #{idx}: {}\ndata: {}", out.text, out.data)
                            }
                            Some((idx, Err(e))) => format!("call #{idx}: error: {e}"),
                            None => "error: too many calls in one turn".into(),
                        }
                    }
                };
                messages.push(ChatMessage::tool(call.id.clone(), content));
            }
        };
        let json = extract_json(&answer).unwrap_or(Value::Null);
        let claims = parse_claims(ep, &json);
        examined.extend(claims.iter().map(|c| c.candidate));
        examined.sort();
        examined.dedup();
        let summary = json
            .get("summary")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| answer.trim().chars().take(500).collect());
        Ok(Analysis {
            analyst: self.kind,
            claims,
            examined,
            summary,
        })
    }
}

/// The rule-based checks, plus the model's verdict and revision requests.
pub struct LlmReflector {
    model: Arc<dyn ChatModel>,
}

impl LlmReflector {
    /// A reflector over `model`.
    pub fn new(model: Arc<dyn ChatModel>) -> Self {
        LlmReflector { model }
    }
}

impl Reflector for LlmReflector {
    fn reflect(&self, env: &mut ToolEnv, analyses: &[Analysis]) -> Result<Reflection, RoleError> {
        let checked = RuleReflector.reflect(env, analyses)?;
        let (ep, t) = (env.view, &mut *env.transcript);
        let report = json!({
            "analyses": analyses.iter().map(|a| json!({"analyst": kind_key(a.analyst), "summary": a.summary, "claims": a.claims.len()})).collect::<Vec<_>>(),
            "problems": checked.flags.iter().map(|f| f.message.clone()).collect::<Vec<_>>(),
        });
        let r = chat(
            self.model.as_ref(),
            t,
            &[
                ChatMessage::system(REFLECTOR),
                ChatMessage::user(format!("{}\n\n{report}", ep.prompt)),
            ],
            None,
        )?;
        let json = extract_json(&r.message.content).unwrap_or(Value::Null);
        let mut revise = checked.revise.clone();
        if let Some(list) = json.get("revise").and_then(Value::as_array) {
            for k in list.iter().filter_map(Value::as_str) {
                if let Some(kind) = AnalystKind::ALL.into_iter().find(|x| kind_key(*x) == k) {
                    if analyses.iter().any(|a| a.analyst == kind) && !revise.contains(&kind) {
                        revise.push(kind);
                    }
                }
            }
        }
        let text = json
            .get("verdict")
            .and_then(Value::as_str)
            .map(|v| format!("{v} ({})", checked.text))
            .unwrap_or(checked.text);
        Ok(Reflection {
            text,
            flags: checked.flags,
            revise,
        })
    }
}

/// Ranks with the model; an answer that is not a permutation is repaired and marked invalid.
pub struct LlmRanker {
    model: Arc<dyn ChatModel>,
}

impl LlmRanker {
    /// A ranker over `model`.
    pub fn new(model: Arc<dyn ChatModel>) -> Self {
        LlmRanker { model }
    }
}

impl FinalRanker for LlmRanker {
    fn rank(&self, env: &mut ToolEnv, d: Deliberation) -> Result<FinalRanking, RoleError> {
        let Deliberation { plan, analyses } = d;
        let ep = env.view;
        let findings: Vec<String> = analyses
            .iter()
            .map(|a| {
                let claims: Vec<String> = a
                    .claims
                    .iter()
                    .take(20)
                    .map(|c| {
                        format!(
                            "[{}] {:+.2} {}",
                            ep.ctx.raw(c.candidate),
                            c.weight,
                            c.statement
                        )
                    })
                    .collect();
                format!(
                    "{}: {}\n{}",
                    a.analyst.title(),
                    a.summary,
                    claims.join("\n")
                )
            })
            .collect();
        let user = format!(
            "{}\n\nPlan: {}\n\n{}",
            ep.prompt,
            plan.text,
            findings.join("\n\n")
        );
        let r = chat(
            self.model.as_ref(),
            env.transcript,
            &[ChatMessage::system(RANKER), ChatMessage::user(user)],
            None,
        )?;
        let cands = &ep.ctx.request.candidates;
        let parsed = parse_ranking(&r.message.content, cands, |raw| {
            ep.ctx.res.dataset.item_by_raw(raw)
        });
        let fallback = RuleRanker.rank(env, d)?;
        let mut items = parsed.items.clone();
        for c in &fallback.items {
            if !items.contains(c) {
                items.push(*c);
            }
        }
        let justification = extract_json(&r.message.content)
            .and_then(|j| {
                j.get("justification")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| fallback.justification.clone());
        let raw = (!parsed.valid).then_some(parsed.items);
        Ok(FinalRanking {
            items,
            valid: parsed.valid,
            raw,
            justification,
        })
    }
}
