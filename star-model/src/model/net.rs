//! The STAR student network: the decoder, its LM head, and the STAR head (CF item fusion and
//! the ranking head). Tensor names follow Hugging Face for the decoder (`model.*`, `lm_head.*`)
//! and sit under `star.*` for the rest, so the decoder part of `model.safetensors` loads in
//! Hugging Face tools as a plain Llama/Qwen2 checkpoint.

use super::config::ModelConfig;
use super::prompt::Prompt;
use crate::dropout::DropoutDraws;
use crate::student::{CausalLm, Decoder, KvCache};
use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;

/// CF item fusion and the ranking head.
#[derive(Module, Debug)]
pub struct StarHead {
    /// CF item embeddings `[items + 1, cf_dim]`, frozen; the last row is zero (items the model
    /// does not know).
    pub item_embeddings: Param<Tensor<2>>,
    /// CF embedding → model width, added to `<item>` marker embeddings.
    pub item_proj: Linear,
    /// Marker features (the evidence features, then the sequence features when the
    /// configuration has them) → model width, added to candidate marker embeddings.
    pub evidence_proj: Linear,
    /// Hidden state at `<recommend>` → ranking query.
    pub query: Linear,
    /// Hidden state at a candidate's marker → its contextual key.
    pub key: Linear,
    /// CF embedding → an item's context-free key (the only key for full-catalogue ranking).
    pub item_key: Linear,
}

/// The whole student network.
#[derive(Module, Debug)]
pub struct StarNet {
    /// The decoder trunk (`model.*`).
    pub model: Decoder,
    /// Output projection (`lm_head`); `None` when tied to the input embedding.
    pub lm_head: Option<Linear>,
    /// Fusion and ranking (`star.*`).
    pub star: StarHead,
}

impl ModelConfig {
    /// Initialises a network with random weights and a zero item table.
    pub fn init_net(&self, device: &Device) -> StarNet {
        self.net_with(self.decoder.init_lm(device), device)
    }

    /// A network around the causal LM `lm` (random or pretrained): a random STAR head and a
    /// zero item table.
    pub fn net_with(&self, lm: CausalLm, device: &Device) -> StarNet {
        let (d, s) = (self.decoder.hidden_size, &self.star);
        let lin = |i, o, b| LinearConfig::new(i, o).with_bias(b).init(device);
        StarNet {
            model: lm.model,
            lm_head: lm.lm_head,
            star: StarHead {
                item_embeddings: Param::from_tensor(Tensor::zeros(
                    [s.items.len() + 1, s.cf_dim],
                    device,
                ))
                .set_require_grad(false),
                item_proj: lin(s.cf_dim, d, false),
                evidence_proj: lin(s.marker_features(), d, false),
                query: lin(d, s.rank_dim, true),
                key: lin(d, s.rank_dim, false),
                item_key: lin(s.cf_dim, s.rank_dim, false),
            },
        }
    }
}

/// A batch of sequences that start with a prompt, left-padded to one length.
#[derive(Clone, Debug)]
pub struct PromptBatch {
    /// Token ids `[B, T]`.
    pub tokens: Tensor<2, Int>,
    /// True at padding positions `[B, T]`; `None` when no row is padded.
    pub pad: Option<Tensor<2, Bool>>,
    /// Flat positions (`b * T + t`) of every `<item>` marker `[M]`.
    pub marker_index: Tensor<1, Int>,
    /// Item-table rows of the markers `[M]`.
    pub marker_rows: Tensor<1, Int>,
    /// Features of the markers `[M, F]` ([`super::StarConfig::marker_features`]).
    pub marker_features: Tensor<2>,
    /// Flat positions of each row's candidate markers `[B, C]`.
    pub candidate_index: Tensor<2, Int>,
    /// Item-table rows of each row's candidates `[B, C]`.
    pub candidate_rows: Tensor<2, Int>,
    /// Flat positions of each row's `<recommend>` token `[B]`.
    pub recommend_index: Tensor<1, Int>,
}

