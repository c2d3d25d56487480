//! Bayesian personalised ranking: batches, loss and outputs.

use burn::tensor::{activation, Int, Tensor};

/// A batch of (user, positive item, negative item) triples.
#[derive(Clone, Debug)]
pub struct BprBatch {
    /// User ids `[B]`.
    pub users: Tensor<1, Int>,
    /// Items the users interacted with `[B]`.
    pub positives: Tensor<1, Int>,
    /// Items the users did not interact with `[B]`.
    pub negatives: Tensor<1, Int>,
}

/// What a BPR forward pass returns.
#[derive(Clone, Debug)]
pub struct BprOutput {
    /// Mean BPR loss plus the L2 term, `[1]`.
    pub loss: Tensor<1>,
    /// Scores of (user, positive) `[B]`.
    pub pos_scores: Tensor<1>,
    /// Scores of (user, negative) `[B]`.
    pub neg_scores: Tensor<1>,
}

/// Row-wise dot product of two `[B, d]` tensors → `[B]`.
pub fn row_dot(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    let [n, _] = a.dims();
    (a * b).sum_dim(1).reshape([n])
}

/// `-mean(log σ(pos − neg))`.
pub fn bpr_loss(pos_scores: Tensor<1>, neg_scores: Tensor<1>) -> Tensor<1> {
    activation::log_sigmoid(pos_scores - neg_scores)
        .mean()
        .neg()
}

/// BPR loss plus `l2 · (‖u‖² + ‖p‖² + ‖n‖²) / (2B)` over the batch's input embeddings.
pub(crate) fn bpr_output(
    final_users: Tensor<2>,
    final_pos: Tensor<2>,
    final_neg: Tensor<2>,
    ego: [Tensor<2>; 3],
    l2: f64,
) -> BprOutput {
    let [b, _] = final_users.dims();
    let pos_scores = row_dot(final_users.clone(), final_pos);
    let neg_scores = row_dot(final_users, final_neg);
    let mut loss = bpr_loss(pos_scores.clone(), neg_scores.clone());
    if l2 > 0.0 {
        let reg = ego
            .into_iter()
            .map(|e| e.powf_scalar(2.0).sum())
            .reduce(|a, c| a + c)
            .expect("three terms");
        loss = loss + reg.mul_scalar(l2 / (2.0 * b as f64));
    }
    BprOutput {
        loss,
        pos_scores,
        neg_scores,
    }
}
