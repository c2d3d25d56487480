//! Shared by the targets: a scratch directory per process and a small fixed dataset.
#![allow(dead_code)]

use star_cf::data::synthetic::{generate, SyntheticConfig};
use star_cf::data::Dataset;
use std::path::PathBuf;
use std::sync::OnceLock;

/// A directory private to this fuzzing process (emptied on first use).
pub fn scratch() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("star-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
    .clone()
}

/// The dataset candidate files and evidence stores are checked against: `--dataset
/// synthetic`, so that the files of a smoke run (fuzz/run's seeds) match its fingerprint and
/// the fuzzer starts past the header checks.
pub fn dataset() -> &'static Dataset {
    static DS: OnceLock<Dataset> = OnceLock::new();
    DS.get_or_init(|| generate(&SyntheticConfig::default()).unwrap())
}
