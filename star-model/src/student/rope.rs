//! Rotary position embedding as Hugging Face computes it: the inverse frequencies of each
//! `rope_type` (`default`, `linear`, `dynamic`, `llama3`, `yarn`, from transformers'
//! `modeling_rope_utils.py`), the attention factor that scales `cos` and `sin`, and the tables in
//! the `rotate_half` layout (`cat(freqs, freqs)`).

use burn::prelude::*;
use serde::Serialize;

/// A rope scaling of a Hugging Face `config.json` (`rope_scaling` in transformers 4,
/// `rope_parameters` in transformers 5). Types the loader does not implement are refused by
/// name when the configuration is read.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "rope_type", rename_all = "lowercase")]
pub enum RopeScaling {
    /// Positions divided by `factor` (frequencies divided by it).
    Linear {
        /// The divisor.
        factor: f64,
    },
    /// Dynamic NTK: beyond `max_position_embeddings` the base grows with the sequence.
    Dynamic {
        /// The scaling factor.
        factor: f64,
    },
    /// Llama 3.x: low frequencies divided by `factor`, high ones kept, a smooth blend between.
    Llama3 {
        /// The divisor of the low frequencies.
        factor: f64,
        /// Wavelengths above `original / low_freq_factor` are scaled.
        low_freq_factor: f64,
        /// Wavelengths below `original / high_freq_factor` are kept.
        high_freq_factor: f64,
        /// The pre-training context length.
        original_max_position_embeddings: usize,
    },
    /// YaRN: a ramp between interpolated and extrapolated frequencies, and an attention factor.
    Yarn {
        /// The interpolation factor.
        factor: f64,
        /// The pre-training context length.
        original_max_position_embeddings: usize,
        /// Scale of `cos` and `sin`; derived from `factor` (and `mscale`) when absent.
        #[serde(skip_serializing_if = "Option::is_none")]
        attention_factor: Option<f64>,
        /// Ramp boundary for extrapolation (default 32).
        beta_fast: f64,
        /// Ramp boundary for interpolation (default 1).
        beta_slow: f64,
        /// DeepSeek-style numerator of the derived attention factor.
        #[serde(skip_serializing_if = "Option::is_none")]
        mscale: Option<f64>,
        /// DeepSeek-style denominator of the derived attention factor.
        #[serde(skip_serializing_if = "Option::is_none")]
        mscale_all_dim: Option<f64>,
        /// Whether the correction range is rounded outwards to whole dimensions (default true).
        truncate: bool,
    },
}

/// How the rotary frequencies of a decoder are computed.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeSpec {
    /// Rotated dimensions (the head size).
    pub dim: usize,
    /// The base wavelength.
    pub theta: f64,
    /// The scaling, if any.
    pub scaling: Option<RopeScaling>,
    /// `max_position_embeddings` (dynamic scaling starts beyond it).
    pub max_positions: usize,
}

impl RopeSpec {
    /// Unscaled inverse frequencies `1 / theta^(2i / dim)` of a base.
    fn base_inv_freq(&self, base: f64) -> Vec<f64> {
        (0..self.dim / 2)
            .map(|i| 1.0 / base.powf((2 * i) as f64 / self.dim as f64))
            .collect()
    }

    /// The inverse frequencies (`dim / 2` of them) and the attention factor for a forward pass
    /// whose longest position is `seq_len - 1`. Only dynamic scaling depends on `seq_len`.
    pub fn frequencies(&self, seq_len: usize) -> (Vec<f64>, f64) {
        let dim = self.dim as f64;
        match self.scaling {
            None => (self.base_inv_freq(self.theta), 1.0),
            Some(RopeScaling::Linear { factor }) => (
                self.base_inv_freq(self.theta)
                    .into_iter()
                    .map(|f| f / factor)
                    .collect(),
                1.0,
            ),
            Some(RopeScaling::Dynamic { factor }) => {
                let max = self.max_positions as f64;
                let seq = (seq_len as f64).max(max);
                let base =
                    self.theta * ((factor * seq / max) - (factor - 1.0)).powf(dim / (dim - 2.0));
                (self.base_inv_freq(base), 1.0)
            }
            Some(RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            }) => {
                let old = original_max_position_embeddings as f64;
                let (low_wavelen, high_wavelen) = (old / low_freq_factor, old / high_freq_factor);
                let freqs = self
                    .base_inv_freq(self.theta)
                    .into_iter()
                    .map(|f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen > low_wavelen {
                            f / factor
                        } else if wavelen < high_wavelen {
                            f
                        } else {
                            let smooth = (old / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    })
                    .collect();
                (freqs, 1.0)
            }
            Some(RopeScaling::Yarn {
                factor,
                original_max_position_embeddings,
                attention_factor,
                beta_fast,
                beta_slow,
                mscale,
                mscale_all_dim,
                truncate,
            }) => {
                let get_mscale = |scale: f64, m: f64| {
                    if scale <= 1.0 {
                        1.0
                    } else {
                        0.1 * m * scale.ln() + 1.0
                    }
                };
                let attention = attention_factor.unwrap_or(match (mscale, mscale_all_dim) {
                    (Some(m), Some(a)) if m != 0.0 && a != 0.0 => {
                        get_mscale(factor, m) / get_mscale(factor, a)
                    }
                    _ => get_mscale(factor, 1.0),
                });
                let base = self.theta;
                let original = original_max_position_embeddings as f64;
                let correction_dim = |rotations: f64| {
                    dim * (original / (rotations * 2.0 * std::f64::consts::PI)).ln()
                        / (2.0 * base.ln())
                };
                let (mut low, mut high) = (correction_dim(beta_fast), correction_dim(beta_slow));
                if truncate {
                    low = low.floor();
                    high = high.ceil();
                }
                let (low, mut high) = (low.max(0.0), high.min(dim - 1.0));
                if low == high {
                    high += 0.001;
                }
                let freqs = self
                    .base_inv_freq(base)
                    .into_iter()
                    .enumerate()
                    .map(|(i, extrapolation)| {
                        let ramp = ((i as f64 - low) / (high - low)).clamp(0.0, 1.0);
                        let keep = 1.0 - ramp;
                        extrapolation / factor * (1.0 - keep) + extrapolation * keep
                    })
                    .collect();
                (freqs, attention)
            }
        }
    }

