//! End-to-end tests of the protocol runner and the report on a tiny synthetic dataset.

use star_cf::prelude::*;
use star_eval::{EvalReport, Metrics, ProtocolRunner};
use std::collections::HashMap;

/// 6 users, 40 items; user `u` watched items `(7u + t) % 40` for `t < 8 + u` (every item is
/// watched by someone, everyone leaves at least 27 negatives).
fn dataset() -> Dataset {
    let mut b = DatasetBuilder::new("tiny");
    for u in 0..6u32 {
        for t in 0..(8 + u) {
            let item = (7 * u + t) % 40;
            b.add_interaction(&format!("u{u}"), &format!("i{item}"), None, t as i64);
        }
    }
    let ds = b.build(&PreprocessOptions::default()).unwrap();
    assert_eq!((ds.num_users(), ds.num_items()), (6, 40));
    ds
}

struct Fixture {
    ds: Dataset,
    split: Split,
    cands: CandidateSet,
    tagger: ScenarioTagger,
}

fn fixture() -> Fixture {
    let ds = dataset();
    let split = Split::temporal_leave_one_out(&ds);
    let cands = CandidateSet::sample(&ds, &split, SplitKind::Test, 19, 7).unwrap();
    assert_eq!(cands.cases.len(), 6);
    let mut train_count = vec![0u32; ds.num_items()];
    for u in &split.users {
        for i in &u.train {
            train_count[i.idx()] += 1;
        }
    }
    let config = ScenarioConfig {
        cold_user_max_train: 8,
        cold_item_max_train: 0,
        evolving_window: 10,
        evolving_min_distance: 0.5,
    };
    let tagger = ScenarioTagger::new(config, &ds, train_count);
    Fixture {
        ds,
        split,
        cands,
        tagger,
    }
}

impl Fixture {
    fn runner<'a>(&'a self, repair: &'a dyn Ranker) -> ProtocolRunner<'a> {
        ProtocolRunner::new(
            &self.ds,
            &self.split,
            &self.cands,
            repair,
            Some(&self.tagger),
        )
        .unwrap()
        .progress(false)
    }

    fn targets(&self) -> HashMap<UserId, ItemId> {
        self.cands
            .cases
            .iter()
            .map(|c| (c.user, c.target()))
            .collect()
    }

    fn positive_indices(&self) -> Vec<usize> {
        self.cands.cases.iter().map(|c| c.positive_index).collect()
    }
}

/// Puts the true item first (or last when `reversed`), the others in file order.
struct Oracle {
    targets: HashMap<UserId, ItemId>,
    reversed: bool,
}

impl Ranker for Oracle {
    fn name(&self) -> String {
        if self.reversed { "Worst" } else { "Oracle" }.into()
    }
    fn rank(&self, r: &RankRequest) -> Result<Ranking, RankError> {
        let t = self.targets[&r.user];
        let mut items: Vec<ItemId> = r.candidates.iter().copied().filter(|&c| c != t).collect();
        if self.reversed {
            items.push(t);
        } else {
            items.insert(0, t);
        }
        Ok(Ranking {
            items,
            scores: None,
            repaired: false,
        })
    }
}

/// Gives every candidate the same score.
struct Constant;

impl Ranker for Constant {
    fn name(&self) -> String {
        "Constant".into()
    }
    fn rank(&self, r: &RankRequest) -> Result<Ranking, RankError> {
        Ok(Ranking::from_scores(
            &r.candidates,
            &vec![0.5; r.candidates.len()],
        ))
    }
}

/// Scores candidates by their file position: reversed file order.
struct Reverse;

impl Ranker for Reverse {
    fn name(&self) -> String {
        "Reverse".into()
    }
    fn rank(&self, r: &RankRequest) -> Result<Ranking, RankError> {
        let scores: Vec<f32> = (0..r.candidates.len()).map(|i| i as f32).collect();
        Ok(Ranking::from_scores(&r.candidates, &scores))
    }
}

