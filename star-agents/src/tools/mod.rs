//! Tools the analysts call, over the CST evidence store (and the CF encoder and the sequential
//! model when present).
//!
//! A [`Tool`] has a name, a description and a JSON schema of its arguments (so an LLM can call
//! it), and returns text for the trajectory plus structured data that the reflector checks
//! claims against. Tools answer for one episode ([`ToolContext`]): they see the request's
//! history only and leave the asking user out of every count (the leakage rule of
//! `star_cf::evidence`).

mod args;
mod cf_tools;

pub use args::{Args, Count, Params};
pub use cf_tools::{CfTool, CF_TOOLS};

use crate::chat::ToolSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use star_cf::data::Dataset;
use star_cf::evidence::EvidenceStore;
use star_cf::{ItemId, RankRequest, Ranker};
use star_model::cf::EmbeddingRanker;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a tool returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// Text for the trajectory (`<tool_response>`).
    pub text: String,
    /// Structured data; claims reference fields of it by JSON pointer.
    pub data: serde_json::Value,
}

/// Why a tool call failed. The message goes back to the caller (an LLM can correct itself).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ToolError {
    /// No tool of that name.
    #[error("unknown tool `{0}`")]
    UnknownTool(String),
    /// The arguments do not match the schema.
    #[error("tool `{tool}`: bad arguments: {message}")]
    BadArguments {
        /// Tool name.
        tool: String,
        /// What is wrong.
        message: String,
    },
    /// The tool cannot answer this request.
    #[error("tool `{tool}` is unavailable: {message}")]
    Unavailable {
        /// Tool name.
        tool: String,
        /// Why.
        message: String,
    },
}

/// Shared, read-only resources tools work over.
#[derive(Clone)]
pub struct ToolResources {
    /// The dataset (titles, genres, raw ids).
    pub dataset: Arc<Dataset>,
    /// The CST evidence store built from the train split.
    pub store: Arc<EvidenceStore>,
    /// Trained CF embeddings, when available (`cf_score`).
    pub cf: Option<Arc<EmbeddingRanker>>,
    /// The trained sequential model, when available (`sequence_score`).
    pub sequence: Option<SequenceModels>,
    /// Each user's full train sequence length, to tell evaluation requests (whole history) from
    /// training samples (a prefix).
    pub train_len: Arc<Vec<usize>>,
}

impl ToolResources {
    /// These resources with the sequential model `models` for the `sequence_score` tool.
    pub fn with_sequence(self, models: SequenceModels) -> Self {
        ToolResources {
            sequence: Some(models),
            ..self
        }
    }
}

/// A trained sequential model (SASRec) behind the `sequence_score` tool and the student's
/// sequence evidence, cross-fitted so that no request is answered by a model that trained on
/// its target.
#[derive(Clone)]
pub struct SequenceModels {
    /// For training requests (a prefix of a user's train sequence): models that never trained
    /// on the user (the fold models, each trained without a fold of the users); `None` when
    /// there are none, and then such requests get no answer.
    pub train: Option<Arc<dyn Ranker>>,
    /// For valid and test requests (the whole train history): the model trained on the whole
    /// train split, which has never seen a valid or test target.
    pub eval: Arc<dyn Ranker>,
}

impl SequenceModels {
    /// The model that may answer `ctx`'s request, or why none may.
    pub fn for_request(&self, ctx: &ToolContext) -> Result<&Arc<dyn Ranker>, &'static str> {
        if ctx.sees_whole_train_history() {
            Ok(&self.eval)
        } else {
            self.train.as_ref().ok_or(
                "the sequential model was trained on this user's later interactions and no \
                 cross-fitted fold models are loaded",
            )
        }
    }
}

/// One episode's view: the request and the shared resources.
pub struct ToolContext<'a> {
    /// The resources.
    pub res: &'a ToolResources,
    /// The request being answered.
    pub request: &'a RankRequest,
}

