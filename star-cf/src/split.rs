//! Temporal leave-one-out split and training samples.
//!
//! For each user with interactions in time order `i_1 .. i_n`:
//! - `n >= 3`: test = `i_n`, valid = `i_{n-1}`, train = `i_1 .. i_{n-2}`;
//! - `n == 2`: test = `i_2`, train = `i_1`, no valid item;
//! - `n == 1`: train = `i_1` only (the user is never evaluated).
//!
//! A valid request's history is the train sequence; a test request's history is the train
//! sequence followed by the valid item (it happened before the test item). CF statistics
//! (graph, neighbours, popularity, evidence) are computed from the train sequences only.

use crate::data::Dataset;
use crate::ids::{ItemId, UserId};
use crate::ranker::RankRequest;
use serde::{Deserialize, Serialize};

/// Which held-out interaction a request targets.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitKind {
    /// The second-last interaction.
    Valid,
    /// The last interaction.
    Test,
}

impl SplitKind {
    /// `"valid"` or `"test"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SplitKind::Valid => "valid",
            SplitKind::Test => "test",
        }
    }
}

impl std::fmt::Display for SplitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SplitKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "valid" | "validation" => Ok(SplitKind::Valid),
            "test" => Ok(SplitKind::Test),
            other => Err(format!(
                "unknown split `{other}` (expected `valid` or `test`)"
            )),
        }
    }
}

/// A held-out interaction.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldOut {
    /// The item.
    pub item: ItemId,
    /// When it happened.
    pub timestamp: i64,
}

/// One user's part of the split.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserSplit {
    /// Train items in time order.
    pub train: Vec<ItemId>,
    /// Timestamps of `train`.
    pub train_times: Vec<i64>,
    /// The validation item, if the user has at least three interactions.
    pub valid: Option<HeldOut>,
    /// The test item, if the user has at least two interactions.
    pub test: Option<HeldOut>,
}

/// The temporal leave-one-out split of a dataset, indexed by [`UserId`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// Per-user splits.
    pub users: Vec<UserSplit>,
    /// Number of items in the dataset.
    pub num_items: usize,
}

/// The fold of `user` among `folds` (users by index, round robin): for cross-fitting, where the
/// model of fold `k` is trained on [`Split::without_fold`] and scores only the users of fold
/// `k`.
///
/// # Panics
/// If `folds` is 0.
pub fn fold_of(user: UserId, folds: usize) -> usize {
    assert!(folds > 0, "at least one fold");
    user.idx() % folds
}

/// A training sample: a prefix of a user's train sequence and the item that followed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingSample {
    /// The user.
    pub user: UserId,
    /// The most recent items before the target (at most `max_history`), oldest first.
    pub history: Vec<ItemId>,
    /// The next item.
    pub target: ItemId,
    /// Index of `target` in the user's train sequence.
    pub position: usize,
    /// When the target happened.
    pub timestamp: i64,
}

impl Split {
    /// Splits every user's time-ordered interactions: last = test, second-last = valid, rest = train.
    pub fn temporal_leave_one_out(ds: &Dataset) -> Split {
        let users = (0..ds.num_users())
            .map(|u| {
                let seq = ds.user_interactions(UserId::from(u));
                let n = seq.len();
                let held = |k: usize| HeldOut {
                    item: seq[k].item,
                    timestamp: seq[k].timestamp,
                };
                let (n_train, valid, test) = match n {
                    0 => (0, None, None),
                    1 => (1, None, None),
                    2 => (1, None, Some(held(1))),
                    _ => (n - 2, Some(held(n - 2)), Some(held(n - 1))),
                };
                UserSplit {
                    train: seq[..n_train].iter().map(|i| i.item).collect(),
                    train_times: seq[..n_train].iter().map(|i| i.timestamp).collect(),
                    valid,
                    test,
                }
            })
            .collect();
        Split {
            users,
            num_items: ds.num_items(),
        }
    }

