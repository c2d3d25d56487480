//! An OpenAI-compatible chat-completions client (vLLM, llama.cpp server, Ollama, hosted APIs).
//!
//! [`OpenAiClient`] POSTs to `{base_url}/chat/completions` with a blocking [`ureq`] agent. Every
//! call is retried with exponential back-off on transport errors and timeouts, HTTP 429 (honouring
//! `Retry-After`), HTTP 5xx and 200 answers that are not a chat completion; other 4xx answers fail
//! at once. A counting semaphore keeps at most [`OpenAiConfig::max_concurrency`] requests in flight
//! per client, across all threads sharing it.
//!
//! The parts: [`config`] (defaults and environment variables), [`wire`] (the request and
//! response JSON), [`transport`] (one HTTP attempt, its errors, the concurrency semaphore);
//! this file holds the client and its retry loop.

mod config;
mod transport;
mod wire;

pub use config::{
    OpenAiConfig, ENV_API_KEY, ENV_BASE_URL, ENV_MAX_CONCURRENCY, ENV_MAX_RETRIES, ENV_MODEL,
    ENV_OPENAI_API_KEY, ENV_TIMEOUT_SECS,
};

use super::{ChatError, ChatMessage, ChatModel, ChatResponse, ToolSpec};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use transport::{AttemptError, Semaphore, MAX_BACKOFF};
use wire::wire_message;

/// A blocking OpenAI-compatible chat-completions client. Cheap to clone and share across
/// threads: clones share the connection pool and the concurrency limit.
#[derive(Clone, Debug)]
pub struct OpenAiClient {
    inner: Arc<ClientInner>,
}

#[derive(Debug)]
struct ClientInner {
    cfg: OpenAiConfig,
    url: String,
    agent: ureq::Agent,
    permits: Semaphore,
}

impl OpenAiClient {
    /// A client for `cfg`. Nothing is sent until the first [`chat`](ChatModel::chat) call.
    pub fn new(cfg: OpenAiConfig) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(cfg.connect_timeout)
            .timeout_read(cfg.timeout)
            .timeout_write(cfg.timeout)
            .build();
        let url = cfg.endpoint();
        let permits = Semaphore::new(cfg.max_concurrency.max(1));
        OpenAiClient {
            inner: Arc::new(ClientInner {
                cfg,
                url,
                agent,
                permits,
            }),
        }
    }

    /// A client configured from the environment ([`OpenAiConfig::from_env`]).
    pub fn from_env() -> Result<Self, ChatError> {
        OpenAiConfig::from_env().map(Self::new)
    }

    /// The configuration.
    pub fn config(&self) -> &OpenAiConfig {
        &self.inner.cfg
    }

    /// The JSON request body for `messages` and `tools`.
    fn request_body(&self, messages: &[ChatMessage], tools: Option<&[ToolSpec]>) -> Value {
        let cfg = &self.inner.cfg;
        let mut body = json!({
            "model": cfg.model,
            "messages": messages.iter().map(wire_message).collect::<Vec<_>>(),
            "temperature": cfg.temperature,
        });
        if let Some(max_tokens) = cfg.max_tokens {
            body["max_tokens"] = json!(max_tokens);
        }
        if let Some(tools) = tools.filter(|t| !t.is_empty()) {
            body["tools"] = tools
                .iter()
                .map(|t| {
                    json!({
                        "type": "function",
                        "function": {
                            "name": t.name,
                            "description": t.description,
                            "parameters": t.parameters,
                        },
                    })
                })
                .collect();
        }
        body
    }

    /// Back-off before retry number `retry` (1-based): `backoff * 2^(retry-1)`, capped at 30 s.
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.inner
            .cfg
            .backoff
            .checked_mul(factor)
            .unwrap_or(MAX_BACKOFF)
            .min(MAX_BACKOFF)
    }
}

impl ChatModel for OpenAiClient {
    fn describe(&self) -> String {
        format!(
            "openai:{}@{}",
            self.inner.cfg.model, self.inner.cfg.base_url
        )
    }

