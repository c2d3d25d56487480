//! The client's configuration: defaults, and the `STAR_LLM_*` environment variables.

use crate::chat::ChatError;
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
