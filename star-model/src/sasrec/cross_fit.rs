//! Cross-fitted scores: `K` models of one kind, the `k`-th trained without the users of fold
//! `k`, each user scored by the model that never saw them. A student that learns from a
//! sequential model's scores on training positions must see them cross-fitted: the model
//! trained on every user has fitted those very targets, and its scores there are more
//! confident than anywhere it is used later.

use crate::error::{Error, Result};
use star_cf::split::fold_of;
use star_cf::{RankError, RankRequest, Ranker, Ranking};

/// A [`Ranker`] over `K` fold models: a request of a user of fold `k` goes to model `k`,
/// which must have been trained without the users of fold `k`
/// ([`star_cf::split::Split::without_fold`]).
#[derive(Debug)]
pub struct CrossFitted<R> {
    models: Vec<R>,
}

impl<R: Ranker> CrossFitted<R> {
    /// The fold models, model `k` trained without fold `k`; at least two.
    pub fn new(models: Vec<R>) -> Result<Self> {
        if models.len() < 2 {
            return Err(Error::mismatch(format!(
                "cross-fitting needs at least 2 fold models, got {}",
                models.len()
            )));
        }
        Ok(CrossFitted { models })
    }

    /// Number of folds.
    pub fn folds(&self) -> usize {
        self.models.len()
    }
}

impl<R: Ranker> Ranker for CrossFitted<R> {
    fn name(&self) -> String {
        format!(
            "{} ({}-fold cross-fitted)",
            self.models[0].name(),
            self.folds()
        )
    }

    fn rank(&self, request: &RankRequest) -> Result<Ranking, RankError> {
        self.models[fold_of(request.user, self.folds())].rank(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use star_cf::{ItemId, UserId};

    /// Scores an item by `sign ×` its id.
    struct ById(f32);

    impl Ranker for ById {
        fn name(&self) -> String {
            "by-id".into()
        }
        fn rank(&self, r: &RankRequest) -> Result<Ranking, RankError> {
            let s: Vec<f32> = r.candidates.iter().map(|c| self.0 * c.0 as f32).collect();
            Ok(Ranking::from_scores(&r.candidates, &s))
        }
    }

    #[test]
    fn each_user_goes_to_the_model_of_its_fold() {
        assert!(CrossFitted::new(vec![ById(1.0)]).is_err());
        let cf = CrossFitted::new(vec![ById(1.0), ById(-1.0), ById(1.0)]).unwrap();
        assert_eq!(cf.name(), "by-id (3-fold cross-fitted)");
        for u in 0..7u32 {
            let r = RankRequest {
                user: UserId::from(u as usize),
                history: vec![],
                candidates: vec![ItemId(1), ItemId(5), ItemId(3)],
            };
            let first = cf.rank(&r).unwrap().items[0];
            let want = if u % 3 == 1 { ItemId(1) } else { ItemId(5) };
            assert_eq!(first, want, "user {u}");
        }
    }
}
