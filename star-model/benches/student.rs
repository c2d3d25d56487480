//! Fast-mode latency and throughput of the STAR student on CPU:
//! `cargo bench -p star-model --bench student`.
//!
//! Data: MovieLens-100K when `STAR_BENCH_DATA` names its directory (e.g.
//! `~/.cache/star/datasets/movielens-100k/recbole`), else a synthetic dataset of the same shape
//! (943 users, 1682 items). Requests: the test split's 1+19 candidates (seed 42). The model has
//! random weights (speed does not depend on their values) and the default student size
//! (`DecoderConfig::student`); `STAR_BENCH_HIDDEN` and `STAR_BENCH_LAYERS` override it.
//!
//! Prints p50/p95 per user (one request at a time, split into prompt building and the forward
//! pass) and batched throughput for several batch sizes.

use burn::prelude::*;
use star_cf::candidates::CandidateSet;
use star_cf::data::synthetic::{generate, SyntheticConfig};
use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::split::{Split, SplitKind};
use star_cf::RankRequest;
use star_model::model::{ModelConfig, StarConfig, StarModel};
use star_model::student::{DecoderConfig, StarTokenizer};
use std::sync::Arc;
use std::time::Instant;

fn env(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let ds = match std::env::var("STAR_BENCH_DATA") {
        Ok(dir) => star_cf::data::load_dir(dir.as_ref(), None, &Default::default())
            .expect("STAR_BENCH_DATA"),
        Err(_) => generate(&SyntheticConfig::movielens_100k_shape(7)).unwrap(),
    };
    let split = Split::temporal_leave_one_out(&ds);
    let store = Arc::new(EvidenceStore::build(&ds, &split, EvidenceConfig::default()));
    let cands = CandidateSet::sample(&ds, &split, SplitKind::Test, 19, 42).unwrap();
    let requests: Vec<RankRequest> = (0..cands.cases.len())
        .map(|i| cands.request(i, &split))
        .collect();
    let raw: Vec<String> = ds.items.iter().map(|i| i.raw_id.clone()).collect();
    let device = Device::flex();

    // a tokenizer trained on prompts of this dataset
    let tok0 = StarTokenizer::train(
        ["<s>History:<item>\nCandidates:\n[1]<item>\n<recommend>".to_string()].into_iter(),
        300,
    )
    .unwrap();
    let star = StarConfig::new(raw.clone(), 64);
    let probe = StarModel::init(
        ModelConfig::new(DecoderConfig::student(tok0.vocab_size()), star.clone()),
        tok0,
        Tensor::zeros([raw.len(), 64], &device),
        &device,
    )
    .unwrap()
    .bind(&raw, Some(store.clone()));
    let corpus: Vec<String> = requests
        .iter()
        .take(200)
        .map(|r| probe.prompt(r).unwrap().text)
        .collect();
    let tok = StarTokenizer::train(corpus.into_iter(), 2000).unwrap();

    let mut dec = DecoderConfig::student(tok.vocab_size());
    if let Some(h) = env("STAR_BENCH_HIDDEN") {
        dec.hidden_size = h;
        dec.intermediate_size = 3 * h;
    }
    if let Some(l) = env("STAR_BENCH_LAYERS") {
        dec.num_hidden_layers = l;
    }
    let cf = Tensor::random(
        [raw.len(), 64],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let model = StarModel::init(ModelConfig::new(dec.clone(), star), tok, cf, &device)
        .unwrap()
        .bind(&raw, Some(store));
    let tokens: Vec<usize> = requests
        .iter()
        .map(|r| model.prompt(r).unwrap().tokens.len() + 1)
        .collect();
    println!(
        "student: hidden {}, layers {}, heads {}/{} kv, ffn {}, vocab {}; {} requests of {} candidates, \
         {:.0} tokens per prompt on average (max {}); {} threads",
        dec.hidden_size,
        dec.num_hidden_layers,
        dec.num_attention_heads,
        dec.kv_heads(),
        dec.intermediate_size,
        dec.vocab_size,
        requests.len(),
        requests[0].candidates.len(),
        tokens.iter().sum::<usize>() as f64 / tokens.len() as f64,
        tokens.iter().max().unwrap(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );

    // warm-up
    for r in requests.iter().take(20) {
        model.score_batch(std::slice::from_ref(r)).unwrap();
    }
    // one request at a time
    let (mut total, mut prompt, mut forward) = (Vec::new(), Vec::new(), Vec::new());
    for r in requests.iter().take(300) {
        let t0 = Instant::now();
        let p = model.prompt(r).unwrap();
        let t1 = Instant::now();
        let s = model.score_prompts(std::slice::from_ref(&p)).unwrap();
        let t2 = Instant::now();
        std::hint::black_box(s);
        prompt.push((t1 - t0).as_secs_f64() * 1e3);
        forward.push((t2 - t1).as_secs_f64() * 1e3);
        total.push((t2 - t0).as_secs_f64() * 1e3);
    }
    println!(
        "per user (300 requests): p50 {:.2} ms, p95 {:.2} ms (prompt p50 {:.3} ms, forward p50 {:.2} ms)",
        percentile(&mut total, 0.5),
        percentile(&mut total, 0.95),
        percentile(&mut prompt, 0.5),
        percentile(&mut forward, 0.5),
    );
    // batched
    for bs in [1usize, 4, 16, 64] {
        let m = model.clone().with_batch_size(bs);
        let t0 = Instant::now();
        let out = m.score_batch(&requests).unwrap();
        let secs = t0.elapsed().as_secs_f64();
        std::hint::black_box(out);
        println!(
            "batched, batch size {bs}: {} users in {:.2} s = {:.0} users/s",
            requests.len(),
            secs,
            requests.len() as f64 / secs
        );
    }
}
