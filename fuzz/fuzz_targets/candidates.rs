//! Candidate files (`candidates/*.jsonl`): arbitrary bytes loaded against a fixed dataset.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use star_cf::candidates::CandidateSet;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch().join("candidates.jsonl");
    std::fs::write(&path, data).unwrap();
    let _ = CandidateSet::load(&path, common::dataset());
});