/// Returns `[c1, c1, <unknown>, c0]`: a duplicate, an unknown item and 18 missing candidates.
struct Broken;

impl Ranker for Broken {
    fn name(&self) -> String {
        "Broken".into()
    }
    fn rank(&self, r: &RankRequest) -> Result<Ranking, RankError> {
        let c = &r.candidates;
        Ok(Ranking {
            items: vec![c[1], c[1], ItemId(10_000), c[0]],
            scores: None,
            repaired: false,
        })
    }
}

/// Always fails.
struct Failing;

impl Ranker for Failing {
    fn name(&self) -> String {
        "Failing".into()
    }
    fn rank(&self, _: &RankRequest) -> Result<Ranking, RankError> {
        Err("model returned no ranking".into())
    }
}

/// Valid (oracle) for users with an even raw-id number, broken for the others.
struct Mixed {
    oracle: Oracle,
}

impl Ranker for Mixed {
    fn name(&self) -> String {
        "Mixed".into()
    }
    fn rank(&self, r: &RankRequest) -> Result<Ranking, RankError> {
        if r.user.0.is_multiple_of(2) {
            self.oracle.rank(r)
        } else {
            Broken.rank(r)
        }
    }
}

fn oracle(f: &Fixture, reversed: bool) -> Oracle {
    Oracle {
        targets: f.targets(),
        reversed,
    }
}

/// Equal up to 1 ULP-level float noise (serde_json's parser is not always exact); `a` has no
/// cases (they are not part of the JSON).
fn assert_reports_close(a: &EvalReport, b: &EvalReport) {
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * y.abs().max(1.0);
    let close_m =
        |x: &Metrics, y: &Metrics| x.values().iter().zip(y.values()).all(|(p, q)| close(*p, q));
    assert_eq!(
        (&a.dataset, a.split, a.candidates, a.seed, a.users),
        (&b.dataset, b.split, b.candidates, b.seed, b.users)
    );
    assert_eq!(a.methods.len(), b.methods.len());
    for ((na, ma), (nb, mb)) in a.methods.iter().zip(&b.methods) {
        assert_eq!(na, nb);
        assert!(close_m(&ma.metrics, &mb.metrics), "{na}");
        assert!(close(ma.latency_ms.p50, mb.latency_ms.p50));
        assert!(close(ma.latency_ms.p95, mb.latency_ms.p95));
        assert!(close(ma.wall_s, mb.wall_s));
        assert_eq!(
            ma.scenarios.keys().collect::<Vec<_>>(),
            mb.scenarios.keys().collect::<Vec<_>>()
        );
        for (k, sa) in &ma.scenarios {
            let sb = &mb.scenarios[k];
            assert_eq!(sa.users, sb.users);
            assert!(close_m(&sa.metrics, &sb.metrics), "{na} {k}");
        }
        assert!(ma.cases.is_empty());
    }
}

fn ranks(r: &star_eval::MethodResult) -> Vec<usize> {
    r.cases.iter().map(|c| c.rank).collect()
}

#[test]
fn oracle_scores_one_and_reversed_oracle_ranks_last() {
    let f = fixture();
    let runner = f.runner(&Reverse);
    let best = runner.run(&oracle(&f, false));
    assert_eq!(best.metrics, Metrics::from_values([1.0; 9]));
    assert_eq!(ranks(&best), vec![0; 6]);

    let worst = runner.run(&oracle(&f, true));
    assert_eq!(ranks(&worst), vec![19; 6]);
    let m = worst.metrics;
    assert_eq!(m.valid_ratio, 1.0);
    assert!((m.mrr - 0.05).abs() < 1e-12);
    assert_eq!(
        Metrics {
            mrr: 0.0,
            valid_ratio: 0.0,
            ..m
        },
        Metrics::default()
    );
    assert_eq!(worst.cases.len(), 6);
    assert!(worst.latency_ms.p50 <= worst.latency_ms.p95);
}