    fn chat(
        &self,
        messages: &[ChatMessage],
        tools: Option<&[ToolSpec]>,
    ) -> Result<ChatResponse, ChatError> {
        let url = &self.inner.url;
        let body = serde_json::to_vec(&self.request_body(messages, tools)).map_err(|e| {
            ChatError::Malformed {
                url: url.clone(),
                message: format!("cannot serialize the request: {e}"),
            }
        })?;
        let max_attempts = self.inner.cfg.max_retries.saturating_add(1);
        let mut attempt = 1u32;
        loop {
            let error = match self.attempt(&body) {
                Ok(mut response) => {
                    response.attempts = attempt;
                    return Ok(response);
                }
                Err(error) => error,
            };
            if attempt >= max_attempts || !error.retryable() {
                return Err(error.into_chat_error(url, attempt));
            }
            let delay = match &error {
                AttemptError::Status {
                    retry_after: Some(wait),
                    ..
                } => *wait,
                _ => self.backoff(attempt),
            };
            tracing::warn!(
                url = %url,
                attempt,
                max_attempts,
                delay_ms = delay.as_millis() as u64,
                error = %error,
                "chat request failed; retrying"
            );
            std::thread::sleep(delay);
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wire::parse_completion;
    use super::*;
    use crate::chat::Usage;

    #[test]
    fn endpoint_trims_trailing_slash() {
        assert_eq!(
            OpenAiConfig::new("http://h:1/v1/", "m").endpoint(),
            "http://h:1/v1/chat/completions"
        );
        assert_eq!(
            OpenAiConfig::new("http://h:1/v1", "m").endpoint(),
            "http://h:1/v1/chat/completions"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut cfg = OpenAiConfig::new("http://h/v1", "m");
        cfg.backoff = Duration::from_millis(500);
        let client = OpenAiClient::new(cfg);
        assert_eq!(client.backoff(1), Duration::from_millis(500));
        assert_eq!(client.backoff(2), Duration::from_millis(1000));
        assert_eq!(client.backoff(3), Duration::from_millis(2000));
        assert_eq!(client.backoff(10), MAX_BACKOFF);
        assert_eq!(client.backoff(40), MAX_BACKOFF);
    }

    #[test]
    fn from_lookup_reads_optional_values_and_rejects_bad_ones() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let cfg = OpenAiConfig::from_lookup(vars(&[
            (ENV_BASE_URL, "http://x/v1"),
            (ENV_MODEL, "qwen"),
            (ENV_OPENAI_API_KEY, "fallback"),
            (ENV_TIMEOUT_SECS, "7"),
            (ENV_MAX_RETRIES, "0"),
            (ENV_MAX_CONCURRENCY, "9"),
        ]))
        .unwrap();
        assert_eq!(cfg.api_key.as_deref(), Some("fallback"));
        assert_eq!(cfg.timeout, Duration::from_secs(7));
        assert_eq!(cfg.max_retries, 0);
        assert_eq!(cfg.max_concurrency, 9);

        let cfg = OpenAiConfig::from_lookup(vars(&[
            (ENV_BASE_URL, "http://x/v1"),
            (ENV_MODEL, "qwen"),
            (ENV_API_KEY, "primary"),
            (ENV_OPENAI_API_KEY, "fallback"),
        ]))
        .unwrap();
        assert_eq!(cfg.api_key.as_deref(), Some("primary"));

        for (name, bad) in [
            (ENV_TIMEOUT_SECS, "soon"),
            (ENV_MAX_RETRIES, "-1"),
            (ENV_MAX_CONCURRENCY, "0"),
        ] {
            let err = OpenAiConfig::from_lookup(|k| match k {
                ENV_BASE_URL => Some("http://x/v1".into()),
                ENV_MODEL => Some("qwen".into()),
                k if k == name => Some(bad.into()),
                _ => None,
            })
            .unwrap_err();
            match err {
                ChatError::NotAvailable(msg) => assert!(msg.contains(name), "{msg}"),
                other => panic!("expected NotAvailable, got {other:?}"),
            }
        }

        let err = OpenAiConfig::from_lookup(|k| (k == ENV_BASE_URL).then(|| "http://x".into()))
            .unwrap_err();
        assert!(
            matches!(err, ChatError::NotAvailable(ref m) if m.contains(ENV_MODEL)),
            "{err}"
        );
    }

    #[test]
    fn parse_completion_accepts_object_arguments_and_missing_usage() {
        let r = parse_completion(
            r#"{"choices":[{"message":{"role":"assistant","content":null,
                "tool_calls":[{"function":{"name":"f","arguments":{"k":1}}}]}}]}"#,
        )
        .unwrap();
        assert_eq!(r.usage, Usage::default());
        assert_eq!(r.message.content, "");
        assert_eq!(r.message.tool_calls[0].id, "call_0");
        assert_eq!(r.message.tool_calls[0].arguments, r#"{"k":1}"#);
        assert!(parse_completion(r#"{"choices":[]}"#)
            .unwrap_err()
            .contains("no choices"));
        assert!(parse_completion("<html>").is_err());
    }
}
