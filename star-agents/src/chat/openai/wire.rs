//! The OpenAI wire format: messages out, chat completions in.

use super::transport::{truncate, MAX_ERROR_BODY_CHARS};
use crate::chat::{ChatMessage, ChatResponse, ChatRole, ToolCallRequest, Usage};
use serde::Deserialize;
use serde_json::{json, Value};

/// A message in the OpenAI wire format.
pub(super) fn wire_message(m: &ChatMessage) -> Value {
    match m.role {
        ChatRole::System | ChatRole::User => {
            json!({ "role": role_name(m.role), "content": m.content })
        }
        ChatRole::Assistant => {
            let mut v = json!({ "role": "assistant", "content": m.content });
            if !m.tool_calls.is_empty() {
                if m.content.is_empty() {
                    v["content"] = Value::Null;
                }
                v["tool_calls"] = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        json!({
                            "id": c.id,
                            "type": "function",
                            "function": { "name": c.name, "arguments": c.arguments },
                        })
                    })
                    .collect();
            }
            v
        }
        ChatRole::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.as_deref().unwrap_or_default(),
            "content": m.content,
        }),
    }
}

fn role_name(role: ChatRole) -> &'static str {
    match role {
        ChatRole::System => "system",
        ChatRole::User => "user",
        ChatRole::Assistant => "assistant",
        ChatRole::Tool => "tool",
    }
}

#[derive(Deserialize)]
struct WireCompletion {
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    /// Usually a JSON string; some servers send an object.
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// Parses a chat-completions body; the error says what is wrong.
pub(super) fn parse_completion(text: &str) -> Result<ChatResponse, String> {
    let completion: WireCompletion = serde_json::from_str(text).map_err(|e| {
        format!(
            "not a chat completion ({e}): {}",
            truncate(text, MAX_ERROR_BODY_CHARS)
        )
    })?;
    let choice = completion.choices.into_iter().next().ok_or_else(|| {
        format!(
            "the completion has no choices: {}",
            truncate(text, MAX_ERROR_BODY_CHARS)
        )
    })?;
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, call)| ToolCallRequest {
            id: call.id.unwrap_or_else(|| format!("call_{i}")),
            name: call.function.name,
            arguments: match call.function.arguments {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s,
                Some(other) => other.to_string(),
            },
        })
        .collect();
    let usage = completion
        .usage
        .map(|u| Usage {
            prompt_tokens: u.prompt_tokens.unwrap_or(0),
            completion_tokens: u.completion_tokens.unwrap_or(0),
        })
        .unwrap_or_default();
    Ok(ChatResponse {
        message: ChatMessage {
            role: ChatRole::Assistant,
            content: choice.message.content.unwrap_or_default(),
            tool_calls,
            tool_call_id: None,
        },
        usage,
        attempts: 1,
    })
}
