//! Collaborative-filtering encoders trained with BPR: [`Mf`] (BPR-MF) and [`LightGcn`].
//!
//! Both implement [`CfEncoder`]: final user and item embeddings (scores are dot products) and
//! the BPR forward pass used for training. [`CfEmbeddings`] exports the final embeddings to a
//! safetensors file (`users`, `items`) that the student, the teacher's tools and any other
//! program can read.

mod adjacency;
mod bpr;
mod embeddings;
mod lightgcn;
mod mf;
mod ranker;
pub mod sampler;
pub mod spmm;

pub use adjacency::Adjacency;
pub use bpr::{bpr_loss, row_dot, BprBatch, BprOutput};
pub use embeddings::CfEmbeddings;
pub use lightgcn::{LightGcn, LightGcnConfig};
pub use mf::{Mf, MfConfig};
pub use ranker::EmbeddingRanker;

use burn::nn::Embedding;
use burn::tensor::{Device, Tensor};

/// An `n × dim` embedding table drawn from `N(0, std²)` with its own seeded generator, so the
/// initialisation does not depend on the device's shared RNG (or on other threads using it).
pub(crate) fn normal_embedding(
    n: usize,
    dim: usize,
    std: f64,
    seed: u64,
    device: &Device,
) -> Embedding {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f32> = (0..n * dim)
        .map(|_| {
            // Box–Muller
            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random());
            (std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect();
    Embedding {
        weight: burn::module::Param::from_tensor(Tensor::from_data(
            burn::tensor::TensorData::new(values, [n, dim]),
            device,
        )),
    }
}

/// A CF model that embeds users and items in one space; the score of (u, i) is `e_u · e_i`.
pub trait CfEncoder {
    /// Final user `[num_users, dim]` and item `[num_items, dim]` embeddings.
    fn embeddings(&self) -> (Tensor<2>, Tensor<2>);

    /// The BPR forward pass on a batch of (user, positive, negative) triples, with L2
    /// regularisation `l2` on the batch's input (layer-0) embeddings.
    fn bpr(&self, batch: &BprBatch, l2: f64) -> BprOutput;

    /// The final embeddings as a standalone, exportable record.
    fn export(&self) -> CfEmbeddings {
        let (u, i) = self.embeddings();
        CfEmbeddings::new(u, i)
    }
}
