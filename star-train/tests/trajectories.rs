//! Property test for trajectory files (issue 8): a file of real teacher episodes with one line
//! mutated at random, seeded (JSON values set to odd values or dropped, bytes flipped,
//! inserted or cut), goes through everything that reads trajectories: reopening for a
//! resumed `star teach` (`TrajectoryWriter::open`), `read_episodes`, the outcome filter, and
//! distillation samples with their prompts and tokens. Nothing may panic; errors name the
//! file and line or the episode. (star-train depends on burn, so this runs in `cargo test`
//! rather than under cargo-fuzz; see RELIABILITY.md.)

#[path = "../../star-model/tests/mutate/mod.rs"]
mod mutate;

use burn::prelude::*;
use mutate::{env_u64, mutate_bytes, mutate_json};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use star_agents::orchestrator::resources;
use star_agents::teach::training_jobs;
use star_agents::trajectory::{filter_file, read_episodes, FilterConfig, TrajectoryWriter};
use star_agents::{Teacher, TeacherConfig};
use star_cf::data::synthetic::{generate, SyntheticConfig};
use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::split::Split;
use star_model::model::{ModelConfig, StarConfig, StarModel};
use star_model::student::{DecoderConfig, StarTokenizer};
use star_train::distill::{sample_from_episode, tokenize, TrajectoryView};
use std::sync::Arc;

#[test]
fn mutated_trajectory_files_are_read_or_refused_cleanly() {
    let ds = Arc::new(
        generate(&SyntheticConfig {
            users: 20,
            items: 200,
            seed: 4,
            ..Default::default()
        })
        .unwrap(),
    );
    let split = Split::temporal_leave_one_out(&ds);
    let store = Arc::new(EvidenceStore::build(&ds, &split, EvidenceConfig::default()));
    let teacher = Teacher::rule_based(
        resources(ds.clone(), &split, store.clone(), None),
        TeacherConfig::default(),
    );
    let jobs = training_jobs(&ds, &split, 1, 30, 9, 5);
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.jsonl");
    {
        let mut w = TrajectoryWriter::open(&good).unwrap();
        for j in jobs.iter().take(6) {
            w.append(&teacher.run(&j.request, &j.meta).unwrap())
                .unwrap();
        }
    }
    let lines: Vec<String> = std::fs::read_to_string(&good)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let device = Device::flex();
    let texts: Vec<String> = lines.iter().take(3).cloned().collect();
    let tok = StarTokenizer::train(texts.into_iter(), 400).unwrap();
    let raw: Vec<String> = ds.items.iter().map(|i| i.raw_id.clone()).collect();
    let mut star = StarConfig::new(raw.clone(), 8);
    star.rank_dim = 8;
    star.history = 6;
    let mut dec = DecoderConfig::llama(tok.vocab_size(), 16, 1, 2, 1);
    dec.max_position_embeddings = 4096;
    let cf = Tensor::random([raw.len(), 8], burn::tensor::Distribution::Default, &device);
    let model = StarModel::init(ModelConfig::new(dec, star), tok, cf, &device)
        .unwrap()
        .bind(&raw, Some(store));
    let view = TrajectoryView {
        max_segment_chars: 60,
        max_tool_calls: 2,
        ..Default::default()
    };

    let mut rng = ChaCha8Rng::seed_from_u64(env_u64("STAR_PROPTEST_SEED", 11));
    let cases = env_u64("STAR_PROPTEST_CASES", 1000) as usize;
    let (mut samples, mut refused, mut problems) = (0, 0, Vec::new());
    let path = tmp.path().join("episodes.jsonl");
    for case in 0..cases {
        let k = rng.random_range(0..lines.len());
        let mut mutated = lines.clone();
        let what = if rng.random_bool(0.4) {
            let mut bytes = mutated[k].clone().into_bytes();
            let what = mutate_bytes(&mut bytes, &mut rng);
            mutated[k] = String::from_utf8_lossy(&bytes).into_owned();
            what
        } else {
            let mut v: Value = serde_json::from_str(&mutated[k]).unwrap();
            let what = mutate_json(&mut v, &mut rng);
            mutated[k] = v.to_string();
            what
        };
        let mut text = mutated.join("\n");
        if rng.random_bool(0.8) {
            text.push('\n');
        }
        std::fs::write(&path, &text).unwrap();
        if std::env::var_os("STAR_TRACE_CASES").is_some() {
            eprintln!("case {case}: line {} {what}", k + 1);
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut errors = Vec::new();
            match TrajectoryWriter::open(&path) {
                Ok(w) => assert!(w.len() <= lines.len()),
                Err(e) => errors.push(e.to_string()),
            }
            // reopening may have cut a torn last line: read what is there now
            std::fs::write(&path, &text).unwrap();
            match read_episodes(&path) {
                Ok(eps) => {
                    let kept = tmp.path().join("kept.jsonl");
                    if let Err(e) = filter_file(&path, &kept, &FilterConfig::default()) {
                        errors.push(e.to_string());
                    }
                    for ep in &eps {
                        match sample_from_episode(ep, &ds, &split, &view)
                            .and_then(|s| tokenize(&model, &s))
                        {
                            Ok(item) => {
                                assert!(!item.continuation.is_empty());
                                samples += 1;
                            }
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                }
                Err(e) => errors.push(e.to_string()),
            }
            errors
        }));
        match outcome {
            Err(p) => {
                let msg = star_cf::error::panic_message(p.as_ref());
                problems.push(format!(
                    "case {case}: line {} {what}: panicked: {msg}",
                    k + 1
                ));
            }
            Ok(errors) => {
                refused += errors.len();
                for e in errors {
                    let named = ["episodes.jsonl", "episode `", "sample `"]
                        .iter()
                        .any(|n| e.contains(n));
                    if !named {
                        problems.push(format!(
                            "case {case}: line {} {what}: the error names no file or episode: {e}",
                            k + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    eprintln!("{cases} mutated trajectory files: {samples} samples tokenised, {refused} errors");
    assert!(
        samples > cases && refused > cases / 4,
        "{samples} samples, {refused} errors"
    );
}
