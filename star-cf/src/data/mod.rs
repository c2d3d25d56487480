//! The in-memory dataset every loader produces, and the builder the loaders fill.
//!
//! A [`Dataset`] holds users, items (title, year, genres) and interactions with dense ids
//! ([`UserId`], [`ItemId`]); the original ids are kept in `raw_id`. Dense ids are assigned in
//! the order of the original ids (numerically when every id is an integer, otherwise
//! lexicographically), so they do not depend on file order. Interactions are sorted by user,
//! then by timestamp; interactions with the same timestamp keep their order in the source
//! file, which makes the time order stable and deterministic.

mod builder;
pub mod generic;
pub mod hand;
pub mod load;
pub mod movielens;
pub mod recbole;
#[cfg(feature = "fetch")]
pub mod registry;
pub mod synthetic;
pub(crate) mod text;

pub use builder::{DatasetBuilder, Dedup, PreprocessOptions};
pub use load::{detect_format, load_dir, DatasetFormat};

use crate::ids::{ItemId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// One user–item interaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// Dense user id.
    pub user: UserId,
    /// Dense item id.
    pub item: ItemId,
    /// Explicit rating, when the source has one.
    pub rating: Option<f32>,
    /// Unix time in seconds (or any monotone clock of the source).
    pub timestamp: i64,
}

/// An item with its metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The id in the source files.
    pub raw_id: String,
    /// Title without the trailing year, e.g. `"Heat"`. Falls back to the raw id.
    pub title: String,
    /// Release year when known.
    pub year: Option<u16>,
    /// Indices into [`Dataset::genres`], sorted, without duplicates.
    pub genres: Vec<u16>,
}

/// A user with whatever attributes the source provides (age, gender, occupation, ...).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The id in the source files.
    pub raw_id: String,
    /// Attribute name → value, e.g. `"gender" → "F"`.
    pub attributes: BTreeMap<String, String>,
}

/// A loaded, preprocessed dataset with dense ids.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dataset {
    /// A short name, e.g. `"movielens-100k"`.
    pub name: String,
    /// Users, indexed by [`UserId`].
    pub users: Vec<User>,
    /// Items, indexed by [`ItemId`].
    pub items: Vec<Item>,
    /// Genre vocabulary; [`Item::genres`] index into it.
    pub genres: Vec<String>,
    /// All interactions, sorted by user, then time (stable on ties).
    pub interactions: Vec<Interaction>,
    #[serde(skip)]
    user_index: HashMap<String, UserId>,
    #[serde(skip)]
    item_index: HashMap<String, ItemId>,
    /// `user_offsets[u]..user_offsets[u+1]` is the range of user `u` in `interactions`.
    user_offsets: Vec<usize>,
}

/// Counts describing a dataset, as printed by `star data stats`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetStats {
    /// Dataset name.
    pub name: String,
    /// Number of users.
    pub users: usize,
    /// Number of items.
    pub items: usize,
    /// Number of interactions.
    pub interactions: usize,
    /// `interactions / (users · items)`.
    pub density: f64,
    /// Fewest interactions of any user.
    pub min_user_interactions: usize,
    /// Median interactions per user.
    pub median_user_interactions: usize,
    /// Most interactions of any user.
    pub max_user_interactions: usize,
    /// Fewest interactions of any item.
    pub min_item_interactions: usize,
    /// Most interactions of any item.
    pub max_item_interactions: usize,
    /// Number of genres.
    pub genres: usize,
    /// Earliest timestamp.
    pub first_timestamp: i64,
    /// Latest timestamp.
    pub last_timestamp: i64,
}

impl Dataset {
    /// Number of users.
    pub fn num_users(&self) -> usize {
        self.users.len()
    }

    /// Number of items.
    pub fn num_items(&self) -> usize {
        self.items.len()
    }

    /// Number of interactions.
    pub fn num_interactions(&self) -> usize {
        self.interactions.len()
    }

    /// The dense id of a user given its original id.
    pub fn user_by_raw(&self, raw: &str) -> Option<UserId> {
        self.user_index.get(raw).copied()
    }

    /// The dense id of an item given its original id.
    pub fn item_by_raw(&self, raw: &str) -> Option<ItemId> {
        self.item_index.get(raw).copied()
    }

    /// The interactions of one user in time order.
    pub fn user_interactions(&self, user: UserId) -> &[Interaction] {
        let u = user.idx();
        &self.interactions[self.user_offsets[u]..self.user_offsets[u + 1]]
    }

    /// An item's display name: `"Heat (1995)"`, or the title alone when the year is unknown.
    pub fn item_label(&self, item: ItemId) -> String {
        let it = &self.items[item.idx()];
        match it.year {
            Some(y) => format!("{} ({y})", it.title),
            None => it.title.clone(),
        }
    }

