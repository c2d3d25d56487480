//! The CST evidence store on a hand-built dataset whose counts can be checked by hand, its
//! sentences, and save → load.

use star_cf::evidence::{EvidenceConfig, EvidenceStore, Templates};
use star_cf::prelude::*;

/// Train sets (valid/test padding items `p`, `q` are held out for everybody):
///   a: x y z      b: x y      c: y z w      d: x w
/// Asking user: e with history [x, y] (e's own train: x y, plus a future item z).
fn data() -> (Dataset, Split) {
    let ds = star_cf::data::hand::dataset();
    let split = Split::temporal_leave_one_out(&ds);
    (ds, split)
}

#[test]
fn counts_match_a_hand_computation() {
    let (ds, split) = data();
    let store = EvidenceStore::build(&ds, &split, EvidenceConfig::default());
    let it = |r: &str| ds.item_by_raw(r).unwrap();
    let e = ds.user_by_raw("e").unwrap();
    // training sample of e: history [x, y], candidates z (e's own next item) and w
    let req = RankRequest {
        user: e,
        history: vec![it("x"), it("y")],
        candidates: vec![it("z"), it("w")],
    };
    let ev = store.evidence(&req);
    let (z, w) = (&ev.candidates[0], &ev.candidates[1]);

    // popularity without e: z {a, c} = 2; w {c, d} = 2 -> both rank behind x {a,b,d}=3? and y {a,b,c}=3
    assert_eq!((z.popularity, w.popularity), (2, 2));
    assert_eq!((z.popularity_rank, w.popularity_rank), (3, 3));
    // co-occurrence with the history, e left out: z~x {a}, z~y {a,c}; w~x {d}, w~y {c}
    let za = z.anchor.as_ref().unwrap();
    assert_eq!((za.item, za.count, za.steps_ago), (it("y"), 2, 1));
    assert_eq!(z.co_occurring_items, 2);
    assert_eq!(z.recent_co_occurrence, 3);
    let wa = w.anchor.as_ref().unwrap();
    // x and y both co-occur once with w; the more recent (y) is the anchor
    assert_eq!((wa.item, wa.count, wa.steps_ago), (it("y"), 1, 1));
    // cosine z~y = 2 / sqrt(pop_y=3 * pop_z=2)
    assert!((za.score - 2.0 / 6f32.sqrt()).abs() < 1e-6);
    // users closest to [x, y]: a and b (overlap 2), then c, d (overlap 1); e never appears
    assert!(ev.user_neighbors.iter().all(|n| n.id != e.0));
    let ids: Vec<u32> = ev.user_neighbors.iter().take(2).map(|n| n.id).collect();
    let (a, b) = (
        ds.user_by_raw("a").unwrap().0,
        ds.user_by_raw("b").unwrap().0,
    );
    assert!(ids.contains(&a) && ids.contains(&b), "{ids:?}");
    assert_eq!(ev.user_neighbors.len(), 4);
    // z is held by a and c among the 4 neighbours; w by c and d
    assert_eq!((z.user_cf_hits, z.user_cf_k), (2, 4));
    assert_eq!(w.user_cf_hits, 2);
    // genres: z (Comedy) shares with y; w (Horror) shares nothing
    assert_eq!(z.shared_genres.len(), 1);
    assert!((z.genre_share - 0.5).abs() < 1e-6);
    assert!(w.shared_genres.is_empty() && w.genre_share == 0.0);

    let s = store.sentences(z);
    assert_eq!(s[0], "2 of the 4 users closest to you watched Zed (1992).");
    assert_eq!(
        s[1],
        "It is co-watched 2 times with your recent Why (1991)."
    );
    assert_eq!(
        s[2],
        "Zed (1992) is #3 of 6 titles by popularity (2 other users)."
    );
    assert_eq!(s[3], "Its genres (Comedy) cover 50% of your history.");
    assert_eq!(
        store.sentences(w)[3],
        "It shares no genre with your history."
    );
}

