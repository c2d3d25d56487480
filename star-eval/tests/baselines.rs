//! The classical baselines against hand-computed scores on a tiny dataset.

use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::prelude::*;
use star_eval::baselines::{EvidenceScorer, ItemKnn, Pop, UserKnn};
use std::sync::Arc;

/// The hand-made world of `star_cf::data::hand` (train sets a: x y z, b: x y, c: y z w, d: x w,
/// e: x y z; p and q are everybody's valid and test items).
fn data() -> (Dataset, Arc<EvidenceStore>) {
    let ds = star_cf::data::hand::dataset();
    let split = Split::temporal_leave_one_out(&ds);
    let store = Arc::new(EvidenceStore::build(&ds, &split, EvidenceConfig::default()));
    (ds, store)
}

#[test]
fn scores_match_hand_computation() {
    let (ds, store) = data();
    let it = |r: &str| ds.item_by_raw(r).unwrap();
    let e = ds.user_by_raw("e").unwrap();
    // e's training sample: history [x, y]; candidates w then z (file order)
    let req = RankRequest {
        user: e,
        history: vec![it("x"), it("y")],
        candidates: vec![it("w"), it("z")],
    };

    // ItemKNN, e left out: pops x 3, y 3, z 2, w 2.
    // z: cos(x,z) = 1/√6 (a), cos(y,z) = 2/√6 (a, c) -> 3/√6; w: 1/√6 (d) + 1/√6 (c) -> 2/√6
    let knn = ItemKnn::new(store.clone());
    assert!((knn.score(&req, it("z")) - 3.0 / 6f32.sqrt()).abs() < 1e-6);
    assert!((knn.score(&req, it("w")) - 2.0 / 6f32.sqrt()).abs() < 1e-6);
    let r = knn.rank(&req).unwrap();
    assert_eq!(r.items, [it("z"), it("w")]);

    // Pop without e: z 2, w 2 -> a tie, kept in file order (w first)
    let r = Pop::new(store.clone()).rank(&req).unwrap();
    assert_eq!(r.items, [it("w"), it("z")]);
    assert_eq!(r.scores.unwrap(), [2.0, 2.0]);

    // UserKNN: sims to [x,y]: a 2/√6, b 2/√4, c 1/√6, d 1/√4.
    // z held by a, c -> 3/√6 ≈ 1.2247; w held by c, d -> 1/√6 + 1/2 ≈ 0.9082
    let r = UserKnn::new(store.clone(), 50).rank(&req).unwrap();
    assert_eq!(r.items, [it("z"), it("w")]);
    let s = r.scores.unwrap();
    assert!(
        (s[0] - 3.0 / 6f32.sqrt()).abs() < 1e-5 && (s[1] - (1.0 / 6f32.sqrt() + 0.5)).abs() < 1e-5,
        "{s:?}"
    );

    // With only 1 neighbour (b, sim 1.0, holds neither) both score 0 -> file order
    let r = UserKnn::new(store.clone(), 1).rank(&req).unwrap();
    assert_eq!(r.items, [it("w"), it("z")]);

    // Without any evidence (an empty history: no co-occurrence, no neighbour) both KNN
    // rankers fall back to popularity (x 3 over w 2, e left out), not to the file order
    let cold = RankRequest {
        history: vec![],
        candidates: vec![it("w"), it("x")],
        ..req.clone()
    };
    for r in [
        knn.rank(&cold).unwrap(),
        UserKnn::new(store.clone(), 50).rank(&cold).unwrap(),
    ] {
        assert_eq!(r.items, [it("x"), it("w")]);
        assert_eq!(r.scores.unwrap(), [0.0, 0.0]);
    }

    // The evidence scorer prefers z: the maximum of both CF terms (1 + 1), plus the share of its
    // genre in e's history (x Drama, y Drama|Comedy: Comedy is 1/4); w (Horror) shares none.
    let r = EvidenceScorer::new(store.clone()).rank(&req).unwrap();
    assert_eq!(r.items, [it("z"), it("w")]);
    assert_eq!(
        r.scores.unwrap()[0],
        2.25,
        "z: both CF terms at their maximum, and a quarter of e's genres"
    );
}
