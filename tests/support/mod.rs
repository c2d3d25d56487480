//! Helpers of the kill-and-resume tests: kill a command with SIGKILL at random points, then
//! compare what the resumed run wrote with what an uninterrupted run wrote.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Seeded random kill points: `STAR_KILL_SEED` replays a run, otherwise the clock picks one
/// (printed, so a failure can be replayed).
pub struct KillPoints(u64);

impl KillPoints {
    pub fn new(test: &str) -> Self {
        let seed = std::env::var("STAR_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("{test}: kill points from STAR_KILL_SEED={seed}");
        KillPoints(seed)
    }

    /// A duration uniform in `[lo, hi]` × `scale` (splitmix64).
    pub fn between(&mut self, lo: f64, hi: f64, scale: Duration) -> Duration {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let u = (z >> 11) as f64 / (1u64 << 53) as f64;
        scale.mul_f64(lo + (hi - lo) * u)
    }
}

/// Runs `cmd` to the end and returns how long it took; panics with its stderr on failure.
pub fn run_to_end(mut cmd: Command, what: &str) -> Duration {
    let t = Instant::now();
    let out = cmd.output().expect("start the command");
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

/// Starts `cmd` (stdout and stderr to `log`), kills it with SIGKILL after `after` unless it
/// ended first, and says which: true when it was killed. A run that ends by itself must succeed.
pub fn kill_after(mut cmd: Command, after: Duration, log: &Path) -> bool {
    let file = std::fs::File::create(log).unwrap();
    let mut child = cmd
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("start the command");
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "the run failed on its own: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            return false;
        }
        if t.elapsed() >= after {
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let last = text.lines().rev().find(|l| !l.trim().is_empty());
            eprintln!(
                "  killed after {:.2}s; last line: {}",
                after.as_secs_f64(),
                last.unwrap_or("(none)")
            );
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Episodes of a trajectory file by id, without their timing statistics, checking that no
/// id appears twice.
pub fn episodes(path: &Path) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = v["id"].as_str().unwrap().to_string();
        if let Some(o) = v.as_object_mut() {
            o.remove("stats");
        }
        assert!(
            out.insert(id.clone(), v).is_none(),
            "{}: duplicate episode {id}",
            path.display()
        );
    }
    out
}

/// The header (as JSON, so key order does not count) and tensor bytes of a safetensors file.
fn safetensors(path: &Path) -> (serde_json::Value, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (header, bytes[8 + n..].to_vec())
}

/// `v` without what depends on the clock: wall times, training seconds, latencies.
fn without_timing(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(o) => o
            .into_iter()
            .filter(|(k, _)| !(k == "wall_s" || k == "train_seconds" || k.starts_with("latency")))
            .map(|(k, v)| (k, without_timing(v)))
            .collect(),
        serde_json::Value::Array(a) => a.into_iter().map(without_timing).collect(),
        other => other,
    }
}

/// Asserts that `rel` is the same in both directories: JSON and JSONL files as values without
/// their timings, safetensors files by header and tensor bytes, trajectory files by episode
/// (any order), anything else byte for byte.
pub fn assert_same(a: &Path, b: &Path, rel: &str) {
    let (pa, pb) = (a.join(rel), b.join(rel));
    if rel.ends_with(".safetensors") {
        assert!(safetensors(&pa) == safetensors(&pb), "{rel} differs");
    } else if rel.contains("trajectories/") && rel.ends_with(".jsonl") {
        assert_eq!(episodes(&pa), episodes(&pb), "{rel} differs");
    } else if rel.ends_with(".json") || rel.ends_with(".jsonl") {
        let read = |p: &Path| -> Vec<serde_json::Value> {
            let text =
                std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let values = serde_json::Deserializer::from_str(&text).into_iter();
            values.map(|v| without_timing(v.unwrap())).collect()
        };
        assert!(read(&pa) == read(&pb), "{rel} differs");
    } else {
        let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(read(&pa) == read(&pb), "{rel} differs");
    }
}
