//! Chat-model backends for the LLM-prompted roles.
//!
//! [`ChatModel`] is one blocking call: messages (and optionally tool specifications) in, one
//! assistant message out. Backends:
//! - [`openai::OpenAiClient`]: any OpenAI-compatible chat-completions server (vLLM, llama.cpp
//!   server, Ollama, hosted APIs), with timeouts, retries with back-off and a concurrency limit;
//! - [`local::LocalDecoder`]: a Hugging Face chat checkpoint (Llama, Qwen2, Qwen3, Mistral) run
//!   in-process by `star-model`'s decoder, with its own tokenizer and chat template.
//!
//! Model output is untrusted input: roles parse it tolerantly ([`parse`]) and never panic on it.

pub mod backend;
pub mod local;
pub mod openai;
pub mod parse;

pub use backend::ChatBackend;
use serde::{Deserialize, Serialize};

/// Who said a message.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    /// Instructions.
    System,
    /// The caller.
    User,
    /// The model.
    Assistant,
    /// A tool result sent back to the model.
    Tool,
}

/// A tool call the model asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRequest {
    /// Id to answer with (OpenAI `tool_call_id`).
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments as the model wrote them (JSON text, possibly malformed).
    pub arguments: String,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who said it.
    pub role: ChatRole,
    /// Text content.
    pub content: String,
    /// Tool calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallRequest>,
    /// For a tool message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::text(ChatRole::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::text(ChatRole::User, content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::text(ChatRole::Assistant, content)
    }

    /// A tool result answering `call_id`.
    pub fn tool(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: ChatRole::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }

    fn text(role: ChatRole, content: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// A tool the model may call, described for the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON schema of the arguments.
    pub parameters: serde_json::Value,
}

/// Token counts reported by the backend.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
}

/// The model's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The assistant message (text and/or tool calls).
    pub message: ChatMessage,
    /// Token usage, when reported.
    pub usage: Usage,
    /// How many attempts the call took (1 = no retry).
    pub attempts: u32,
}

/// Errors of a chat call, after retries.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The backend cannot be used (missing configuration, not implemented yet, ...).
    #[error("chat model not available: {0}")]
    NotAvailable(String),
    /// The server could not be reached or timed out, after all retries.
    #[error("chat request to {url} failed after {attempts} attempt(s): {message}")]
    Transport {
        /// Endpoint.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Last error.
        message: String,
    },
    /// The server answered with an error status, after all retries.
    #[error("chat request to {url} failed with HTTP {status} after {attempts} attempt(s): {body}")]
    Status {
        /// Endpoint.
        url: String,
        /// HTTP status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// Response body (truncated).
        body: String,
    },
    /// The server's answer is not a chat completion.
    #[error("malformed chat response from {url}: {message}")]
    Malformed {
        /// Endpoint.
        url: String,
        /// What is wrong.
        message: String,
    },
}

/// A chat-completions backend. Implementations must be usable from several threads at once.
pub trait ChatModel: Send + Sync {
    /// A short description for logs and results (e.g. `openai:qwen2.5-7b-instruct@http://...`).
    fn describe(&self) -> String;

    /// One completion for `messages`, offering `tools` when given.
    fn chat(
        &self,
        messages: &[ChatMessage],
        tools: Option<&[ToolSpec]>,
    ) -> Result<ChatResponse, ChatError>;
}
