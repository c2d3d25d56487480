//! The teacher's roles as traits, and the data they exchange.
//!
//! Planner → analysts (each with up to T tool turns) → reflector (checks claims against tool
//! results, sends work back, up to R rounds) → ranker. Every role has a rule-based
//! implementation ([`rule`]) and an LLM-prompted one ([`llm`]).

pub mod llm;
pub mod rule;

pub use crate::analyst::AnalystKind;
use crate::episode::Step;
use crate::tools::{ToolContext, ToolError, ToolOutput, ToolRegistry};
use serde::{Deserialize, Serialize};
use star_cf::ItemId;

/// The planner's output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Plan text.
    pub text: String,
    /// How much the ranker should trust each analyst (by [`AnalystKind::ALL`] order).
    pub weights: [f32; 4],
}

/// A machine-checkable reference from a claim to a tool result: the value at JSON pointer
/// `pointer` in the data of tool call `call`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// Index of the tool call in the episode's log.
    pub call: usize,
    /// JSON pointer into that call's data, e.g. `/user_cf_hits`.
    pub pointer: String,
    /// The value the claim states.
    pub value: f64,
}

/// One statement about a candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// The candidate.
    pub candidate: ItemId,
    /// Support (positive) or objection (negative), roughly in [-1, 1].
    pub weight: f32,
    /// The statement.
    pub statement: String,
    /// What it rests on; `None` = unsupported.
    pub fact: Option<Fact>,
}

/// An analyst's conclusions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Which analyst.
    pub analyst: AnalystKind,
    /// Claims about candidates.
    pub claims: Vec<Claim>,
    /// Candidates the analyst looked at.
    pub examined: Vec<ItemId>,
    /// Summary text.
    pub summary: String,
}

/// What the reflector can flag.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// A claim's value differs from the tool result it cites.
    Contradiction,
    /// A claim cites nothing, or a call that does not exist or failed.
    Unsupported,
    /// A candidate the analyst never examined.
    Unexamined,
}

/// One problem found by the reflector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    /// What kind.
    pub kind: FlagKind,
    /// Whose work it concerns.
    pub analyst: AnalystKind,
    /// The candidate concerned.
    pub candidate: Option<ItemId>,
    /// Explanation.
    pub message: String,
}

/// The reflector's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reflection {
    /// Verdict text.
    pub text: String,
    /// Problems found.
    pub flags: Vec<Flag>,
    /// Analysts sent back for revision.
    pub revise: Vec<AnalystKind>,
}

/// The final ranking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinalRanking {
    /// Candidates, best first (a permutation after repair).
    pub items: Vec<ItemId>,
    /// Whether the raw output was already a permutation.
    pub valid: bool,
    /// The usable part of the raw output (known candidates, first occurrences, in order) when
    /// it was not a permutation.
    pub raw: Option<Vec<ItemId>>,
    /// Why.
    pub justification: String,
}

/// Errors of a role. Roles report them; the orchestrator decides what to do.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// A chat call failed after retries.
    #[error(transparent)]
    Chat(#[from] crate::chat::ChatError),
    /// The role could not produce an output.
    #[error("{role}: {message}")]
    Failed {
        /// Role name.
        role: String,
        /// What went wrong.
        message: String,
    },
}

/// One logged tool call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    /// Calling role.
    pub role: String,
    /// Tool name.
    pub name: String,
    /// Arguments.
    pub arguments: serde_json::Value,
    /// The output, or the error message.
    pub output: Result<ToolOutput, String>,
}

/// Everything an episode has recorded so far: steps and the tool log.
#[derive(Debug, Default)]
pub struct Transcript {
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Tool calls in order (claims cite them by index).
    pub calls: Vec<ToolCallRecord>,
    /// Tokens used so far.
    pub tokens: u64,
    /// Chat calls so far.
    pub chat_calls: usize,
}

impl Transcript {
    /// Records a generated text step, counting its words as tokens (rule-based roles).
    pub fn push_text(&mut self, step: Step) {
        self.tokens += step.body().split_whitespace().count() as u64;
        self.steps.push(step);
    }
}

/// What a role acts in during one episode: the episode's view, the transcript it writes to, and
/// the tools. Every tool call is logged (and recorded as `<tool_call>`/`<tool_response>` steps)
/// and counted against the role's budget of tool turns (0 for a role that may not call tools).
pub struct ToolEnv<'a, 'b> {
    /// The episode.
    pub view: &'a EpisodeView<'a, 'b>,
    /// The tools.
    pub tools: &'a ToolRegistry,
    /// Where calls and steps go.
    pub transcript: &'a mut Transcript,
    /// The calling role.
    pub role: String,
    turns_left: usize,
}

/// The result of one call in a tool turn: its index in the episode's log and its output.
pub type CallResult = (usize, Result<ToolOutput, ToolError>);