impl ToolContext<'_> {
    /// The item with raw id `raw` (as written in prompts and tool arguments).
    pub fn item(&self, tool: &str, raw: &serde_json::Value) -> Result<ItemId, ToolError> {
        let s = match raw {
            serde_json::Value::String(s) => s.trim().trim_matches(['[', ']']).to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(ToolError::BadArguments {
                    tool: tool.into(),
                    message: format!("`item` must be an item id, got {other}"),
                })
            }
        };
        self.res
            .dataset
            .item_by_raw(&s)
            .ok_or_else(|| ToolError::BadArguments {
                tool: tool.into(),
                message: format!("unknown item id `{s}`"),
            })
    }

    /// Whether the request's history covers the user's whole train sequence (a valid or test
    /// request) rather than a prefix of it (a training sample). Models fit on the train split
    /// (the CF encoder) may only be consulted for such requests.
    pub fn sees_whole_train_history(&self) -> bool {
        let u = self.request.user.idx();
        self.request.history.len() >= self.res.train_len.get(u).copied().unwrap_or(usize::MAX)
    }

    /// The raw id of an item.
    pub fn raw(&self, item: ItemId) -> &str {
        &self.res.dataset.items[item.idx()].raw_id
    }

    /// `[raw id] Title (year)`, the way items are written in prompts.
    pub fn label(&self, item: ItemId) -> String {
        format!("[{}] {}", self.raw(item), self.res.store.item_label(item))
    }
}

/// A tool an analyst can call.
pub trait Tool: Send + Sync {
    /// Name used in calls.
    fn name(&self) -> &'static str;
    /// What it does (shown to LLMs).
    fn description(&self) -> &'static str;
    /// JSON schema of the arguments.
    fn parameters(&self) -> serde_json::Value;
    /// Whether the tool uses translated collaborative evidence (CST). The `no-cst` ablation
    /// registers only tools for which this is false.
    fn is_cst(&self) -> bool;
    /// Runs the tool.
    fn call(&self, ctx: &ToolContext, args: &serde_json::Value) -> Result<ToolOutput, ToolError>;

    /// The specification offered to an LLM.
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name().into(),
            description: self.description().into(),
            parameters: self.parameters(),
        }
    }
}

/// The tools available to a teacher, by name.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: BTreeMap<&'static str, Arc<dyn Tool>>,
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every CF tool of [`CF_TOOLS`] (`cf_score` answers only when CF embeddings are loaded,
    /// `sequence_score` only with a trained sequential model).
    pub fn standard() -> Self {
        let mut r = Self::new();
        for tool in CF_TOOLS {
            r.register(tool);
        }
        r
    }

    /// The same registry without the CST-evidence tools (the `no-cst` ablation).
    pub fn without_cst(&self) -> Self {
        ToolRegistry {
            tools: self
                .tools
                .iter()
                .filter(|(_, t)| !t.is_cst())
                .map(|(n, t)| (*n, t.clone()))
                .collect(),
        }
    }

    /// Adds (or replaces) a tool.
    pub fn register(&mut self, tool: impl Tool + 'static) {
        self.tools.insert(tool.name(), Arc::new(tool));
    }

    /// Whether a tool of that name is registered.
    pub fn has(&self, name: &str) -> bool {
        self.tools.contains_key(name)
    }

    /// Specifications of every tool, for LLM prompts.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.values().map(|t| t.spec()).collect()
    }

    /// Calls tool `name`.
    pub fn call(
        &self,
        ctx: &ToolContext,
        name: &str,
        args: &serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        self.tools
            .get(name)
            .ok_or_else(|| ToolError::UnknownTool(name.to_string()))?
            .call(ctx, args)
    }
}

/// The teacher's tools as the student's [`star_model::model::ToolExecutor`]: in explain mode
/// the student's tool calls are answered by the same tools, over the same evidence, as its
/// teacher's were (so the responses match what it was trained on).
#[derive(Clone)]
pub struct StudentTools {
    /// The tools.
    pub registry: ToolRegistry,
    /// What they work over.
    pub resources: ToolResources,
}

impl star_model::model::ToolExecutor for StudentTools {
    fn call(&self, request: &RankRequest, name: &str, args: &Value) -> Result<String, String> {
        let ctx = ToolContext {
            res: &self.resources,
            request,
        };
        self.registry
            .call(&ctx, name, args)
            .map(|o| o.text)
            .map_err(|e| e.to_string())
    }
}
