//! Episodes: the structured record of one teacher run, and its serialisation into the tagged
//! trajectory text the student learns from.
//!
//! Tags: [`Segment`]'s `<plan>`, `<tool_call>`, `<tool_response>`, `<reflection>`, `<recommend>`.
//! An analyst's conclusions and the reflector's checks are both reasoning over tool results, so
//! both serialise as `<reflection>` (prefixed with the role); the structured record keeps them
//! apart.

use crate::analyst::AnalystKind;
use crate::origin::Origin;
use serde::{Deserialize, Serialize};
use star_model::student::Segment;

/// One step of an episode, in the order it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// The planner's plan.
    Plan {
        /// Plan text.
        text: String,
    },
    /// A tool call made by a role.
    ToolCall {
        /// The calling role.
        role: String,
        /// Tool name.
        name: String,
        /// Arguments.
        arguments: serde_json::Value,
    },
    /// The answer to the preceding tool call.
    ToolResponse {
        /// The calling role.
        role: String,
        /// Tool name.
        name: String,
        /// Response text (or the error message).
        text: String,
        /// Whether the call failed.
        error: bool,
    },
    /// An analyst's conclusions.
    Analysis {
        /// Which analyst.
        analyst: AnalystKind,
        /// Revision round (0 = first pass).
        round: usize,
        /// Summary text.
        text: String,
    },
    /// The reflector's verdict on a round of analyses.
    Reflection {
        /// Round.
        round: usize,
        /// Verdict text.
        text: String,
        /// Number of problems flagged.
        flags: usize,
    },
    /// The final ranking.
    Recommend {
        /// Candidate raw ids, best first.
        ranking: Vec<String>,
        /// Why.
        justification: String,
    },
}

impl Step {
    /// The segment this step serialises as.
    pub fn segment(&self) -> Segment {
        match self {
            Step::Plan { .. } => Segment::Plan,
            Step::ToolCall { .. } => Segment::ToolCall,
            Step::ToolResponse { .. } => Segment::ToolResponse,
            Step::Analysis { .. } | Step::Reflection { .. } => Segment::Reflection,
            Step::Recommend { .. } => Segment::Recommend,
        }
    }

    /// The segment tag this step serialises under (`plan`, `tool_call`, …).
    pub fn tag(&self) -> &'static str {
        self.segment().name()
    }

    /// The text inside the tags.
    pub fn body(&self) -> String {
        match self {
            Step::Plan { text } => text.clone(),
            Step::ToolCall {
                name, arguments, ..
            } => serde_json::json!({"name": name, "arguments": arguments}).to_string(),
            Step::ToolResponse { text, .. } => text.clone(),
            Step::Analysis { analyst, text, .. } => format!("{}: {text}", analyst.title()),
            Step::Reflection { text, .. } => format!("Reflector: {text}"),
            Step::Recommend {
                ranking,
                justification,
            } => format!(
                "{} | {justification}",
                ranking
                    .iter()
                    .map(|r| format!("[{r}]"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    }
}

/// Counters of an episode.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpisodeStats {
    /// Wall time in milliseconds.
    pub wall_ms: f64,
    /// Tool calls made.
    pub tool_calls: usize,
    /// Tool calls that failed.
    pub tool_errors: usize,
    /// Tokens: reported by the chat model for LLM roles, whitespace-separated words of the
    /// generated text for rule-based roles.
    pub tokens: u64,
    /// Revision rounds the reflector asked for.
    pub revisions: usize,
    /// Chat calls made by LLM roles.
    pub chat_calls: usize,
}

/// One teacher episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// Where it comes from, its unique id: written `train:196:12` (split, raw user id,
    /// target position) or `test:196`.
    pub id: Origin,
    /// Which split the request comes from (`train`, `valid`, `test`).
    pub split: String,
    /// Raw user id.
    pub user: String,
    /// Length of the history the teacher saw.
    pub history_len: usize,
    /// Candidate raw ids in prompt order.
    pub candidates: Vec<String>,
    /// The held-out item, when known (not shown to the teacher).
    pub target: Option<String>,
    /// The teacher's name (`teacher`, `teacher-no-reflection`, ...).
    pub teacher: String,
    /// The prompt (user history and candidates) the trajectory continues.
    pub prompt: String,
    /// Every step in order.
    pub steps: Vec<Step>,
    /// Final ranking (raw ids), a permutation of the candidates.
    pub ranking: Vec<String>,
    /// Whether the ranker's raw output was a valid permutation (LLM rankers may need repair).
    pub valid: bool,
    /// When it was not: the usable part of the raw output (raw ids), before repair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_ranking: Option<Vec<String>>,
    /// Position of the target in the ranking, when the target is known.
    pub target_rank: Option<usize>,
    /// Counters.
    pub stats: EpisodeStats,
    /// The serialised trajectory: every step in its tags.
    pub text: String,
}

impl Episode {
    /// Checks what an episode read from a file promises: the ranking is a permutation of the
    /// candidates, and the target, when known, is a candidate at `target_rank` in it.
    pub fn check(&self) -> Result<(), String> {
        let mut sorted: Vec<&String> = self.ranking.iter().collect();
        sorted.sort();
        let mut cands: Vec<&String> = self.candidates.iter().collect();
        cands.sort();
        if sorted != cands {
            return Err("the ranking is not a permutation of the candidates".into());
        }
        match (&self.target, self.target_rank) {
            (None, None) => Ok(()),
            (Some(t), Some(r)) if self.ranking.get(r) == Some(t) => Ok(()),
            (Some(t), Some(r)) => Err(format!(
                "target_rank {r} is not the position of the target `{t}` in the ranking"
            )),
            (Some(_), None) => Err("a target without a target_rank".into()),
            (None, Some(_)) => Err("a target_rank without a target".into()),
        }
    }
}

/// Serialises steps as `<tag>body</tag>` segments, one per line.
pub fn serialise(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| format!("<{t}>{}</{t}>", s.body(), t = s.tag()))
        .collect::<Vec<_>>()
        .join("\n")
}
