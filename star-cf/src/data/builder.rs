//! [`DatasetBuilder`]: loaders add raw records, `build` preprocesses and assigns dense ids.

use super::{Dataset, Interaction, Item, User};
use crate::error::{CfError, Result};
use crate::ids::{ItemId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// What to do with repeated (user, item) pairs.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dedup {
    /// Keep the earliest interaction of each pair (the default).
    #[default]
    KeepFirst,
    /// Keep the latest interaction of each pair.
    KeepLast,
    /// Keep every interaction (re-consumption).
    KeepAll,
}

/// Preprocessing applied by [`DatasetBuilder::build`], in this order: rating threshold,
/// de-duplication, k-core filter. Users and items left without interactions are dropped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreprocessOptions {
    /// Keep only interactions with `rating >= min_rating` (interactions without a rating are kept).
    pub min_rating: Option<f32>,
    /// Repeated (user, item) pairs.
    pub dedup: Dedup,
    /// Every user keeps at least this many interactions (iterated with `item_core` to a fixed point).
    pub user_core: usize,
    /// Every item keeps at least this many interactions.
    pub item_core: usize,
}

impl Default for PreprocessOptions {
    /// No filtering: threshold off, first occurrence of a repeated pair kept, no k-core.
    fn default() -> Self {
        PreprocessOptions {
            min_rating: None,
            dedup: Dedup::KeepFirst,
            user_core: 0,
            item_core: 0,
        }
    }
}

#[derive(Clone, Debug)]
struct RawInteraction {
    user: u32,
    item: u32,
    rating: Option<f32>,
    timestamp: i64,
}

#[derive(Clone, Debug, Default)]
struct ItemMeta {
    title: Option<String>,
    year: Option<u16>,
    genres: Vec<String>,
}

/// Collects raw users, items and interactions keyed by their original ids.
///
/// Interactions are kept in insertion (file) order, which breaks timestamp ties.
#[derive(Debug, Default)]
pub struct DatasetBuilder {
    name: String,
    user_ids: HashMap<String, u32>,
    user_raw: Vec<String>,
    user_attrs: Vec<BTreeMap<String, String>>,
    item_ids: HashMap<String, u32>,
    item_raw: Vec<String>,
    item_meta: Vec<ItemMeta>,
    interactions: Vec<RawInteraction>,
}

