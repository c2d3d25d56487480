//! Which chat model the LLM-prompted roles talk to: a `--llm` value.

use super::local::LocalDecoder;
use super::openai::OpenAiClient;
use super::{ChatError, ChatModel};
use burn::tensor::Device;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

/// A chat backend: `openai` (an OpenAI-compatible server named by the `STAR_LLM_*` variables)
/// or `local:DIR` (a Hugging Face chat checkpoint run in-process).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatBackend {
    /// An OpenAI-compatible server from the environment.
    OpenAi,
    /// A checkpoint directory run by [`LocalDecoder`].
    Local(PathBuf),
}

impl FromStr for ChatBackend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "openai" => Ok(ChatBackend::OpenAi),
            _ => match s.strip_prefix("local:") {
                Some(dir) if !dir.is_empty() => Ok(ChatBackend::Local(PathBuf::from(dir))),
                _ => Err(format!(
                    "`{s}` is not a chat backend: use `openai` (STAR_LLM_BASE_URL, STAR_LLM_MODEL) or `local:DIR` (a Hugging Face chat checkpoint)"
                )),
            },
        }
    }
}

impl std::fmt::Display for ChatBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChatBackend::OpenAi => f.write_str("openai"),
            ChatBackend::Local(dir) => write!(f, "local:{}", dir.display()),
        }
    }
}

impl ChatBackend {
    /// Opens the backend; a local checkpoint is loaded on `device` and generates at most
    /// `max_new_tokens` tokens per answer.
    pub fn open(
        &self,
        device: &Device,
        max_new_tokens: usize,
    ) -> Result<Arc<dyn ChatModel>, ChatError> {
        Ok(match self {
            ChatBackend::OpenAi => Arc::new(OpenAiClient::from_env()?),
            ChatBackend::Local(dir) => {
                Arc::new(LocalDecoder::load(dir, device)?.with_max_new_tokens(max_new_tokens))
            }
        })
    }
}
