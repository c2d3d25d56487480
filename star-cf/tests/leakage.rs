//! Leakage: evidence must not change when anything it is not allowed to see changes.
//!
//! Two datasets that differ only in (a) the asking user's own train interactions at and after a
//! training sample's target and (b) every other user's valid and test interactions. Evidence for
//! the training sample, and for another user's test request, must be identical on both — while
//! the naive statistics (counting everybody, or every split) do differ, which shows the
//! datasets really expose a leak.

use star_cf::data::synthetic::{generate, SyntheticConfig};
use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::graph::CfGraph;
use star_cf::prelude::*;
use std::collections::HashSet;

struct Raw {
    user: String,
    item: String,
    ts: i64,
}

fn rebuild(ds: &Dataset, raw: &[Raw]) -> Dataset {
    let mut b = DatasetBuilder::new(ds.name.clone());
    for it in &ds.items {
        let genres: Vec<String> = it
            .genres
            .iter()
            .map(|&g| ds.genres[g as usize].clone())
            .collect();
        b.add_item(&it.raw_id, it.title.clone(), it.year, genres);
    }
    for r in raw {
        b.add_interaction(&r.user, &r.item, None, r.ts);
    }
    b.build(&PreprocessOptions::default()).unwrap()
}

#[test]
fn evidence_ignores_future_and_held_out_interactions() {
    let ds = generate(&SyntheticConfig {
        users: 120,
        items: 300,
        seed: 11,
        ..Default::default()
    })
    .unwrap();
    let split = Split::temporal_leave_one_out(&ds);
    let raw_of = |i: ItemId| ds.items[i.idx()].raw_id.clone();

    // The asking user: the longest train sequence; the training sample at its middle.
    let u = (0..ds.num_users())
        .map(UserId::from)
        .max_by_key(|u| split.users[u.idx()].train.len())
        .unwrap();
    let train = &split.users[u.idx()].train;
    let t = train.len() / 2;
    let prefix = train[..t].to_vec();
    let target = train[t];
    let user_items: HashSet<ItemId> = ds.user_interactions(u).iter().map(|i| i.item).collect();
    let mut candidates = vec![target];
    candidates.extend(
        (0..ds.num_items())
            .map(ItemId::from)
            .filter(|i| !user_items.contains(i))
            .take(19),
    );
    let sample = RankRequest {
        user: u,
        history: prefix.clone(),
        candidates: candidates.clone(),
    };
    // Another user's test request.
    let w = (0..ds.num_users())
        .map(UserId::from)
        .find(|&w| w != u && split.target(w, SplitKind::Test).is_some())
        .unwrap();
    let w_items: HashSet<ItemId> = ds.user_interactions(w).iter().map(|i| i.item).collect();
    let mut w_cands = vec![split.target(w, SplitKind::Test).unwrap()];
    w_cands.extend(
        (0..ds.num_items())
            .map(ItemId::from)
            .filter(|i| !w_items.contains(i))
            .take(19),
    );
    let w_request = split.request(w, SplitKind::Test, w_cands);

    // Two altered datasets: (future) u's train items from the target on are replaced; (held)
    // everybody's valid/test items except w's (whose request history must stay the same) are
    // replaced. Replacements are items the same user has not interacted with.
    let replacement = |user: UserId, k: usize| -> String {
        let seen: HashSet<ItemId> = ds.user_interactions(user).iter().map(|i| i.item).collect();
        let free: Vec<ItemId> = (0..ds.num_items())
            .rev()
            .map(ItemId::from)
            .filter(|i| !seen.contains(i))
            .collect();
        raw_of(free[k % free.len()])
    };
    let alter = |change: &dyn Fn(UserId, usize, usize) -> bool| -> Dataset {
        let mut raw = Vec::new();
        for user in (0..ds.num_users()).map(UserId::from) {
            let seq = ds.user_interactions(user);
            for (k, it) in seq.iter().enumerate() {
                let item = if change(user, k, seq.len()) {
                    replacement(user, k)
                } else {
                    raw_of(it.item)
                };
                raw.push(Raw {
                    user: ds.users[user.idx()].raw_id.clone(),
                    item,
                    ts: it.timestamp,
                });
            }
        }
        rebuild(&ds, &raw)
    };
    let a = alter(&|_, _, _| false);
    let future = alter(&|user, k, _| user == u && k >= t);
    let held = alter(&|user, k, n| user != w && k + 2 >= n);
    assert_eq!(a.fingerprint(), ds.fingerprint());
    for b in [&future, &held] {
        let a_ids: Vec<_> = a.items.iter().map(|i| &i.raw_id).collect();
        let b_ids: Vec<_> = b.items.iter().map(|i| &i.raw_id).collect();
        assert_eq!(
            a_ids, b_ids,
            "the alteration must keep the item catalogue (dense ids)"
        );
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
    let sa = Split::temporal_leave_one_out(&a);
    let sf = Split::temporal_leave_one_out(&future);
    let sh = Split::temporal_leave_one_out(&held);
    assert_eq!(sh.history(w, SplitKind::Test), w_request.history);

    // The datasets do expose leaks to statistics that count the user's own future, or every split.
    let (ga, gf) = (CfGraph::from_split(&sa), CfGraph::from_split(&sf));
    let naive_differs = prefix
        .iter()
        .any(|&h| ga.co_occurrence(h, target, None) != gf.co_occurrence(h, target, None))
        || ga.popularity(target) != gf.popularity(target);
    assert!(naive_differs, "u's future must change naive statistics");
    let everything = |s: &Split| {
        CfGraph::from_split(&Split {
            users: s
                .users
                .iter()
                .map(|x| {
                    let mut x = x.clone();
                    x.train.extend(x.valid.map(|v| v.item));
                    x.train.extend(x.test.map(|v| v.item));
                    x.train_times = vec![0; x.train.len()];
                    x
                })
                .collect(),
            num_items: s.num_items,
        })
    };
    let (all_a, all_h) = (everything(&sa), everything(&sh));
    assert!(
        w_request
            .candidates
            .iter()
            .any(|&c| all_a.popularity(c) != all_h.popularity(c)
                || w_request
                    .history
                    .iter()
                    .any(|&h| all_a.co_occurrence(h, c, None) != all_h.co_occurrence(h, c, None))),
        "held-out interactions must matter to a statistic that (wrongly) used every split"
    );

    let cfg = EvidenceConfig::default();
    let ea = EvidenceStore::build(&a, &sa, cfg.clone());
    let ef = EvidenceStore::build(&future, &sf, cfg.clone());
    let eh = EvidenceStore::build(&held, &sh, cfg);
    let (xa, xf) = (ea.evidence(&sample), ef.evidence(&sample));
    assert_eq!(xa, xf, "training-sample evidence saw the user's future");
    for (ca, cf) in xa.candidates.iter().zip(&xf.candidates) {
        assert_eq!(ea.sentences(ca), ef.sentences(cf));
    }
    assert!(
        xa.candidates[0].user_cf_hits > 0 || xa.candidates[0].anchor.is_some(),
        "the target has some evidence"
    );
    assert_eq!(
        ea.evidence(&w_request),
        eh.evidence(&w_request),
        "test evidence saw held-out data"
    );
    // Personal item neighbours also leave the user out.
    for &h in &prefix {
        assert_eq!(
            ea.item_neighbors(h, 20, Some(u)),
            ef.item_neighbors(h, 20, Some(u))
        );
    }
}
