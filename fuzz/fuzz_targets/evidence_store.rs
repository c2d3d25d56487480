//! Evidence store files (`evidence.bin`): arbitrary bytes loaded with and without the dataset
//! they claim to belong to; then the same bytes with their checksum trailer made to match, so
//! the decoder behind the checksum is fuzzed too.
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
    if data.len() >= 8 + 32 {
        let mut fixed = data.to_vec();
        let n = fixed.len();
        let sum = <sha2::Sha256 as sha2::Digest>::digest(&fixed[8..n - 32]);
        fixed[n - 32..].copy_from_slice(&sum);
        std::fs::write(&path, &fixed).unwrap();
        let _ = EvidenceStore::load(&path, Some(common::dataset()));
        let _ = EvidenceStore::load(&path, None);
    }
});
