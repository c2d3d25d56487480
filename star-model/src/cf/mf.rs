//! BPR matrix factorisation.

use super::bpr::{bpr_output, BprBatch, BprOutput};
use super::normal_embedding;
use super::CfEncoder;
use burn::nn::Embedding;
use burn::prelude::*;

/// Configuration of [`Mf`].
#[derive(Config, Debug)]
pub struct MfConfig {
    /// Number of users.
    pub num_users: usize,
    /// Number of items.
    pub num_items: usize,
    /// Embedding size.
    #[config(default = 64)]
    pub dim: usize,
    /// Standard deviation of the normal initialisation.
    #[config(default = 0.1)]
    pub init_std: f64,
    /// Seed of the initialisation.
    #[config(default = 42)]
    pub seed: u64,
    /// A learned bias per item (zero-initialised, no L2): the score is `e_u · e_i + b_i`. The
    /// final embeddings carry it as one more dimension (users `1`, items `b_i`), so every
    /// consumer still scores with a dot product.
    #[config(default = false)]
    pub item_bias: bool,
}

/// Matrix factorisation: one embedding per user and item; score = dot product.
#[derive(Module, Debug)]
pub struct Mf {
    /// User embeddings `[num_users, dim]`.
    pub user_embedding: Embedding,
    /// Item embeddings `[num_items, dim]`.
    pub item_embedding: Embedding,
    /// Item biases `[num_items, 1]` ([`MfConfig::item_bias`]).
    pub item_bias: Option<Embedding>,
}

impl MfConfig {
    /// Initialises the model on `device`.
    pub fn init(&self, device: &Device) -> Mf {
        let emb =
            |n, salt: u64| normal_embedding(n, self.dim, self.init_std, self.seed ^ salt, device);
        Mf {
            user_embedding: emb(self.num_users, 1),
            item_embedding: emb(self.num_items, 2),
            item_bias: self.item_bias.then(|| Embedding {
                weight: burn::module::Param::from_tensor(Tensor::zeros(
                    [self.num_items, 1],
                    device,
                )),
            }),
        }
    }
}

impl CfEncoder for Mf {
    fn embeddings(&self) -> (Tensor<2>, Tensor<2>) {
        let (users, items) = (
            self.user_embedding.weight.val(),
            self.item_embedding.weight.val(),
        );
        match &self.item_bias {
            Some(bias) => with_bias(users, items, bias.weight.val()),
            None => (users, items),
        }
    }

    fn bpr(&self, batch: &BprBatch, l2: f64) -> BprOutput {
        let u = self
            .user_embedding
            .weight
            .val()
            .select(0, batch.users.clone());
        let items = self.item_embedding.weight.val();
        let p = items.clone().select(0, batch.positives.clone());
        let n = items.select(0, batch.negatives.clone());
        let ego = [u.clone(), p.clone(), n.clone()];
        match &self.item_bias {
            Some(bias) => {
                let b = bias.weight.val();
                let (up, p) = with_bias(u.clone(), p, b.clone().select(0, batch.positives.clone()));
                let (_, n) = with_bias(u, n, b.select(0, batch.negatives.clone()));
                bpr_output(up, p, n, ego, l2)
            }
            None => bpr_output(u, p, n, ego, l2),
        }
    }
}

/// Users `[U, d]` and items `[I, d]` with the item biases `[I, 1]` as one more dimension:
/// `[U, d + 1]` (a column of ones) and `[I, d + 1]`.
fn with_bias(users: Tensor<2>, items: Tensor<2>, bias: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let ones = Tensor::ones([users.dims()[0], 1], &users.device());
    (
        Tensor::cat(vec![users, ones], 1),
        Tensor::cat(vec![items, bias], 1),
    )
}
