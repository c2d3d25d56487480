//! The decoder configuration, mirroring a Hugging Face Llama/Qwen2 `config.json`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A Llama/Qwen2-style decoder configuration. Field names are Hugging Face's, so a checkpoint's
/// `config.json` deserialises into it (unknown fields are ignored) and ours can be read by
/// Hugging Face tools.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecoderConfig {
    /// `llama` or `qwen2`.
    #[serde(default = "default_model_type")]
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width d.
    pub hidden_size: usize,
    /// SwiGLU inner width.
    pub intermediate_size: usize,
    /// Number of decoder blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); defaults to the query heads.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// RMSNorm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// RoPE base.
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    /// Longest sequence the rotary tables cover.
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// Whether the output projection shares the input embedding (no `lm_head.weight`).
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Biases on the q/k/v projections (Qwen2: true; Llama: false).
    #[serde(default)]
    pub attention_bias: Option<bool>,
}

fn default_model_type() -> String {
    "llama".into()
}
fn default_eps() -> f64 {
    1e-6
}
fn default_theta() -> f64 {
    10_000.0
}
fn default_max_pos() -> usize {
    2048
}

/// The longest context supported: the rotary tables hold this many positions.
pub const MAX_POSITIONS: usize = 1 << 18;

impl DecoderConfig {
    /// A small Llama-style configuration.
    pub fn llama(
        vocab_size: usize,
        hidden_size: usize,
        layers: usize,
        heads: usize,
        kv_heads: usize,
    ) -> Self {
        DecoderConfig {
            model_type: "llama".into(),
            vocab_size,
            hidden_size,
            intermediate_size: hidden_size * 8 / 3,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: Some(kv_heads),
            rms_norm_eps: 1e-6,
            rope_theta: 10_000.0,
            max_position_embeddings: 2048,
            tie_word_embeddings: false,
            attention_bias: Some(false),
        }
    }

    /// The default STAR student: a small Llama-style decoder (width 96, 2 blocks, 4 query and
    /// 2 key/value heads, SwiGLU width 288, tied embeddings), sized for about 1.5 ms per user
    /// and over 1000 users/s on 2 CPU cores (BENCHMARKS.md).
    pub fn student(vocab_size: usize) -> Self {
        DecoderConfig {
            intermediate_size: 288,
            max_position_embeddings: 4096,
            tie_word_embeddings: true,
            ..DecoderConfig::llama(vocab_size, 96, 2, 4, 2)
        }
    }

    /// Key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Size of one head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Whether q/k/v have biases (explicit setting, else true for Qwen2).
    pub fn qkv_bias(&self) -> bool {
        self.attention_bias.unwrap_or(self.model_type == "qwen2")
    }

    /// Checks the shapes fit together.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v == 0 {
                return Err(Error::config(name, format!("{name} must be positive")));
            }
        }
        if self.max_position_embeddings > MAX_POSITIONS {
            return Err(Error::config(
                "max_position_embeddings",
                format!(
                    "max_position_embeddings {} is over the supported {MAX_POSITIONS}",
                    self.max_position_embeddings
                ),
            ));
        }
        let h = self.num_attention_heads;
        if h == 0 || !self.hidden_size.is_multiple_of(h) {
            return Err(Error::config(
                "num_attention_heads",
                format!(
                    "hidden_size {} is not a multiple of num_attention_heads {h}",
                    self.hidden_size
                ),
            ));
        }
        if self.kv_heads() == 0 || !h.is_multiple_of(self.kv_heads()) {
            return Err(Error::config(
                "num_key_value_heads",
                format!(
                    "num_attention_heads {h} is not a multiple of num_key_value_heads {}",
                    self.kv_heads()
                ),
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(Error::config(
                "num_attention_heads",
                format!("head size {} must be even for RoPE", self.head_dim()),
            ));
        }
        Ok(())
    }

    /// Reads a `config.json` (errors name the file).
    pub fn load(path: &Path) -> Result<Self> {
        load_config(path, DecoderConfig::validate)
    }
}

/// Reads a JSON configuration file and checks it with `validate` (errors name the file).
pub(crate) fn load_config<T: serde::de::DeserializeOwned>(
    path: &Path,
    validate: impl FnOnce(&T) -> Result<()>,
) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let cfg: T = serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    validate(&cfg).map_err(|e| e.at(path))?;
    Ok(cfg)
}
