//! The main pipeline survives `kill -9`: `star run` (what the `movielens` example runs), killed
//! at random points and rerun, ends with the same results as a run that was never interrupted
//! (the same metrics, models, trajectories, candidate files and evidence store), with no
//! episode lost or written twice. Replay a failure's kill points with `STAR_KILL_SEED`.

mod support;

use std::path::Path;
use std::process::Command;
use support::{assert_same, kill_after, run_to_end, KillPoints};

const NAME: &str = "killing_the_pipeline_at_random_points_changes_no_result";

fn example(home: &Path, run_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_star"));
    cmd.env("STAR_HOME", home)
        .env("RUST_LOG", "info,burn_train=warn,burn_core=warn")
        .args(["run", "--dataset", "synthetic", "--run-dir"])
        .arg(run_dir)
        .args([
            "--epochs",
            "2",
            "--teach-per-user",
            "1",
            "--trajectories",
            "10",
        ])
        .args(["--fast-per-user", "1", "--teach-threads", "2"]);
    cmd
}

/// Every file of a finished run that must not depend on interruptions, relative to the run
/// directory: all but checkpoints and metric logs (rewritten on resume), plots (they draw
/// latencies), burnpack model files (their header order varies; the metrics cover them) and
/// lock files (they hold the writer's pid).
fn result_files(run: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let skip = ["checkpoint", "train", "valid"]
                .iter()
                .any(|d| p.file_name().is_some_and(|n| n == *d) && p.is_dir());
            if p.is_dir() {
                if !skip {
                    walk(&p, root, out);
                }
            } else if ![".png", ".bpk", ".md", ".lock"]
                .iter()
                .any(|ext| rel.ends_with(ext))
            {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(run, run, &mut out);
    out.sort();
    out
}

#[test]
fn killing_the_pipeline_at_random_points_changes_no_result() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let reference = tmp.path().join("reference");
    let took = run_to_end(example(&home, &reference), "the uninterrupted run");
    eprintln!(
        "{NAME}: the uninterrupted run took {:.1}s",
        took.as_secs_f64()
    );

    // Three kills: one early (data, baselines, teacher), then two anywhere in what is left;
    // each rerun resumes what the one before it left.
    let mut points = KillPoints::new(NAME);
    let killed = tmp.path().join("killed");
    let mut kills = 0;
    for (lo, hi) in [(0.0, 0.15), (0.05, 0.8), (0.05, 0.8)] {
        let after = points.between(lo, hi, took);
        let log = tmp.path().join(format!("attempt-{kills}.log"));
        if !kill_after(example(&home, &killed), after, &log) {
            break;
        }
        kills += 1;
    }
    assert!(kills >= 1, "the run ended before the first kill");
    run_to_end(example(&home, &killed), "the rerun after the kills");

    let files = result_files(&reference);
    assert_eq!(files, result_files(&killed), "the same files");
    for must in [
        "report.json",
        "evidence.bin",
        "candidates/test-seed42.jsonl",
        "trajectories/teacher-train.jsonl",
        "student/grpo/model/model.safetensors",
    ] {
        assert!(files.iter().any(|f| f == must), "{must} missing: {files:?}");
    }
    for f in &files {
        assert_same(&reference, &killed, f);
    }
    eprintln!("{NAME}: {kills} kills, {} files compared", files.len());
}
