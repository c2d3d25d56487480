//! The decoder configuration, mirroring a Hugging Face Llama/Qwen2/Qwen3/Mistral
//! `config.json`.

use super::rope::{RopeScaling, RopeSpec};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The decoder families the loader implements, by Hugging Face `model_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Llama 1–3.x (`LlamaForCausalLM`).
    Llama,
    /// Qwen2 and Qwen2.5 (`Qwen2ForCausalLM`): biases on q/k/v.
    Qwen2,
    /// Qwen3 (`Qwen3ForCausalLM`): RMSNorm on each head of q and k.
    Qwen3,
    /// Mistral (`MistralForCausalLM`): sliding-window attention.
    Mistral,
}

impl Architecture {
    /// Every supported architecture.
    pub const ALL: [Architecture; 4] = [
        Architecture::Llama,
        Architecture::Qwen2,
        Architecture::Qwen3,
        Architecture::Mistral,
    ];

    /// The `model_type` string.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
            Architecture::Qwen3 => "qwen3",
            Architecture::Mistral => "mistral",
        }
    }

    /// transformers' causal-LM class (the `architectures` entry of `config.json`).
    pub fn causal_lm_class(self) -> &'static str {
        match self {
            Architecture::Llama => "LlamaForCausalLM",
            Architecture::Qwen2 => "Qwen2ForCausalLM",
            Architecture::Qwen3 => "Qwen3ForCausalLM",
            Architecture::Mistral => "MistralForCausalLM",
        }
    }
}

/// The attention of one layer (`layer_types` of Qwen2/Qwen3 configurations).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerType {
    /// Every earlier position.
    FullAttention,
    /// The last `sliding_window` positions.
    SlidingAttention,
}

/// A Llama/Qwen2/Qwen3/Mistral decoder configuration. Field names are Hugging Face's, so a
/// checkpoint's `config.json` deserialises into it and ours can be read by Hugging Face tools.
/// Reading accepts both transformers-4 (`rope_theta`, `rope_scaling`) and transformers-5
/// (`rope_parameters`) styles and refuses, by name, any architecture, field or value the
/// decoder does not implement (`student/hf_config.rs`); writing uses the transformers-4
/// style, which both read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "super::hf_config::HfConfig")]
pub struct DecoderConfig {
    /// The decoder family.
    pub model_type: Architecture,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<usize>,
    /// Size of one head; defaults to `hidden_size / num_attention_heads`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// RoPE scaling, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<RopeScaling>,
    /// Longest sequence the precomputed rotary tables cover (longer ones get their own).
    pub max_position_embeddings: usize,
    /// Whether the output projection shares the input embedding (no `lm_head.weight`).
    pub tie_word_embeddings: bool,
    /// Biases on the attention projections: q/k/v/o for Llama and Qwen3 (default false); Qwen2
    /// always has q/k/v biases and no o bias; Mistral has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    /// Biases on the MLP projections (Llama only).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mlp_bias: bool,
    /// The window of sliding-window layers (Mistral: every layer; Qwen: see `layer_types`).
    /// Written even when `None` (as `null`): an absent field means transformers' default
    /// window of 4096 for Mistral and Qwen.
    pub sliding_window: Option<usize>,
    /// Qwen2/Qwen3: whether `sliding_window` applies at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_sliding_window: Option<bool>,
    /// Qwen2/Qwen3: layers from this index on slide, when `layer_types` is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_window_layers: Option<usize>,
    /// Qwen2/Qwen3: each layer's attention.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_types: Option<Vec<LayerType>>,
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
            model_type: Architecture::Llama,
            vocab_size,
            hidden_size,
            intermediate_size: hidden_size * 8 / 3,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: Some(kv_heads),
            head_dim: None,
            rms_norm_eps: 1e-6,
            rope_theta: 10_000.0,
            rope_scaling: None,
            max_position_embeddings: 2048,
            tie_word_embeddings: false,
            attention_bias: Some(false),
            mlp_bias: false,
            sliding_window: None,
            use_sliding_window: None,
            max_window_layers: None,
            layer_types: None,
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
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Whether q/k/v have biases.
    pub fn qkv_bias(&self) -> bool {
        match self.model_type {
            Architecture::Qwen2 => true,
            Architecture::Mistral => false,
            Architecture::Llama | Architecture::Qwen3 => self.attention_bias.unwrap_or(false),
        }
    }

    /// Whether the attention output projection has a bias.
    pub fn o_bias(&self) -> bool {
        match self.model_type {
            Architecture::Qwen2 | Architecture::Mistral => false,
            Architecture::Llama | Architecture::Qwen3 => self.attention_bias.unwrap_or(false),
        }
    }

    /// Whether q and k are RMS-normalised per head before the rotation (Qwen3).
    pub fn qk_norm(&self) -> bool {
        self.model_type == Architecture::Qwen3
    }

    /// The attention window of layer `layer`: `None` for full attention, else the number of
    /// positions a query sees (itself included), as transformers masks it.
    pub fn layer_window(&self, layer: usize) -> Option<usize> {
        match self.model_type {
            Architecture::Llama => None,
            Architecture::Mistral => self.sliding_window,
            Architecture::Qwen2 | Architecture::Qwen3 => {
                let window = self
                    .sliding_window
                    .filter(|_| self.use_sliding_window.unwrap_or(false))?;
                let sliding = match &self.layer_types {
                    Some(types) => types.get(layer) == Some(&LayerType::SlidingAttention),
                    None => layer >= self.max_window_layers.unwrap_or(28),
                };
                sliding.then_some(window)
            }
        }
    }

    /// The rotary frequencies this configuration implies.
    pub fn rope(&self) -> RopeSpec {
        RopeSpec {
            dim: self.head_dim(),
            theta: self.rope_theta,
            scaling: self.rope_scaling.clone(),
            max_positions: self.max_position_embeddings,
        }
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
        if h == 0 || (self.head_dim.is_none() && !self.hidden_size.is_multiple_of(h)) {
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
        if self.head_dim == Some(0) {
            return Err(Error::config("head_dim", "head_dim must be positive"));
        }
        if self
            .layer_types
            .as_ref()
            .is_some_and(|t| t.len() != self.num_hidden_layers)
        {
            return Err(Error::config(
                "layer_types",
                format!(
                    "layer_types has {} entries for {} layers",
                    self.layer_types.as_ref().map_or(0, Vec::len),
                    self.num_hidden_layers
                ),
            ));
        }
        if self.sliding_window == Some(0) {
            return Err(Error::config(
                "sliding_window",
                "sliding_window must be positive",
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

/// A JSON file's value, or `None` when the file does not exist (errors name the file).
pub(crate) fn read_optional_json(path: &Path) -> Result<Option<serde_json::Value>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| Error::Json {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}