    /// Number of users.
    pub fn num_users(&self) -> usize {
        self.users.len()
    }

    /// This split without the users of fold `fold` of `folds` ([`fold_of`]): they keep their
    /// ids and lose every interaction (train, valid and test), so a model trained on the
    /// result has never seen them.
    ///
    /// # Panics
    /// If `fold >= folds`.
    pub fn without_fold(&self, fold: usize, folds: usize) -> Split {
        assert!(fold < folds, "fold {fold} of {folds}");
        let users = self
            .users
            .iter()
            .enumerate()
            .map(|(u, us)| {
                if fold_of(UserId::from(u), folds) == fold {
                    UserSplit {
                        train: Vec::new(),
                        train_times: Vec::new(),
                        valid: None,
                        test: None,
                    }
                } else {
                    us.clone()
                }
            })
            .collect();
        Split {
            users,
            num_items: self.num_items,
        }
    }

    /// This split with each user's valid interaction moved to the end of their train items
    /// (`valid` becomes `None`; `test` stays): what a model refitted for the test split
    /// trains on, once validation has chosen its settings. A test request's history already
    /// holds the valid item; a model that scores from its training data alone (BPR-MF,
    /// LightGCN) sees it only this way.
    pub fn with_valid_in_train(&self) -> Split {
        let users = self
            .users
            .iter()
            .map(|us| {
                let mut u = us.clone();
                if let Some(v) = u.valid.take() {
                    u.train.push(v.item);
                    u.train_times.push(v.timestamp);
                }
                u
            })
            .collect();
        Split {
            users,
            num_items: self.num_items,
        }
    }

    /// The held-out item of `user` for `kind`, if any.
    pub fn target(&self, user: UserId, kind: SplitKind) -> Option<ItemId> {
        let u = &self.users[user.idx()];
        match kind {
            SplitKind::Valid => u.valid.map(|h| h.item),
            SplitKind::Test => u.test.map(|h| h.item),
        }
    }

    /// The history a request for `kind` may see: train for valid; train + valid for test.
    pub fn history(&self, user: UserId, kind: SplitKind) -> Vec<ItemId> {
        let u = &self.users[user.idx()];
        let mut h = u.train.clone();
        if kind == SplitKind::Test {
            if let Some(v) = u.valid {
                h.push(v.item);
            }
        }
        h
    }

    /// Users that have a held-out item for `kind`, in id order.
    pub fn eval_users(&self, kind: SplitKind) -> Vec<UserId> {
        (0..self.num_users())
            .map(UserId::from)
            .filter(|&u| self.target(u, kind).is_some())
            .collect()
    }

    /// A ranking request for `user` on `kind` with the given candidates.
    pub fn request(&self, user: UserId, kind: SplitKind, candidates: Vec<ItemId>) -> RankRequest {
        RankRequest {
            user,
            history: self.history(user, kind),
            candidates,
        }
    }

