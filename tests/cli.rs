//! The `star` binary end to end: good runs produce well-formed results; bad input gives a clear
//! error naming the file/line/id and a non-zero exit, never a panic.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::{episodes, kill_after, run_to_end, KillPoints};

fn star(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_star"))
        .args(args)
        .env("STAR_HOME", home)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run star")
}

/// `star data stats --dataset mine --data DIR`.
fn stats(home: &Path, dir: &str) -> Output {
    star(home, &["data", "stats", "--dataset", "mine", "--data", dir])
}

/// `star distill sft` flags for a small, quick student.
const SMALL_SFT: &[&str] = &[
    "--fusion",
    "mf",
    "--sequence-folds",
    "0",
    "--epochs",
    "1",
    "--fast-per-user",
    "1",
    "--max-tool-calls",
    "2",
    "--max-segment-chars",
    "40",
    "--vocab",
    "600",
];

/// `star distill grpo` flags for one quick epoch.
const SMALL_GRPO: &[&str] = &["--epochs", "1", "--per-user", "1", "--group", "4"];

/// Asserts a failure whose stderr contains every `needle`, without a panic.
fn fails_with(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks `{n}`: {err}");
    }
}

#[test]
fn synthetic_split_and_baselines_write_well_formed_results() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let run_s = run.to_str().unwrap();
    let out = star(
        tmp.path(),
        &[
            "data",
            "split",
            "--dataset",
            "synthetic",
            "--run-dir",
            run_s,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(run.join("candidates/test-seed42.jsonl").is_file());
    assert!(run.join("candidates/valid-seed42.jsonl").is_file());

    let json = tmp.path().join("results.json");
    let out = star(
        tmp.path(),
        &[
            "eval",
            "baselines",
            "--dataset",
            "synthetic",
            "--run-dir",
            run_s,
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let raw = std::fs::read_to_string(&json).unwrap();
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["dataset"], "synthetic");
    assert_eq!(v["split"], "test");
    assert_eq!(v["candidates"], 20);
    let methods = v["methods"].as_object().unwrap();
    assert_eq!(methods.len(), 4);
    // methods appear in report order in the file
    let at = |n: &str| {
        raw.find(&format!("\"{n}\": {{"))
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    assert!(
        at("Pop") < at("ItemKNN")
            && at("ItemKNN") < at("UserKNN")
            && at("UserKNN") < at("CST-evidence")
    );
    for (name, m) in methods {
        assert!(table.contains(&format!("| {name} |")), "table lacks {name}");
        for key in star_eval::metrics::Metrics::KEYS {
            let x = m["metrics"][key]
                .as_f64()
                .unwrap_or_else(|| panic!("{name} lacks {key}"));
            assert!((0.0..=1.0).contains(&x), "{name} {key} = {x}");
        }
        assert!(
            m["latency_ms"]["p95"].as_f64().unwrap() >= m["latency_ms"]["p50"].as_f64().unwrap()
        );
        assert!(m["scenarios"]["cold_user"]["users"].is_u64());
    }
    // CF baselines beat popularity on data with real co-occurrence structure.
    let avg = |n: &str| methods[n]["metrics"]["avg_HR"].as_f64().unwrap();
    assert!(avg("ItemKNN") > avg("Pop") && avg("CST-evidence") > avg("Pop"));

    // A candidate file with an unknown item id is rejected, naming file and line.
    let cands = run.join("candidates/test-seed42.jsonl");
    let text = std::fs::read_to_string(&cands).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[3] = lines[3].replacen("\"candidates\":[\"", "\"candidates\":[\"i999999\",\"", 1);
    std::fs::write(&cands, lines.join("\n")).unwrap();
    let out = star(
        tmp.path(),
        &[
            "eval",
            "baselines",
            "--dataset",
            "synthetic",
            "--run-dir",
            run_s,
        ],
    );
    fails_with(&out, &["test-seed42.jsonl:4", "unknown item id `i999999`"]);
}

#[test]
fn bad_input_is_reported_not_panicked() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path();

    // missing directory
    let out = stats(h, "/no/such/dir");
    fails_with(&out, &["/no/such/dir", "not found"]);

    // a directory in no known format
    let empty = h.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = stats(h, empty.to_str().unwrap());
    fails_with(&out, &["empty"]);

    // an empty interactions file
    let d = h.join("emptyfile");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("interactions.csv"), "").unwrap();
    let out = stats(h, d.to_str().unwrap());
    fails_with(&out, &["interactions.csv"]);

    // a malformed line: the error names the file and the line
    let d = h.join("broken");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("interactions.csv"),
        "user,item,rating,timestamp\nu1,i1,5,10\nu1,i2,five,11\n",
    )
    .unwrap();
    let out = stats(h, d.to_str().unwrap());
    fails_with(&out, &["interactions.csv:3"]);

    // unknown dataset names
    fails_with(
        &star(h, &["data", "fetch", "netflix"]),
        &["unknown dataset `netflix`"],
    );
    fails_with(
        &star(h, &["data", "stats", "--dataset", "netflix"]),
        &["unknown dataset `netflix`"],
    );

    // one fold cannot cross-fit the student's sequence evidence
    fails_with(
        &star(h, &["distill", "sft", "--sequence-folds", "1"]),
        &["--sequence-folds", "1 fold cannot cross-fit"],
    );

    // the prompt shows at least one history item
    fails_with(
        &star(h, &["distill", "sft", "--history", "0"]),
        &["--history", "0 is not in 1.."],
    );

    // the good version of the same file works and counts what it holds
    std::fs::write(
        d.join("interactions.csv"),
        "user,item,rating,timestamp\nu1,i1,5,10\nu1,i2,4,11\nu2,i1,3,12\n",
    )
    .unwrap();
    let out = stats(h, d.to_str().unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("users         2")
            && s.contains("items         2")
            && s.contains("interactions  3"),
        "{s}"
    );
}

