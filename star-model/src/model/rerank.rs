//! The student on the whole catalogue: the fused top-k kernel retrieves the best `retrieve`
//! items by their context-free keys ([`StarModel::top_k_catalogue`]), or another
//! [`CatalogueScorer`] retrieves them ([`Reranked::retrieving_with`]); then the full prompt
//! (CST evidence, sequence evidence, the history) re-ranks them in one fast-mode pass, or one
//! pass per member of a [`StarEnsemble`] ([`StarEnsemble::reranked`]).

use super::{StarEnsemble, StarModel};
use star_cf::{CatalogueScorer, ItemId, RankError, RankRequest};
use std::collections::HashSet;

/// The prompt size [`Reranked`] uses unless told otherwise: the 1+19 candidates of the
/// protocol's candidate files, the size the student is trained on.
pub const DEFAULT_RERANK: usize = 20;

/// A [`CatalogueScorer`] that retrieves with the item keys and re-ranks with the prompt.
///
/// The `retrieve` items carry their fast-mode scores (an ensemble's: its mean log-softmax);
/// every other item scores `-inf` (it ranks below them, so any metric cut at `retrieve` or
/// less is exact).
pub struct Reranked<'a> {
    model: &'a StarModel,
    retrieve: usize,
    retriever: Option<&'a dyn CatalogueScorer>,
    ensemble: Option<&'a StarEnsemble>,
}

impl StarModel {
    /// This model on the full catalogue, re-ranking its `retrieve` best items by key
    /// ([`Reranked`]).
    pub fn reranked(&self, retrieve: usize) -> Reranked<'_> {
        Reranked {
            model: self,
            retrieve,
            retriever: None,
            ensemble: None,
        }
    }
}

impl StarEnsemble {
    /// This ensemble on the full catalogue: its first member's item keys (or
    /// [`Reranked::retrieving_with`]'s scorer) retrieve the `retrieve` best items, and the
    /// ensemble's mean log-softmax ([`StarEnsemble::score_batch`]) re-ranks them.
    pub fn reranked(&self, retrieve: usize) -> Reranked<'_> {
        Reranked {
            model: &self.members()[0],
            retrieve,
            retriever: None,
            ensemble: Some(self),
        }
    }
}

impl<'a> Reranked<'a> {
    /// Retrieves with `scorer`'s full-catalogue scores instead of the model's item keys: its
    /// best `retrieve` items outside the history, ties to the smaller id.
    pub fn retrieving_with(mut self, scorer: &'a dyn CatalogueScorer) -> Self {
        self.retriever = Some(scorer);
        self
    }

    /// The items to re-rank.
    fn retrieve(&self, request: &RankRequest) -> Result<Vec<ItemId>, RankError> {
        let Some(scorer) = self.retriever else {
            return Ok(self
                .model
                .top_k_catalogue(std::slice::from_ref(request), self.retrieve)?
                .pop()
                .unwrap_or_default()
                .into_iter()
                .map(|(item, _)| item)
                .collect());
        };
        let scores = scorer.score_all(request)?;
        let n = self.model.binding()?.items.len();
        if scores.len() != n {
            return Err(format!(
                "{} scored {} items; the catalogue has {n}",
                scorer.name(),
                scores.len()
            )
            .into());
        }
        let seen: HashSet<ItemId> = request.history.iter().copied().collect();
        let key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
        let mut items: Vec<ItemId> = (0..scores.len())
            .map(ItemId::from)
            .filter(|i| !seen.contains(i))
            .collect();
        items.sort_by(|a, b| key(scores[b.idx()]).total_cmp(&key(scores[a.idx()])));
        items.truncate(self.retrieve);
        Ok(items)
    }
}

impl CatalogueScorer for Reranked<'_> {
    fn name(&self) -> String {
        let by = self
            .retriever
            .map_or_else(|| "keys".to_string(), |r| r.name());
        let name = match self.ensemble {
            Some(e) => star_cf::Ranker::name(e),
            None => star_cf::Ranker::name(self.model),
        };
        format!("{name} (top {} by {by} re-ranked)", self.retrieve)
    }

    fn score_all(&self, request: &RankRequest) -> Result<Vec<f32>, RankError> {
        if self.retrieve == 0 {
            return Err("a re-ranked catalogue needs at least 1 item to retrieve (got 0)".into());
        }
        let n = self.model.binding()?.items.len();
        let mut retrieved = self.retrieve(request)?;
        // The prompt must not see the keys' order: candidates go in by id.
        retrieved.sort();
        let rerank = RankRequest {
            user: request.user,
            history: request.history.clone(),
            candidates: retrieved,
        };
        let one = std::slice::from_ref(&rerank);
        let scores = match self.ensemble {
            Some(e) => e.score_batch(one)?,
            None => self.model.score_batch(one)?,
        }
        .pop()
        .unwrap_or_default();
        let mut all = vec![f32::NEG_INFINITY; n];
        for (item, s) in rerank.candidates.iter().zip(scores) {
            all[item.idx()] = s;
        }
        Ok(all)
    }
}
