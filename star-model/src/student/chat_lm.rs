//! A Hugging Face chat model run by the decoder: a checkpoint directory's weights, its
//! `tokenizer.json` and chat template, and greedy generation with the KV cache until one of
//! its end-of-turn tokens.

use super::chat_template::ChatTemplate;
use super::config::{read_optional_json, DecoderConfig};
use super::lm::CausalLm;
use super::tokenizer::StarTokenizer;
use crate::error::{Error, Result};
use burn::prelude::*;
use std::path::{Path, PathBuf};

/// A chat model loaded from a Hugging Face checkpoint directory.
#[derive(Debug)]
pub struct ChatLm {
    lm: CausalLm,
    tokenizer: StarTokenizer,
    template: ChatTemplate,
    stop: Vec<u32>,
    dir: PathBuf,
}

/// The token ids of a `eos_token_id` field: one id or a list.
fn ids(v: Option<&serde_json::Value>) -> Vec<u32> {
    match v {
        Some(serde_json::Value::Number(n)) => n.as_u64().map(|n| n as u32).into_iter().collect(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|n| n.as_u64().map(|n| n as u32))
            .collect(),
        _ => Vec::new(),
    }
}

impl ChatLm {
    /// Loads `dir` (`config.json`, weights, `tokenizer.json`, a chat template) on `device`.
    /// Generation stops at the `eos_token_id`s of `generation_config.json` (else of
    /// `config.json`) and at the tokenizer's `eos_token`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let cfg = DecoderConfig::load(&dir.join("config.json"))?;
        // the hardened loader: a damaged tokenizer.json is an error naming it, never a panic
        let tokenizer = StarTokenizer::load(&dir.join("tokenizer.json"))?;
        if tokenizer.vocab_size() > cfg.vocab_size {
            return Err(Error::Mismatch {
                path: Some(dir.to_path_buf()),
                message: format!(
                    "tokenizer.json has {} tokens, config.json's vocab_size is {}",
                    tokenizer.vocab_size(),
                    cfg.vocab_size
                ),
            });
        }
        let template = ChatTemplate::load(dir)?;
        let mut stop = ids(read_optional_json(&dir.join("generation_config.json"))?
            .as_ref()
            .and_then(|g| g.get("eos_token_id")));
        if stop.is_empty() {
            stop = ids(read_optional_json(&dir.join("config.json"))?
                .as_ref()
                .and_then(|c| c.get("eos_token_id")));
        }
        if let Some(eos) = template.eos_token().and_then(|t| tokenizer.token_id(t)) {
            if !stop.contains(&eos) {
                stop.push(eos);
            }
        }
        if stop.is_empty() {
            return Err(Error::Template {
                path: dir.to_path_buf(),
                message: "no end-of-turn token: no eos_token_id in generation_config.json or config.json, no eos_token in tokenizer_config.json".into(),
            });
        }
        let lm = cfg.init_lm(device).load_hf_weights(dir)?;
        Ok(ChatLm {
            lm,
            tokenizer,
            template,
            stop,
            dir: dir.to_path_buf(),
        })
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The chat template.
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// Token ids of rendered text (the template writes the special tokens itself).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.tokenizer.encode(text)?)
    }

    /// Text of generated ids, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        Ok(self.tokenizer.decode_text(ids)?)
    }

    /// Greedy continuation of `prompt`: up to `max_new` tokens, stopping after an end-of-turn
    /// token when `stop` (which is then the last token returned).
    pub fn generate(&self, prompt: &[u32], max_new: usize, stop: bool) -> Vec<u32> {
        let stops: &[u32] = if stop { &self.stop } else { &[] };
        self.lm.generate_greedy(prompt, max_new, stops)
    }

    /// Renders `messages` and `tools` with the template (ending with the assistant's turn),
    /// generates at most `max_new` tokens, and returns the answer's text (the end-of-turn token
    /// left out), the prompt's token count and the answer's.
    pub fn reply(
        &self,
        messages: &serde_json::Value,
        tools: Option<&serde_json::Value>,
        max_new: usize,
    ) -> Result<(String, usize, usize)> {
        let prompt = self.encode(&self.template.render(messages, tools, true)?)?;
        let mut out = self.generate(&prompt, max_new, true);
        let completion = out.len();
        if out.last().is_some_and(|t| self.stop.contains(t)) {
            out.pop();
        }
        Ok((self.decode(&out)?, prompt.len(), completion))
    }
}