    /// The genre names of an item.
    pub fn item_genres(&self, item: ItemId) -> impl Iterator<Item = &str> + '_ {
        self.items[item.idx()]
            .genres
            .iter()
            .map(move |&g| self.genres[g as usize].as_str())
    }

    /// Summary counts.
    pub fn stats(&self) -> DatasetStats {
        let mut per_user: Vec<usize> = (0..self.num_users())
            .map(|u| self.user_offsets[u + 1] - self.user_offsets[u])
            .collect();
        per_user.sort_unstable();
        let mut per_item = vec![0usize; self.num_items()];
        for it in &self.interactions {
            per_item[it.item.idx()] += 1;
        }
        let cells = (self.num_users() as f64) * (self.num_items() as f64);
        DatasetStats {
            name: self.name.clone(),
            users: self.num_users(),
            items: self.num_items(),
            interactions: self.num_interactions(),
            density: if cells > 0.0 {
                self.num_interactions() as f64 / cells
            } else {
                0.0
            },
            min_user_interactions: per_user.first().copied().unwrap_or(0),
            median_user_interactions: per_user.get(per_user.len() / 2).copied().unwrap_or(0),
            max_user_interactions: per_user.last().copied().unwrap_or(0),
            min_item_interactions: per_item.iter().copied().min().unwrap_or(0),
            max_item_interactions: per_item.iter().copied().max().unwrap_or(0),
            genres: self.genres.len(),
            first_timestamp: self
                .interactions
                .iter()
                .map(|i| i.timestamp)
                .min()
                .unwrap_or(0),
            last_timestamp: self
                .interactions
                .iter()
                .map(|i| i.timestamp)
                .max()
                .unwrap_or(0),
        }
    }

    /// A stable fingerprint of the dataset contents (ids, order and interactions), written into
    /// candidate files so that a file made for another dataset or preprocessing is rejected.
    pub fn fingerprint(&self) -> String {
        fnv1a_hex(|eat| {
            for u in &self.users {
                eat(u.raw_id.as_bytes());
                eat(&[0]);
            }
            eat(&[1]);
            for i in &self.items {
                eat(i.raw_id.as_bytes());
                eat(&[0]);
            }
            eat(&[2]);
            for it in &self.interactions {
                eat(&it.user.0.to_le_bytes());
                eat(&it.item.0.to_le_bytes());
                eat(&it.timestamp.to_le_bytes());
            }
        })
    }

    /// A stable fingerprint of the item metadata (titles, years, genres). Kept apart from
    /// [`Dataset::fingerprint`] so that candidate files stay valid when only metadata differs
    /// (e.g. the GroupLens and RecBole copies of MovieLens-100K), while caches that render
    /// metadata (the evidence store) notice the change.
    pub fn metadata_fingerprint(&self) -> String {
        fnv1a_hex(|eat| {
            for g in &self.genres {
                eat(g.as_bytes());
                eat(&[0]);
            }
            for it in &self.items {
                eat(it.title.as_bytes());
                eat(&[0]);
                eat(&it.year.unwrap_or(0).to_le_bytes());
                for g in &it.genres {
                    eat(&g.to_le_bytes());
                }
                eat(&[1]);
            }
        })
    }

    /// Rebuilds the raw-id look-up tables (after deserialisation).
    pub fn rebuild_index(&mut self) {
        self.user_index = raw_index(self.users.iter().map(|u| &u.raw_id));
        self.item_index = raw_index(self.items.iter().map(|i| &i.raw_id));
    }

    /// Assembles a dataset from parts that are already dense and sorted. Used by the builder.
    pub(crate) fn from_parts(
        name: String,
        users: Vec<User>,
        items: Vec<Item>,
        genres: Vec<String>,
        interactions: Vec<Interaction>,
    ) -> Self {
        let mut user_offsets = vec![0usize; users.len() + 1];
        for it in &interactions {
            user_offsets[it.user.idx() + 1] += 1;
        }
        for u in 0..users.len() {
            user_offsets[u + 1] += user_offsets[u];
        }
        let mut ds = Dataset {
            name,
            users,
            items,
            genres,
            interactions,
            user_index: HashMap::new(),
            item_index: HashMap::new(),
            user_offsets,
        };
        ds.rebuild_index();
        ds
    }
}

/// Dense ids by raw id, of raw ids listed in dense-id order.
fn raw_index<'a, Id: From<usize>>(
    raw_ids: impl Iterator<Item = &'a String>,
) -> HashMap<String, Id> {
    raw_ids
        .enumerate()
        .map(|(i, raw)| (raw.clone(), Id::from(i)))
        .collect()
}

/// The FNV-1a 64 hash, as 16 hex digits, of the bytes `feed` passes to its `eat` argument in
/// order: stable across platforms and Rust versions, unlike `DefaultHasher`.
fn fnv1a_hex(feed: impl FnOnce(&mut dyn FnMut(&[u8]))) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    feed(&mut |bytes: &[u8]| {
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    });
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::fnv1a_hex;

    #[test]
    fn fingerprints_hash_with_fnv1a_64() {
        // the published FNV-1a 64 test vectors; feeding in pieces changes nothing
        assert_eq!(fnv1a_hex(|_| {}), "cbf29ce484222325");
        assert_eq!(fnv1a_hex(|eat| eat(b"a")), "af63dc4c8601ec8c");
        assert_eq!(fnv1a_hex(|eat| eat(b"foobar")), "85944171f73967e8");
        assert_eq!(
            fnv1a_hex(|eat| {
                eat(b"foo");
                eat(b"");
                eat(b"bar")
            }),
            "85944171f73967e8"
        );
    }
}