#[test]
fn constant_scorer_ties_follow_the_shuffled_file_order() {
    let f = fixture();
    let r = f.runner(&Reverse).run(&Constant);
    let pos = f.positive_indices();
    assert_eq!(ranks(&r), pos);
    let n = pos.len() as f64;
    let first = pos.iter().filter(|&&p| p == 0).count() as f64;
    assert_eq!(r.metrics.hr1, first / n);
    let mrr: f64 = pos.iter().map(|&p| 1.0 / (p + 1) as f64).sum::<f64>() / n;
    assert!((r.metrics.mrr - mrr).abs() < 1e-12);
    assert_eq!(r.metrics.valid_ratio, 1.0);
}

#[test]
fn invalid_outputs_are_repaired_in_repair_ranker_order_and_counted() {
    let f = fixture();
    let r = f.runner(&Reverse).run(&Broken);
    // Kept: c1, c0; then c19, c18, ..., c2 from the reverse-order repair ranker.
    let expected: Vec<usize> = f
        .positive_indices()
        .into_iter()
        .map(|p| match p {
            1 => 0,
            0 => 1,
            p => 2 + (19 - p),
        })
        .collect();
    assert_eq!(ranks(&r), expected);
    assert_eq!(r.metrics.valid_ratio, 0.0);
    assert_eq!(r.invalid_cases(), 6);
    assert!(r.cases.iter().all(|c| c.error.is_none()));

    // Half valid, half broken.
    let mixed = f.runner(&Reverse).run(&Mixed {
        oracle: oracle(&f, false),
    });
    let even = f.cands.cases.iter().filter(|c| c.user.0 % 2 == 0).count();
    assert_eq!(mixed.metrics.valid_ratio, even as f64 / 6.0);
    for (case, res) in f.cands.cases.iter().zip(&mixed.cases) {
        assert_eq!(res.valid, case.user.0 % 2 == 0);
    }
}

#[test]
fn ranker_errors_are_invalid_and_repaired_from_nothing() {
    let f = fixture();
    let r = f.runner(&Reverse).run(&Failing);
    let expected: Vec<usize> = f.positive_indices().iter().map(|p| 19 - p).collect();
    assert_eq!(ranks(&r), expected);
    assert_eq!(r.metrics.valid_ratio, 0.0);
    assert!(r
        .cases
        .iter()
        .all(|c| !c.valid && c.error.as_deref() == Some("model returned no ranking")));

    // When the repair ranker fails too, missing candidates follow the file order.
    let r = f.runner(&Failing).run(&Failing);
    assert_eq!(ranks(&r), f.positive_indices());
}