/// One sequence of a [`PromptBatch`]: a prompt, the tokens that follow it, and the position of
/// `<recommend>` in the whole sequence.
#[derive(Clone, Copy, Debug)]
pub struct BatchRow<'a> {
    /// The prompt.
    pub prompt: &'a Prompt,
    /// Tokens after the prompt (fast mode: just `<recommend>`).
    pub continuation: &'a [u32],
    /// Position of `<recommend>` in `prompt.tokens ++ continuation`.
    pub recommend: usize,
}

impl PromptBatch {
    /// Collates rows (each with the same number of candidates) with left padding (`pad_id`).
    ///
    /// # Panics
    /// If the rows differ in their number of candidates or of features per marker, or a
    /// `recommend` position is outside its sequence.
    pub fn new(rows: &[BatchRow], pad_id: u32, device: &Device) -> PromptBatch {
        let b = rows.len();
        let len = |r: &BatchRow| r.prompt.tokens.len() + r.continuation.len();
        let t = rows.iter().map(len).max().unwrap_or(0);
        let c = rows.first().map_or(0, |r| r.prompt.candidates.len());
        let f = rows.first().map_or(0, |r| r.prompt.feature_dim);
        let mut tokens = vec![pad_id as i64; b * t];
        let mut pad = vec![false; b * t];
        let (mut mi, mut mr, mut mf) = (Vec::new(), Vec::new(), Vec::new());
        let (mut ci, mut cr, mut ri) = (
            Vec::with_capacity(b * c),
            Vec::with_capacity(b * c),
            Vec::with_capacity(b),
        );
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r.prompt.candidates.len(), c, "rows differ in candidates");
            assert_eq!(r.prompt.feature_dim, f, "rows differ in marker features");
            assert!(
                r.recommend < len(r),
                "recommend position outside the sequence"
            );
            let off = t - len(r);
            let base = i * t + off;
            pad[i * t..base].iter_mut().for_each(|p| *p = true);
            for (k, &tok) in r.prompt.tokens.iter().chain(r.continuation).enumerate() {
                tokens[base + k] = tok as i64;
            }
            for (m, &p) in r.prompt.markers.iter().enumerate() {
                mi.push((base + p) as i64);
                mr.push(r.prompt.rows[m] as i64);
            }
            mf.extend_from_slice(&r.prompt.features);
            for &m in &r.prompt.candidates {
                ci.push((base + r.prompt.markers[m]) as i64);
                cr.push(r.prompt.rows[m] as i64);
            }
            ri.push((base + r.recommend) as i64);
        }
        let m = mi.len();
        let int1 = |v: Vec<i64>| {
            Tensor::<1, Int>::from_data(TensorData::new(v.clone(), [v.len()]), device)
        };
        PromptBatch {
            tokens: Tensor::from_data(TensorData::new(tokens, [b, t]), device),
            pad: pad
                .iter()
                .any(|&p| p)
                .then(|| Tensor::from_data(TensorData::new(pad, [b, t]), device)),
            marker_index: int1(mi),
            marker_rows: int1(mr),
            marker_features: Tensor::from_data(TensorData::new(mf, [m, f]), device),
            candidate_index: Tensor::from_data(TensorData::new(ci, [b, c]), device),
            candidate_rows: Tensor::from_data(TensorData::new(cr, [b, c]), device),
            recommend_index: int1(ri),
        }
    }
}

impl StarNet {
    /// Input embeddings `[B, T, d]` of a batch: token embeddings, plus at each `<item>` marker
    /// the projected CF embedding of its item and the projected evidence features.
    pub fn embed(&self, batch: &PromptBatch) -> Tensor<3> {
        let x = self.model.embed(batch.tokens.clone());
        if batch.marker_index.dims()[0] == 0 {
            return x;
        }
        let [b, t, d] = x.dims();
        let s = &self.star;
        let cf = s.item_embeddings.val().select(0, batch.marker_rows.clone());
        let add = s.item_proj.forward(cf) + s.evidence_proj.forward(batch.marker_features.clone());
        x.reshape([b * t, d])
            .select_assign(0, batch.marker_index.clone(), add, IndexingUpdateOp::Add)
            .reshape([b, t, d])
    }

    /// Final hidden states `[B, T, d]` of a batch.
    pub fn hidden(&self, batch: &PromptBatch) -> Tensor<3> {
        self.model
            .forward_embeddings(self.embed(batch), batch.pad.clone(), None)
    }