    /// Every training sample: for each user and each position `t >= 1` of the train sequence,
    /// the (at most `max_history`) items before `t` and the item at `t`.
    pub fn training_samples(
        &self,
        max_history: usize,
    ) -> impl Iterator<Item = TrainingSample> + '_ {
        self.users.iter().enumerate().flat_map(move |(u, us)| {
            (1..us.train.len()).map(move |t| TrainingSample {
                user: UserId::from(u),
                history: us.train[t.saturating_sub(max_history)..t].to_vec(),
                target: us.train[t],
                position: t,
                timestamp: us.train_times[t],
            })
        })
    }

    /// Number of train interactions.
    pub fn num_train_interactions(&self) -> usize {
        self.users.iter().map(|u| u.train.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DatasetBuilder, PreprocessOptions};

    fn ds() -> Dataset {
        let mut b = DatasetBuilder::new("t");
        for (t, i) in ["a", "b", "c", "d"].iter().enumerate() {
            b.add_interaction("u1", i, None, t as i64);
        }
        b.add_interaction("u2", "a", None, 5);
        b.add_interaction("u2", "b", None, 6);
        b.add_interaction("u3", "c", None, 1);
        b.build(&PreprocessOptions::default()).unwrap()
    }

    #[test]
    fn leave_one_out_by_length() {
        let ds = ds();
        let s = Split::temporal_leave_one_out(&ds);
        let item = |r: &str| ds.item_by_raw(r).unwrap();
        let u1 = ds.user_by_raw("u1").unwrap();
        assert_eq!(s.users[u1.idx()].train, [item("a"), item("b")]);
        assert_eq!(s.target(u1, SplitKind::Valid), Some(item("c")));
        assert_eq!(s.target(u1, SplitKind::Test), Some(item("d")));
        assert_eq!(
            s.history(u1, SplitKind::Test),
            [item("a"), item("b"), item("c")]
        );
        assert_eq!(s.history(u1, SplitKind::Valid), [item("a"), item("b")]);
        let u2 = ds.user_by_raw("u2").unwrap();
        assert_eq!(s.target(u2, SplitKind::Valid), None);
        assert_eq!(s.target(u2, SplitKind::Test), Some(item("b")));
        let u3 = ds.user_by_raw("u3").unwrap();
        assert_eq!(s.target(u3, SplitKind::Test), None);
        assert_eq!(s.eval_users(SplitKind::Test), [u1, u2]);
        assert_eq!(s.eval_users(SplitKind::Valid), [u1]);
    }

    #[test]
    fn valid_in_train_appends_the_valid_item_and_keeps_the_test_item() {
        let ds = ds();
        let s = Split::temporal_leave_one_out(&ds);
        let r = s.with_valid_in_train();
        let item = |r: &str| ds.item_by_raw(r).unwrap();
        let u1 = ds.user_by_raw("u1").unwrap();
        assert_eq!(r.users[u1.idx()].train, [item("a"), item("b"), item("c")]);
        assert_eq!(r.users[u1.idx()].train_times, [0, 1, 2]);
        assert_eq!(r.target(u1, SplitKind::Valid), None);
        assert_eq!(r.target(u1, SplitKind::Test), Some(item("d")));
        // the test request's history is the same in both
        assert_eq!(
            r.history(u1, SplitKind::Test),
            s.history(u1, SplitKind::Test)
        );
        // users without a valid item are unchanged
        let u2 = ds.user_by_raw("u2").unwrap();
        assert_eq!(r.users[u2.idx()], s.users[u2.idx()]);
        assert_eq!(r.num_items, s.num_items);
    }

    #[test]
    fn training_samples_are_prefixes() {
        let ds = ds();
        let s = Split::temporal_leave_one_out(&ds);
        let samples: Vec<_> = s.training_samples(1).collect();
        // only u1 has a train sequence of length 2 -> one sample (a -> b)
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].history, [ds.item_by_raw("a").unwrap()]);
        assert_eq!(samples[0].target, ds.item_by_raw("b").unwrap());
        assert_eq!(samples[0].timestamp, 1);
    }

    #[test]
    fn a_split_without_a_fold_has_none_of_its_users_and_all_of_the_others() {
        let s = Split::temporal_leave_one_out(&ds());
        for folds in [2, 3] {
            let mut kept = vec![0; s.num_users()];
            for k in 0..folds {
                let w = s.without_fold(k, folds);
                assert_eq!(w.num_users(), s.num_users());
                assert_eq!(w.num_items, s.num_items);
                for (u, n) in kept.iter_mut().enumerate() {
                    let (left, orig) = (&w.users[u], &s.users[u]);
                    if fold_of(UserId::from(u), folds) == k {
                        assert!(left.train.is_empty() && left.train_times.is_empty());
                        assert_eq!((left.valid, left.test), (None, None));
                    } else {
                        assert_eq!(left, orig);
                        *n += 1;
                    }
                }
            }
            // every user is left out of exactly one fold model's data
            assert!(kept.iter().all(|&n| n == folds - 1), "{kept:?}");
        }
    }
}