    /// `cos` and `sin` tables `[len, dim]` for positions `0..len`, scaled by the attention
    /// factor, computed for a forward pass whose sequence length is `seq_len`.
    fn tables(&self, len: usize, seq_len: usize) -> (Vec<f32>, Vec<f32>) {
        let (inv_freq, scale) = self.frequencies(seq_len);
        let mut cos = Vec::with_capacity(len * self.dim);
        let mut sin = Vec::with_capacity(len * self.dim);
        for p in 0..len {
            // as transformers: the angle in f32 (`inv_freq @ position_ids` in float32)
            let row: Vec<f64> = inv_freq
                .iter()
                .map(|&f| (f as f32 * p as f32) as f64)
                .collect();
            for _ in 0..2 {
                cos.extend(row.iter().map(|a| (a.cos() * scale) as f32));
                sin.extend(row.iter().map(|a| (a.sin() * scale) as f32));
            }
        }
        (cos, sin)
    }
}

/// Rotary tables (`cos`, `sin`, `[max_pos, head_dim]`) for the positions of
/// `max_position_embeddings`; longer sequences get tables computed for them (with the grown
/// base under dynamic scaling, as transformers computes it for a freshly loaded model).
#[derive(Module, Debug)]
pub struct Rotary {
    cos: Tensor<2>,
    sin: Tensor<2>,
    #[module(skip)]
    spec: RopeSpec,
}

impl Rotary {
    /// Tables for `spec.max_positions` positions on `device`.
    pub fn new(spec: RopeSpec, device: &Device) -> Self {
        let len = spec.max_positions;
        let (cos, sin) = spec.tables(len, len);
        let dim = spec.dim;
        Rotary {
            cos: Tensor::from_data(TensorData::new(cos, [len, dim]), device),
            sin: Tensor::from_data(TensorData::new(sin, [len, dim]), device),
            spec,
        }
    }

    /// Whether the frequencies depend on the length of the pass (dynamic scaling).
    pub fn is_dynamic(&self) -> bool {
        matches!(self.spec.scaling, Some(RopeScaling::Dynamic { .. }))
    }

    /// Whether the precomputed tables cover positions `0..len`.
    pub(crate) fn covers(&self, len: usize) -> bool {
        len <= self.spec.max_positions
    }

    /// The tables to use for a forward pass whose longest position is `seq_len - 1`.
    fn tables_for(&self, seq_len: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
        if self.covers(seq_len) {
            return (self.cos.clone(), self.sin.clone());
        }
        let (cos, sin) = self.spec.tables(seq_len, seq_len);
        let dim = self.spec.dim;
        (
            Tensor::from_data(TensorData::new(cos, [seq_len, dim]), device),
            Tensor::from_data(TensorData::new(sin, [seq_len, dim]), device),
        )
    }

    /// `cos` and `sin` `[B, 1, T, hd]` at `positions` `[B, T]`, whose largest value is below
    /// `seq_len`: gathered once per forward pass, shared by every layer's q and k.
    pub(crate) fn at(&self, positions: &Tensor<2, Int>, seq_len: usize) -> (Tensor<4>, Tensor<4>) {
        let [b, t] = positions.dims();
        let (cos, sin) = self.tables_for(seq_len, &positions.device());
        let hd = self.spec.dim;
        let flat = positions.clone().reshape([b * t]);
        (
            cos.select(0, flat.clone()).reshape([b, 1, t, hd]),
            sin.select(0, flat).reshape([b, 1, t, hd]),
        )
    }
}

/// Rotates `x` `[B, H, T, hd]` by the angles of [`Rotary::at`] (`rotate_half` pairing).
pub(crate) fn rotate(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let [b, h, t, hd] = x.dims();
    let half = hd / 2;
    let x1 = x.clone().slice([0..b, 0..h, 0..t, 0..half]);
    let x2 = x.clone().slice([0..b, 0..h, 0..t, half..hd]);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x * cos.clone() + rotated * sin.clone()
}
