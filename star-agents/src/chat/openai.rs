//! An OpenAI-compatible chat-completions client (vLLM, llama.cpp server, Ollama, hosted APIs).
//!
//! [`OpenAiClient`] POSTs to `{base_url}/chat/completions` with a blocking [`ureq`] agent. Every
//! call is retried with exponential back-off on transport errors and timeouts, HTTP 429 (honouring
//! `Retry-After`), HTTP 5xx and 200 answers that are not a chat completion; other 4xx answers fail
//! at once. A counting semaphore keeps at most [`OpenAiConfig::max_concurrency`] requests in flight
//! per client, across all threads sharing it.

use super::{
    ChatError, ChatMessage, ChatModel, ChatResponse, ChatRole, ToolCallRequest, ToolSpec, Usage,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Environment variable holding the server's base URL (e.g. `http://localhost:8000/v1`).
pub const ENV_BASE_URL: &str = "STAR_LLM_BASE_URL";
/// Environment variable holding the model name sent with every request.
pub const ENV_MODEL: &str = "STAR_LLM_MODEL";
/// Environment variable holding the API key (falls back to [`ENV_OPENAI_API_KEY`]).
pub const ENV_API_KEY: &str = "STAR_LLM_API_KEY";
/// Fallback environment variable for the API key.
pub const ENV_OPENAI_API_KEY: &str = "OPENAI_API_KEY";
/// Environment variable overriding [`OpenAiConfig::timeout`], in whole seconds.
pub const ENV_TIMEOUT_SECS: &str = "STAR_LLM_TIMEOUT_SECS";
/// Environment variable overriding [`OpenAiConfig::max_retries`].
pub const ENV_MAX_RETRIES: &str = "STAR_LLM_MAX_RETRIES";
/// Environment variable overriding [`OpenAiConfig::max_concurrency`].
pub const ENV_MAX_CONCURRENCY: &str = "STAR_LLM_MAX_CONCURRENCY";

/// Longest back-off between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest wait honoured from a `Retry-After` header.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Longest response body quoted in an error.
const MAX_ERROR_BODY_CHARS: usize = 2000;

/// Configuration of an [`OpenAiClient`].
#[derive(Clone, Debug, PartialEq)]
pub struct OpenAiConfig {
    /// Base URL of the API, up to and including the version (e.g. `http://localhost:8000/v1`);
    /// a trailing `/` is ignored.
    pub base_url: String,
    /// Model name sent with every request.
    pub model: String,
    /// API key sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<String>,
    /// Read (and write) timeout of one request.
    pub timeout: Duration,
    /// Timeout for opening the connection.
    pub connect_timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Back-off before the first retry; doubled for every further retry, capped at 30 s.
    pub backoff: Duration,
    /// Most requests in flight at once per client (0 is treated as 1).
    pub max_concurrency: usize,
    /// Sampling temperature.
    pub temperature: f32,
    /// Most tokens to generate, when set.
    pub max_tokens: Option<u32>,
}

impl OpenAiConfig {
    /// A configuration for `model` served at `base_url`, with the defaults: no key, 120 s read
    /// timeout, 10 s connect timeout, 3 retries from a 500 ms back-off, 4 requests in flight,
    /// temperature 0 and no token limit.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            max_retries: 3,
            backoff: Duration::from_millis(500),
            max_concurrency: 4,
            temperature: 0.0,
            max_tokens: None,
        }
    }

    /// A configuration from the environment: `STAR_LLM_BASE_URL` and `STAR_LLM_MODEL` (required),
    /// `STAR_LLM_API_KEY` (falling back to `OPENAI_API_KEY`), and optionally
    /// `STAR_LLM_TIMEOUT_SECS`, `STAR_LLM_MAX_RETRIES` and `STAR_LLM_MAX_CONCURRENCY`.
    ///
    /// A missing required variable or an unparsable value is a [`ChatError::NotAvailable`] that
    /// names the variable.
    pub fn from_env() -> Result<Self, ChatError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup` (a name → value map)
    /// instead of the process environment. Empty values count as missing.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ChatError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &str, what: &str| {
            get(name).ok_or_else(|| {
                ChatError::NotAvailable(format!(
                    "environment variable {name} is not set (the {what} of the OpenAI-compatible server)"
                ))
            })
        };
        let base_url = required(ENV_BASE_URL, "base URL, e.g. http://localhost:8000/v1")?;
        let model = required(ENV_MODEL, "model name")?;
        let mut cfg = OpenAiConfig::new(base_url, model);
        cfg.api_key = get(ENV_API_KEY).or_else(|| get(ENV_OPENAI_API_KEY));
        if let Some(secs) =
            parse_var::<u64>(ENV_TIMEOUT_SECS, get(ENV_TIMEOUT_SECS), "whole seconds")?
        {
            cfg.timeout = Duration::from_secs(secs);
        }
        if let Some(retries) =
            parse_var::<u32>(ENV_MAX_RETRIES, get(ENV_MAX_RETRIES), "a retry count")?
        {
            cfg.max_retries = retries;
        }
        if let Some(n) = parse_var::<usize>(
            ENV_MAX_CONCURRENCY,
            get(ENV_MAX_CONCURRENCY),
            "a positive request count",
        )? {
            if n == 0 {
                return Err(ChatError::NotAvailable(format!(
                    "environment variable {ENV_MAX_CONCURRENCY} must be at least 1, got 0"
                )));
            }
            cfg.max_concurrency = n;
        }
        Ok(cfg)
    }

    /// The chat-completions endpoint: `{base_url}/chat/completions`.
    pub fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }
}

/// Parses an optional numeric variable, naming it on failure.
fn parse_var<T: std::str::FromStr>(
    name: &str,
    value: Option<String>,
    expected: &str,
) -> Result<Option<T>, ChatError> {
    value
        .map(|v| {
            v.parse::<T>().map_err(|_| {
                ChatError::NotAvailable(format!(
                    "environment variable {name} must be {expected}, got {v:?}"
                ))
            })
        })
        .transpose()
}

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

    /// One HTTP attempt, holding a concurrency permit while the request is in flight.
    fn attempt(&self, body: &[u8]) -> Result<ChatResponse, AttemptError> {
        let inner = &*self.inner;
        let _permit = inner.permits.acquire();
        let mut request = inner
            .agent
            .post(&inner.url)
            .set("Content-Type", "application/json")
            .set("Accept", "application/json");
        if let Some(key) = &inner.cfg.api_key {
            request = request.set("Authorization", &format!("Bearer {key}"));
        }
        match request.send_bytes(body) {
            Ok(response) => {
                let text = response
                    .into_string()
                    .map_err(|e| AttemptError::Transport {
                        message: format!("reading the response body: {e}"),
                        retryable: true,
                    })?;
                parse_completion(&text).map_err(AttemptError::Malformed)
            }
            Err(ureq::Error::Status(status, response)) => {
                let retry_after = response
                    .header("Retry-After")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER));
                let body = response
                    .into_string()
                    .unwrap_or_else(|e| format!("<unreadable body: {e}>"));
                Err(AttemptError::Status {
                    status,
                    body: truncate(&body, MAX_ERROR_BODY_CHARS),
                    retry_after,
                })
            }
            Err(ureq::Error::Transport(t)) => {
                // Configuration errors do not go away by retrying.
                let retryable = !matches!(
                    t.kind(),
                    ureq::ErrorKind::InvalidUrl
                        | ureq::ErrorKind::UnknownScheme
                        | ureq::ErrorKind::InsecureRequestHttpsOnly
                        | ureq::ErrorKind::InvalidProxyUrl
                );
                Err(AttemptError::Transport {
                    message: t.to_string(),
                    retryable,
                })
            }
        }
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

/// What went wrong in one attempt.
#[derive(Debug)]
enum AttemptError {
    /// No usable HTTP exchange (connect, timeout, I/O).
    Transport { message: String, retryable: bool },
    /// A non-2xx status.
    Status {
        status: u16,
        body: String,
        retry_after: Option<Duration>,
    },
    /// A 2xx answer that is not a chat completion.
    Malformed(String),
}

impl AttemptError {
    fn retryable(&self) -> bool {
        match self {
            AttemptError::Transport { retryable, .. } => *retryable,
            AttemptError::Status { status, .. } => *status == 429 || (500..600).contains(status),
            AttemptError::Malformed(_) => true,
        }
    }

    fn into_chat_error(self, url: &str, attempts: u32) -> ChatError {
        let url = url.to_string();
        match self {
            AttemptError::Transport { message, .. } => ChatError::Transport {
                url,
                attempts,
                message,
            },
            AttemptError::Status { status, body, .. } => ChatError::Status {
                url,
                status,
                attempts,
                body,
            },
            AttemptError::Malformed(message) => ChatError::Malformed {
                url,
                message: format!("{message} (after {attempts} attempt(s))"),
            },
        }
    }
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptError::Transport { message, .. } => write!(f, "transport error: {message}"),
            AttemptError::Status { status, body, .. } => write!(f, "HTTP {status}: {body}"),
            AttemptError::Malformed(message) => write!(f, "malformed response: {message}"),
        }
    }
}

/// A message in the OpenAI wire format.
fn wire_message(m: &ChatMessage) -> Value {
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
fn parse_completion(text: &str) -> Result<ChatResponse, String> {
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

/// At most `max` characters of `s`, marking a cut.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

/// A counting semaphore: at most `max` permits out at once.
#[derive(Debug)]
struct Semaphore {
    in_use: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

impl Semaphore {
    fn new(max: usize) -> Self {
        Semaphore {
            in_use: Mutex::new(0),
            freed: Condvar::new(),
            max,
        }
    }

    /// Blocks until a permit is free; the permit is returned when the guard drops (also while
    /// unwinding).
    fn acquire(&self) -> Permit<'_> {
        let mut in_use = self.in_use.lock().unwrap_or_else(|e| e.into_inner());
        while *in_use >= self.max {
            in_use = self.freed.wait(in_use).unwrap_or_else(|e| e.into_inner());
        }
        *in_use += 1;
        Permit { semaphore: self }
    }
}

/// A held [`Semaphore`] permit.
struct Permit<'a> {
    semaphore: &'a Semaphore,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut in_use = self
            .semaphore
            .in_use
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *in_use = in_use.saturating_sub(1);
        drop(in_use);
        self.semaphore.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn semaphore_releases_on_panic() {
        let s = Arc::new(Semaphore::new(1));
        let s2 = Arc::clone(&s);
        let result = std::thread::spawn(move || {
            let _p = s2.acquire();
            panic!("boom");
        })
        .join();
        assert!(result.is_err());
        assert_eq!(*s.in_use.lock().unwrap_or_else(|e| e.into_inner()), 0);
        let _p = s.acquire();
        assert_eq!(*s.in_use.lock().unwrap_or_else(|e| e.into_inner()), 1);
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
