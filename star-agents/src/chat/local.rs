//! The local decoder backend: a burn decoder loaded from a Llama/Qwen2-style model directory.

use super::{ChatError, ChatMessage, ChatModel, ChatResponse, ToolSpec};
use std::path::{Path, PathBuf};

/// A chat model running a local burn decoder. Loading Llama/Qwen2-style model directories lands
/// with the student-model issue; until then every call returns [`ChatError::NotAvailable`].
#[derive(Clone, Debug)]
pub struct LocalDecoder {
    dir: PathBuf,
}

impl LocalDecoder {
    /// A backend for the model directory `dir` (`config.json`, `model.safetensors`,
    /// `tokenizer.json`).
    pub fn new(dir: impl AsRef<Path>) -> Self {
        LocalDecoder {
            dir: dir.as_ref().to_path_buf(),
        }
    }
}

impl ChatModel for LocalDecoder {
    fn describe(&self) -> String {
        format!("local:{}", self.dir.display())
    }

    fn chat(
        &self,
        _messages: &[ChatMessage],
        _tools: Option<&[ToolSpec]>,
    ) -> Result<ChatResponse, ChatError> {
        Err(ChatError::NotAvailable(format!(
            "the local decoder backend ({}) needs star-model's Llama/Qwen2 loader, which is not implemented yet; use the rule-based teacher or an OpenAI-compatible server (STAR_LLM_BASE_URL)",
            self.dir.display()
        )))
    }
}