impl DatasetBuilder {
    /// A builder for a dataset called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        DatasetBuilder {
            name: name.into(),
            ..Default::default()
        }
    }

    fn user_slot(&mut self, raw: &str) -> u32 {
        let (i, new) = intern(&mut self.user_ids, &mut self.user_raw, raw);
        if new {
            self.user_attrs.push(BTreeMap::new());
        }
        i
    }

    fn item_slot(&mut self, raw: &str) -> u32 {
        let (i, new) = intern(&mut self.item_ids, &mut self.item_raw, raw);
        if new {
            self.item_meta.push(ItemMeta::default());
        }
        i
    }

    /// Adds or replaces an item's metadata. Empty genre names and placeholders meaning "no genre"
    /// (`unknown`, `(no genres listed)`) are ignored.
    pub fn add_item<S: Into<String>>(
        &mut self,
        raw_id: &str,
        title: impl Into<String>,
        year: Option<u16>,
        genres: impl IntoIterator<Item = S>,
    ) {
        let slot = self.item_slot(raw_id) as usize;
        let title = title.into();
        let meta = &mut self.item_meta[slot];
        meta.title = (!title.trim().is_empty()).then(|| title.trim().to_string());
        meta.year = year;
        meta.genres = genres
            .into_iter()
            .map(Into::into)
            .map(|g: String| g.trim().to_string())
            .filter(|g| !g.is_empty() && !is_placeholder_genre(g))
            .collect();
    }

    /// Adds or replaces a user's attributes.
    pub fn add_user(&mut self, raw_id: &str, attributes: BTreeMap<String, String>) {
        let slot = self.user_slot(raw_id) as usize;
        self.user_attrs[slot] = attributes;
    }

    /// Adds one interaction. Unknown users and items are created on the fly.
    pub fn add_interaction(
        &mut self,
        raw_user: &str,
        raw_item: &str,
        rating: Option<f32>,
        timestamp: i64,
    ) {
        let user = self.user_slot(raw_user);
        let item = self.item_slot(raw_item);
        self.interactions.push(RawInteraction {
            user,
            item,
            rating,
            timestamp,
        });
    }

    /// Number of interactions added so far.
    pub fn num_interactions(&self) -> usize {
        self.interactions.len()
    }

    /// Applies `opts` and produces the dataset.
    ///
    /// Fails when nothing is left (no interactions at all, or everything filtered out).
    pub fn build(self, opts: &PreprocessOptions) -> Result<Dataset> {
        let DatasetBuilder {
            name,
            user_raw,
            user_attrs,
            item_raw,
            item_meta,
            mut interactions,
            ..
        } = self;
        if interactions.is_empty() {
            return Err(CfError::Invalid(format!(
                "dataset `{name}` has no interactions"
            )));
        }

        // 1. Rating threshold.
        if let Some(min) = opts.min_rating {
            interactions.retain(|i| i.rating.is_none_or(|r| r >= min));
        }

        // Stable time order within each user: sort by (user, timestamp); ties keep file order.
        interactions.sort_by_key(|i| (i.user, i.timestamp));

        // 2. De-duplication of (user, item) pairs.
        match opts.dedup {
            Dedup::KeepAll => {}
            Dedup::KeepFirst | Dedup::KeepLast => {
                let mut seen: HashMap<(u32, u32), usize> = HashMap::new();
                let mut keep = vec![true; interactions.len()];
                for (idx, it) in interactions.iter().enumerate() {
                    match seen.get_mut(&(it.user, it.item)) {
                        None => {
                            seen.insert((it.user, it.item), idx);
                        }
                        Some(prev) => {
                            if opts.dedup == Dedup::KeepFirst {
                                keep[idx] = false;
                            } else {
                                keep[*prev] = false;
                                *prev = idx;
                            }
                        }
                    }
                }
                let mut k = keep.into_iter();
                interactions.retain(|_| k.next().unwrap_or(true));
            }
        }

        // 3. k-core to a fixed point.
        if opts.user_core > 1 || opts.item_core > 1 {
            loop {
                let mut uc = vec![0usize; user_raw.len()];
                let mut ic = vec![0usize; item_raw.len()];
                for it in &interactions {
                    uc[it.user as usize] += 1;
                    ic[it.item as usize] += 1;
                }
                let before = interactions.len();
                interactions.retain(|it| {
                    uc[it.user as usize] >= opts.user_core && ic[it.item as usize] >= opts.item_core
                });
                if interactions.len() == before {
                    break;
                }
            }
        }
        if interactions.is_empty() {
            return Err(CfError::Invalid(format!(
                "dataset `{name}`: preprocessing ({opts:?}) removed every interaction"
            )));
        }

        // 4. Dense ids in the order of the original ids.
        let mut user_used = vec![false; user_raw.len()];
        let mut item_used = vec![false; item_raw.len()];
        for it in &interactions {
            user_used[it.user as usize] = true;
            item_used[it.item as usize] = true;
        }
        let user_map = dense_order(&user_raw, &user_used);
        let item_map = dense_order(&item_raw, &item_used);

        let mut genre_vocab: Vec<String> = item_meta
            .iter()
            .enumerate()
            .filter(|(i, _)| item_used[*i])
            .flat_map(|(_, m)| m.genres.iter().cloned())
            .collect();
        genre_vocab.sort();
        genre_vocab.dedup();
        let genre_index: HashMap<&str, u16> = genre_vocab
            .iter()
            .enumerate()
            .map(|(i, g)| (g.as_str(), i as u16))
            .collect();

        let mut users = vec![User::default(); user_map.order.len()];
        for (new, &old) in user_map.order.iter().enumerate() {
            users[new] = User {
                raw_id: user_raw[old].clone(),
                attributes: user_attrs[old].clone(),
            };
        }
        let mut items = vec![Item::default(); item_map.order.len()];
        for (new, &old) in item_map.order.iter().enumerate() {
            let meta = &item_meta[old];
            let mut genres: Vec<u16> = meta
                .genres
                .iter()
                .map(|g| genre_index[g.as_str()])
                .collect();
            genres.sort_unstable();
            genres.dedup();
            items[new] = Item {
                raw_id: item_raw[old].clone(),
                title: meta.title.clone().unwrap_or_else(|| item_raw[old].clone()),
                year: meta.year,
                genres,
            };
        }

        let mut out: Vec<Interaction> = interactions
            .into_iter()
            .map(|it| Interaction {
                user: UserId(user_map.new_of_old[it.user as usize]),
                item: ItemId(item_map.new_of_old[it.item as usize]),
                rating: it.rating,
                timestamp: it.timestamp,
            })
            .collect();
        // Stable: ties on (user, timestamp) keep the file order established above.
        out.sort_by_key(|i| (i.user, i.timestamp));
        Ok(Dataset::from_parts(name, users, items, genre_vocab, out))
    }
}

/// Genre names that mean "no genre" in the sources (`unknown` in MovieLens 100K and its RecBole
/// copy, `(no genres listed)` in the MovieLens CSV releases).
fn is_placeholder_genre(g: &str) -> bool {
    g.eq_ignore_ascii_case("unknown") || g.eq_ignore_ascii_case("(no genres listed)")
}

struct DenseMap {
    /// Old slot of each new id.
    order: Vec<usize>,
    /// New id of each old slot (`u32::MAX` when dropped).
    new_of_old: Vec<u32>,
}

