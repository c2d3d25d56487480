//! Reading a Hugging Face `config.json` into a [`DecoderConfig`]: both transformers-4 style
//! (`rope_theta` and `rope_scaling` at the top level, `type` or `rope_type`) and transformers-5
//! style (`rope_parameters` holding `rope_theta`), with transformers' defaults per
//! architecture. Whatever the decoder does not implement is refused by name: an unknown
//! `model_type` or `architectures` entry, a rope type, a field outside the known ones, or a
//! value that would change the arithmetic (`hidden_act` other than `silu`, partial rotary,
//! quantisation, attention dropout, …).

use super::config::{Architecture, DecoderConfig, LayerType};
use super::rope::RopeScaling;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Fields of a `config.json` that carry no arithmetic (token ids, bookkeeping); they are
/// accepted and ignored.
const METADATA: &[&str] = &[
    "_name_or_path",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "dtype",
    "torch_dtype",
    "transformers_version",
    "use_cache",
    "initializer_range",
    "output_attentions",
    "output_hidden_states",
    "return_dict",
    "tokenizer_class",
    "pretraining_tp",
];

/// A `config.json` as Hugging Face writes it (every style), before checking.
#[derive(Deserialize)]
pub struct HfConfig {
    model_type: Option<String>,
    architectures: Option<Vec<String>>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_scaling: Option<HfRope>,
    rope_parameters: Option<HfRope>,
    partial_rotary_factor: Option<f64>,
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    /// Absent (`None`), `null` (`Some(None)`) or a window: absent means the architecture's
    /// default (4096 for Mistral and Qwen), `null` no window.
    #[serde(default, deserialize_with = "present")]
    sliding_window: Option<Option<usize>>,
    use_sliding_window: Option<bool>,
    max_window_layers: Option<usize>,
    layer_types: Option<Vec<String>>,
    hidden_act: Option<String>,
    attention_dropout: Option<f64>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

/// Deserialises a field that is present (possibly `null`), to tell it from an absent one.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `rope_scaling` / `rope_parameters` as written.
#[derive(Deserialize)]
struct HfRope {
    rope_type: Option<String>,
    #[serde(rename = "type")]
    legacy_type: Option<String>,
    rope_theta: Option<f64>,
    partial_rotary_factor: Option<f64>,
    factor: Option<f64>,
    low_freq_factor: Option<f64>,
    high_freq_factor: Option<f64>,
    original_max_position_embeddings: Option<usize>,
    attention_factor: Option<f64>,
    beta_fast: Option<f64>,
    beta_slow: Option<f64>,
    mscale: Option<f64>,
    mscale_all_dim: Option<f64>,
    truncate: Option<bool>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

fn unsupported(field: &str, why: impl std::fmt::Display) -> String {
    format!("config.json field `{field}`: {why}")
}

/// transformers' default `max_position_embeddings` per architecture.
fn default_max_positions(arch: Architecture) -> usize {
    match arch {
        Architecture::Llama => 2048,
        Architecture::Qwen2 | Architecture::Qwen3 => 32768,
        Architecture::Mistral => 4096 * 32,
    }
}

impl HfRope {
    /// The scaling this dictionary asks for (`None` for `default`), refusing unknown types
    /// and keys.
    fn scaling(&self, field: &str, max_positions: usize) -> Result<Option<RopeScaling>, String> {
        if let Some(key) = self.rest.keys().next() {
            return Err(unsupported(
                &format!("{field}.{key}"),
                "not a rope parameter the loader implements",
            ));
        }
        if let Some(p) = self.partial_rotary_factor.filter(|&p| p != 1.0) {
            return Err(unsupported(
                &format!("{field}.partial_rotary_factor"),
                format!("{p}: partial rotary embedding is not implemented"),
            ));
        }
        let kind = self
            .rope_type
            .as_deref()
            .or(self.legacy_type.as_deref())
            .unwrap_or("default");
        let need = |name: &str, v: Option<f64>| {
            v.ok_or_else(|| {
                unsupported(
                    &format!("{field}.{name}"),
                    format!("missing; rope type `{kind}` needs it"),
                )
            })
        };
        let original = self
            .original_max_position_embeddings
            .unwrap_or(max_positions);
        Ok(match kind {
            "default" => None,
            "linear" => Some(RopeScaling::Linear {
                factor: need("factor", self.factor)?,
            }),
            "dynamic" => Some(RopeScaling::Dynamic {
                factor: need("factor", self.factor)?,
            }),
            "llama3" => Some(RopeScaling::Llama3 {
                factor: need("factor", self.factor)?,
                low_freq_factor: need("low_freq_factor", self.low_freq_factor)?,
                high_freq_factor: need("high_freq_factor", self.high_freq_factor)?,
                original_max_position_embeddings: original,
            }),
            "yarn" => Some(RopeScaling::Yarn {
                factor: need("factor", self.factor)?,
                original_max_position_embeddings: original,
                attention_factor: self.attention_factor,
                beta_fast: self.beta_fast.filter(|&b| b != 0.0).unwrap_or(32.0),
                beta_slow: self.beta_slow.filter(|&b| b != 0.0).unwrap_or(1.0),
                mscale: self.mscale,
                mscale_all_dim: self.mscale_all_dim,
                truncate: self.truncate.unwrap_or(true),
            }),
            other => {
                return Err(unsupported(
                    &format!("{field}.rope_type"),
                    format!(
                        "`{other}` is not implemented (supported: default, linear, dynamic, llama3, yarn)"
                    ),
                ))
            }
        })
    }
}

impl TryFrom<HfConfig> for DecoderConfig {
    type Error = String;

