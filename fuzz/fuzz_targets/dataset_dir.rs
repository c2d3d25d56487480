//! Dataset loaders: the first byte picks a format, the rest is split on NUL bytes into that
//! format's files, which are written to a scratch directory and loaded with `load_dir`. A
//! dataset that loads is then split, sampled into candidates and turned into an evidence
//! store, as the pipeline would. Errors are fine; panics, hangs and runaway memory are not.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use star_cf::candidates::CandidateSet;
use star_cf::data::load_dir;
use star_cf::data::PreprocessOptions;
use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::split::{Split, SplitKind};

const FORMATS: [&[&str]; 6] = [
    &["u.data", "u.item", "u.user"],
    &["ratings.dat", "movies.dat", "users.dat"],
    &["ratings.csv", "movies.csv"],
    &["fz.inter", "fz.item", "fz.user"],
    &["interactions.csv", "items.csv", "users.csv"],
    &["interactions.jsonl", "items.jsonl"],
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let files = FORMATS[pick as usize % FORMATS.len()];
    let dir = common::scratch().join("ds");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, content) in files.iter().zip(rest.split(|&b| b == 0)) {
        std::fs::write(dir.join(name), content).unwrap();
    }
    let opts = PreprocessOptions::default();
    let Ok(ds) = load_dir(&dir, None, &opts) else {
        return;
    };
    let split = Split::temporal_leave_one_out(&ds);
    let _ = CandidateSet::sample(&ds, &split, SplitKind::Test, 3, 7);
    let _ = EvidenceStore::build(&ds, &split, EvidenceConfig::default());
});
