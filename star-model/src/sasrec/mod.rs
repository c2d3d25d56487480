//! SASRec (Kang & McAuley, 2018): causal self-attention over a user's item sequence; the hidden
//! state at the last position, dotted with an item's embedding, scores that item as the next one.
//!
//! Item ids are shifted by one inside the model (0 is padding); sequences are left-padded to
//! `max_len`. Training uses, at every position, either the cross-entropy of the next item
//! against the whole catalogue ([`SasRecLoss::Ce`], RecBole's default) or the paper's binary
//! cross-entropy with one sampled negative ([`SasRecLoss::Bce`]); its dropout masks come from a
//! seed the training step passes in ([`DropoutDraws`]).

mod block;
mod cross_fit;

pub use block::SasRecBlock;
pub use cross_fit::CrossFitted;

use crate::dropout::DropoutDraws;
use crate::linear_cross_entropy::linear_cross_entropy;
use burn::nn::{Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig};
use burn::prelude::*;
use burn::tensor::activation;
use star_cf::{CatalogueScorer, ItemId, RankError, RankRequest, Ranker, Ranking};

/// The shape of [`SasRec`], whatever the catalogue: what a training configuration nests (the
/// number of items is known only once the data is loaded; see [`SasRecConfig`]).
#[derive(Config, Debug, PartialEq)]
pub struct SasRecArch {
    /// Longest sequence the model reads (older items are dropped).
    #[config(default = 50)]
    pub max_len: usize,
    /// Hidden size.
    #[config(default = 64)]
    pub dim: usize,
    /// Self-attention blocks.
    #[config(default = 2)]
    pub blocks: usize,
    /// Attention heads.
    #[config(default = 1)]
    pub heads: usize,
    /// Dropout rate.
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// The training loss at each position.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SasRecLoss {
    /// Softmax cross-entropy of the next item against every item of the catalogue.
    Ce,
    /// The paper's binary cross-entropy of the next item against one sampled negative.
    Bce,
}

/// Configuration of [`SasRec`]: its shape for a catalogue of `num_items` items.
#[derive(Config, Debug)]
pub struct SasRecConfig {
    /// Number of items (ids `0..num_items`).
    pub num_items: usize,
    /// The shape.
    pub arch: SasRecArch,
}

/// The SASRec model.
#[derive(Module, Debug)]
pub struct SasRec {
    /// Item embeddings `[num_items + 1, dim]` (row 0 = padding).
    pub item_embedding: Embedding,
    /// Learned position embeddings `[max_len, dim]`.
    pub position_embedding: Embedding,
    /// Causal self-attention blocks (pre-norm).
    pub blocks: Vec<SasRecBlock>,
    /// Final layer norm.
    pub norm: LayerNorm,
    /// Longest sequence.
    pub max_len: usize,
    /// Dropout rate in training.
    pub dropout: f64,
}

impl SasRecConfig {
    /// Initialises the model on `device`.
    pub fn init(&self, device: &Device) -> SasRec {
        let a = &self.arch;
        let emb = |n| {
            EmbeddingConfig::new(n, a.dim)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: 0.02,
                })
                .init(device)
        };
        SasRec {
            item_embedding: emb(self.num_items + 1),
            position_embedding: emb(a.max_len),
            blocks: (0..a.blocks)
                .map(|_| SasRecBlock::new(a.dim, a.heads, device))
                .collect(),
            norm: LayerNormConfig::new(a.dim).init(device),
            max_len: a.max_len,
            dropout: a.dropout,
        }
    }
}

/// Left-pads the last `max_len` items of `history` into model ids (item id + 1; 0 = padding).
pub fn left_pad(history: &[ItemId], max_len: usize) -> Vec<i64> {
    let tail = &history[history.len().saturating_sub(max_len)..];
    let mut out = vec![0i64; max_len - tail.len()];
    out.extend(tail.iter().map(|i| i.0 as i64 + 1));
    out
}

impl SasRec {
    /// Hidden states `[B, L, dim]` of left-padded model-id sequences `[B, L]` (`L <= max_len`);
    /// rows at padding positions are zero. No dropout (inference).
    pub fn forward(&self, seq: Tensor<2, Int>) -> Tensor<3> {
        self.hidden(seq, None)
    }

    /// [`SasRec::forward`] in training: dropout on the embeddings and in every block, with
    /// masks from `drop`.
    pub fn forward_train(&self, seq: Tensor<2, Int>, drop: &mut DropoutDraws) -> Tensor<3> {
        self.hidden(seq, Some(drop))
    }

