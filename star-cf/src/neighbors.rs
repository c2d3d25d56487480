//! Item–item and user–user neighbours.
//!
//! - **Item neighbours** of `i`: items `j` ranked by the popularity-normalised co-occurrence
//!   `cooc(i, j) / sqrt(pop(i) · pop(j))` (cosine similarity of the items' user sets), where
//!   `cooc` counts users who interacted with both.
//! - **User neighbours** of a history `H`: users `v` ranked by `|H ∩ T_v| / sqrt(|H| · |T_v|)`,
//!   `T_v` being `v`'s train items.
//!
//! Global lists (every item, every user's train set) are precomputed by [`NeighborLists`].
//! Personal look-ups take the asking user and leave that user out of every count, so that a
//! training sample's neighbours never reflect what the user did at or after its target.
//! Ties are broken by the smaller id.

use crate::graph::CfGraph;
use crate::ids::{ItemId, UserId};
use serde::{Deserialize, Serialize};

/// One neighbour with its raw overlap count and normalised score.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Neighbor {
    /// The neighbour's id (an item id in item lists, a user id in user lists).
    pub id: u32,
    /// Co-occurring users (items) or shared items (users).
    pub count: u32,
    /// Cosine similarity.
    pub score: f32,
}

fn top_k(mut cands: Vec<Neighbor>, k: usize) -> Vec<Neighbor> {
    let better = |a: &Neighbor, b: &Neighbor| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id));
    if cands.len() > k {
        cands.select_nth_unstable_by(k, better);
        cands.truncate(k);
    }
    cands.sort_unstable_by(better);
    cands
}

/// The `k` nearest items of `item`, not counting `exclude` (pass the asking user for personal
/// look-ups, `None` for the global list).
pub fn item_neighbors(
    graph: &CfGraph,
    item: ItemId,
    k: usize,
    exclude: Option<UserId>,
) -> Vec<Neighbor> {
    let mut counts = vec![0u32; graph.num_items()];
    let mut touched = Vec::new();
    if let Some(row) = graph.co_occurrence_row(item) {
        for (j, &c) in row.iter().enumerate() {
            if c > 0 {
                counts[j] = c as u32;
                touched.push(j as u32);
            }
        }
        if let Some(u) = exclude.filter(|&u| graph.has_edge(u, item)) {
            for &j in graph.items_of(u) {
                if j != item.0 {
                    counts[j as usize] -= 1;
                }
            }
        }
        touched.retain(|&j| counts[j as usize] > 0);
    } else {
        for &v in graph.users_of(item) {
            if Some(v) == exclude.map(|u| u.0) {
                continue;
            }
            for &j in graph.items_of(UserId(v)) {
                if counts[j as usize] == 0 {
                    touched.push(j);
                }
                counts[j as usize] += 1;
            }
        }
    }
    let pop_ex = |i: ItemId| match exclude {
        Some(u) => graph.popularity_excluding(i, u),
        None => graph.popularity(i),
    };
    let pi = pop_ex(item) as f32;
    let cands = touched
        .into_iter()
        .filter(|&j| j != item.0)
        .map(|j| {
            let c = counts[j as usize];
            let pj = pop_ex(ItemId(j)) as f32;
            Neighbor {
                id: j,
                count: c,
                score: c as f32 / (pi * pj).sqrt().max(1.0),
            }
        })
        .collect();
    top_k(cands, k)
}

/// The `k` users whose train sets are closest to `history`, never returning `exclude`.
pub fn user_neighbors(
    graph: &CfGraph,
    history: &[ItemId],
    k: usize,
    exclude: Option<UserId>,
) -> Vec<Neighbor> {
    let mut hist: Vec<u32> = history.iter().map(|i| i.0).collect();
    hist.sort_unstable();
    hist.dedup();
    let mut counts = vec![0u32; graph.num_users()];
    let mut touched = Vec::new();
    for &h in &hist {
        for &v in graph.users_of(ItemId(h)) {
            if Some(v) == exclude.map(|u| u.0) {
                continue;
            }
            if counts[v as usize] == 0 {
                touched.push(v);
            }
            counts[v as usize] += 1;
        }
    }
    let nh = hist.len() as f32;
    let cands = touched
        .into_iter()
        .map(|v| {
            let c = counts[v as usize];
            let nv = graph.items_of(UserId(v)).len() as f32;
            Neighbor {
                id: v,
                count: c,
                score: c as f32 / (nh * nv).sqrt().max(1.0),
            }
        })
        .collect();
    top_k(cands, k)
}

/// Precomputed top-k neighbour lists, one per row, in CSR layout.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NeighborLists {
    k: usize,
    offsets: Vec<u32>,
    entries: Vec<Neighbor>,
}

impl NeighborLists {
    /// Global item neighbour lists (every user counted), computed on all cores.
    pub fn items(graph: &CfGraph, k: usize) -> NeighborLists {
        Self::build(graph.num_items(), k, |i| {
            item_neighbors(graph, ItemId::from(i), k, None)
        })
    }

