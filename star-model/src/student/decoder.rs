//! A Llama/Qwen2/Qwen3/Mistral decoder: RMSNorm, rotary position embedding (Hugging Face's
//! `rotate_half` convention, [`Rotary`]), grouped-query attention with a KV cache (Qwen3's
//! per-head q/k norms, sliding windows), SwiGLU MLP. Module and field names mirror Hugging
//! Face's tensor names (`model.layers.0.self_attn.q_proj.weight`, …) so checkpoints load by
//! name.

use super::config::DecoderConfig;
use super::lora::{project, LoraAdapter};
use super::rope::{rotate, Rotary};
use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::prelude::*;

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
    /// LoRA adapters of the projections (`None`: plain projection).
    pub q_lora: Option<LoraAdapter>,
    /// See `q_lora`.
    pub k_lora: Option<LoraAdapter>,
    /// See `q_lora`.
    pub v_lora: Option<LoraAdapter>,
    /// See `q_lora`.
    pub o_lora: Option<LoraAdapter>,
    /// Qwen3: RMSNorm of each query head `[head_dim]`.
    pub q_norm: Option<LlamaRmsNorm>,
    /// Qwen3: RMSNorm of each key head `[head_dim]`.
    pub k_norm: Option<LlamaRmsNorm>,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    /// Positions a query sees (itself included) in a sliding-window layer; `None`: all.
    window: Option<usize>,
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
    /// LoRA adapters of the projections (`None`: plain projection).
    pub gate_lora: Option<LoraAdapter>,
    /// See `gate_lora`.
    pub up_lora: Option<LoraAdapter>,
    /// See `gate_lora`.
    pub down_lora: Option<LoraAdapter>,
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
        let head_norm = || {
            self.qk_norm()
                .then(|| LlamaRmsNorm::new(hd, self.rms_norm_eps, device))
        };
        let layers = (0..self.num_hidden_layers)
            .map(|layer| DecoderLayer {
                self_attn: SelfAttention {
                    q_proj: lin(d, self.num_attention_heads * hd, bias),
                    k_proj: lin(d, self.kv_heads() * hd, bias),
                    v_proj: lin(d, self.kv_heads() * hd, bias),
                    o_proj: lin(self.num_attention_heads * hd, d, self.o_bias()),
                    q_lora: None,
                    k_lora: None,
                    v_lora: None,
                    o_lora: None,
                    q_norm: head_norm(),
                    k_norm: head_norm(),
                    heads: self.num_attention_heads,
                    kv_heads: self.kv_heads(),
                    head_dim: hd,
                    window: self.layer_window(layer),
                },
                mlp: Mlp {
                    gate_proj: lin(d, self.intermediate_size, self.mlp_bias),
                    up_proj: lin(d, self.intermediate_size, self.mlp_bias),
                    down_proj: lin(self.intermediate_size, d, self.mlp_bias),
                    gate_lora: None,
                    up_lora: None,
                    down_lora: None,
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
            rotary: Rotary::new(self.rope(), device),
        }
    }
}

impl SelfAttention {
    fn forward(
        &self,
        x: Tensor<3>,
        at: &Positions,
        cache: Option<&mut Option<(Tensor<4>, Tensor<4>)>>,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let (h, kvh, hd) = (self.heads, self.kv_heads, self.head_dim);
        let split = |y: Tensor<3>, n: usize, norm: &Option<LlamaRmsNorm>| {
            let y = y.reshape([b, t, n, hd]);
            let y = match norm {
                Some(norm) => norm.forward(y),
                None => y,
            };
            y.swap_dims(1, 2)
        };
        let q = split(
            project(&self.q_proj, &self.q_lora, x.clone()),
            h,
            &self.q_norm,
        );
        let q = rotate(q, &at.cos, &at.sin);
        let k = split(
            project(&self.k_proj, &self.k_lora, x.clone()),
            kvh,
            &self.k_norm,
        );
        let mut k = rotate(k, &at.cos, &at.sin);
        let mut v = split(project(&self.v_proj, &self.v_lora, x), kvh, &None);
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
            .mask_fill(at.mask(self.window), -1.0e9);
        let attn = crate::softmax::softmax_last(scores);
        let out = attn.matmul(v).swap_dims(1, 2).reshape([b, t, h * hd]);
        project(&self.o_proj, &self.o_lora, out)
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
        cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        self.forward_embeddings_dropping(x, pad, cache, &mut |y| y)
    }

