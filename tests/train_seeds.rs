//! `star run --train-seeds 2`: the second run trains every model again with the next seed on
//! the same test candidates, and the report gains each method's mean ± sd over the seeds. With
//! `--students 2` each run distils two students, each with a training seed of its own.

mod support;

use std::process::Command;
use support::run_to_end;

#[test]
fn a_second_training_seed_retrains_on_the_same_candidates_and_reports_the_spread() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_star"));
    cmd.env("STAR_HOME", tmp.path().join("home"))
        .env("RUST_LOG", "warn")
        .args(["run", "--dataset", "synthetic", "--run-dir"])
        .arg(&run)
        .args([
            "--epochs",
            "1",
            "--teach-per-user",
            "1",
            "--trajectories",
            "5",
        ])
        .args([
            "--fast-per-user",
            "1",
            "--train-seeds",
            "2",
            "--students",
            "2",
        ]);
    run_to_end(cmd, "star run --train-seeds 2");
    let second = run.join("seeds/43");
    // the same test candidates (drawn with --seed), trained again with seed 43
    let read = |p: std::path::PathBuf| {
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    assert_eq!(
        read(run.join("candidates/test-seed42.jsonl")),
        read(second.join("candidates/test-seed42.jsonl"))
    );
    let config = |dir: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&read(dir.join("sasrec/summary.json"))).unwrap()
    };
    assert_eq!(config(&run)["config"]["seed"], 42);
    assert_eq!(config(&second)["config"]["seed"], 43);
    let report = |dir: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&read(dir.join("report.json"))).unwrap()
    };
    let (a, b) = (report(&run), report(&second));
    assert_ne!(
        a["methods"]["SASRec"]["metrics"], b["methods"]["SASRec"]["metrics"],
        "another training seed trains another SASRec"
    );
    // the spread: every method of the first run, over both seeds
    let spread: serde_json::Value = serde_json::from_slice(&read(run.join("seeds.json"))).unwrap();
    assert_eq!(spread["seeds"], serde_json::json!([42, 43]));
    let methods: Vec<&str> = spread["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    let first: Vec<&str> = a["methods"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(methods.len(), first.len());
    let sasrec = spread["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["method"] == "SASRec")
        .unwrap();
    let mean = sasrec["metrics"][0][1]["mean"].as_f64().unwrap();
    let (x, y) = (
        a["methods"]["SASRec"]["metrics"]["avg_HR"]
            .as_f64()
            .unwrap(),
        b["methods"]["SASRec"]["metrics"]["avg_HR"]
            .as_f64()
            .unwrap(),
    );
    assert!((mean - (x + y) / 2.0).abs() < 1e-12, "{mean} {x} {y}");
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("### Over 2 training seeds (42, 43)"), "{md}");

    // the ensemble: a second student per run, its own seed, and the first one alone beside it
    let sft_seed = |dir: std::path::PathBuf| -> serde_json::Value {
        serde_json::from_slice::<serde_json::Value>(&read(dir.join("sft/train-config.json")))
            .unwrap()["seed"]
            .clone()
    };
    assert_eq!(sft_seed(run.join("student")), 42);
    assert_eq!(sft_seed(run.join("student-1")), 1042);
    assert_eq!(sft_seed(second.join("student-1")), 1043);
    assert!(run.join("student-1/model/config.json").is_file());
    assert!(
        !run.join("student-1/grpo").exists(),
        "GRPO trains the first student only"
    );
    for r in [&a, &b] {
        for name in ["student-fast", "student-no-grpo", "student-single"] {
            assert!(r["methods"][name]["metrics"]["avg_HR"].is_f64(), "{name}");
        }
    }
    assert!(methods.contains(&"student-single"), "{methods:?}");
}