#[test]
fn a_cf_refit_trains_on_train_and_valid_and_scores_only_the_test_split() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path();
    let run = h.join("run");
    let run_s = run.to_str().unwrap();
    let data = ["--dataset", "synthetic", "--run-dir", run_s];
    let train = [
        &["train", "cf", "--model", "mf", "--refit"][..],
        &data,
        &["--epochs", "3", "--dim", "16", "--batch-size", "1024"],
    ]
    .concat();
    let out = star(h, &train);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("BPR-MF refit on train + valid"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let summary = |dir: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
    };
    let trained = summary(&run.join("cf").join("BPR-MF"));
    let refit_dir = run.join("cf").join("BPR-MF").join("refit");
    let refit = summary(&refit_dir);
    assert!(refit_dir.join("embeddings.safetensors").is_file());
    // as many epochs as validation chose, no more
    assert_eq!(refit["epochs_run"], trained["best_epoch"]);
    for (split, refit_used) in [("test", true), ("valid", false)] {
        let eval = [&["eval", "baselines", "--split", split][..], &data].concat();
        let out = Command::new(env!("CARGO_BIN_EXE_star"))
            .args(&eval)
            .env("STAR_HOME", h)
            .env("RUST_LOG", "info,burn_train=warn,burn_core=warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            log.contains("BPR-MF: scoring the test split with its refit"),
            refit_used,
            "{split}: {log}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("| BPR-MF | "));
    }
    // a run told not to refit refuses a directory whose test split a refit would score
    fails_with(
        &star(h, &[&["run", "--refit-cf", "false"][..], &data].concat()),
        &["--refit-cf false", "BPR-MF/refit"],
    );
    // a refit that does not belong to the trained model is refused, naming both files
    let mut edited = refit.clone();
    edited["epochs_run"] = serde_json::json!(999);
    std::fs::write(
        refit_dir.join("summary.json"),
        serde_json::to_string(&edited).unwrap(),
    )
    .unwrap();
    fails_with(
        &star(
            h,
            &[&["eval", "baselines", "--split", "test"][..], &data].concat(),
        ),
        &["BPR-MF/refit/summary.json does not belong to", "999 epochs"],
    );
    // training the model again removes its refit: the test split gets the new model
    let retrain = [
        &["train", "cf", "--model", "mf"][..],
        &data,
        &["--epochs", "2", "--dim", "16", "--batch-size", "1024"],
    ]
    .concat();
    let out = star(h, &retrain);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!refit_dir.exists());
}

