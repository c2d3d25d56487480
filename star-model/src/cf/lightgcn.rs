//! LightGCN (He et al., 2020): linear propagation over the normalised user–item graph, the final
//! embedding being the mean of the layer outputs.

use super::adjacency::Adjacency;
use super::bpr::{bpr_output, BprBatch, BprOutput};
use super::normal_embedding;
use super::CfEncoder;
use burn::nn::Embedding;
use burn::prelude::*;

/// Configuration of [`LightGcn`].
#[derive(Config, Debug)]
pub struct LightGcnConfig {
    /// Number of users.
    pub num_users: usize,
    /// Number of items.
    pub num_items: usize,
    /// Embedding size.
    #[config(default = 64)]
    pub dim: usize,
    /// Propagation layers K.
    #[config(default = 3)]
    pub layers: usize,
    /// Standard deviation of the normal initialisation.
    #[config(default = 0.1)]
    pub init_std: f64,
    /// Seed of the initialisation.
    #[config(default = 42)]
    pub seed: u64,
}

/// LightGCN: `E_final = mean(E_0, Â E_0, …, Â^K E_0)` over the stacked user and item embeddings.
#[derive(Module, Debug)]
pub struct LightGcn {
    /// Layer-0 user embeddings.
    pub user_embedding: Embedding,
    /// Layer-0 item embeddings.
    pub item_embedding: Embedding,
    /// The train graph (a constant: rebuilt from the graph, not saved with the weights).
    pub adjacency: Adjacency,
    /// Number of propagation layers.
    pub layers: usize,
}

impl LightGcnConfig {
    /// Initialises the model over `adjacency` (see [`Adjacency::from_graph`]).
    ///
    /// # Panics
    /// If the adjacency does not have `num_users + num_items` nodes.
    pub fn init(&self, adjacency: Adjacency, device: &Device) -> LightGcn {
        assert_eq!(
            adjacency.num_nodes,
            self.num_users + self.num_items,
            "adjacency built for another graph"
        );
        let emb =
            |n, salt: u64| normal_embedding(n, self.dim, self.init_std, self.seed ^ salt, device);
        LightGcn {
            user_embedding: emb(self.num_users, 1),
            item_embedding: emb(self.num_items, 2),
            adjacency,
            layers: self.layers,
        }
    }
}

impl LightGcn {
    /// The propagated node embeddings `[num_users + num_items, dim]` (users first).
    pub fn propagate(&self) -> Tensor<2> {
        let e0 = Tensor::cat(
            vec![
                self.user_embedding.weight.val(),
                self.item_embedding.weight.val(),
            ],
            0,
        );
        let mut sum = e0.clone();
        let mut e = e0;
        for _ in 0..self.layers {
            e = self.adjacency.propagate(e);
            sum = sum + e.clone();
        }
        sum.div_scalar((self.layers + 1) as f64)
    }

    fn num_users(&self) -> usize {
        self.user_embedding.weight.dims()[0]
    }
}

impl CfEncoder for LightGcn {
    fn embeddings(&self) -> (Tensor<2>, Tensor<2>) {
        let all = self.propagate();
        let [n, d] = all.dims();
        let nu = self.num_users();
        (all.clone().slice([0..nu, 0..d]), all.slice([nu..n, 0..d]))
    }

    fn bpr(&self, batch: &BprBatch, l2: f64) -> BprOutput {
        let (users, items) = self.embeddings();
        let u = users.select(0, batch.users.clone());
        let p = items.clone().select(0, batch.positives.clone());
        let n = items.select(0, batch.negatives.clone());
        let ego = [
            self.user_embedding
                .weight
                .val()
                .select(0, batch.users.clone()),
            self.item_embedding
                .weight
                .val()
                .select(0, batch.positives.clone()),
            self.item_embedding
                .weight
                .val()
                .select(0, batch.negatives.clone()),
        ];
        bpr_output(u, p, n, ego, l2)
    }
}
