//! One writer at a time: a run directory or a trajectory file that another process is writing
//! is refused at once, naming it and the holder's pid, and nothing is written; a trajectory
//! file damaged in the middle is repaired by `star teach`, which redoes the lost episode.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::episodes;

fn star(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_star"))
        .args(args)
        .env("STAR_HOME", home)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run star")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn refused_by_lock(out: &Output, what: &Path) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected a lock error: {err}");
    let pid = format!("pid {}", std::process::id());
    assert!(
        err.contains(&what.display().to_string()) && err.contains(&pid),
        "the error names {} and {pid}: {err}",
        what.display()
    );
}

#[test]
fn a_second_writer_of_a_run_directory_is_refused_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path();
    let run = h.join("run");
    let split = ["data", "split", "--dataset", "synthetic", "--run-dir"];
    let args: Vec<&str> = split
        .iter()
        .copied()
        .chain([run.to_str().unwrap()])
        .collect();
    // this test process stands for the first writer
    let held = star::cf::lock::lock(&run, &run.join(".lock")).unwrap();
    refused_by_lock(&star(h, &args), &run);
    let written: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(written, [".lock"], "nothing but the lock file");
    drop(held);
    ok(&star(h, &args));
    assert!(run.join("candidates/test-seed42.jsonl").is_file());
    assert!(run.join("evidence.bin").is_file());
}

fn teach(h: &Path, run: &Path, out: &Path, limit: &str) -> Output {
    star(
        h,
        &[
            "teach",
            "--dataset",
            "synthetic",
            "--run-dir",
            run.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--per-user",
            "1",
            "--threads",
            "1",
            "--limit",
            limit,
        ],
    )
}

#[test]
fn a_second_writer_of_a_trajectory_file_is_refused_and_corrupts_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path();
    let (run, out) = (h.join("run"), h.join("traj"));
    ok(&teach(h, &run, &out, "5"));
    let file = out.join("teacher-train.jsonl");
    let before = std::fs::read(&file).unwrap();
    let held = star::cf::lock::lock(&file, &out.join("teacher-train.jsonl.lock")).unwrap();
    refused_by_lock(&teach(h, &run, &out, "12"), &file);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the file is untouched"
    );
    drop(held);
    ok(&teach(h, &run, &out, "12"));
    assert_eq!(episodes(&file).len(), 12);
}

#[test]
fn a_corrupt_line_in_the_middle_is_set_aside_and_its_episode_redone() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path();
    let run = h.join("run");
    let (reference, damaged) = (h.join("reference"), h.join("damaged"));
    ok(&teach(h, &run, &reference, "8"));
    ok(&teach(h, &run, &damaged, "8"));
    let file = damaged.join("teacher-train.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8);
    // the third line cut short and run into the next, as two interleaved writers left it
    let torn = format!("{}{}", &lines[2][..lines[2].len() / 2], lines[3]);
    lines[2] = &torn;
    lines.remove(3);
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let stderr = ok(&teach(h, &run, &damaged, "8"));
    let corrupt = damaged.join("teacher-train.jsonl.corrupt");
    assert!(
        stderr.contains("teacher-train.jsonl:3: not an episode")
            && stderr.contains(&corrupt.display().to_string()),
        "the warning names the line and where it went: {stderr}"
    );
    assert_eq!(std::fs::read_to_string(&corrupt).unwrap(), torn + "\n");
    assert_eq!(
        episodes(&file),
        episodes(&reference.join("teacher-train.jsonl")),
        "the lost episodes are redone, none twice"
    );
}