#[test]
fn save_load_round_trip_and_rejections() {
    let (ds, split) = data();
    let store = EvidenceStore::build(&ds, &split, EvidenceConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence.bin");
    store.save(&path).unwrap();
    let loaded = EvidenceStore::load(&path, Some(&ds)).unwrap();
    for u in split.eval_users(SplitKind::Test) {
        let req = split.request(
            u,
            SplitKind::Test,
            (0..ds.num_items()).map(ItemId::from).collect(),
        );
        let (a, b) = (store.evidence(&req), loaded.evidence(&req));
        assert_eq!(a, b);
        for (x, y) in a.candidates.iter().zip(&b.candidates) {
            assert_eq!(store.sentences(x), loaded.sentences(y));
        }
    }
    // another dataset
    let other = star_cf::data::synthetic::generate(&Default::default()).unwrap();
    let e = EvidenceStore::load(&path, Some(&other))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("evidence.bin") && e.contains("another dataset"),
        "{e}"
    );
    // same interactions, other item metadata: candidate files stay valid, the store does not
    let mut renamed = ds.clone();
    renamed.items[0].title = "Renamed".into();
    assert_eq!(renamed.fingerprint(), ds.fingerprint());
    let e = EvidenceStore::load(&path, Some(&renamed))
        .unwrap_err()
        .to_string();
    assert!(e.contains("item metadata"), "{e}");
    // corrupt and foreign files
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = EvidenceStore::load(&path, None).unwrap_err().to_string();
    assert!(e.contains("corrupt"), "{e}");
    std::fs::write(&path, b"hello world").unwrap();
    assert!(EvidenceStore::load(&path, None)
        .unwrap_err()
        .to_string()
        .contains("not an evidence store"));
}

#[test]
fn custom_templates_are_used_and_checked() {
    let (ds, split) = data();
    let json = star_cf::evidence::DEFAULT_TEMPLATES.replace("watched", "read");
    let store = EvidenceStore::build(&ds, &split, EvidenceConfig::default())
        .with_templates(Templates::from_json("books.json", &json).unwrap());
    let req = split.request(
        UserId(0),
        SplitKind::Test,
        vec![ds.item_by_raw("w").unwrap()],
    );
    let ev = store.evidence(&req);
    assert!(store.sentences(&ev.candidates[0])[0].contains(" read "));
    let bad = json.replace("{hits}", "{hitz}");
    let e = Templates::from_json("books.json", &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("{hitz}") && e.contains("user_cf"), "{e}");
}

/// Found by the `evidence_store` fuzz target: a length prefix larger than the file made the
/// loader allocate that much (out of memory). Every length is now bounded by the file.
#[test]
fn a_huge_length_prefix_is_an_error_not_an_allocation() {
    let (ds, split) = data();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence.bin");
    EvidenceStore::build(&ds, &split, EvidenceConfig::default())
        .save(&path)
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    // After the 8-byte magic: the fingerprint string's u64 length. Claim 1 TiB, and give the
    // file a matching checksum so the decoder itself meets the length.
    bytes[8..16].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let n = bytes.len();
    let sum = <sha2::Sha256 as sha2::Digest>::digest(&bytes[8..n - 32]);
    bytes[n - 32..].copy_from_slice(&sum);
    std::fs::write(&path, &bytes).unwrap();
    let err = EvidenceStore::load(&path, None).unwrap_err().to_string();
    assert!(
        err.contains("corrupt evidence store") && !err.contains("checksum"),
        "{err}"
    );
    // A truncated store is reported the same way.
    let ok = EvidenceStore::build(&ds, &split, EvidenceConfig::default());
    ok.save(&path).unwrap();
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..full.len() / 2]).unwrap();
    let err = EvidenceStore::load(&path, Some(&ds))
        .unwrap_err()
        .to_string();
    assert!(err.contains("corrupt evidence store"), "{err}");
}

#[test]
fn a_damaged_store_fails_its_checksum() {
    let (ds, split) = data();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence.bin");
    EvidenceStore::build(&ds, &split, EvidenceConfig::default())
        .save(&path)
        .unwrap();
    EvidenceStore::load(&path, Some(&ds)).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    // one bit in the middle (neighbour lists, graph): bincode would decode it
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let err = EvidenceStore::load(&path, Some(&ds))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("evidence.bin") && err.contains("checksum mismatch"),
        "{err}"
    );
}