    /// Each user's neighbours by their own train set (the user excluded), computed on all cores.
    pub fn users(graph: &CfGraph, k: usize) -> NeighborLists {
        Self::build(graph.num_users(), k, |u| {
            let hist: Vec<ItemId> = graph
                .items_of(UserId::from(u))
                .iter()
                .map(|&i| ItemId(i))
                .collect();
            user_neighbors(graph, &hist, k, Some(UserId::from(u)))
        })
    }

    fn build(
        rows: usize,
        k: usize,
        f: impl Fn(usize) -> Vec<Neighbor> + Sync + Send,
    ) -> NeighborLists {
        use rayon::prelude::*;
        // one list per row, in row order, on rayon's pool
        let parts: Vec<Vec<Neighbor>> = (0..rows).into_par_iter().map(f).collect();
        let mut offsets = vec![0u32];
        let mut entries = Vec::new();
        for l in parts {
            entries.extend(l);
            offsets.push(entries.len() as u32);
        }
        NeighborLists {
            k,
            offsets,
            entries,
        }
    }

    /// The list size the lists were built with.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The neighbours of row `r`, best first.
    pub fn of(&self, r: usize) -> &[Neighbor] {
        &self.entries[self.offsets[r] as usize..self.offsets[r + 1] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DatasetBuilder, PreprocessOptions};
    use crate::split::Split;

    /// Users a, b, c; items x, y, z (+ held-out padding). Train sets: a{x,y}, b{x,y,z}, c{z}.
    fn graph() -> (crate::data::Dataset, CfGraph) {
        let mut bld = DatasetBuilder::new("n");
        let mut t = 0;
        for (u, items) in [("a", ["x", "y"]), ("b", ["x", "y"]), ("c", ["z", "z"])] {
            for i in items {
                bld.add_interaction(u, i, None, t);
                t += 1;
            }
        }
        bld.add_interaction("b", "z", None, t);
        for u in ["a", "b", "c"] {
            bld.add_interaction(u, "v", None, 100);
            bld.add_interaction(u, "w", None, 101);
        }
        let ds = bld.build(&PreprocessOptions::default()).unwrap();
        let g = CfGraph::from_split(&Split::temporal_leave_one_out(&ds));
        (ds, g)
    }

    #[test]
    fn item_neighbors_are_cosine_and_exclusion_removes_the_user() {
        let (ds, g) = graph();
        let it = |r: &str| ds.item_by_raw(r).unwrap();
        let x = it("x");
        let n = item_neighbors(&g, x, 10, None);
        // x: {a,b}; y: {a,b}; z: {b,c} -> cos(x,y)=1, cos(x,z)=1/2
        assert_eq!(n[0].id, it("y").0);
        assert_eq!(n[0].count, 2);
        assert!((n[0].score - 1.0).abs() < 1e-6);
        assert_eq!(n[1].id, it("z").0);
        assert!((n[1].score - 0.5).abs() < 1e-6);
        let b = ds.user_by_raw("b").unwrap();
        let nb = item_neighbors(&g, x, 10, Some(b));
        // without b, x and z share nobody
        assert_eq!(nb.len(), 1);
        assert_eq!((nb[0].id, nb[0].count), (it("y").0, 1));
    }

    #[test]
    fn dense_and_sparse_item_neighbors_agree() {
        use crate::data::synthetic::{generate, SyntheticConfig};
        let ds = generate(&SyntheticConfig {
            users: 60,
            items: 120,
            max_len: 50,
            ..Default::default()
        })
        .unwrap();
        let dense = CfGraph::from_split(&Split::temporal_leave_one_out(&ds));
        let mut sparse = dense.clone();
        sparse.drop_dense_co_occurrence();
        assert!(dense.has_dense_co_occurrence() && !sparse.has_dense_co_occurrence());
        for i in (0..ds.num_items()).step_by(5) {
            for ex in [None, Some(UserId(3)), Some(UserId(40))] {
                let a = item_neighbors(&dense, ItemId::from(i), 15, ex);
                assert!(!a.is_empty());
                assert_eq!(a, item_neighbors(&sparse, ItemId::from(i), 15, ex));
            }
        }
    }

    #[test]
    fn user_neighbors_rank_by_overlap_and_never_return_the_user() {
        let (ds, g) = graph();
        let a = ds.user_by_raw("a").unwrap();
        let lists = NeighborLists::users(&g, 5);
        let na = lists.of(a.idx());
        assert_eq!(na[0].id, ds.user_by_raw("b").unwrap().0);
        assert!(na.iter().all(|n| n.id != a.0));
        let items = NeighborLists::items(&g, 1);
        assert_eq!(items.of(ds.item_by_raw("x").unwrap().idx()).len(), 1);
    }
}