#[test]
fn trained_cf_models_join_the_evaluation() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path();
    let run = h.join("run");
    let run_s = run.to_str().unwrap();
    let out = star(
        h,
        &[
            "train",
            "cf",
            "--dataset",
            "synthetic",
            "--run-dir",
            run_s,
            "--epochs",
            "3",
            "--batch-size",
            "1024",
            "--dim",
            "16",
            "--layers",
            "1",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("BPR-MF: best epoch") && stdout.contains("LightGCN: best epoch"),
        "{stdout}"
    );
    for m in ["BPR-MF", "LightGCN"] {
        assert!(run
            .join("cf")
            .join(m)
            .join("embeddings.safetensors")
            .is_file());
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(run.join("cf").join(m).join("summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(summary["epochs_run"], 3);
    }
    let json = run.join("report.json");
    let out = star(
        h,
        &[
            "eval",
            "baselines",
            "--dataset",
            "synthetic",
            "--run-dir",
            run_s,
            "--json",
            json.to_str().unwrap(),
            "--full-catalogue",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for m in ["BPR-MF", "LightGCN"] {
        assert!(
            v["methods"][m]["metrics"]["avg_HR"].as_f64().is_some(),
            "{m} missing"
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Full catalogue") && stdout.contains("| BPR-MF | "),
        "{stdout}"
    );
    // The run's figures: drawn from report.json and the CF training logs, then checked.
    let out = star(h, &["report", "plot", "--run-dir", run_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("training_curves.png"));
    let check = |methods: &str| {
        star(
            h,
            &["report", "check", "--run-dir", run_s, "--methods", methods],
        )
    };
    fails_with(&check("BPR-MF"), &["report.md is missing"]);
    std::fs::write(run.join("report.md"), "table").unwrap();
    let out = check("BPR-MF,LightGCN");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fails_with(
        &check("BPR-MF,teacher"),
        &["report.json lacks method teacher"],
    );
    std::fs::write(run.join("metrics.png"), b"").unwrap();
    fails_with(&check("BPR-MF"), &["metrics.png", "not a PNG"]);

    // an unknown model name is an error, not a panic
    fails_with(
        &star(
            h,
            &[
                "train",
                "cf",
                "--dataset",
                "synthetic",
                "--run-dir",
                run_s,
                "--model",
                "svd",
            ],
        ),
        &["invalid value 'svd' for '--model", "mf, lightgcn, all"],
    );
}

#[test]
fn killing_teach_mid_run_loses_and_duplicates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path();
    let run = h.join("run");
    let args = |out: &Path| -> Vec<String> {
        [
            "teach",
            "--dataset",
            "synthetic",
            "--run-dir",
            run.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--per-user",
            "4",
            "--threads",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // the reference: one uninterrupted run
    let full_dir = h.join("full");
    let out = star(
        h,
        &args(&full_dir)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full = episodes(&full_dir.join("teacher-train.jsonl"));
    assert_eq!(
        full.len(),
        300 * 4,
        "300 users x the last 4 positions of their train sequence"
    );

    // killed part-way, then rerun
    let dir = h.join("killed");
    let file = dir.join("teacher-train.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_star"))
        .args(args(&dir))
        .env("STAR_HOME", h)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let n = std::fs::read_to_string(&file)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if n >= 50 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = std::fs::read_to_string(&file).unwrap().lines().count();
    assert!(
        partial > 0 && partial < full.len(),
        "killed after {partial} episodes"
    );
    let out = star(
        h,
        &args(&dir).iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("already done"), "{stdout}");
    let resumed = episodes(&file);
    assert_eq!(
        resumed, full,
        "same episodes, same rankings, none lost or duplicated"
    );
}

#[test]
fn teach_then_distill_writes_a_student_that_ranks_the_test_users() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path();
    let run = h.join("run");
    let run_s = run.to_str().unwrap();
    let traj = run.join("trajectories");
    let out = star(
        h,
        &[
            "teach",
            "--dataset",
            "synthetic",
            "--run-dir",
            run_s,
            "--out",
            traj.to_str().unwrap(),
            "--per-user",
            "1",
            "--limit",
            "40",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(traj.join("teacher-train.kept.jsonl").is_file());
    let args = [
        "distill",
        "sft",
        "--dataset",
        "synthetic",
        "--run-dir",
        run_s,
    ];
    // BPR-MF's and SASRec's item embeddings and SASRec's cross-fitted scores (the defaults):
    // without a trained SASRec that is an error that says what to run
    assert_eq!(SMALL_SFT[..4], ["--fusion", "mf", "--sequence-folds", "0"]);
    let fused = [
        &args[..],
        &SMALL_SFT[4..],
        &["--fusion", "mf-sasrec", "--history", "7"],
    ]
    .concat();
    let out = star(h, &fused);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("star train sasrec") && stderr.contains("sasrec"),
        "{stderr}"
    );
    let out = star(
        h,
        &[
            "train",
            "sasrec",
            "--dataset",
            "synthetic",
            "--run-dir",
            run_s,
            "--epochs",
            "1",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = star(h, &fused);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("| student-fast |"), "{stdout}");
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("student/model/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        config["star"]["cf_dim"],
        64 + 64,
        "BPR-MF's 64 and SASRec's 64"
    );
    assert_eq!(config["star"]["sequence_evidence"], true);
    assert_eq!(config["star"]["history"], 7, "--history");
    // the configuration SFT started with is kept for a resume to check
    let kept: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("student/sft/student.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(kept["star"], config["star"]);
    // the two fold models were trained (SASRec's recipe: one epoch) for the training prompts
    for k in 0..2 {
        let fold = run.join(format!("sasrec-folds/{k}-of-2"));
        assert!(fold.join("model.bpk").is_file(), "{}", fold.display());
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fold.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["epochs_run"], 1);
    }
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(run.join("student/model").join(f).is_file(), "{f}");
    }
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("student").join("eval-test.json")).unwrap(),
    )
    .unwrap();
    let m = &report["methods"]["student-fast"]["metrics"];
    assert_eq!(m["valid_ratio"], 1.0);
    assert!(m["avg_HR"].as_f64().unwrap() > 0.0);

    // the remaining commands all run on this synthetic run directory
    let on_run = |args: &[&str]| -> (Vec<String>, std::process::Output) {
        let mut all = vec!["--dataset", "synthetic", "--run-dir", run_s];
        all.splice(
            0..0,
            args.iter().take_while(|a| !a.starts_with("--")).copied(),
        );
        all.extend(args.iter().skip_while(|a| !a.starts_with("--")).copied());
        let out = star(h, &all);
        (all.iter().map(|a| a.to_string()).collect(), out)
    };
    let ok = |args: &[&str]| -> String {
        let (all, out) = on_run(args);
        assert!(
            out.status.success(),
            "{all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    // the teacher's sequence_score tool (opt-in): training requests answered by the fold
    // models, test requests by the run's SASRec; not into trajectories written without it
    let teach = [
        "teach",
        "--per-user",
        "1",
        "--limit",
        "5",
        "--sequence-tool",
        "--out",
    ];
    let (_, out) = on_run(&[&teach[..], &[traj.to_str().unwrap()]].concat());
    fails_with(&out, &["teacher-train.jsonl", "--sequence-tool"]);
    let traj2 = h.join("traj-seq");
    ok(&[&teach[..], &[traj2.to_str().unwrap()]].concat());
    let episodes = std::fs::read_to_string(traj2.join("teacher-train.jsonl")).unwrap();
    let asked = |l: &&str| l.contains("SASRec (2-fold cross-fitted) ranks 20 candidates");
    assert_eq!(episodes.lines().filter(asked).count(), 5, "{episodes}");
    let stdout = ok(&["eval", "teacher", "--limit", "5", "--sequence-tool"]);
    assert!(stdout.contains("| teacher |"), "{stdout}");

    // GRPO must cross-fit as SFT did (two folds, recorded in the model's config)
    assert_eq!(config["star"]["sequence_folds"], 2);
    let (_, out) = on_run(&[&["distill", "grpo", "--sequence-folds", "3"], SMALL_GRPO].concat());
    fails_with(
        &out,
        &[
            "trained with --sequence-folds 2",
            "given --sequence-folds 3",
        ],
    );
    // GRPO from the SFT model, then both models side by side under their method names
    ok(&[&["distill", "grpo"], SMALL_GRPO].concat());
    assert!(run.join("student/grpo/model/model.safetensors").is_file());
    assert!(run.join("student/grpo/eval-test.json").is_file());
    let json = h.join("students.json");
    let sft_model = format!("student-no-grpo={}", run.join("student/model").display());
    let grpo_model = format!("student-fast={}", run.join("student/grpo/model").display());
    // ensembles: NAME=DIR,DIR
    let pair = format!(
        "student-pair={},{}",
        run.join("student/model").display(),
        run.join("student/grpo/model").display()
    );
    let twice = format!(
        "student-twice={0},{0}",
        run.join("student/grpo/model").display()
    );
    ok(&[
        "eval",
        "student",
        "--model",
        &grpo_model,
        "--model",
        &sft_model,
        "--model",
        &pair,
        "--model",
        &twice,
        "--json",
        json.to_str().unwrap(),
    ]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for name in [
        "student-fast",
        "student-no-grpo",
        "student-pair",
        "student-twice",
    ] {
        let m = &report["methods"][name]["metrics"];
        assert_eq!(m["valid_ratio"], 1.0, "{name}");
        assert!(
            (0.0..=1.0).contains(&m["avg_HR"].as_f64().unwrap()),
            "{name}"
        );
    }
    // an ensemble of one model twice ranks as the model: its mean log-softmax orders the
    // candidates as the model's scores do (at most one user's near tie may round otherwise)
    let avg_hr = |name: &str| {
        report["methods"][name]["metrics"]["avg_HR"]
            .as_f64()
            .unwrap()
    };
    let users = report["users"].as_f64().unwrap();
    assert!(
        (avg_hr("student-twice") - avg_hr("student-fast")).abs() <= 1.0 / users + 1e-12,
        "{} vs {}",
        avg_hr("student-twice"),
        avg_hr("student-fast")
    );
    // an ensemble does not generate
    let (_, out) = on_run(&["eval", "student", "--explain", "--model", &pair]);
    fails_with(&out, &["student-pair", "ranks in fast mode only"]);
    // nothing to re-rank is refused by name before any work
    let (_, out) = on_run(&[
        "eval",
        "student",
        "--model",
        &grpo_model,
        "--full-catalogue",
        "--rerank",
        "0",
    ]);
    fails_with(&out, &["--rerank must be at least 1"]);
    // the whole catalogue: by the item keys, and re-ranked by the prompt (the keys' and the
    // run's SASRec's top 5), beside the baselines, each against the strongest of them
    let stdout = ok(&[
        "eval",
        "student",
        "--model",
        &grpo_model,
        "--full-catalogue",
        "--rerank",
        "5",
    ]);
    for row in [
        "| Pop | ",
        "| SASRec | ",
        "| student-fast (keys) | ",
        "| student-fast (top 5 by keys re-ranked) | ",
        "| student-fast (top 5 by SASRec re-ranked) | ",
    ] {
        assert!(stdout.contains(row), "{row}: {stdout}");
    }
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("eval-full-catalogue-students-test.json")).unwrap(),
    )
    .unwrap();
    let rows = results.as_array().unwrap();
    let reference = rows
        .iter()
        .find_map(|r| r["against"]["reference"].as_str())
        .unwrap();
    assert!(
        stdout.contains(&format!("| NDCG@10 − {reference} |")),
        "{stdout}"
    );
    for r in rows {
        assert!(r["users"].as_u64().unwrap() > 0, "{r}");
        let d = &r["against"]["NDCG@10"];
        if r["method"] != reference {
            let (low, high) = (d["low"].as_f64().unwrap(), d["high"].as_f64().unwrap());
            assert!(low <= d["mean"].as_f64().unwrap() && low <= high, "{r}");
        }
    }
    // a pretrained base: a Hugging Face checkpoint (written by transformers) with its own
    // tokenizer, fine-tuned whole; the saved model reloads and ranks
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/fixtures/hf/chat");
    let based = run.join("student-base");
    ok(&[
        &[
            "distill",
            "sft",
            "--base",
            base.to_str().unwrap(),
            "--out",
            based.to_str().unwrap(),
        ],
        SMALL_SFT,
    ]
    .concat());
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(based.join("model/config.json")).unwrap())
            .unwrap();
    assert_eq!(config["model_type"], "qwen2");
    assert_eq!(config["architectures"][0], "Qwen2ForCausalLM");
    assert!(config["vocab_size"].as_u64().unwrap() > 320, "{config}");
    // the base's chat template frames the prompt: the user's turn, then the assistant's
    let chat = &config["star"]["chat"];
    assert!(
        chat["prefix"]
            .as_str()
            .unwrap()
            .starts_with("<|im_start|>user"),
        "{config}"
    );
    assert!(
        chat["suffix"]
            .as_str()
            .unwrap()
            .ends_with("<|im_start|>assistant\n"),
        "{config}"
    );
    // the decoder's tensors: transformers' names, dtypes and shapes (the vocabulary grown)
    let header = |path: &Path| -> serde_json::Map<String, serde_json::Value> {
        let bytes = std::fs::read(path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        serde_json::from_slice(&bytes[8..8 + n]).unwrap()
    };
    let theirs = header(&base.join("model.safetensors"));
    let ours = header(&based.join("model/model.safetensors"));
    let vocab = config["vocab_size"].as_u64().unwrap();
    for (name, t) in theirs.iter().filter(|(n, _)| *n != "__metadata__") {
        let o = ours.get(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(o["dtype"], t["dtype"], "{name}");
        let mut shape = t["shape"].clone();
        if name == "model.embed_tokens.weight" || name == "lm_head.weight" {
            shape[0] = vocab.into();
        }
        assert_eq!(o["shape"], shape, "{name}");
    }
    assert!(ours
        .keys()
        .all(|n| theirs.contains_key(n) || n.starts_with("star.") || n == "__metadata__"));
    let tokenizer = std::fs::read_to_string(based.join("model/tokenizer.json")).unwrap();
    assert!(tokenizer.contains("<|im_start|>") && tokenizer.contains("<recommend>"));
    let stdout = ok(&[
        "eval",
        "student",
        "--model",
        based.join("model").to_str().unwrap(),
    ]);
    assert!(stdout.contains("| student-fast |"), "{stdout}");

    // GRPO continues from it, and `recommend` ranks with the result
    ok(&[
        &[
            "distill",
            "grpo",
            "--from",
            based.join("model").to_str().unwrap(),
            "--out",
            based.join("grpo").to_str().unwrap(),
        ],
        SMALL_GRPO,
    ]
    .concat());
    let stdout = ok(&[
        "recommend",
        "--user",
        "u3",
        "--model",
        based.join("grpo/model").to_str().unwrap(),
    ]);
    assert_eq!(
        stdout.lines().filter(|l| l.contains(" — ")).count(),
        20,
        "{stdout}"
    );

    // the same base with LoRA: saved merged (Hugging Face tensors only), reloads and ranks
    let lora = run.join("student-lora");
    ok(&[
        &[
            "distill",
            "sft",
            "--base",
            base.to_str().unwrap(),
            "--lora-rank",
            "4",
            "--lora-targets",
            "q_proj,v_proj,down_proj",
            "--out",
            lora.to_str().unwrap(),
        ],
        SMALL_SFT,
    ]
    .concat());
    let weights = std::fs::read(lora.join("model/model.safetensors")).unwrap();
    let header = String::from_utf8_lossy(&weights[..weights.len().min(64 << 10)]);
    assert!(header.contains("model.layers.0.self_attn.q_proj.weight"));
    assert!(!header.contains("lora"), "adapters left in the saved model");
    let stdout = ok(&[
        "eval",
        "student",
        "--model",
        lora.join("model").to_str().unwrap(),
    ]);
    assert!(stdout.contains("| student-fast |"), "{stdout}");
    let (_, out) = on_run(&[
        "distill",
        "sft",
        "--lora-rank",
        "4",
        "--lora-targets",
        "lm_head",
    ]);
    fails_with(&out, &["lm_head", "q_proj"]);
    let base_s = base.to_str().unwrap();
    let (_, out) = on_run(&[
        "distill",
        "sft",
        "--base",
        base_s,
        "--lora-rank",
        "4",
        "--lora-alpha",
        "0",
    ]);
    fails_with(&out, &["LoRA", "alpha 0"]);

    // explain mode: generated trajectories with the teacher's tools, on a few cases
    let model_dir = run.join("student/model");
    let stdout = ok(&[
        "eval",
        "student",
        "--explain",
        "--limit",
        "3",
        "--model",
        model_dir.to_str().unwrap(),
    ]);
    assert!(stdout.contains("| student-explain |"), "{stdout}");
    assert!(stdout.contains("test split: 3 users"), "{stdout}");

    // recommend: the user's test candidates with evidence, the catalogue, the trajectory
    let stdout = ok(&["recommend", "--user", "u3"]);
    let ranked: Vec<&str> = stdout.lines().filter(|l| l.contains(" — ")).collect();
    assert_eq!(ranked.len(), 20, "{stdout}");
    assert!(ranked[0].trim_start().starts_with("1."), "{stdout}");
    assert!(stdout.contains("student-fast for user u3"), "{stdout}");
    let stdout = ok(&["recommend", "--user", "u3", "--all-items", "--k", "5"]);
    assert!(stdout.contains("top 5 of the catalogue"), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("  ")).count(),
        5,
        "{stdout}"
    );
    let stdout = ok(&["recommend", "--user", "u3", "--explain"]);
    assert!(stdout.starts_with("trajectory ("), "{stdout}");
    assert!(stdout.contains("student-explain for user u3"), "{stdout}");
    let (_, out) = on_run(&["recommend", "--user", "nobody"]);
    fails_with(&out, &["user `nobody` is not in the dataset"]);

    // without trajectories the error says what to run
    let empty = h.join("empty");
    let out = star(
        h,
        &[
            "distill",
            "sft",
            "--dataset",
            "synthetic",
            "--run-dir",
            empty.to_str().unwrap(),
            "--epochs",
            "1",
        ],
    );
    fails_with(&out, &["teacher-train.kept.jsonl", "star teach"]);
}

/// `star distill sft|grpo` killed at random points and rerun with `--resume` end with the same
/// models and metrics as uninterrupted runs.
#[test]
fn killing_distill_at_random_points_changes_no_result() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path();
    let run = h.join("run");
    let run_s = run.to_str().unwrap();
    let out = star(
        h,
        &[
            "teach",
            "--dataset",
            "synthetic",
            "--run-dir",
            run_s,
            "--out",
            run.join("trajectories").to_str().unwrap(),
            "--per-user",
            "1",
            "--limit",
            "40",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let command = |args: &[&str], out: &Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_star"));
        cmd.env("STAR_HOME", h)
            .env("RUST_LOG", "info,burn_train=warn,burn_core=warn")
            .args(args)
            .args(["--dataset", "synthetic", "--run-dir", run_s, "--out"])
            .arg(out);
        cmd
    };
    let sft = |out: &Path, resume: bool| {
        let mut cmd = command(
            &[
                "distill",
                "sft",
                "--fusion",
                "mf",
                "--sequence-folds",
                "0",
                "--epochs",
                "2",
                "--fast-per-user",
                "1",
                "--max-tool-calls",
                "2",
                "--max-segment-chars",
                "40",
                "--vocab",
                "600",
            ],
            out,
        );
        if resume {
            cmd.arg("--resume");
        }
        cmd
    };
    let grpo = |student: &Path, resume: bool| {
        let from = student.join("model");
        let mut cmd = command(
            &[
                "distill",
                "grpo",
                "--epochs",
                "2",
                "--per-user",
                "1",
                "--group",
                "4",
                "--from",
                from.to_str().unwrap(),
            ],
            &student.join("grpo"),
        );
        if resume {
            cmd.arg("--resume");
        }
        cmd
    };
    let (reference, killed) = (h.join("reference"), h.join("killed"));
    let mut points = KillPoints::new("distill");
    for stage in ["sft", "grpo"] {
        let make = |dir: &Path, resume| {
            if stage == "sft" {
                sft(dir, resume)
            } else {
                grpo(dir, resume)
            }
        };
        let took = run_to_end(make(&reference, false), stage);
        // what this stage writes, removed when a run ends before its first kill
        let stage_dir = if stage == "sft" {
            killed.clone()
        } else {
            killed.join("grpo")
        };
        let (mut kills, mut attempts) = (0, 0);
        while kills < 2 && attempts < 5 {
            attempts += 1;
            // On a loaded machine a run may go faster than the reference and end before its
            // kill point: then the stage starts over and is killed earlier.
            let (lo, hi) = if kills == 0 && attempts > 1 {
                (0.02, 0.4)
            } else {
                (0.1, 0.9)
            };
            let after = points.between(lo, hi, took);
            eprintln!(
                "{stage}: kill {} after {:.2}s of {:.2}s",
                kills + 1,
                after.as_secs_f64(),
                took.as_secs_f64()
            );
            let log = h.join(format!("{stage}-{attempts}.log"));
            if !kill_after(make(&killed, true), after, &log) {
                if kills > 0 {
                    break;
                }
                std::fs::remove_dir_all(&stage_dir).unwrap();
                continue;
            }
            kills += 1;
        }
        assert!(kills >= 1, "{stage} ended before the first kill");
        run_to_end(make(&killed, true), stage);
    }
    for f in [
        "model/config.json",
        "model/tokenizer.json",
        "model/model.safetensors",
        "eval-test.json",
        "grpo/model/config.json",
        "grpo/model/model.safetensors",
        "grpo/eval-test.json",
    ] {
        support::assert_same(&reference, &killed, f);
    }
}

/// `star teach` writing trajectories to a disk that fills up: a clear error naming the file
/// and what is kept, the file holds only complete episodes, and a rerun with space completes
/// it with nothing lost or duplicated. The full disk is a 1 MiB tmpfs mounted in a private
/// mount namespace (`unshare`); where user namespaces are not allowed the test says so and
/// passes, unless `STAR_REQUIRE_UNSHARE=1` (set in CI) makes that a failure.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_while_teaching_is_reported_and_nothing_written_is_lost() {
    let can_mount = Command::new("unshare")
        .args(["-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /tmp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !can_mount {
        assert!(
            std::env::var("STAR_REQUIRE_UNSHARE").is_err(),
            "`unshare -rm` cannot mount a tmpfs here"
        );
        eprintln!("skipped: `unshare -rm` cannot mount a tmpfs here (user namespaces disabled)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path();
    let run = h.join("run");
    let teach = |out: &Path| -> Vec<String> {
        let mut args = vec!["teach", "--dataset", "synthetic", "--run-dir"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        args.push(run.to_str().unwrap().into());
        args.push("--out".into());
        args.push(out.to_str().unwrap().into());
        args.extend(["--per-user", "1", "--limit", "40", "--threads", "1"].map(String::from));
        args
    };
    let full_dir = h.join("full");
    let out = Command::new(env!("CARGO_BIN_EXE_star"))
        .args(teach(&full_dir))
        .env("STAR_HOME", h)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full = episodes(&full_dir.join("teacher-train.jsonl"));
    assert_eq!(full.len(), 40);

    // 40 episodes take about 2.3 MB; the disk holds 1 MiB.
    let disk = h.join("disk");
    let saved = h.join("saved");
    std::fs::create_dir_all(&disk).unwrap();
    std::fs::create_dir_all(&saved).unwrap();
    let script = r#"mount -t tmpfs -o size=1m tmpfs "$1" || exit 99
shift; saved="$1"; shift
"$@"; rc=$?
cp "$(dirname "$saved")/disk/teacher-train.jsonl" "$saved/"; exit $rc"#;
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", script, "sh"])
        .arg(&disk)
        .arg(&saved)
        .arg(env!("CARGO_BIN_EXE_star"))
        .args(teach(&disk))
        .env("STAR_HOME", h)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(99), "mount failed: {err}");
    assert!(!out.status.success(), "the disk did not fill up: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for needle in [
        "teacher-train.jsonl: cannot append episode",
        "No space left on device",
        "episodes before it are kept",
    ] {
        assert!(err.contains(needle), "stderr lacks `{needle}`: {err}");
    }
    let file = saved.join("teacher-train.jsonl");
    let partial = episodes(&file); // every line a complete episode
    assert!(
        (1..40).contains(&partial.len()),
        "{} episodes before the disk was full",
        partial.len()
    );
    assert!(
        err.contains(&format!("the {} episodes before it", partial.len())),
        "{err}"
    );
    for (id, ep) in &partial {
        assert_eq!(Some(ep), full.get(id), "episode {id} as in the full run");
    }

    // with space again, the rerun continues after them
    let out = Command::new(env!("CARGO_BIN_EXE_star"))
        .args(teach(&saved))
        .env("STAR_HOME", h)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(episodes(&file), full, "nothing lost or duplicated");
}

/// `star train cf` and `star train sasrec` killed at random points and rerun with `--resume`
/// end with the same CF embeddings and the same summaries (best epoch, epochs run, valid
/// NDCG@10) as uninterrupted runs.
#[test]
fn killing_train_at_random_points_changes_no_result() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path();
    let command = |args: &[&str], run: &Path, resume: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_star"));
        cmd.env("STAR_HOME", h)
            .env("RUST_LOG", "info,burn_train=warn,burn_core=warn")
            .args(args)
            .args(["--dataset", "synthetic", "--run-dir"])
            .arg(run);
        if resume {
            cmd.arg("--resume");
        }
        cmd
    };
    let (reference, killed) = (h.join("reference"), h.join("killed"));
    let mut points = KillPoints::new("train");
    let stages: [(&[&str], &[&str]); 2] = [
        (
            &["train", "cf", "--model", "all", "--epochs", "12"],
            &[
                "cf/BPR-MF/embeddings.safetensors",
                "cf/BPR-MF/summary.json",
                "cf/LightGCN/embeddings.safetensors",
                "cf/LightGCN/summary.json",
            ],
        ),
        (
            // long enough to be killed twice now that a SASRec step takes a third less time
            &["train", "sasrec", "--epochs", "20"],
            &["sasrec/summary.json"],
        ),
    ];
    for (args, files) in stages {
        let took = run_to_end(command(args, &reference, false), args[1]);
        let mut kills = 0;
        for _ in 0..2 {
            let after = points.between(0.1, 0.9, took);
            let log = h.join(format!("{}-{kills}.log", args[1]));
            if !kill_after(command(args, &killed, true), after, &log) {
                break;
            }
            kills += 1;
        }
        assert!(kills >= 1, "{} ended before the first kill", args[1]);
        run_to_end(command(args, &killed, true), args[1]);
        for f in files {
            support::assert_same(&reference, &killed, f);
        }
    }
}

/// `--negatives 9` (1+9 candidates) through every step: the candidate files, training's
/// validation, the baselines, the teacher's jobs, SFT, GRPO and their evaluation all use it.
#[test]
fn nine_negatives_work_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path();
    let run = h.join("run");
    let run_s = run.to_str().unwrap();
    let ok = |args: &[&str]| -> String {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--dataset",
            "synthetic",
            "--run-dir",
            run_s,
            "--negatives",
            "9",
        ]);
        let out = star(h, &all);
        assert!(
            out.status.success(),
            "{all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let header = |kind: &str| -> serde_json::Value {
        let path = run.join(format!("candidates/{kind}-seed42.jsonl"));
        let text = std::fs::read_to_string(path).unwrap();
        serde_json::from_str(text.lines().next().unwrap()).unwrap()
    };
    let stdout = ok(&["data", "split"]);
    assert!(stdout.contains("cases of 10 candidates"), "{stdout}");
    assert_eq!(header("valid")["num_candidates"], 10);
    assert_eq!(header("test")["num_candidates"], 10);
    ok(&["train", "cf", "--model", "mf", "--epochs", "2"]);
    ok(&["train", "sasrec", "--epochs", "1"]);
    let stdout = ok(&["eval", "baselines"]);
    assert!(
        stdout.contains("| BPR-MF |") && stdout.contains("| SASRec |"),
        "{stdout}"
    );
    let traj = run.join("trajectories");
    ok(&[
        "teach",
        "--out",
        traj.to_str().unwrap(),
        "--per-user",
        "1",
        "--limit",
        "30",
    ]);
    for (id, ep) in episodes(&traj.join("teacher-train.jsonl")) {
        assert_eq!(ep["candidates"].as_array().unwrap().len(), 10, "{id}");
    }
    ok(&[&["distill", "sft"], SMALL_SFT].concat());
    ok(&[&["distill", "grpo"], SMALL_GRPO].concat());
    for eval in ["student/eval-test.json", "student/grpo/eval-test.json"] {
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join(eval)).unwrap()).unwrap();
        let m = &report["methods"]["student-fast"]["metrics"];
        assert_eq!(m["valid_ratio"], 1.0, "{eval}");
    }
}

#[test]
fn the_teacher_runs_on_a_local_hugging_face_checkpoint_and_reports_its_repairs() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let json = tmp.path().join("teacher.json");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/fixtures/hf/chat");
    let teacher = |dir: &Path, extra: &[&str]| {
        let llm = format!("local:{}", dir.display());
        let mut args = vec!["eval", "teacher", "--dataset", "synthetic", "--run-dir"];
        args.extend([run.to_str().unwrap(), "--llm", &llm]);
        args.extend(extra);
        star(tmp.path(), &args)
    };
    let json_s = json.to_str().unwrap();
    let out = teacher(
        &model,
        &[
            "--llm-max-new-tokens",
            "4",
            "--limit",
            "1",
            "--json",
            json_s,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["users"], 1);
    for method in [
        "teacher-llm",
        "teacher-llm-no-reflection",
        "teacher-llm-no-cst",
    ] {
        let m = &v["methods"][method];
        // random weights write no valid ranking: every output is repaired, and counted so
        assert_eq!(m["metrics"]["valid_ratio"], 0.0, "{method}: {m}");
        assert!(m["metrics"]["MRR"].as_f64().unwrap() > 0.0, "{method}: {m}");
    }
    // a directory that is not a chat checkpoint is refused, naming it
    let out = teacher(tmp.path(), &[]);
    fails_with(&out, &["local model", &tmp.path().display().to_string()]);
}
