//! The bipartite user–item graph of the train split in CSR form (both directions), with item
//! popularity and popularity ranks.
//!
//! Adjacency lists are sorted by id, so co-occurrence counts are merge intersections. Every
//! statistic here comes from the train split only.

use crate::ids::{ItemId, UserId};
use crate::split::Split;
use serde::{Deserialize, Serialize};

/// Compressed sparse rows: `targets[offsets[r]..offsets[r+1]]` are the neighbours of row `r`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Csr {
    offsets: Vec<u32>,
    targets: Vec<u32>,
}

impl Csr {
    /// Builds from `(row, col)` edges; rows get sorted, de-duplicated columns.
    pub fn from_edges(rows: usize, edges: impl IntoIterator<Item = (u32, u32)>) -> Csr {
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); rows];
        for (r, c) in edges {
            lists[r as usize].push(c);
        }
        let mut offsets = Vec::with_capacity(rows + 1);
        let mut targets = Vec::new();
        offsets.push(0u32);
        for mut l in lists {
            l.sort_unstable();
            l.dedup();
            targets.extend_from_slice(&l);
            offsets.push(u32::try_from(targets.len()).expect("more than 2^32 edges"));
        }
        Csr { offsets, targets }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Number of stored edges.
    pub fn nnz(&self) -> usize {
        self.targets.len()
    }

    /// The sorted neighbours of row `r`.
    #[inline]
    pub fn row(&self, r: usize) -> &[u32] {
        &self.targets[self.offsets[r] as usize..self.offsets[r + 1] as usize]
    }

    /// Degree of row `r`.
    #[inline]
    pub fn degree(&self, r: usize) -> usize {
        (self.offsets[r + 1] - self.offsets[r]) as usize
    }
}

