//! examples/embedding.rs: a model directory ranks a user's candidates through star-model alone.

use burn::prelude::*;
use star_cf::data::synthetic::generate;
use star_model::model::{ModelConfig, StarConfig, StarModel};
use star_model::student::{DecoderConfig, StarTokenizer};
use std::path::PathBuf;
use std::process::Command;

/// The example binary (built by `cargo test`; built here when a filtered run skipped it).
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir
        .join("examples")
        .join(format!("embedding{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "embedding"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    bin
}

/// The example on a model directory and a user of the synthetic data, with more arguments.
fn run_example(model_dir: &std::path::Path, user: &str, extra: &[&str]) -> std::process::Output {
    Command::new(example())
        .args(["--model", model_dir.to_str().unwrap(), "--synthetic"])
        .args(["--user", user])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn the_embedding_example_ranks_with_a_model_directory() {
    let ds = generate(&Default::default()).unwrap();
    let raw: Vec<String> = ds.items.iter().map(|i| i.raw_id.clone()).collect();
    let tok = StarTokenizer::train(
        ["<s>History:<item>\nCandidates:\n[1]<item>\n<recommend><plan></plan>".to_string()]
            .into_iter(),
        300,
    )
    .unwrap();
    let mut dec = DecoderConfig::student(tok.vocab_size());
    dec.hidden_size = 32;
    dec.intermediate_size = 64;
    let mut star = StarConfig::new(raw.clone(), 8);
    star.max_new_tokens = 8;
    let device = Device::flex();
    let cf = Tensor::random([raw.len(), 8], burn::tensor::Distribution::Default, &device);
    let model = StarModel::init(ModelConfig::new(dec, star), tok, cf, &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("student");
    model.save(&model_dir).unwrap();

    let user = ds.users[3].raw_id.clone();
    // the example on this model directory and user, with more arguments
    let run = |extra: &[&str]| run_example(&model_dir, &user, extra);
    let out = run(&["--explain"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("student-explain for user {user}")),
        "{stdout}"
    );
    assert!(stdout.contains(" 20. "), "{stdout}");
    assert!(!stdout.contains(" 21. "), "{stdout}");
    assert!(stdout.contains("catalogue top 10"), "{stdout}");
    assert!(stdout.contains("explanation ("), "{stdout}");

    // explicit candidates, by raw id
    let out = run(&["--candidates", &format!("{},{}", raw[0], raw[1])]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("  2. ") && !stdout.contains("  3. "),
        "{stdout}"
    );

    // a broken model directory is reported by file
    std::fs::remove_file(model_dir.join("tokenizer.json")).unwrap();
    let out = run(&[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tokenizer.json"), "{stderr}");
}

#[test]
fn the_embedding_example_ranks_with_a_student_from_a_pretrained_base() {
    // a Hugging Face checkpoint written by transformers, grown to the STAR tokens, with LoRA
    // adapters that the save folds into the weights
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/fixtures/hf/chat");
    let ds = generate(&Default::default()).unwrap();
    let raw: Vec<String> = ds.items.iter().map(|i| i.raw_id.clone()).collect();
    let device = Device::flex();
    let cf = Tensor::random([raw.len(), 8], burn::tensor::Distribution::Default, &device);
    let model = StarModel::from_base(&base, StarConfig::new(raw, 8), cf, &device)
        .unwrap()
        .with_lora(&star_model::student::LoraConfig::new(2))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("student");
    model.save(&model_dir).unwrap();
    let user = ds.users[3].raw_id.clone();
    let out = run_example(&model_dir, &user, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(" 20. ") && !stdout.contains(" 21. "),
        "{stdout}"
    );
}
