//! One SASRec block: pre-norm causal self-attention and a GELU feed-forward, each added back
//! to the residual stream, with dropout where burn's `TransformerEncoderLayer` (pre-norm) puts
//! it: on the attention weights, inside the feed-forward, and on each sub-layer's output. The
//! masks come from a [`DropoutDraws`] (none at inference).

use crate::dropout::DropoutDraws;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation;

/// A causal self-attention block.
#[derive(Module, Debug)]
pub struct SasRecBlock {
    /// Norm before attention.
    pub attn_norm: LayerNorm,
    /// Query projection.
    pub query: Linear,
    /// Key projection.
    pub key: Linear,
    /// Value projection.
    pub value: Linear,
    /// Output projection.
    pub output: Linear,
    /// Norm before the feed-forward.
    pub ff_norm: LayerNorm,
    /// Feed-forward input projection (`dim → dim`, as burn's encoder with `d_ff = dim`).
    pub ff_in: Linear,
    /// Feed-forward output projection.
    pub ff_out: Linear,
    heads: usize,
}

impl SasRecBlock {
    /// A block of width `dim` with `heads` attention heads.
    ///
    /// # Panics
    /// If `heads` does not divide `dim`.
    pub fn new(dim: usize, heads: usize, device: &Device) -> Self {
        assert!(
            heads > 0 && dim.is_multiple_of(heads),
            "SASRec: {heads} heads do not divide width {dim}"
        );
        let linear = || LinearConfig::new(dim, dim).init(device);
        SasRecBlock {
            attn_norm: LayerNormConfig::new(dim).init(device),
            query: linear(),
            key: linear(),
            value: linear(),
            output: linear(),
            ff_norm: LayerNormConfig::new(dim).init(device),
            ff_in: linear(),
            ff_out: linear(),
            heads,
        }
    }

    /// The block on `x` `[B, L, dim]`; `masked` `[B, 1, L, L]` is true where a query may not
    /// see a key (later positions, padding).
    pub fn forward(
        &self,
        x: Tensor<3>,
        masked: &Tensor<4, Bool>,
        mut drop: Option<&mut DropoutDraws>,
    ) -> Tensor<3> {
        let mut dropout = |t: Tensor<3>| match drop.as_deref_mut() {
            Some(d) => d.apply(t),
            None => t,
        };
        let a = self.attention(self.attn_norm.forward(x.clone()), masked, &mut dropout);
        let x = x + dropout(a);
        let f = self.ff_in.forward(self.ff_norm.forward(x.clone()));
        let f = self.ff_out.forward(dropout(activation::gelu(f)));
        x + dropout(f)
    }

    fn attention(
        &self,
        x: Tensor<3>,
        masked: &Tensor<4, Bool>,
        dropout: &mut impl FnMut(Tensor<3>) -> Tensor<3>,
    ) -> Tensor<3> {
        let [b, l, d] = x.dims();
        let (h, hd) = (self.heads, d / self.heads);
        let heads = |t: Tensor<3>| t.reshape([b, l, h, hd]).swap_dims(1, 2);
        let q = heads(self.query.forward(x.clone()));
        let k = heads(self.key.forward(x.clone()));
        let v = heads(self.value.forward(x));
        // masked scores get -1e4 before the softmax, as burn's attention does
        let scores = q
            .matmul(k.transpose())
            .div_scalar((hd as f64).sqrt())
            .mask_fill(masked.clone(), -1.0e4);
        let weights = activation::softmax(scores, 3);
        // the weights' dropout, drawn as a [B·H, L, L] tensor
        let weights = dropout(weights.reshape([b * h, l, l])).reshape([b, h, l, l]);
        let context = weights.matmul(v).swap_dims(1, 2).reshape([b, l, d]);
        self.output.forward(context)
    }
}
