//! Ranking with trained CF embeddings: the score of (u, i) is `e_u · e_i`.

use super::CfEmbeddings;
use crate::error::{Error, Result};
use star_cf::{CatalogueScorer, ItemId, RankError, RankRequest, Ranker, Ranking};

/// A [`Ranker`] over exported CF embeddings, held on the CPU for one-request-at-a-time scoring.
#[derive(Clone, Debug)]
pub struct EmbeddingRanker {
    name: String,
    dim: usize,
    users: Vec<f32>,
    items: Vec<f32>,
}

impl EmbeddingRanker {
    /// A ranker called `name` (e.g. `"BPR-MF"`) over `embeddings`.
    pub fn new(name: &str, embeddings: &CfEmbeddings) -> Result<Self> {
        let read = |t: burn::tensor::Tensor<2>| {
            t.into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(Error::data("embeddings"))
        };
        let dim = embeddings.users.val().dims()[1];
        let item_dim = embeddings.items.val().dims()[1];
        if item_dim != dim {
            return Err(Error::mismatch(format!(
                "user embeddings have size {dim}, item embeddings {item_dim}"
            )));
        }
        Ok(EmbeddingRanker {
            name: name.to_string(),
            dim,
            users: read(embeddings.users.val())?,
            items: read(embeddings.items.val())?,
        })
    }

    /// Number of users.
    pub fn num_users(&self) -> usize {
        self.users.len() / self.dim.max(1)
    }

    /// Number of items.
    pub fn num_items(&self) -> usize {
        self.items.len() / self.dim.max(1)
    }

    /// [`Error::UnknownUser`] when the request's user has no embedding.
    fn check_user(&self, r: &RankRequest) -> Result<()> {
        if r.user.idx() >= self.num_users() {
            return Err(Error::UnknownUser {
                user: r.user,
                users: self.num_users(),
            });
        }
        Ok(())
    }

    fn user(&self, u: usize) -> &[f32] {
        &self.users[u * self.dim..(u + 1) * self.dim]
    }

    /// Score of one (user, item) pair.
    pub fn score(&self, user: usize, item: ItemId) -> f32 {
        let i = &self.items[item.idx() * self.dim..][..self.dim];
        self.user(user).iter().zip(i).map(|(a, b)| a * b).sum()
    }

    /// Scores of every item for a user.
    pub fn scores_of_user(&self, user: usize) -> Vec<f32> {
        (0..self.num_items())
            .map(|i| self.score(user, ItemId::from(i)))
            .collect()
    }
}

impl Ranker for EmbeddingRanker {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn rank(&self, r: &RankRequest) -> Result<Ranking, RankError> {
        self.check_user(r)?;
        if let Some(&item) = r.candidates.iter().find(|c| c.idx() >= self.num_items()) {
            return Err(Error::UnknownItem {
                item,
                items: self.num_items(),
            }
            .into());
        }
        let scores: Vec<f32> = r
            .candidates
            .iter()
            .map(|&c| self.score(r.user.idx(), c))
            .collect();
        Ok(Ranking::from_scores(&r.candidates, &scores))
    }
}

impl CatalogueScorer for EmbeddingRanker {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn score_all(&self, r: &RankRequest) -> Result<Vec<f32>, RankError> {
        self.check_user(r)?;
        Ok(self.scores_of_user(r.user.idx()))
    }
}