    /// [`StarNet::hidden`] in training with dropout: `drop` masks the input embeddings (after
    /// the item fusion) and each block's attention and feed-forward outputs.
    pub fn hidden_dropping(&self, batch: &PromptBatch, drop: &mut DropoutDraws) -> Tensor<3> {
        let x = drop.apply(self.embed(batch));
        self.model
            .forward_embeddings_dropping(x, batch.pad.clone(), None, &mut |y| drop.apply(y))
    }

    /// Vocabulary logits `[B, T, V]` of hidden states.
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        crate::student::lm_logits(&self.model, self.lm_head.as_ref(), hidden)
    }

    /// The weighted next-token loss of hidden states `[N, d]` against `targets [N]`
    /// (see [`crate::student::lm_token_loss`]).
    pub fn token_loss(
        &self,
        hidden: Tensor<2>,
        targets: Tensor<1, Int>,
        row_weights: Tensor<1>,
    ) -> crate::linear_cross_entropy::TokenLoss {
        crate::student::lm_token_loss(
            &self.model,
            self.lm_head.as_ref(),
            hidden,
            targets,
            row_weights,
        )
    }

    /// Ranking queries `[B, r]` of hidden states at `<recommend>` `[B, d]`.
    pub fn query(&self, h: Tensor<2>) -> Tensor<2> {
        self.star.query.forward(h)
    }

    /// Candidate scores `[B, C]`: `q · (key(h_marker) + item_key(e_item)) / √r`, with `q` the
    /// query at each row's `<recommend>`.
    pub fn candidate_scores(&self, hidden: Tensor<3>, batch: &PromptBatch) -> Tensor<2> {
        let [b, t, d] = hidden.dims();
        let c = batch.candidate_index.dims()[1];
        let flat = hidden.reshape([b * t, d]);
        let h_rec = flat.clone().select(0, batch.recommend_index.clone());
        let h_cand = flat.select(0, batch.candidate_index.clone().reshape([b * c]));
        self.scores_of(h_rec, h_cand, batch.candidate_rows.clone().reshape([b * c]))
    }

    /// Candidate scores `[B, C]` from the hidden states at `<recommend>` `[B, d]`, at the
    /// candidate markers `[B·C, d]` and the candidates' item rows `[B·C]`.
    pub fn scores_of(
        &self,
        h_rec: Tensor<2>,
        h_cand: Tensor<2>,
        rows: Tensor<1, Int>,
    ) -> Tensor<2> {
        let q = self.query(h_rec);
        let [b, r] = q.dims();
        let c = h_cand.dims()[0] / b.max(1);
        let e = self.star.item_embeddings.val().select(0, rows);
        let keys =
            (self.star.key.forward(h_cand) + self.star.item_key.forward(e)).reshape([b, c, r]);
        (keys * q.reshape([b, 1, r]))
            .sum_dim(2)
            .reshape([b, c])
            .div_scalar((r as f64).sqrt())
    }

    /// Context-free keys of every known item `[N, r]` (row order of the item table), scaled by
    /// `1/√r` so that `query · key` is on the scale of [`StarNet::candidate_scores`]'s CF term.
    pub fn catalogue_keys(&self) -> Tensor<2> {
        let e = self.star.item_embeddings.val();
        let [n1, cf] = e.dims();
        let keys = self.star.item_key.forward(e.slice([0..n1 - 1, 0..cf]));
        let r = keys.dims()[1];
        keys.div_scalar((r as f64).sqrt())
    }

    /// Runs `tokens` `[1, T]` after the cached positions (for generation), returning the final
    /// hidden states `[1, T, d]`. `<item>` fusion is not applied (generated text has no bound
    /// markers).
    pub fn step(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        let x = self.model.embed(tokens);
        self.model.forward_embeddings(x, None, Some(cache))
    }

    /// Like [`StarNet::hidden`] for one unpadded prompt, filling `cache`.
    pub fn prefill(&self, batch: &PromptBatch, cache: &mut KvCache) -> Tensor<3> {
        self.model
            .forward_embeddings(self.embed(batch), None, Some(cache))
    }
}
