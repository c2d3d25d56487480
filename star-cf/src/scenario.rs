//! Scenario slices of the evaluation cases. Definitions (also in ARCHITECTURE.md):
//!
//! - **classic**: every case.
//! - **cold_user**: the user's train sequence has at most `cold_user_max_train` interactions.
//! - **cold_item**: the true item has at most `cold_item_max_train` interactions in the train
//!   split (0 = never seen in training).
//! - **evolving_interest**: the genre distribution of the user's `evolving_window` most recent
//!   history items differs from that of the earlier history items by a total-variation
//!   distance of at least `evolving_min_distance`. Needs at least `evolving_window` earlier
//!   items and genres on the items; otherwise the case is not in the slice.
//!
//! A case can be in several slices. Histories are the request histories (train, plus the valid
//! item for test requests), so slices use only information available at prediction time.

use crate::data::Dataset;
use crate::ids::ItemId;
use crate::ranker::RankRequest;
use serde::{Deserialize, Serialize};

/// A named slice of evaluation cases.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Every case.
    Classic,
    /// Users with short train histories.
    ColdUser,
    /// True items rarely seen in training.
    ColdItem,
    /// Users whose recent genre mix departs from their earlier one.
    EvolvingInterest,
}

impl Scenario {
    /// All scenarios, in report order.
    pub const ALL: [Scenario; 4] = [
        Scenario::Classic,
        Scenario::ColdUser,
        Scenario::ColdItem,
        Scenario::EvolvingInterest,
    ];

    /// The snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Classic => "classic",
            Scenario::ColdUser => "cold_user",
            Scenario::ColdItem => "cold_item",
            Scenario::EvolvingInterest => "evolving_interest",
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Thresholds of the scenario definitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioConfig {
    /// `cold_user`: at most this many train interactions.
    pub cold_user_max_train: usize,
    /// `cold_item`: the true item has at most this many train interactions.
    pub cold_item_max_train: usize,
    /// `evolving_interest`: size of the recent window.
    pub evolving_window: usize,
    /// `evolving_interest`: minimum total-variation distance between recent and earlier genre mix.
    pub evolving_min_distance: f64,
}

impl Default for ScenarioConfig {
    fn default() -> Self {
        ScenarioConfig {
            cold_user_max_train: 20,
            cold_item_max_train: 10,
            evolving_window: 10,
            evolving_min_distance: 0.5,
        }
    }
}

/// Assigns cases to scenarios.
#[derive(Clone, Debug)]
pub struct ScenarioTagger {
    config: ScenarioConfig,
    item_train_count: Vec<u32>,
    item_genres: Vec<Vec<u16>>,
    num_genres: usize,
}

impl ScenarioTagger {
    /// A tagger using train-split popularity (`train_count[item]`) and the dataset's genres.
    pub fn new(config: ScenarioConfig, ds: &Dataset, train_count: Vec<u32>) -> Self {
        ScenarioTagger {
            config,
            item_train_count: train_count,
            item_genres: ds.items.iter().map(|i| i.genres.clone()).collect(),
            num_genres: ds.genres.len(),
        }
    }

    /// The thresholds in use.
    pub fn config(&self) -> &ScenarioConfig {
        &self.config
    }

    /// The scenarios of one case. `train_len` is the length of the user's train sequence.
    pub fn tag(&self, request: &RankRequest, target: ItemId, train_len: usize) -> Vec<Scenario> {
        let mut out = vec![Scenario::Classic];
        if train_len <= self.config.cold_user_max_train {
            out.push(Scenario::ColdUser);
        }
        if self
            .item_train_count
            .get(target.idx())
            .copied()
            .unwrap_or(0) as usize
            <= self.config.cold_item_max_train
        {
            out.push(Scenario::ColdItem);
        }
        if let Some(d) = self.genre_drift(&request.history) {
            if d >= self.config.evolving_min_distance {
                out.push(Scenario::EvolvingInterest);
            }
        }
        out
    }

    /// Total-variation distance between the genre mix of the last `evolving_window` items and the
    /// earlier items, or `None` when there are too few items or genres.
    pub fn genre_drift(&self, history: &[ItemId]) -> Option<f64> {
        let w = self.config.evolving_window;
        if self.num_genres == 0 || w == 0 || history.len() < 2 * w {
            return None;
        }
        let (early, recent) = history.split_at(history.len() - w);
        let a = self.genre_distribution(early)?;
        let b = self.genre_distribution(recent)?;
        Some(0.5 * a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f64>())
    }

    fn genre_distribution(&self, items: &[ItemId]) -> Option<Vec<f64>> {
        let mut d = vec![0.0; self.num_genres];
        let mut total = 0.0;
        for i in items {
            let g = &self.item_genres[i.idx()];
            for &k in g {
                d[k as usize] += 1.0 / g.len() as f64;
            }
            total += if g.is_empty() { 0.0 } else { 1.0 };
        }
        (total > 0.0).then(|| d.into_iter().map(|x| x / total).collect())
    }
}