#[test]
fn thread_count_does_not_change_results() {
    let f = fixture();
    for ranker in [
        &Constant as &dyn Ranker,
        &Broken,
        &Mixed {
            oracle: oracle(&f, false),
        },
    ] {
        let one = f.runner(&Reverse).threads(1).run(ranker);
        let three = f.runner(&Reverse).threads(3).run(ranker);
        let strip = |r: &star_eval::MethodResult| {
            r.cases
                .iter()
                .map(|c| (c.user, c.rank, c.valid, c.scenarios.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&one), strip(&three));
        assert_eq!(one.metrics, three.metrics);
        let slices = |r: &star_eval::MethodResult| {
            r.scenarios
                .iter()
                .map(|(n, s)| (n.clone(), s.users, s.metrics))
                .collect::<Vec<_>>()
        };
        assert_eq!(slices(&one), slices(&three));
        let users: Vec<UserId> = f.cands.cases.iter().map(|c| c.user).collect();
        assert_eq!(one.cases.iter().map(|c| c.user).collect::<Vec<_>>(), users);
    }
}

#[test]
fn scenario_slices_follow_the_tagger() {
    let f = fixture();
    let r = f.runner(&Reverse).run(&Constant);
    assert_eq!(
        r.scenarios.keys().collect::<Vec<_>>(),
        ["cold_item", "cold_user", "evolving_interest"]
    );
    // Train lengths are 6..=11; cold users have at most 8 train interactions: u0, u1, u2.
    let cold: Vec<usize> = f
        .cands
        .cases
        .iter()
        .enumerate()
        .filter(|(_, c)| f.split.users[c.user.idx()].train.len() <= 8)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(cold.len(), 3);
    let cu = &r.scenarios["cold_user"];
    assert_eq!(cu.users, 3);
    let pos = f.positive_indices();
    let hr1 = cold.iter().filter(|&&i| pos[i] == 0).count() as f64 / 3.0;
    assert_eq!(cu.metrics.hr1, hr1);
    // No genres: no case is in the evolving-interest slice.
    let ev = &r.scenarios["evolving_interest"];
    assert_eq!((ev.users, ev.metrics), (0, Metrics::default()));
    // Without a tagger there are no slices.
    let plain = ProtocolRunner::new(&f.ds, &f.split, &f.cands, &Reverse, None)
        .unwrap()
        .progress(false)
        .run(&Constant);
    assert!(plain.scenarios.is_empty());
    assert!(plain.cases.iter().all(|c| c.scenarios.is_empty()));
}

#[test]
fn mismatched_inputs_are_rejected() {
    let f = fixture();
    let mut other = f.cands.clone();
    other.header.fingerprint = "ffffffffffffffff".into();
    let err = ProtocolRunner::new(&f.ds, &f.split, &other, &Reverse, None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("tiny"), "{err}");
    let valid = CandidateSet::sample(&f.ds, &f.split, SplitKind::Valid, 19, 7).unwrap();
    let mut wrong = valid.clone();
    wrong.header.split = SplitKind::Test;
    let err = ProtocolRunner::new(&f.ds, &f.split, &wrong, &Reverse, None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("held-out test item"), "{err}");
    assert!(ProtocolRunner::new(&f.ds, &f.split, &valid, &Reverse, None).is_ok());
}

#[test]
fn report_json_markdown_and_per_user_lines() {
    let f = fixture();
    let runner = f.runner(&Reverse).threads(2);
    let mut report = EvalReport::new(&f.cands.header);
    let methods: Vec<Box<dyn Ranker>> = vec![
        Box::new(oracle(&f, false)),
        Box::new(Constant),
        Box::new(Broken),
        Box::new(Failing),
    ];
    for m in &methods {
        report.push(runner.run(m.as_ref()));
    }
    assert_eq!(report.users, 6);
    assert_eq!(report.candidates, 20);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/report.json");
    report.save_json(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();

    // Exactly the documented keys.
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let sorted = |k: &[&str]| {
        let mut k: Vec<String> = k.iter().map(|s| s.to_string()).collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v),
        sorted(&["dataset", "split", "candidates", "seed", "users", "methods"])
    );
    assert_eq!(v["dataset"], "tiny");
    assert_eq!(v["split"], "test");
    assert_eq!(v["candidates"], 20);
    assert_eq!(v["seed"], 7);
    assert_eq!(v["users"], 6);
    assert_eq!(
        keys(&v["methods"]),
        sorted(&["Oracle", "Constant", "Broken", "Failing"])
    );
    for name in ["Oracle", "Constant", "Broken", "Failing"] {
        let m = &v["methods"][name];
        assert_eq!(
            keys(m),
            sorted(&["metrics", "latency_ms", "wall_s", "scenarios"])
        );
        assert_eq!(keys(&m["metrics"]), sorted(&Metrics::KEYS));
        assert_eq!(keys(&m["latency_ms"]), sorted(&["p50", "p95"]));
        assert_eq!(
            keys(&m["scenarios"]),
            sorted(&["cold_user", "cold_item", "evolving_interest"])
        );
        for s in ["cold_user", "cold_item", "evolving_interest"] {
            assert_eq!(
                keys(&m["scenarios"][s]),
                sorted(&["users", "metrics", "latency_ms"])
            );
            assert_eq!(keys(&m["scenarios"][s]["metrics"]), sorted(&Metrics::KEYS));
        }
        for k in Metrics::KEYS {
            let x = m["metrics"][k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&x), "{name} {k} = {x}");
        }
    }
    assert_eq!(v["methods"]["Oracle"]["metrics"]["HR@1"], 1.0);
    assert_eq!(v["methods"]["Failing"]["metrics"]["valid_ratio"], 0.0);
    // Insertion order on disk, metric keys in the documented order.
    let at = |s: &str| text.find(s).unwrap();
    assert!(at("\"Oracle\"") < at("\"Constant\"") && at("\"Constant\"") < at("\"Broken\""));
    let first_metrics = &text[at("\"metrics\"")..];
    let mut last = 0;
    for k in Metrics::KEYS {
        let p = first_metrics.find(&format!("\"{k}\"")).unwrap();
        assert!(p > last, "{k} out of order");
        last = p;
    }

    // Round trip (cases are not part of the JSON).
    let back = EvalReport::load_json(&path).unwrap();
    assert_reports_close(&back, &report);
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1,
        "no temporary file is left behind"
    );

    // Errors name the file.
    let missing = dir.path().join("nope.json");
    let err = EvalReport::load_json(&missing).unwrap_err();
    assert!(err.to_string().contains("nope.json"), "{err}");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"dataset\": 1}").unwrap();
    let err = EvalReport::load_json(&bad).unwrap_err();
    assert!(err.to_string().contains("bad.json"), "{err}");

    // Markdown: every method and metric column, then the non-empty scenarios.
    let md = report.to_markdown();
    let header = "| Method | HR@1 | HR@3 | HR@5 | HR@10 | NDCG@5 | NDCG@10 | MRR | avg-HR | valid | p50 ms | p95 ms | wall s |";
    assert!(md.contains(header), "missing header {header}\n{md}");
    assert!(md.contains("| Oracle | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 |"), "{md}");
    for name in ["Constant", "Broken", "Failing"] {
        assert!(md.contains(&format!("| {name} |")), "{md}");
    }
    assert!(md.contains("### Scenario `cold_user`"));
    let (_, cold) = md.split_once("### Scenario `cold_user`").unwrap();
    let oracle = cold.lines().find(|l| l.starts_with("| Oracle |")).unwrap();
    assert!(
        oracle.starts_with("| Oracle | 100.00 | 100.00 |") && oracle.ends_with(" | 3 |"),
        "{md}"
    );
    assert!(!md.contains("evolving_interest"));

    // Per-user lines: one per method and case, raw user ids, same ranks as the results.
    let lines_path = dir.path().join("per_user.jsonl");
    report.per_user_jsonl(&lines_path).unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&lines_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4 * 6);
    let broken = report.method("Broken").unwrap();
    for (line, case) in lines[12..18].iter().zip(&broken.cases) {
        assert_eq!(line["method"], "Broken");
        assert_eq!(line["user"], f.ds.users[case.user.idx()].raw_id.as_str());
        assert_eq!(line["rank"], case.rank);
        assert_eq!(line["valid"], false);
    }
    assert_eq!(lines[18]["error"], "model returned no ranking");
    assert!(lines[0].get("error").is_none());
}

/// A ranker that returns a permutation but says it had to repair its own output.
struct SelfRepaired;

impl Ranker for SelfRepaired {
    fn name(&self) -> String {
        "self-repaired".into()
    }
    fn rank(&self, r: &RankRequest) -> Result<Ranking, RankError> {
        Ok(Ranking {
            items: r.candidates.clone(),
            scores: None,
            repaired: true,
        })
    }
}

#[test]
fn self_reported_repairs_count_as_invalid_but_keep_their_order() {
    let f = fixture();
    let repair = Oracle {
        targets: f.targets(),
        reversed: false,
    };
    let r = f.runner(&repair).run(&SelfRepaired);
    assert_eq!(r.metrics.valid_ratio, 0.0);
    let ranks: Vec<usize> = r.cases.iter().map(|c| c.rank).collect();
    assert_eq!(
        ranks,
        f.positive_indices(),
        "the ranker's own order is used"
    );
}