    fn hidden(&self, seq: Tensor<2, Int>, mut drop: Option<&mut DropoutDraws>) -> Tensor<3> {
        let [b, l] = seq.dims();
        let device = seq.device();
        let dim = self.item_embedding.weight.dims()[1];
        let pad = seq.clone().equal_elem(0);
        let positions = Tensor::<1, Int>::arange(0..l as i64, &device)
            .reshape([1, l])
            .expand([b, l]);
        let x = self
            .item_embedding
            .forward(seq)
            .mul_scalar((dim as f64).sqrt())
            + self.position_embedding.forward(positions);
        let mut x = match drop.as_deref_mut() {
            Some(d) => d.apply(x),
            None => x,
        };
        // true where a query may not see a key: a later position, or padding
        let later = Tensor::<2, Bool>::tril_mask([l, l], 0, &device)
            .reshape([1, 1, l, l])
            .expand([b, 1, l, l]);
        let masked = later.bool_or(pad.clone().reshape([b, 1, 1, l]).expand([b, 1, l, l]));
        for block in &self.blocks {
            x = block.forward(x, &masked, drop.as_deref_mut());
        }
        // Padding rows attend to nothing real; zero them so no output depends on later items.
        let keep = pad.bool_not().float().reshape([b, l, 1]);
        self.norm.forward(x) * keep
    }

    /// The paper's loss: binary cross-entropy of each position's next item against one sampled
    /// negative, averaged over non-padding positions. All inputs are model ids `[B, L]`; the
    /// dropout masks are drawn from `dropout_seed`.
    pub fn bce_loss(
        &self,
        input: Tensor<2, Int>,
        positives: Tensor<2, Int>,
        negatives: Tensor<2, Int>,
        dropout_seed: u64,
    ) -> Tensor<1> {
        self.bce_loss_over(input, positives, negatives, dropout_seed, None)
    }

    /// [`SasRec::bce_loss`] averaged over `positions` non-padding positions when given (those
    /// of a whole batch this one is a part of), so that the parts' losses add up to the batch's.
    pub fn bce_loss_over(
        &self,
        input: Tensor<2, Int>,
        positives: Tensor<2, Int>,
        negatives: Tensor<2, Int>,
        dropout_seed: u64,
        positions: Option<usize>,
    ) -> Tensor<1> {
        let h = self.forward_train(input, &mut DropoutDraws::new(self.dropout, dropout_seed));
        let [b, l, _] = h.dims();
        let mask = positives.clone().not_equal_elem(0).float();
        let logit = |items: Tensor<2, Int>| {
            (h.clone() * self.item_embedding.forward(items))
                .sum_dim(2)
                .reshape([b, l])
        };
        let loss = activation::log_sigmoid(logit(positives))
            + activation::log_sigmoid(logit(negatives).neg());
        per_position_mean((loss * mask.clone()).sum().neg(), mask, positions)
    }

    /// The full-catalogue loss: at each non-padding position, the softmax cross-entropy of the
    /// next item against every item, summed and divided by `positions` when given (those of a
    /// whole batch this one is a part of), else by this batch's non-padding positions. Inputs
    /// are model ids `[B, L]`; the dropout masks are drawn from `dropout_seed`.
    pub fn ce_loss_over(
        &self,
        input: Tensor<2, Int>,
        positives: Tensor<2, Int>,
        dropout_seed: u64,
        positions: Option<usize>,
    ) -> Tensor<1> {
        let h = self.forward_train(input, &mut DropoutDraws::new(self.dropout, dropout_seed));
        let [b, l, d] = h.dims();
        let n = self.item_embedding.weight.dims()[0] - 1;
        // every item, without the padding row: logit j is item model id j + 1
        let items = self.item_embedding.weight.val().slice([1..n + 1, 0..d]);
        let targets = positives.reshape([b * l]);
        let mask = targets.clone().not_equal_elem(0).float();
        // each non-padding position weighs 1 / positions: the head and its cross-entropy fused
        let weights = match positions {
            None => mask.clone() / mask.sum().clamp_min(1.0),
            Some(n) => mask.div_scalar(n.max(1) as f64),
        };
        linear_cross_entropy(
            h.reshape([b * l, d]),
            items,
            targets.sub_scalar(1).clamp_min(0),
            weights,
        )
        .loss
    }

    /// Scores `[B, C]` of candidate model ids `[B, C]` after sequences `[B, L]`.
    pub fn score_candidates(&self, seq: Tensor<2, Int>, candidates: Tensor<2, Int>) -> Tensor<2> {
        let h = self.last_hidden(seq);
        let [b, d] = h.dims();
        let [_, c] = candidates.dims();
        let items = self.item_embedding.forward(candidates);
        (items * h.reshape([b, 1, d])).sum_dim(2).reshape([b, c])
    }