/// Most calls one tool turn may batch.
pub const MAX_CALLS_PER_TURN: usize = 20;

impl<'a, 'b> ToolEnv<'a, 'b> {
    /// An environment with `turns` tool turns.
    pub fn new(
        view: &'a EpisodeView<'a, 'b>,
        tools: &'a ToolRegistry,
        transcript: &'a mut Transcript,
        role: &str,
        turns: usize,
    ) -> Self {
        ToolEnv {
            view,
            tools,
            transcript,
            role: role.to_string(),
            turns_left: turns,
        }
    }

    /// Tool turns left.
    pub fn turns_left(&self) -> usize {
        self.turns_left
    }

    /// Whether a tool is available.
    pub fn has(&self, name: &str) -> bool {
        self.tools.has(name)
    }

    /// One tool turn: runs up to [`MAX_CALLS_PER_TURN`] calls and returns, per call, its index
    /// in the log and its output. Fails when no turn is left.
    pub fn turn(
        &mut self,
        calls: &[(&str, serde_json::Value)],
    ) -> Result<Vec<CallResult>, ToolError> {
        if self.turns_left == 0 {
            return Err(ToolError::Unavailable {
                tool: calls.first().map_or("", |c| c.0).to_string(),
                message: "tool-turn budget exhausted".into(),
            });
        }
        self.turns_left -= 1;
        Ok(calls
            .iter()
            .take(MAX_CALLS_PER_TURN)
            .map(|(name, args)| self.call_logged(name, args.clone()))
            .collect())
    }

    fn call_logged(&mut self, name: &str, args: serde_json::Value) -> CallResult {
        // An identical successful call earlier in the episode is answered from the log.
        if let Some((i, out)) = self
            .transcript
            .calls
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name && c.arguments == args && c.output.is_ok())
        {
            return (i, Ok(out.output.clone().expect("checked ok")));
        }
        let out = self.tools.call(self.view.ctx, name, &args);
        let idx = self.transcript.calls.len();
        self.transcript.steps.push(Step::ToolCall {
            role: self.role.clone(),
            name: name.to_string(),
            arguments: args.clone(),
        });
        self.transcript.steps.push(Step::ToolResponse {
            role: self.role.clone(),
            name: name.to_string(),
            text: match &out {
                Ok(o) => o.text.clone(),
                Err(e) => format!("error: {e}"),
            },
            error: out.is_err(),
        });
        self.transcript.calls.push(ToolCallRecord {
            role: self.role.clone(),
            name: name.to_string(),
            arguments: args,
            output: out.clone().map_err(|e| e.to_string()),
        });
        (idx, out)
    }
}

/// What every role sees of the episode.
pub struct EpisodeView<'a, 'b> {
    /// The episode's tool context (request + resources).
    pub ctx: &'a ToolContext<'b>,
    /// The prompt text.
    pub prompt: &'a str,
}

impl EpisodeView<'_, '_> {
    /// The item that `data[field]` names (a tool result's `item` or `id`, a claim's `item`),
    /// when it is a known item id.
    pub fn item_in(&self, data: &serde_json::Value, field: &str) -> Option<ItemId> {
        self.ctx.item(field, data.get(field)?).ok()
    }
}

/// Decides how to approach the request.
pub trait Planner: Send + Sync {
    /// The plan.
    fn plan(&self, env: &mut ToolEnv) -> Result<Plan, RoleError>;
}

/// What a revising analyst works from: its previous analysis and the reflector's flags on it.
#[derive(Clone, Copy, Debug)]
pub struct Revision<'a> {
    /// The analysis being revised.
    pub previous: &'a Analysis,
    /// The reflector's flags on it.
    pub flags: &'a [Flag],
}

/// Examines the candidates from one angle.
pub trait Analyst: Send + Sync {
    /// Which analyst this is.
    fn kind(&self) -> AnalystKind;

    /// Analyses the request with tools: a first pass (`revise` = `None`), or a revision of a
    /// previous analysis after the reflector's flags.
    fn analyse(&self, env: &mut ToolEnv, revise: Option<Revision>) -> Result<Analysis, RoleError>;
}

/// Checks analyses against the tool results.
pub trait Reflector: Send + Sync {
    /// The verdict on one round of analyses (the tool results are in `env.transcript`).
    fn reflect(&self, env: &mut ToolEnv, analyses: &[Analysis]) -> Result<Reflection, RoleError>;
}

/// What the ranker ranks from: the plan and the analyses after reflection.
#[derive(Clone, Copy, Debug)]
pub struct Deliberation<'a> {
    /// The planner's plan.
    pub plan: &'a Plan,
    /// The analyses, as revised.
    pub analyses: &'a [Analysis],
}

/// Orders the candidates.
pub trait FinalRanker: Send + Sync {
    /// The final ranking of every candidate.
    fn rank(&self, env: &mut ToolEnv, d: Deliberation) -> Result<FinalRanking, RoleError>;
}
