//! A Llama/Qwen2-style decoder: RMSNorm, rotary position embedding (Hugging Face's
//! `rotate_half` convention), grouped-query attention with a KV cache, SwiGLU MLP. Module and
//! field names mirror Hugging Face's tensor names (`model.layers.0.self_attn.q_proj.weight`, …)
//! so checkpoints load by name.

use super::config::DecoderConfig;
use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation;

/// RMSNorm with Hugging Face's parameter name (`weight`).
#[derive(Module, Debug)]
pub struct LlamaRmsNorm {
    /// Scale `[d]`.
    pub weight: Param<Tensor<1>>,
    /// Epsilon.
    pub eps: f64,
}

impl LlamaRmsNorm {
    fn new(d: usize, eps: f64, device: &Device) -> Self {
        LlamaRmsNorm {
            weight: Param::from_tensor(Tensor::ones([d], device)),
            eps,
        }
    }

    /// `x / sqrt(mean(x²) + eps) * weight` over the last dimension.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let rms = x
            .clone()
            .powf_scalar(2.0)
            .mean_dim(D - 1)
            .add_scalar(self.eps)
            .sqrt();
        let w = self.weight.val().unsqueeze::<D>();
        (x / rms) * w
    }
}

/// Rotary tables (`cos`, `sin`, `[max_pos, head_dim]`), Hugging Face layout: the frequencies are
/// repeated twice (`cat(freqs, freqs)`), to be used with `rotate_half`.
#[derive(Module, Debug)]
pub struct Rotary {
    cos: Tensor<2>,
    sin: Tensor<2>,
}

impl Rotary {
    fn new(head_dim: usize, max_pos: usize, theta: f64, device: &Device) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(max_pos * head_dim);
        let mut sin = Vec::with_capacity(max_pos * head_dim);
        for p in 0..max_pos {
            let row: Vec<f64> = (0..half)
                .map(|i| p as f64 / theta.powf(2.0 * i as f64 / head_dim as f64))
                .collect();
            for _ in 0..2 {
                cos.extend(row.iter().map(|a| a.cos() as f32));
                sin.extend(row.iter().map(|a| a.sin() as f32));
            }
        }
        Rotary {
            cos: Tensor::from_data(TensorData::new(cos, [max_pos, head_dim]), device),
            sin: Tensor::from_data(TensorData::new(sin, [max_pos, head_dim]), device),
        }
    }

    /// Applies the rotation to `x` `[B, H, T, hd]` at `positions` `[B, T]`.
    fn apply(&self, x: Tensor<4>, positions: &Tensor<2, Int>) -> Tensor<4> {
        let [b, h, t, hd] = x.dims();
        let flat = positions.clone().reshape([b * t]);
        let cos = self
            .cos
            .clone()
            .select(0, flat.clone())
            .reshape([b, 1, t, hd]);
        let sin = self.sin.clone().select(0, flat).reshape([b, 1, t, hd]);
        let half = hd / 2;
        let x1 = x.clone().slice([0..b, 0..h, 0..t, 0..half]);
        let x2 = x.clone().slice([0..b, 0..h, 0..t, half..hd]);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * cos + rotated * sin
    }
}

/// Self-attention with grouped-query heads.
#[derive(Module, Debug)]
pub struct SelfAttention {
    /// Query projection.
    pub q_proj: Linear,
    /// Key projection.
    pub k_proj: Linear,
    /// Value projection.
    pub v_proj: Linear,
    /// Output projection.
    pub o_proj: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

/// SwiGLU feed-forward: `down(silu(gate(x)) * up(x))`.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Gate projection.
    pub gate_proj: Linear,
    /// Up projection.
    pub up_proj: Linear,
    /// Down projection.
    pub down_proj: Linear,
}

/// One pre-norm decoder block.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    /// Attention.
    pub self_attn: SelfAttention,
    /// Feed-forward.
    pub mlp: Mlp,
    /// Norm before attention.
    pub input_layernorm: LlamaRmsNorm,
    /// Norm before the feed-forward.
    pub post_attention_layernorm: LlamaRmsNorm,
}

/// The decoder trunk (Hugging Face's `model.*`): embeddings, blocks, final norm.
#[derive(Module, Debug)]
pub struct Decoder {
    /// Token embeddings `[vocab, d]`.
    pub embed_tokens: Embedding,
    /// Blocks.
    pub layers: Vec<DecoderLayer>,
    /// Final norm.
    pub norm: LlamaRmsNorm,
    /// Rotary tables (constants).
    pub rotary: Rotary,
}

