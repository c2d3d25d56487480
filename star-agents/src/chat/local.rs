//! The local backend: a Hugging Face chat checkpoint (Llama, Qwen2, Qwen3 or Mistral, with its
//! `tokenizer.json` and chat template) run in-process by `star-model`'s decoder, no server.
//!
//! Messages and tools are handed to the checkpoint's own chat template in transformers'
//! shapes; tool calls are read back from the Hermes-style `<tool_call>{"name": …,
//! "arguments": …}</tool_call>` blocks that Qwen and most open chat models write. Generation is
//! greedy (deterministic), up to [`LocalDecoder::max_new_tokens`] tokens.

use super::{
    ChatError, ChatMessage, ChatModel, ChatResponse, ChatRole, ToolCallRequest, ToolSpec, Usage,
};
use burn::tensor::Device;
use serde_json::{json, Value};
use star_model::student::ChatLm;
use std::path::Path;

/// Default cap on generated tokens per answer.
pub const DEFAULT_MAX_NEW_TOKENS: usize = 512;

/// A chat model running a Hugging Face checkpoint in-process.
#[derive(Debug)]
pub struct LocalDecoder {
    model: ChatLm,
    max_new_tokens: usize,
}

impl LocalDecoder {
    /// Loads the checkpoint directory `dir` (`config.json`, weights, `tokenizer.json`, a chat
    /// template) on `device`. Whatever the decoder does not implement is refused by name.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, ChatError> {
        let model = ChatLm::load(dir, device)
            .map_err(|e| ChatError::NotAvailable(format!("local model {}: {e}", dir.display())))?;
        Ok(LocalDecoder {
            model,
            max_new_tokens: DEFAULT_MAX_NEW_TOKENS,
        })
    }

    /// The same backend with another cap on generated tokens per answer.
    pub fn with_max_new_tokens(mut self, n: usize) -> Self {
        self.max_new_tokens = n.max(1);
        self
    }

    /// The cap on generated tokens per answer.
    pub fn max_new_tokens(&self) -> usize {
        self.max_new_tokens
    }
}

/// A message as transformers' chat templates expect it.
fn hf_message(m: &ChatMessage) -> Value {
    let role = match m.role {
        ChatRole::System => "system",
        ChatRole::User => "user",
        ChatRole::Assistant => "assistant",
        ChatRole::Tool => "tool",
    };
    let mut out = json!({"content": m.content, "role": role});
    if !m.tool_calls.is_empty() {
        out["tool_calls"] = m
            .tool_calls
            .iter()
            .map(|c| {
                // templates write the arguments with `tojson`: an object when they parse
                let arguments = serde_json::from_str::<Value>(&c.arguments)
                    .unwrap_or_else(|_| Value::String(c.arguments.clone()));
                json!({"function": {"arguments": arguments, "name": c.name}, "id": c.id, "type": "function"})
            })
            .collect();
    }
    if let Some(id) = &m.tool_call_id {
        out["tool_call_id"] = json!(id);
    }
    out
}

/// Splits generated text into its prose and its `<tool_call>` blocks. A block whose JSON does
/// not parse, or lacks a `name`, stays in the prose for the roles' tolerant parsing.
pub fn split_tool_calls(text: &str) -> (String, Vec<ToolCallRequest>) {
    const OPEN: &str = "<tool_call>";
    const CLOSE: &str = "</tool_call>";
    let mut prose = String::new();
    let mut calls = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find(CLOSE) else {
            break;
        };
        let body = after[..end].trim();
        let call = serde_json::from_str::<Value>(body).ok().and_then(|v| {
            let name = v.get("name")?.as_str()?.to_string();
            let arguments = match v.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                Some(a) => a.to_string(),
                None => "{}".into(),
            };
            Some((name, arguments))
        });
        match call {
            Some((name, arguments)) => {
                prose.push_str(&rest[..start]);
                calls.push(ToolCallRequest {
                    id: format!("call_{}", calls.len()),
                    name,
                    arguments,
                });
            }
            None => prose.push_str(&rest[..start + OPEN.len() + end + CLOSE.len()]),
        }
        rest = &after[end + CLOSE.len()..];
    }
    prose.push_str(rest);
    (prose.trim().to_string(), calls)
}

impl ChatModel for LocalDecoder {
    fn describe(&self) -> String {
        format!("local:{}", self.model.dir().display())
    }

    fn chat(
        &self,
        messages: &[ChatMessage],
        tools: Option<&[ToolSpec]>,
    ) -> Result<ChatResponse, ChatError> {
        let messages = Value::Array(messages.iter().map(hf_message).collect());
        let tools = tools.map(|t| {
            Value::Array(
                t.iter()
                    .map(|s| {
                        json!({"function": {"description": s.description, "name": s.name, "parameters": s.parameters}, "type": "function"})
                    })
                    .collect(),
            )
        });
        let started = std::time::Instant::now();
        let (text, prompt, completion) = self
            .model
            .reply(&messages, tools.as_ref(), self.max_new_tokens)
            .map_err(|e| ChatError::Malformed {
                url: self.describe(),
                message: e.to_string(),
            })?;
        tracing::debug!(
            prompt,
            completion,
            seconds = started.elapsed().as_secs_f64(),
            "local chat call"
        );
        let (content, tool_calls) = split_tool_calls(&text);
        Ok(ChatResponse {
            message: ChatMessage {
                role: ChatRole::Assistant,
                content,
                tool_calls,
                tool_call_id: None,
            },
            usage: Usage {
                prompt_tokens: prompt as u64,
                completion_tokens: completion as u64,
            },
            attempts: 1,
        })
    }
}
