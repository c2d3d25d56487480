//! Evidence store files (`evidence.bin`): arbitrary bytes loaded with and without the dataset
//! they claim to belong to.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use star_cf::evidence::EvidenceStore;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch().join("evidence.bin");
    std::fs::write(&path, data).unwrap();
    let _ = EvidenceStore::load(&path, Some(common::dataset()));
    let _ = EvidenceStore::load(&path, None);
});