    fn try_from(c: HfConfig) -> Result<Self, String> {
        let name = c.model_type.as_deref().unwrap_or("llama");
        let arch = Architecture::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                unsupported(
                    "model_type",
                    format!("`{name}` is not supported (supported: llama, qwen2, qwen3, mistral)"),
                )
            })?;
        for class in c.architectures.iter().flatten() {
            if class != arch.causal_lm_class() {
                return Err(unsupported(
                    "architectures",
                    format!(
                        "`{class}` is not supported for model_type `{name}` (supported: {})",
                        arch.causal_lm_class()
                    ),
                ));
            }
        }
        if let Some(key) = c.rest.keys().find(|k| !METADATA.contains(&k.as_str())) {
            return Err(unsupported(
                key,
                "not known to the loader, which refuses what it may not implement",
            ));
        }
        if let Some(act) = c.hidden_act.as_deref().filter(|&a| a != "silu") {
            return Err(unsupported(
                "hidden_act",
                format!("`{act}`: only `silu` is implemented"),
            ));
        }
        if let Some(p) = c.attention_dropout.filter(|&p| p != 0.0) {
            return Err(unsupported(
                "attention_dropout",
                format!("{p}: attention dropout is not implemented"),
            ));
        }
        let not_a_field = |field: &str, present: bool| {
            if present {
                Err(unsupported(
                    field,
                    format!("not a field of `{name}` configurations"),
                ))
            } else {
                Ok(())
            }
        };
        let qwen = matches!(arch, Architecture::Qwen2 | Architecture::Qwen3);
        not_a_field(
            "mlp_bias",
            arch != Architecture::Llama && c.mlp_bias.is_some(),
        )?;
        not_a_field(
            "sliding_window",
            arch == Architecture::Llama && c.sliding_window.flatten().is_some(),
        )?;
        for (field, present) in [
            ("use_sliding_window", c.use_sliding_window.is_some()),
            ("max_window_layers", c.max_window_layers.is_some()),
            ("layer_types", c.layer_types.is_some()),
        ] {
            not_a_field(field, !qwen && present)?;
        }
        match (arch, c.attention_bias) {
            (Architecture::Qwen2, Some(false)) => {
                return Err(unsupported(
                    "attention_bias",
                    "false, but Qwen2 always has q/k/v biases (transformers ignores the field)",
                ))
            }
            (Architecture::Mistral, Some(true)) => {
                return Err(unsupported(
                    "attention_bias",
                    "true, but Mistral has no attention biases",
                ))
            }
            _ => {}
        }
        let layer_types = c
            .layer_types
            .map(|types| {
                types
                    .iter()
                    .map(|t| match t.as_str() {
                        "full_attention" => Ok(LayerType::FullAttention),
                        "sliding_attention" => Ok(LayerType::SlidingAttention),
                        other => Err(unsupported(
                            "layer_types",
                            format!("`{other}` is not implemented (supported: full_attention, sliding_attention)"),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        if let Some(p) = c.partial_rotary_factor.filter(|&p| p != 1.0) {
            return Err(unsupported(
                "partial_rotary_factor",
                format!("{p}: partial rotary embedding is not implemented"),
            ));
        }
        let max_positions = c
            .max_position_embeddings
            .unwrap_or_else(|| default_max_positions(arch));
        // transformers 5 reads `rope_scaling` first, then `rope_parameters`; `rope_theta`
        // inside the dictionary wins over the top-level one
        let (rope, field) = match (c.rope_scaling, c.rope_parameters) {
            (Some(r), _) => (Some(r), "rope_scaling"),
            (None, Some(r)) => (Some(r), "rope_parameters"),
            (None, None) => (None, "rope_parameters"),
        };
        let rope_theta = rope
            .as_ref()
            .and_then(|r| r.rope_theta)
            .or(c.rope_theta)
            .unwrap_or(10_000.0);
        let rope_scaling = match &rope {
            Some(r) => r.scaling(field, max_positions)?,
            None => None,
        };
        let cfg = DecoderConfig {
            model_type: arch,
            vocab_size: c.vocab_size,
            hidden_size: c.hidden_size,
            intermediate_size: c.intermediate_size,
            num_hidden_layers: c.num_hidden_layers,
            num_attention_heads: c.num_attention_heads,
            num_key_value_heads: c.num_key_value_heads,
            head_dim: c.head_dim,
            rms_norm_eps: c.rms_norm_eps.unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            max_position_embeddings: max_positions,
            tie_word_embeddings: c.tie_word_embeddings.unwrap_or(false),
            attention_bias: c.attention_bias,
            mlp_bias: c.mlp_bias.unwrap_or(false),
            // transformers' default window (Mistral, Qwen2, Qwen3) when the field is absent
            sliding_window: match (arch, c.sliding_window) {
                (Architecture::Llama, _) => None,
                // Qwen configurations drop the window when it is not used (`__post_init__`)
                (Architecture::Qwen2 | Architecture::Qwen3, _)
                    if !c.use_sliding_window.unwrap_or(false) =>
                {
                    None
                }
                (_, None) => Some(4096),
                (_, Some(w)) => w,
            },
            use_sliding_window: c.use_sliding_window,
            max_window_layers: c.max_window_layers,
            layer_types,
        };
        Ok(cfg)
    }
}