/// Orders the used slots by raw id: numerically when all used ids are integers, else lexically.
fn dense_order(raw: &[String], used: &[bool]) -> DenseMap {
    let mut order: Vec<usize> = (0..raw.len()).filter(|&i| used[i]).collect();
    let numeric: Option<Vec<i128>> = order.iter().map(|&i| raw[i].parse::<i128>().ok()).collect();
    match numeric {
        Some(nums) => {
            let mut pairs: Vec<(i128, usize)> =
                nums.into_iter().zip(order.iter().copied()).collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| raw[a.1].cmp(&raw[b.1])));
            order = pairs.into_iter().map(|(_, i)| i).collect();
        }
        None => order.sort_by(|&a, &b| raw[a].cmp(&raw[b])),
    }
    let mut new_of_old = vec![u32::MAX; raw.len()];
    for (new, &old) in order.iter().enumerate() {
        new_of_old[old] = new as u32;
    }
    DenseMap { order, new_of_old }
}

/// The dense id of `raw` in a table (`ids` by raw id, `raws` by dense id), appended as the next
/// id when it is new (then `true`).
fn intern(ids: &mut HashMap<String, u32>, raws: &mut Vec<String>, raw: &str) -> (u32, bool) {
    if let Some(&i) = ids.get(raw) {
        return (i, false);
    }
    let i = raws.len() as u32;
    ids.insert(raw.to_string(), i);
    raws.push(raw.to_string());
    (i, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> DatasetBuilder {
        let mut b = DatasetBuilder::new("toy");
        b.add_item("10", "Ten", Some(1990), ["Drama"]);
        b.add_item("2", "Two", None, ["Comedy", "Drama"]);
        b.add_interaction("u2", "10", Some(5.0), 100);
        b.add_interaction("u1", "2", Some(1.0), 50);
        b.add_interaction("u1", "10", Some(4.0), 50); // same time as the line above: file order
        b.add_interaction("u1", "2", Some(3.0), 70); // duplicate pair
        b.add_interaction("u1", "3", None, 10); // item without metadata
        b
    }

    #[test]
    fn dense_ids_follow_raw_id_order_and_ties_keep_file_order() {
        let ds = toy().build(&PreprocessOptions::default()).unwrap();
        // numeric raw ids: 2 < 3 < 10
        let raw: Vec<&str> = ds.items.iter().map(|i| i.raw_id.as_str()).collect();
        assert_eq!(raw, ["2", "3", "10"]);
        assert_eq!(ds.items[1].title, "3");
        assert_eq!(ds.genres, ["Comedy", "Drama"]);
        assert_eq!(ds.items[0].genres, [0, 1]);
        let u1 = ds.user_by_raw("u1").unwrap();
        let seq: Vec<&str> = ds
            .user_interactions(u1)
            .iter()
            .map(|i| ds.items[i.item.idx()].raw_id.as_str())
            .collect();
        // t=10 "3", then the two t=50 lines in file order ("2" before "10"); the t=70 repeat is dropped
        assert_eq!(seq, ["3", "2", "10"]);
    }

    #[test]
    fn dedup_keep_last_and_keep_all() {
        let last = toy()
            .build(&PreprocessOptions {
                dedup: Dedup::KeepLast,
                ..Default::default()
            })
            .unwrap();
        let u1 = last.user_by_raw("u1").unwrap();
        let times: Vec<i64> = last
            .user_interactions(u1)
            .iter()
            .map(|i| i.timestamp)
            .collect();
        assert_eq!(times, [10, 50, 70]);
        let all = toy()
            .build(&PreprocessOptions {
                dedup: Dedup::KeepAll,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.num_interactions(), 5);
    }

    #[test]
    fn rating_threshold_and_k_core() {
        let ds = toy()
            .build(&PreprocessOptions {
                min_rating: Some(4.0),
                ..Default::default()
            })
            .unwrap();
        // kept: u2-10 (5), u1-10 (4), u1-3 (no rating)
        assert_eq!(ds.num_interactions(), 3);
        // k-core: a 2-core keeps the 2x2 block {a,b}x{x,y} and drops the pendant c-z edge and
        // the user d who watched only x.
        let mut b = DatasetBuilder::new("core");
        for (u, i) in [
            ("a", "x"),
            ("a", "y"),
            ("b", "x"),
            ("b", "y"),
            ("c", "z"),
            ("d", "x"),
        ] {
            b.add_interaction(u, i, None, 0);
        }
        let core = b
            .build(&PreprocessOptions {
                user_core: 2,
                item_core: 2,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(core.num_interactions(), 4);
        assert_eq!(core.num_users(), 2);
        assert_eq!(core.num_items(), 2);
    }

    #[test]
    fn everything_filtered_is_an_error() {
        let err = toy()
            .build(&PreprocessOptions {
                user_core: 5,
                ..Default::default()
            })
            .unwrap_err();
        assert!(
            err.to_string().contains("removed every interaction"),
            "{err}"
        );
    }
}
