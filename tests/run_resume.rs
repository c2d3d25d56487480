//! The main example survives `kill -9`: killed at random points and rerun, it ends with the
//! same results as a run that was never interrupted (the same metrics, models, trajectories,
//! candidate files and evidence store), with no episode lost or written twice.
//!
//! The example's own code runs here: this test binary (no libtest harness) runs it as a child
//! process of itself. Replay a failure's kill points with `STAR_KILL_SEED`.

#[allow(dead_code)]
#[path = "../examples/movielens.rs"]
mod movielens;
mod support;

use std::path::Path;
use std::process::Command;
use support::{assert_same, kill_after, run_to_end, KillPoints};

const CHILD: &str = "STAR_EXAMPLE_CHILD";
const NAME: &str = "killing_the_example_at_random_points_changes_no_result";

fn example(home: &Path, run_dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(CHILD, "1")
        .env("STAR_HOME", home)
        .env("RUST_LOG", "info,burn_train=warn,burn_core=warn")
        .args(["--dataset", "synthetic", "--run-dir"])
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
/// latencies) and burnpack model files (their header order varies; the metrics cover them).
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
            } else if !(rel.ends_with(".png") || rel.ends_with(".bpk") || rel.ends_with(".md")) {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(run, run, &mut out);
    out.sort();
    out
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        if let Err(e) = movielens::main() {
            eprintln!("Error: {e:?}");
            std::process::exit(1);
        }
        return;
    }
    // `cargo test` passes libtest's arguments: honour `--list`, filters (`--exact`) and
    // `--skip`; other options and their values are ignored.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("{NAME}: test");
        return;
    }
    let exact = args.iter().any(|a| a == "--exact");
    let matches = |f: &str| if exact { NAME == f } else { NAME.contains(f) };
    let (mut filters, mut skipped) = (Vec::new(), false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--skip" => skipped |= it.next().is_some_and(|f| matches(f)),
            "--test-threads" | "--color" | "--format" | "--logfile" | "-Z" => {
                it.next();
            }
            a if a.starts_with('-') => {}
            f => filters.push(f.to_string()),
        }
    }
    if skipped || !(filters.is_empty() || filters.iter().any(|f| matches(f))) {
        println!("running 0 tests");
        return;
    }
    println!("running 1 test");

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
    println!(
        "test {NAME} ... ok ({kills} kills, {} files compared)",
        files.len()
    );
}