/// Size of the intersection of two sorted lists, not counting `skip`.
///
/// Uses a linear merge when the lists are of similar size and binary-search galloping when one
/// is much shorter.
pub fn intersect_count(a: &[u32], b: &[u32], skip: Option<u32>) -> u32 {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut n = 0u32;
    if small.len() * 16 < large.len() {
        let mut lo = 0usize;
        for &x in small {
            match large[lo..].binary_search(&x) {
                Ok(p) => {
                    if Some(x) != skip {
                        n += 1;
                    }
                    lo += p + 1;
                }
                Err(p) => lo += p,
            }
            if lo >= large.len() {
                break;
            }
        }
    } else {
        let (mut i, mut j) = (0, 0);
        while i < small.len() && j < large.len() {
            match small[i].cmp(&large[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    if Some(small[i]) != skip {
                        n += 1;
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
    }
    n
}

/// Catalogues up to this size also keep a dense item × item co-occurrence table (`u16`
/// counts, 2·n² bytes: 5.7 MB for MovieLens-100K, 27 MB for MovieLens-1M), which turns a
/// co-occurrence look-up into one memory read. Larger catalogues use sorted-list intersections.
pub const DENSE_COOC_MAX_ITEMS: usize = 4096;

/// The train graph: user → items and item → users, plus popularity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CfGraph {
    user_items: Csr,
    item_users: Csr,
    popularity_rank: Vec<u32>,
    /// Row-major `num_items²` co-occurrence counts, when the catalogue is small enough.
    dense_cooc: Option<Vec<u16>>,
}

/// Builds the symmetric co-occurrence table, one row per item on rayon's pool: row `i` counts,
/// for every user of `i`, that user's other items.
fn dense_co_occurrence(user_items: &Csr, item_users: &Csr, n_items: usize) -> Vec<u16> {
    use rayon::prelude::*;
    let mut table = vec![0u16; n_items * n_items];
    table
        .par_chunks_mut(n_items.max(1))
        .enumerate()
        .for_each(|(i, row)| {
            for &u in item_users.row(i) {
                for &j in user_items.row(u as usize) {
                    if j as usize != i {
                        row[j as usize] += 1;
                    }
                }
            }
        });
    table
}

impl CfGraph {
    /// Builds the graph from the train part of `split` (valid and test items are not used).
    pub fn from_split(split: &Split) -> CfGraph {
        let edges = || {
            split
                .users
                .iter()
                .enumerate()
                .flat_map(|(u, s)| s.train.iter().map(move |i| (u as u32, i.0)))
        };
        let user_items = Csr::from_edges(split.num_users(), edges());
        let item_users = Csr::from_edges(split.num_items, edges().map(|(u, i)| (i, u)));
        // rank 1 = most popular; ties by item id
        let mut order: Vec<usize> = (0..split.num_items).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(item_users.degree(i)), i));
        let mut popularity_rank = vec![0u32; split.num_items];
        for (r, &i) in order.iter().enumerate() {
            popularity_rank[i] = r as u32 + 1;
        }
        let dense_cooc = (split.num_items <= DENSE_COOC_MAX_ITEMS
            && split.num_users() <= u16::MAX as usize)
            .then(|| dense_co_occurrence(&user_items, &item_users, split.num_items));
        CfGraph {
            user_items,
            item_users,
            popularity_rank,
            dense_cooc,
        }
    }

    /// The dense co-occurrence counts of `item` with every item, when the table exists.
    pub fn co_occurrence_row(&self, item: ItemId) -> Option<&[u16]> {
        let n = self.num_items();
        self.dense_cooc
            .as_ref()
            .map(|t| &t[item.idx() * n..(item.idx() + 1) * n])
    }

    /// Drops the dense table (saving memory); look-ups fall back to intersections.
    pub fn drop_dense_co_occurrence(&mut self) {
        self.dense_cooc = None;
    }

    /// Whether co-occurrences are served from the dense table.
    pub fn has_dense_co_occurrence(&self) -> bool {
        self.dense_cooc.is_some()
    }

    /// Number of users.
    pub fn num_users(&self) -> usize {
        self.user_items.rows()
    }

    /// Number of items.
    pub fn num_items(&self) -> usize {
        self.item_users.rows()
    }

    /// Number of (distinct) train edges.
    pub fn num_edges(&self) -> usize {
        self.user_items.nnz()
    }

    /// Items of a user in the train split, sorted by id.
    pub fn items_of(&self, user: UserId) -> &[u32] {
        self.user_items.row(user.idx())
    }

    /// Users of an item in the train split, sorted by id.
    pub fn users_of(&self, item: ItemId) -> &[u32] {
        self.item_users.row(item.idx())
    }

    /// Whether `user` interacted with `item` in the train split.
    pub fn has_edge(&self, user: UserId, item: ItemId) -> bool {
        self.items_of(user).binary_search(&item.0).is_ok()
    }

    /// Train popularity (number of distinct users) of an item.
    pub fn popularity(&self, item: ItemId) -> u32 {
        self.item_users.degree(item.idx()) as u32
    }

    /// Popularity of `item` not counting `user`.
    pub fn popularity_excluding(&self, item: ItemId, user: UserId) -> u32 {
        self.popularity(item) - self.has_edge(user, item) as u32
    }

    /// 1-based rank of the item by train popularity (1 = most popular; ties by item id).
    pub fn popularity_rank(&self, item: ItemId) -> u32 {
        self.popularity_rank[item.idx()]
    }

    /// Train popularity of every item.
    pub fn popularity_counts(&self) -> Vec<u32> {
        (0..self.num_items())
            .map(|i| self.item_users.degree(i) as u32)
            .collect()
    }

    /// Number of users other than `skip` who interacted with both items (0 when `a == b`).
    #[inline]
    pub fn co_occurrence(&self, a: ItemId, b: ItemId, skip: Option<UserId>) -> u32 {
        if a == b {
            return 0;
        }
        match &self.dense_cooc {
            Some(t) => {
                let n = t[a.idx() * self.num_items() + b.idx()] as u32;
                match skip {
                    Some(u) if n > 0 && self.has_edge(u, a) && self.has_edge(u, b) => n - 1,
                    _ => n,
                }
            }
            None => intersect_count(self.users_of(a), self.users_of(b), skip.map(|u| u.0)),
        }
    }

    /// The user → items adjacency.
    pub fn user_items(&self) -> &Csr {
        &self.user_items
    }

    /// The item → users adjacency.
    pub fn item_users(&self) -> &Csr {
        &self.item_users
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersections_merge_and_gallop_agree_with_sets() {
        let a: Vec<u32> = (0..400).step_by(3).collect();
        let b: Vec<u32> = (0..400).step_by(5).collect();
        let small = [0u32, 15, 16, 30, 399];
        let count = |x: &[u32], y: &[u32], skip: Option<u32>| {
            x.iter()
                .filter(|v| y.contains(v) && Some(**v) != skip)
                .count() as u32
        };
        assert_eq!(intersect_count(&a, &b, None), count(&a, &b, None));
        assert_eq!(intersect_count(&a, &b, Some(15)), count(&a, &b, Some(15)));
        assert_eq!(intersect_count(&small, &a, None), count(&small, &a, None));
        assert_eq!(
            intersect_count(&a, &small, Some(30)),
            count(&a, &small, Some(30))
        );
        assert_eq!(intersect_count(&[], &a, None), 0);
    }

    #[test]
    fn dense_table_equals_intersections() {
        use crate::data::synthetic::{generate, SyntheticConfig};
        let ds = generate(&SyntheticConfig {
            users: 80,
            items: 150,
            max_len: 60,
            ..Default::default()
        })
        .unwrap();
        let g = CfGraph::from_split(&Split::temporal_leave_one_out(&ds));
        assert!(g.has_dense_co_occurrence());
        let mut checked = 0;
        for a in (0..g.num_items()).step_by(7) {
            for b in (0..g.num_items()).step_by(3) {
                let (a, b) = (ItemId::from(a), ItemId::from(b));
                for skip in [None, Some(UserId(0)), Some(UserId(17))] {
                    let expect = if a == b {
                        0
                    } else {
                        intersect_count(g.users_of(a), g.users_of(b), skip.map(|u| u.0))
                    };
                    assert_eq!(g.co_occurrence(a, b, skip), expect, "{a} {b} {skip:?}");
                    checked += (expect > 0) as usize;
                }
            }
        }
        assert!(
            checked > 100,
            "too few co-occurring pairs checked: {checked}"
        );
    }

    #[test]
    fn csr_sorts_and_dedups() {
        let c = Csr::from_edges(3, [(0, 5), (0, 2), (2, 1), (0, 2)]);
        assert_eq!(c.row(0), [2, 5]);
        assert_eq!(c.row(1), [] as [u32; 0]);
        assert_eq!(c.row(2), [1]);
        assert_eq!(c.nnz(), 3);
    }
}
