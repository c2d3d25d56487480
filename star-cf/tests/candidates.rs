//! Candidate sets: 20 distinct items, exactly one positive, no negative from the user's
//! history, identical for the same seed; the file round-trips and bad files are rejected with
//! the file and line named.

use star_cf::data::synthetic::{generate, SyntheticConfig};
use star_cf::prelude::*;
use std::collections::HashSet;

fn data() -> (Dataset, Split) {
    let ds = generate(&SyntheticConfig {
        users: 60,
        items: 250,
        seed: 3,
        ..Default::default()
    })
    .unwrap();
    let split = Split::temporal_leave_one_out(&ds);
    (ds, split)
}

#[test]
fn cases_hold_one_positive_and_nineteen_unseen_negatives() {
    let (ds, split) = data();
    for kind in [SplitKind::Valid, SplitKind::Test] {
        let set = CandidateSet::sample(&ds, &split, kind, 19, 42).unwrap();
        assert_eq!(set.cases.len(), split.eval_users(kind).len());
        assert_eq!(set.header.num_candidates, 20);
        let mut positions = HashSet::new();
        for c in &set.cases {
            assert_eq!(c.candidates.len(), 20);
            assert_eq!(
                c.candidates.iter().collect::<HashSet<_>>().len(),
                20,
                "distinct"
            );
            assert_eq!(Some(c.target()), split.target(c.user, kind));
            let seen: HashSet<ItemId> = ds
                .user_interactions(c.user)
                .iter()
                .map(|i| i.item)
                .collect();
            let positives = c.candidates.iter().filter(|i| seen.contains(i)).count();
            assert_eq!(
                positives, 1,
                "exactly one candidate is an item of the user: the target"
            );
            positions.insert(c.positive_index);
        }
        assert!(
            positions.len() > 5,
            "the true item's position is shuffled: {positions:?}"
        );
        set.validate_against(&ds, &split).unwrap();
    }
}

#[test]
fn same_seed_same_candidates_other_seed_other_candidates() {
    let (ds, split) = data();
    let a = CandidateSet::sample(&ds, &split, SplitKind::Test, 19, 42).unwrap();
    let b = CandidateSet::sample(&ds, &split, SplitKind::Test, 19, 42).unwrap();
    let c = CandidateSet::sample(&ds, &split, SplitKind::Test, 19, 43).unwrap();
    let v = CandidateSet::sample(&ds, &split, SplitKind::Valid, 19, 42).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.cases, c.cases);
    assert_ne!(a.cases[0].candidates, v.cases[0].candidates);
}

#[test]
fn file_round_trip_and_validation_errors() {
    let (ds, split) = data();
    let set = CandidateSet::sample(&ds, &split, SplitKind::Test, 19, 7).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.candidates.jsonl");
    set.save(&path, &ds).unwrap();
    assert_eq!(CandidateSet::load(&path, &ds).unwrap(), set);

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let write = |name: &str, content: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    };
    let err = |p: &std::path::Path| CandidateSet::load(p, &ds).unwrap_err().to_string();

    // unknown item on line 3
    let mut bad = lines.clone();
    let l3 = bad[2].replace("\"candidates\":[\"", "\"candidates\":[\"no-such-item\",\"");
    bad[2] = &l3;
    let e = err(&write("unknown.jsonl", bad.join("\n")));
    assert!(
        e.contains("unknown.jsonl:3") && e.contains("no-such-item"),
        "{e}"
    );

    // unknown user
    let first_user = &ds.users[set.cases[0].user.idx()].raw_id;
    let l2 = lines[1].replacen(
        &format!("\"user\":\"{first_user}\""),
        "\"user\":\"ghost\"",
        1,
    );
    let e = err(&write(
        "ghost.jsonl",
        [lines[0], &l2].join("\n") + "\n" + &lines[2..].join("\n"),
    ));
    assert!(
        e.contains("ghost.jsonl:2") && e.contains("unknown user id `ghost`"),
        "{e}"
    );

    // truncated
    let e = err(&write("trunc.jsonl", lines[..5].join("\n")));
    assert!(e.contains("trunc.jsonl") && e.contains("truncated"), "{e}");

    // empty, missing, garbage, other dataset
    assert!(err(&write("empty.jsonl", String::new())).contains("empty"));
    assert!(err(&dir.path().join("missing.jsonl")).contains("not found"));
    let e = err(&write("garbage.jsonl", "hello\n".into()));
    assert!(e.contains("garbage.jsonl:1"), "{e}");
    let other = generate(&SyntheticConfig {
        users: 60,
        items: 250,
        seed: 4,
        ..Default::default()
    })
    .unwrap();
    let e = CandidateSet::load(&path, &other).unwrap_err().to_string();
    assert!(e.contains("different dataset"), "{e}");

    // positive index pointing elsewhere
    let c = &set.cases[0];
    let wrong = (c.positive_index + 1) % 20;
    let l2 = lines[1].replace(
        &format!("\"positive_index\":{}", c.positive_index),
        &format!("\"positive_index\":{wrong}"),
    );
    let e = err(&write(
        "pos.jsonl",
        [lines[0], &l2].join("\n") + "\n" + &lines[2..].join("\n"),
    ));
    assert!(
        e.contains("pos.jsonl:2") && e.contains("positive_index"),
        "{e}"
    );
}