/// Cached keys and values of earlier positions, one entry per layer.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    entries: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    len: usize,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Positions already cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl DecoderConfig {
    /// Initialises a decoder (random weights) on `device`.
    pub fn init_decoder(&self, device: &Device) -> Decoder {
        let (d, hd) = (self.hidden_size, self.head_dim());
        let bias = self.qkv_bias();
        let lin = |i, o, b| LinearConfig::new(i, o).with_bias(b).init(device);
        let layers = (0..self.num_hidden_layers)
            .map(|_| DecoderLayer {
                self_attn: SelfAttention {
                    q_proj: lin(d, self.num_attention_heads * hd, bias),
                    k_proj: lin(d, self.kv_heads() * hd, bias),
                    v_proj: lin(d, self.kv_heads() * hd, bias),
                    o_proj: lin(self.num_attention_heads * hd, d, false),
                    heads: self.num_attention_heads,
                    kv_heads: self.kv_heads(),
                    head_dim: hd,
                },
                mlp: Mlp {
                    gate_proj: lin(d, self.intermediate_size, false),
                    up_proj: lin(d, self.intermediate_size, false),
                    down_proj: lin(self.intermediate_size, d, false),
                },
                input_layernorm: LlamaRmsNorm::new(d, self.rms_norm_eps, device),
                post_attention_layernorm: LlamaRmsNorm::new(d, self.rms_norm_eps, device),
            })
            .collect();
        Decoder {
            // Hugging Face initialises embeddings with std 0.02 (`initializer_range`); burn's
            // default N(0, 1) makes the tied output logits huge at the start of training
            embed_tokens: EmbeddingConfig::new(self.vocab_size, d)
                .with_initializer(burn::nn::Initializer::Normal {
                    mean: 0.0,
                    std: 0.02,
                })
                .init(device),
            layers,
            norm: LlamaRmsNorm::new(d, self.rms_norm_eps, device),
            rotary: Rotary::new(hd, self.max_position_embeddings, self.rope_theta, device),
        }
    }
}

impl SelfAttention {
    fn forward(
        &self,
        x: Tensor<3>,
        rotary: &Rotary,
        positions: &Tensor<2, Int>,
        mask: &Tensor<4, Bool>,
        cache: Option<&mut Option<(Tensor<4>, Tensor<4>)>>,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let (h, kvh, hd) = (self.heads, self.kv_heads, self.head_dim);
        let split = |y: Tensor<3>, n: usize| y.reshape([b, t, n, hd]).swap_dims(1, 2);
        let q = rotary.apply(split(self.q_proj.forward(x.clone()), h), positions);
        let mut k = rotary.apply(split(self.k_proj.forward(x.clone()), kvh), positions);
        let mut v = split(self.v_proj.forward(x), kvh);
        if let Some(slot) = cache {
            if let Some((pk, pv)) = slot.take() {
                k = Tensor::cat(vec![pk, k], 2);
                v = Tensor::cat(vec![pv, v], 2);
            }
            *slot = Some((k.clone(), v.clone()));
        }
        let s = k.dims()[2];
        let rep = h / kvh;
        let expand = |y: Tensor<4>| {
            if rep == 1 {
                y
            } else {
                y.reshape([b, kvh, 1, s, hd])
                    .expand([b, kvh, rep, s, hd])
                    .reshape([b, h, s, hd])
            }
        };
        let (k, v) = (expand(k), expand(v));
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .div_scalar((hd as f64).sqrt())
            .mask_fill(mask.clone(), -1.0e9);
        let attn = activation::softmax(scores, 3);
        let out = attn.matmul(v).swap_dims(1, 2).reshape([b, t, h * hd]);
        self.o_proj.forward(out)
    }
}

impl Decoder {
    /// Token embeddings of `tokens` `[B, T]` → `[B, T, d]`.
    pub fn embed(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.embed_tokens.forward(tokens)
    }

    /// Runs the blocks on input embeddings `x` `[B, T, d]` and returns the final hidden states
    /// (after the last norm).
    ///
    /// - `pad`: `[B, T]`, true at left-padding positions (no cache with padding). Positions are
    ///   counted from the first real token, as Hugging Face does from the attention mask.
    /// - `cache`: keys/values of earlier positions; the new positions follow them.
    pub fn forward_embeddings(
        &self,
        x: Tensor<3>,
        pad: Option<Tensor<2, Bool>>,
        mut cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let device = x.device();
        let past = cache.as_ref().map_or(0, |c| c.len);
        let s = past + t;
        // positions and mask [B, 1, T, S] (true = masked: key j > query position i + past)
        let causal =
            Tensor::<2, Bool>::tril_mask([t, s], past as i64, &device).reshape([1, 1, t, s]);
        let (positions, mask) = match pad {
            Some(pad) => {
                let real = pad.clone().bool_not().int();
                let pos = (real.cumsum(1) - 1).clamp_min(0);
                let keys = pad.reshape([b, 1, 1, s]).expand([b, 1, t, s]);
                (pos, causal.expand([b, 1, t, s]).bool_or(keys))
            }
            None => (
                Tensor::<1, Int>::arange(past as i64..s as i64, &device)
                    .reshape([1, t])
                    .expand([b, t]),
                causal.expand([b, 1, t, s]),
            ),
        };
        if let Some(c) = cache.as_mut() {
            c.entries.resize(self.layers.len(), None);
        }
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            let slot = cache.as_mut().map(|c| &mut c.entries[i]);
            let a = layer.self_attn.forward(
                layer.input_layernorm.forward(h.clone()),
                &self.rotary,
                &positions,
                &mask,
                slot,
            );
            h = h + a;
            let m = &layer.mlp;
            let y = layer.post_attention_layernorm.forward(h.clone());
            let ff = m
                .down_proj
                .forward(activation::silu(m.gate_proj.forward(y.clone())) * m.up_proj.forward(y));
            h = h + ff;
        }
        if let Some(c) = cache {
            c.len = s;
        }
        self.norm.forward(h)
    }
}
