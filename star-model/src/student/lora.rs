//! LoRA: low-rank adapters on the decoder's projections, `y = x·W + (α/r)·x·A·B`, with `A`
//! random and `B` zero (the adapted model starts equal to the base), the base weights frozen,
//! and the adapters merged into the weights (`W + (α/r)·A·B`) when a model is saved, so a saved
//! model is a plain Hugging Face checkpoint.

use super::decoder::Decoder;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// A projection that can carry an adapter (Hugging Face module names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoraTarget {
    /// Attention query projection.
    QProj,
    /// Attention key projection.
    KProj,
    /// Attention value projection.
    VProj,
    /// Attention output projection.
    OProj,
    /// MLP gate projection.
    GateProj,
    /// MLP up projection.
    UpProj,
    /// MLP down projection.
    DownProj,
}

impl LoraTarget {
    /// Every target, in module order.
    pub const ALL: [LoraTarget; 7] = [
        LoraTarget::QProj,
        LoraTarget::KProj,
        LoraTarget::VProj,
        LoraTarget::OProj,
        LoraTarget::GateProj,
        LoraTarget::UpProj,
        LoraTarget::DownProj,
    ];

    /// The Hugging Face module name (`q_proj`, …).
    pub fn name(self) -> &'static str {
        match self {
            LoraTarget::QProj => "q_proj",
            LoraTarget::KProj => "k_proj",
            LoraTarget::VProj => "v_proj",
            LoraTarget::OProj => "o_proj",
            LoraTarget::GateProj => "gate_proj",
            LoraTarget::UpProj => "up_proj",
            LoraTarget::DownProj => "down_proj",
        }
    }
}

impl FromStr for LoraTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        LoraTarget::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                format!(
                    "`{s}` is not a LoRA target (one of: {})",
                    LoraTarget::ALL.map(LoraTarget::name).join(", ")
                )
            })
    }
}

/// Rank, scale and targets of the adapters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank `r` of each adapter.
    pub rank: usize,
    /// `α`: the adapters' output is scaled by `α / r`.
    pub alpha: f64,
    /// The projections that get adapters.
    pub targets: Vec<LoraTarget>,
}

impl LoraConfig {
    /// Rank `rank`, `α = 2·rank`, adapters on the attention projections (q, k, v, o).
    pub fn new(rank: usize) -> Self {
        LoraConfig {
            rank,
            alpha: 2.0 * rank as f64,
            targets: vec![
                LoraTarget::QProj,
                LoraTarget::KProj,
                LoraTarget::VProj,
                LoraTarget::OProj,
            ],
        }
    }

    fn has(&self, t: LoraTarget) -> bool {
        self.targets.contains(&t)
    }
}

/// One adapter: `x ↦ (α/r)·x·A·B`, `A` `[in, r]`, `B` `[r, out]`.
#[derive(Module, Debug)]
pub struct LoraAdapter {
    /// Down-projection `[in, r]` (Kaiming-uniform at the start).
    pub a: Param<Tensor<2>>,
    /// Up-projection `[r, out]` (zero at the start).
    pub b: Param<Tensor<2>>,
    /// `α / r`.
    pub scale: f64,
}

impl LoraAdapter {
    /// A fresh adapter for a `[d_in, d_out]` projection.
    fn new(linear: &Linear, cfg: &LoraConfig, device: &Device) -> Self {
        let [d_in, d_out] = linear.weight.dims();
        let bound = (1.0 / d_in as f64).sqrt();
        LoraAdapter {
            a: Param::from_tensor(Tensor::random(
                [d_in, cfg.rank],
                burn::tensor::Distribution::Uniform(-bound, bound),
                device,
            )),
            b: Param::from_tensor(Tensor::zeros([cfg.rank, d_out], device)),
            scale: cfg.alpha / cfg.rank as f64,
        }
    }

    /// The adapter's output for `x` `[…, in]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        x.matmul(self.a.val().unsqueeze())
            .matmul(self.b.val().unsqueeze())
            .mul_scalar(self.scale)
    }

    /// `linear` with this adapter folded into its weight.
    fn merge(&self, mut linear: Linear) -> Linear {
        let delta = self.a.val().matmul(self.b.val()).mul_scalar(self.scale);
        linear.weight = Param::from_tensor((linear.weight.val() + delta).detach());
        linear
    }
}

/// `linear(x)`, plus the adapter's output when there is one.
pub(crate) fn project<const D: usize>(
    linear: &Linear,
    adapter: &Option<LoraAdapter>,
    x: Tensor<D>,
) -> Tensor<D> {
    match adapter {
        Some(a) => linear.forward(x.clone()) + a.forward(x),
        None => linear.forward(x),
    }
}

impl Decoder {
    /// The decoder with adapters on `cfg.targets` of every layer and the layers' weights
    /// frozen. The token embedding stays trainable (new special tokens must learn their rows);
    /// so does everything outside the decoder.
    pub fn with_lora(mut self, cfg: &LoraConfig, device: &Device) -> Self {
        let adapter =
            |on: LoraTarget, l: &Linear| cfg.has(on).then(|| LoraAdapter::new(l, cfg, device));
        self.layers = self
            .layers
            .into_iter()
            .map(|layer| {
                let mut layer = layer.no_grad();
                let (att, mlp) = (&mut layer.self_attn, &mut layer.mlp);
                att.q_lora = adapter(LoraTarget::QProj, &att.q_proj);
                att.k_lora = adapter(LoraTarget::KProj, &att.k_proj);
                att.v_lora = adapter(LoraTarget::VProj, &att.v_proj);
                att.o_lora = adapter(LoraTarget::OProj, &att.o_proj);
                mlp.gate_lora = adapter(LoraTarget::GateProj, &mlp.gate_proj);
                mlp.up_lora = adapter(LoraTarget::UpProj, &mlp.up_proj);
                mlp.down_lora = adapter(LoraTarget::DownProj, &mlp.down_proj);
                layer
            })
            .collect();
        self.norm = self.norm.no_grad();
        self
    }

    /// Whether any layer carries an adapter.
    pub fn has_lora(&self) -> bool {
        self.layers.iter().any(|l| {
            let (att, mlp) = (&l.self_attn, &l.mlp);
            [
                &att.q_lora,
                &att.k_lora,
                &att.v_lora,
                &att.o_lora,
                &mlp.gate_lora,
                &mlp.up_lora,
                &mlp.down_lora,
            ]
            .iter()
            .any(|a| a.is_some())
        })
    }

    /// The decoder with every adapter folded into its projection's weight and removed: the
    /// same function, with Hugging Face's tensors only.
    pub fn merge_lora(mut self) -> Self {
        fn fold(linear: &mut Linear, adapter: &mut Option<LoraAdapter>) {
            if let Some(a) = adapter.take() {
                *linear = a.merge(linear.clone());
            }
        }
        for layer in &mut self.layers {
            let (att, mlp) = (&mut layer.self_attn, &mut layer.mlp);
            fold(&mut att.q_proj, &mut att.q_lora);
            fold(&mut att.k_proj, &mut att.k_lora);
            fold(&mut att.v_proj, &mut att.v_lora);
            fold(&mut att.o_proj, &mut att.o_lora);
            fold(&mut mlp.gate_proj, &mut mlp.gate_lora);
            fold(&mut mlp.up_proj, &mut mlp.up_lora);
            fold(&mut mlp.down_proj, &mut mlp.down_lora);
        }
        self
    }
}
