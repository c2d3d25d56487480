//! One HTTP attempt and what can go wrong in it, the back-off limits, and the counting
//! semaphore that bounds the requests in flight.

use super::wire::parse_completion;
use super::OpenAiClient;
use crate::chat::{ChatError, ChatResponse};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Longest back-off between two attempts.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest wait honoured from a `Retry-After` header.
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Longest response body quoted in an error.
pub(super) const MAX_ERROR_BODY_CHARS: usize = 2000;

impl OpenAiClient {
    /// One HTTP attempt, holding a concurrency permit while the request is in flight.
    pub(super) fn attempt(&self, body: &[u8]) -> Result<ChatResponse, AttemptError> {
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
}

/// What went wrong in one attempt.
#[derive(Debug)]
pub(super) enum AttemptError {
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
    pub(super) fn retryable(&self) -> bool {
        match self {
            AttemptError::Transport { retryable, .. } => *retryable,
            AttemptError::Status { status, .. } => *status == 429 || (500..600).contains(status),
            AttemptError::Malformed(_) => true,
        }
    }

    pub(super) fn into_chat_error(self, url: &str, attempts: u32) -> ChatError {
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

/// At most `max` characters of `s`, marking a cut.
pub(super) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

/// A counting semaphore: at most `max` permits out at once.
#[derive(Debug)]
pub(super) struct Semaphore {
    in_use: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

impl Semaphore {
    pub(super) fn new(max: usize) -> Self {
        Semaphore {
            in_use: Mutex::new(0),
            freed: Condvar::new(),
            max,
        }
    }

    /// Blocks until a permit is free; the permit is returned when the guard drops (also while
    /// unwinding).
    pub(super) fn acquire(&self) -> Permit<'_> {
        let mut in_use = self.in_use.lock().unwrap_or_else(|e| e.into_inner());
        while *in_use >= self.max {
            in_use = self.freed.wait(in_use).unwrap_or_else(|e| e.into_inner());
        }
        *in_use += 1;
        Permit { semaphore: self }
    }
}

/// A held [`Semaphore`] permit.
pub(super) struct Permit<'a> {
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
    use std::sync::Arc;

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
