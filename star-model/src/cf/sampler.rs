//! BPR training triples: every train edge once per epoch, in a seeded shuffled order, each with a
//! uniformly drawn item the user never interacted with in the train split.

use super::bpr::BprBatch;
use burn::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use star_cf::graph::CfGraph;
use star_cf::{NegativeSampler, UserId};

/// One (user, positive, negative) triple of dense ids.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Triple {
    /// User id.
    pub user: u32,
    /// An item of the user's train set.
    pub positive: u32,
    /// An item outside the user's train set.
    pub negative: u32,
}

/// The triples of epoch `epoch`: every train edge once, shuffled, with one negative each.
/// Depends only on `(graph, seed, epoch)`.
pub fn epoch_triples(graph: &CfGraph, seed: u64, epoch: usize) -> Vec<Triple> {
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let n_items = graph.num_items();
    let mut out = Vec::with_capacity(graph.num_edges());
    for u in 0..graph.num_users() {
        let user = UserId::from(u);
        let items = graph.items_of(user);
        if items.len() >= n_items {
            continue; // no negative exists
        }
        let negatives = NegativeSampler::new(n_items, |i| graph.has_edge(user, i));
        for &p in items {
            out.push(Triple {
                user: u as u32,
                positive: p,
                negative: negatives.one(&mut rng).0,
            });
        }
    }
    out.shuffle(&mut rng);
    out
}

/// Turns triples into a tensor batch on `device`.
pub fn to_batch(triples: &[Triple], device: &Device) -> BprBatch {
    let col = |f: fn(&Triple) -> u32| {
        let v: Vec<i64> = triples.iter().map(|t| f(t) as i64).collect();
        Tensor::<1, Int>::from_data(TensorData::new(v, [triples.len()]), device)
    };
    BprBatch {
        users: col(|t| t.user),
        positives: col(|t| t.positive),
        negatives: col(|t| t.negative),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use star_cf::data::synthetic::{generate, SyntheticConfig};
    use star_cf::split::Split;

    /// A dense graph (users see up to half the catalogue), so negatives are often rejected.
    fn dense_graph() -> CfGraph {
        let ds = generate(&SyntheticConfig {
            users: 30,
            items: 40,
            min_len: 5,
            max_len: 15,
            seed: 9,
            ..Default::default()
        })
        .unwrap();
        CfGraph::from_split(&Split::temporal_leave_one_out(&ds))
    }

    // The draws of the epoch triples are pinned (the values of the sampler before it used
    // `star_cf::NegativeSampler`): a change to the seeding or the negative draws changes them.
    #[test]
    fn epoch_triples_are_pinned() {
        let g = dense_graph();
        for (epoch, first, digest) in PINNED {
            let t = epoch_triples(&g, 7, epoch);
            assert_eq!(t.len(), g.num_edges());
            assert!(t
                .iter()
                .all(|t| !g.has_edge(UserId(t.user), star_cf::ItemId(t.negative))));
            let got: Vec<[u32; 3]> = t
                .iter()
                .take(4)
                .map(|t| [t.user, t.positive, t.negative])
                .collect();
            let sum = t.iter().fold(0u64, |h, t| {
                let x = (t.user as u64) << 40 | (t.positive as u64) << 20 | t.negative as u64;
                (h ^ x).wrapping_mul(0x0000_0100_0000_01b3)
            });
            assert_eq!(
                (got.as_slice(), sum),
                (first.as_slice(), digest),
                "epoch {epoch}"
            );
        }
    }

    const PINNED: [(usize, [[u32; 3]; 4], u64); 2] = [
        (
            0,
            [[2, 39, 3], [0, 19, 2], [1, 6, 3], [7, 21, 24]],
            0x447d_d3c5_5ec5_d34a,
        ),
        (
            3,
            [[25, 30, 28], [13, 38, 18], [7, 26, 32], [28, 10, 21]],
            0xcc65_ac21_70bd_4454,
        ),
    ];
}
