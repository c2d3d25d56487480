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
}

/// Matrix factorisation: one embedding per user and item; score = dot product.
#[derive(Module, Debug)]
pub struct Mf {
    /// User embeddings `[num_users, dim]`.
    pub user_embedding: Embedding,
    /// Item embeddings `[num_items, dim]`.
    pub item_embedding: Embedding,
}

impl MfConfig {
    /// Initialises the model on `device`.
    pub fn init(&self, device: &Device) -> Mf {
        let emb =
            |n, salt: u64| normal_embedding(n, self.dim, self.init_std, self.seed ^ salt, device);
        Mf {
            user_embedding: emb(self.num_users, 1),
            item_embedding: emb(self.num_items, 2),
        }
    }
}

impl CfEncoder for Mf {
    fn embeddings(&self) -> (Tensor<2>, Tensor<2>) {
        (
            self.user_embedding.weight.val(),
            self.item_embedding.weight.val(),
        )
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
        bpr_output(u.clone(), p.clone(), n.clone(), [u, p, n], l2)
    }
}
