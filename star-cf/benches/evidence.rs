//! Evidence look-up latency: `cargo bench -p star-cf --bench evidence`.
//!
//! Uses MovieLens-100K from the cache (`$STAR_HOME`) when it has been fetched, else the
//! synthetic dataset, and the test request of the user with the median history length.

use criterion::{criterion_group, criterion_main, Criterion};
use star_cf::data::synthetic::{generate, SyntheticConfig};
use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::prelude::*;
use std::hint::black_box;

fn dataset() -> Dataset {
    let home = star_cf::fetch::star_home();
    if let Some(dir) = star_cf::fetch::cached(&home, star_cf::fetch::KnownDataset::MovieLens100k) {
        if let Ok(mut ds) =
            star_cf::data::load_dir(&dir, Some("movielens-100k"), &PreprocessOptions::default())
        {
            ds.name = "movielens-100k".into();
            return ds;
        }
    }
    generate(&SyntheticConfig::default()).expect("synthetic data")
}

fn bench(c: &mut Criterion) {
    let ds = dataset();
    let split = Split::temporal_leave_one_out(&ds);
    let store = EvidenceStore::build(&ds, &split, EvidenceConfig::default());
    let cands = CandidateSet::sample(&ds, &split, SplitKind::Test, 19, 42).expect("candidates");
    let mut order: Vec<usize> = (0..cands.cases.len()).collect();
    order.sort_by_key(|&i| split.users[cands.cases[i].user.idx()].train.len());
    let req = cands.request(order[order.len() / 2], &split);
    let nbrs = store.user_neighbors(&req);
    let target = req.candidates[cands.cases[order[order.len() / 2]].positive_index];
    let name = &ds.name;
    println!("{name}: median test history {} items", req.history.len());

    c.bench_function(&format!("{name}/candidate_evidence (1 candidate)"), |b| {
        b.iter(|| {
            store.candidate_evidence(req.user, black_box(&req.history), &nbrs, black_box(target))
        })
    });
    c.bench_function(&format!("{name}/user_neighbors (k=50)"), |b| {
        b.iter(|| store.user_neighbors(black_box(&req)))
    });
    c.bench_function(&format!("{name}/evidence (20 candidates)"), |b| {
        b.iter(|| store.evidence(black_box(&req)))
    });
    c.bench_function(&format!("{name}/item_neighbors precomputed (k=20)"), |b| {
        b.iter(|| store.item_neighbors(black_box(target), 20, None))
    });
    c.bench_function(&format!("{name}/item_neighbors personal (k=20)"), |b| {
        b.iter(|| store.item_neighbors(black_box(target), 20, Some(req.user)))
    });
    let ev = store.candidate_evidence(req.user, &req.history, &nbrs, target);
    c.bench_function(&format!("{name}/sentences (1 candidate)"), |b| {
        b.iter(|| store.sentences(black_box(&ev)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