    /// The hidden state at the last position `[B, dim]`.
    pub fn last_hidden(&self, seq: Tensor<2, Int>) -> Tensor<2> {
        let h = self.forward(seq);
        let [b, l, d] = h.dims();
        h.slice([0..b, l - 1..l, 0..d]).reshape([b, d])
    }
}

/// The configuration file of a trained SASRec directory ([`SasRec::load_dir`]).
pub const SASREC_CONFIG_FILE: &str = "model-config.json";
/// The weights file of a trained SASRec directory (burn's burnpack format).
pub const SASREC_WEIGHTS_FILE: &str = "model.bpk";

impl SasRec {
    /// Loads a trained SASRec directory ([`SASREC_CONFIG_FILE`] and [`SASREC_WEIGHTS_FILE`],
    /// as `star train sasrec` writes them) onto `device`, with the number of items it was
    /// trained for. Errors name the file.
    pub fn load_dir(dir: &std::path::Path, device: &Device) -> crate::Result<(SasRec, usize)> {
        use burn::module::Module;
        let (cfg_path, weights) = (dir.join(SASREC_CONFIG_FILE), dir.join(SASREC_WEIGHTS_FILE));
        let text =
            std::fs::read_to_string(&cfg_path).map_err(|e| crate::Error::io(&cfg_path, e))?;
        let cfg: SasRecConfig =
            serde_json::from_str(&text).map_err(|source| crate::Error::Json {
                path: cfg_path.clone(),
                source,
            })?;
        let model = cfg.init(device).try_load_file(&weights);
        let model = model.map_err(|e| crate::Error::Safetensors {
            path: weights.clone(),
            message: e.to_string(),
        })?;
        Ok((model, cfg.num_items))
    }
}

/// A [`Ranker`] (and [`CatalogueScorer`]) over a trained SASRec; put the model in inference
/// mode (`valid()`) and on the device you want it to run on first.
#[derive(Debug)]
pub struct SasRecRanker {
    model: SasRec,
    num_items: usize,
}

impl SasRecRanker {
    /// Wraps a model trained for `num_items` items.
    pub fn new(model: SasRec, num_items: usize) -> Self {
        SasRecRanker { model, num_items }
    }

    fn device(&self) -> Device {
        self.model.item_embedding.weight.device()
    }

    fn sequence(&self, r: &RankRequest) -> Tensor<2, Int> {
        let l = self.model.max_len;
        Tensor::from_data(
            TensorData::new(left_pad(&r.history, l), [1, l]),
            &self.device(),
        )
    }
}

impl Ranker for SasRecRanker {
    fn name(&self) -> String {
        "SASRec".into()
    }

    fn rank(&self, r: &RankRequest) -> Result<Ranking, RankError> {
        if let Some(&item) = r
            .candidates
            .iter()
            .chain(&r.history)
            .find(|i| i.idx() >= self.num_items)
        {
            return Err(crate::Error::UnknownItem {
                item,
                items: self.num_items,
            }
            .into());
        }
        let c = r.candidates.len();
        let cands: Vec<i64> = r.candidates.iter().map(|i| i.0 as i64 + 1).collect();
        let cands = Tensor::from_data(TensorData::new(cands, [1, c]), &self.device());
        let scores: Vec<f32> = self
            .model
            .score_candidates(self.sequence(r), cands)
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .map_err(crate::Error::data("scores"))?;
        Ok(Ranking::from_scores(&r.candidates, &scores))
    }
}

impl CatalogueScorer for SasRecRanker {
    fn name(&self) -> String {
        "SASRec".into()
    }

    fn score_all(&self, r: &RankRequest) -> Result<Vec<f32>, RankError> {
        let h = self.model.last_hidden(self.sequence(r));
        let d = h.dims()[1];
        let items = self
            .model
            .item_embedding
            .weight
            .val()
            .slice([1..self.num_items + 1, 0..d]);
        Ok(items
            .matmul(h.transpose())
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .map_err(crate::Error::data("catalogue scores"))?)
    }
}

/// A loss summed over the positions of `mask` (1 where a position counts), divided by
/// `positions` when given (those of a whole batch this one is a part of, so the parts add up),
/// else by this batch's own.
fn per_position_mean<const D: usize>(
    total: Tensor<1>,
    mask: Tensor<D>,
    positions: Option<usize>,
) -> Tensor<1> {
    match positions {
        None => total / mask.sum().clamp_min(1.0),
        Some(n) => total.div_scalar(n.max(1) as f64),
    }
}