    /// [`Decoder::forward_embeddings`] with `drop` applied to each block's attention and
    /// feed-forward outputs before they join the residual stream (where Hugging Face's
    /// `hidden_dropout` sits): training dropout, e.g. [`crate::dropout::DropoutDraws::apply`].
    pub fn forward_embeddings_dropping(
        &self,
        x: Tensor<3>,
        pad: Option<Tensor<2, Bool>>,
        mut cache: Option<&mut KvCache>,
        drop: &mut dyn FnMut(Tensor<3>) -> Tensor<3>,
    ) -> Tensor<3> {
        let past = cache.as_ref().map_or(0, |c| c.len);
        let at = Positions::new(&x, pad, past, &self.rotary);
        if let Some(c) = cache.as_mut() {
            c.entries.resize(self.layers.len(), None);
        }
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            let slot = cache.as_mut().map(|c| &mut c.entries[i]);
            let a = layer
                .self_attn
                .forward(layer.input_layernorm.forward(h.clone()), &at, slot);
            h = h + drop(a);
            let m = &layer.mlp;
            let y = layer.post_attention_layernorm.forward(h.clone());
            let gate = project(&m.gate_proj, &m.gate_lora, y.clone());
            let up = project(&m.up_proj, &m.up_lora, y);
            let ff = project(&m.down_proj, &m.down_lora, crate::swiglu::swiglu(gate, up));
            h = h + drop(ff);
        }
        if let Some(c) = cache {
            c.len = at.seq_len_with_pad;
        }
        self.norm.forward(h)
    }
}

/// Rotary angles and attention masks of one forward pass, built once and shared by every
/// layer. Positions count from each row's first real token.
struct Positions {
    /// Rotary `cos` of the positions `[B, 1, T, hd]`.
    cos: Tensor<4>,
    /// Rotary `sin` of the positions `[B, 1, T, hd]`.
    sin: Tensor<4>,
    /// Cached plus new positions, padding included (the keys' length).
    seq_len_with_pad: usize,
    /// Query rows in key space: `past + i` for query `i`.
    past: usize,
    /// `[B, 1, T, S]`, true where a key is masked for every layer (causal and padding).
    mask: Tensor<4, Bool>,
}

impl Positions {
    /// Positions and masks for new input `x` `[B, T, d]` after `past` cached positions, with
    /// `pad` `[B, T]` true at left padding (no cache with padding).
    fn new(x: &Tensor<3>, pad: Option<Tensor<2, Bool>>, past: usize, rotary: &Rotary) -> Self {
        let [b, t, _] = x.dims();
        let device = x.device();
        let s = past + t;
        // true = masked: key j > query position i + past
        let causal =
            Tensor::<2, Bool>::tril_mask([t, s], past as i64, &device).reshape([1, 1, t, s]);
        let (positions, mask, seq_len) = match pad {
            Some(pad) => {
                let real = pad.clone().bool_not().int();
                let pos = (real.clone().cumsum(1) - 1).clamp_min(0);
                // the rotary tables only need the exact length beyond their precomputed ones
                let seq_len = if rotary.covers(s) {
                    s
                } else {
                    (real.sum_dim(1).max().into_scalar::<i64>().max(1)) as usize
                };
                let keys = pad.reshape([b, 1, 1, s]).expand([b, 1, t, s]);
                (pos, causal.expand([b, 1, t, s]).bool_or(keys), seq_len)
            }
            None => (
                Tensor::<1, Int>::arange(past as i64..s as i64, &device)
                    .reshape([1, t])
                    .expand([b, t]),
                causal.expand([b, 1, t, s]),
                s,
            ),
        };
        let (cos, sin) = rotary.at(&positions, seq_len);
        Positions {
            cos,
            sin,
            seq_len_with_pad: s,
            past,
            mask,
        }
    }

    /// The mask of a layer: with a window `w`, keys at or before query index − `w` are masked
    /// too (transformers' sliding window keeps `kv > q − w`, in index space).
    fn mask(&self, window: Option<usize>) -> Tensor<4, Bool> {
        match window {
            Some(w) if w < self.seq_len_with_pad => {
                let [b, _, t, s] = self.mask.dims();
                // masked where j − (past + i) <= −w, i.e. j − i < past − w + 1
                let offset = self.past as i64 - w as i64 + 1;
                let far = Tensor::<2, Bool>::triu_mask([t, s], offset, &self.mask.device())
                    .reshape([1, 1, t, s])
                    .expand([b, 1, t, s]);
                self.mask.clone().bool_or(far)
            }
            _ => self.mask.clone(),
        }
    }
}
