//! Hugging Face parity: tiny random checkpoints written by `transformers`
//! (`scripts/fixtures/hf_checkpoints.py`, under `assets/fixtures/hf/`) load into the decoder and
//! give transformers' logits within 1e-4 and its greedy generation token for token; both
//! `config.json` styles read the same; what the loader does not implement is refused by name.

use burn::prelude::*;
use star_model::student::{Architecture, CausalLm, DecoderConfig, RopeScaling};
use std::path::{Path, PathBuf};

/// Every fixture the script writes; a missing one fails the test.
const FIXTURES: &[&str] = &[
    "llama",
    "llama-v4",
    "llama-tied-bias-bf16",
    "llama3-rope",
    "llama3-rope-v4",
    "llama-linear-rope",
    "llama-dynamic-rope",
    "llama-yarn-rope",
    "qwen2",
    "qwen2-v4",
    "qwen3",
    "qwen3-sliding",
    "mistral",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/fixtures/hf")
        .join(name)
}

#[derive(serde::Deserialize)]
struct Reference {
    tokens: Vec<u32>,
    logits: Vec<f32>,
    prompt: Vec<u32>,
    greedy: Vec<u32>,
}

fn load(dir: &Path) -> star_model::Result<(DecoderConfig, CausalLm)> {
    let cfg = DecoderConfig::load(&dir.join("config.json"))?;
    let lm = cfg.init_lm(&Device::flex()).load_hf_weights(dir)?;
    Ok((cfg, lm))
}

fn row(ids: &[u32]) -> Tensor<2, Int> {
    star_model::student::token_row(ids, &Device::flex())
}

#[test]
fn every_fixture_matches_transformers_logits_and_greedy_generation() {
    for name in FIXTURES {
        let dir = fixture(name);
        let reference: Reference =
            serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
                .unwrap();
        let (cfg, lm) = load(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        let logits = lm
            .forward(row(&reference.tokens), None, None)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(logits.len(), reference.logits.len(), "{name}");
        let worst = logits
            .iter()
            .zip(&reference.logits)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!("{name}: logits within {worst:.1e} of transformers'");
        assert!(worst < 1e-4, "{name}: logits differ by up to {worst}");
        let greedy = lm.generate_greedy(&reference.prompt, reference.greedy.len(), &[]);
        assert_eq!(greedy, reference.greedy, "{name}: greedy generation");
        // what we write reads back to the same configuration
        let again: DecoderConfig = serde_json::from_str(&serde_json::to_string(&cfg).unwrap())
            .unwrap_or_else(|e| panic!("{name}: our config.json does not read back: {e}"));
        assert_eq!(again, cfg, "{name}");
    }
}

#[test]
fn both_config_styles_read_the_same_and_rope_theta_is_found_in_either_place() {
    for name in ["llama", "llama3-rope", "qwen2"] {
        let new = DecoderConfig::load(&fixture(name).join("config.json")).unwrap();
        let old = DecoderConfig::load(&fixture(&format!("{name}-v4")).join("config.json")).unwrap();
        assert_eq!(new, old, "{name}");
    }
    let theta = |name: &str| {
        DecoderConfig::load(&fixture(name).join("config.json"))
            .unwrap()
            .rope_theta
    };
    assert_eq!(theta("llama"), 50_000.0);
    assert_eq!(theta("qwen2"), 1_000_000.0);
    let llama3 = DecoderConfig::load(&fixture("llama3-rope").join("config.json")).unwrap();
    assert_eq!(
        llama3.rope_scaling,
        Some(RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 16
        })
    );
    let qwen3 = DecoderConfig::load(&fixture("qwen3").join("config.json")).unwrap();
    assert_eq!(qwen3.model_type, Architecture::Qwen3);
    assert_eq!((qwen3.head_dim(), qwen3.hidden_size), (16, 32));
    let mistral = DecoderConfig::load(&fixture("mistral").join("config.json")).unwrap();
    assert_eq!(mistral.layer_window(0), Some(4));
    let sliding = DecoderConfig::load(&fixture("qwen3-sliding").join("config.json")).unwrap();
    assert_eq!(
        (sliding.layer_window(0), sliding.layer_window(1)),
        (None, Some(4))
    );
}

/// A `config.json` as a JSON object.
type Json = serde_json::Map<String, serde_json::Value>;

/// A copy of fixture `name` whose config.json has gone through `edit`.
fn edited(name: &str, edit: impl FnOnce(&mut Json)) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    let path = tmp.path().join("config.json");
    let mut cfg: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut cfg);
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    tmp
}

fn refused(name: &str, edit: impl FnOnce(&mut Json)) -> String {
    let dir = edited(name, edit);
    match load(dir.path()) {
        Ok(_) => panic!("{name}: an edited config.json loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn what_the_loader_does_not_implement_is_refused_by_name() {
    use serde_json::json;
    type Edit = Box<dyn FnOnce(&mut Json)>;
    let cases: Vec<(&str, Edit, &[&str])> = vec![
        (
            "llama",
            Box::new(|c| {
                c.insert("model_type".into(), json!("gemma"));
            }),
            &["model_type", "`gemma`"],
        ),
        (
            "llama",
            Box::new(|c| {
                c.insert(
                    "architectures".into(),
                    json!(["LlamaForSequenceClassification"]),
                );
            }),
            &["architectures", "LlamaForSequenceClassification"],
        ),
        (
            "llama",
            Box::new(|c| {
                c.insert(
                    "rope_parameters".into(),
                    json!({"rope_type": "longrope", "rope_theta": 1e4}),
                );
            }),
            &["rope_parameters.rope_type", "longrope"],
        ),
        (
            "llama-v4",
            Box::new(|c| {
                c.insert("rope_scaling".into(), json!({"type": "su", "factor": 2.0}));
            }),
            &["rope_scaling.rope_type", "`su`"],
        ),
        (
            "llama3-rope",
            Box::new(|c| {
                c["rope_parameters"]
                    .as_object_mut()
                    .unwrap()
                    .remove("low_freq_factor");
            }),
            &["rope_parameters.low_freq_factor", "missing"],
        ),
        (
            "llama3-rope",
            Box::new(|c| {
                c["rope_parameters"]
                    .as_object_mut()
                    .unwrap()
                    .insert("short_factor".into(), json!([1.0]));
            }),
            &["rope_parameters.short_factor"],
        ),
        (
            "llama",
            Box::new(|c| {
                c.insert("partial_rotary_factor".into(), json!(0.5));
            }),
            &["partial_rotary_factor"],
        ),
        (
            "llama",
            Box::new(|c| {
                c.insert("hidden_act".into(), json!("gelu"));
            }),
            &["hidden_act", "gelu"],
        ),
        (
            "llama",
            Box::new(|c| {
                c.insert("quantization_config".into(), json!({"quant_method": "awq"}));
            }),
            &["quantization_config"],
        ),
        (
            "llama",
            Box::new(|c| {
                c.insert("sliding_window".into(), json!(4));
            }),
            &["sliding_window", "llama"],
        ),
        (
            "mistral",
            Box::new(|c| {
                c.insert(
                    "layer_types".into(),
                    json!(["full_attention", "full_attention"]),
                );
            }),
            &["layer_types", "mistral"],
        ),
        (
            "qwen3-sliding",
            Box::new(|c| {
                c.insert(
                    "layer_types".into(),
                    json!(["full_attention", "chunked_attention"]),
                );
            }),
            &["layer_types", "chunked_attention"],
        ),
        (
            "qwen2",
            Box::new(|c| {
                c.insert("attention_bias".into(), json!(false));
            }),
            &["attention_bias", "Qwen2"],
        ),
        (
            "llama",
            Box::new(|c| {
                c.insert("attention_dropout".into(), json!(0.1));
            }),
            &["attention_dropout"],
        ),
    ];
    for (name, edit, words) in cases {
        let message = refused(name, edit);
        for word in words {
            assert!(
                message.contains(word),
                "{name}: `{message}` does not name {word}"
            );
        }
        assert!(message.contains("config.json"), "{message}");
    }
}

#[test]
fn tensors_the_model_has_no_place_for_are_refused_by_name() {
    // a Qwen3 checkpoint declared as Llama: the per-head q/k norms would be left unused
    let message = refused("qwen3", |c| {
        c.insert("model_type".into(), serde_json::json!("llama"));
        for qwen_only in [
            "architectures",
            "use_sliding_window",
            "sliding_window",
            "max_window_layers",
            "layer_types",
        ] {
            c.remove(qwen_only);
        }
    });
    assert!(
        message.contains("does not use") && message.contains("q_norm"),
        "{message}"
    );
    // a Llama checkpoint with attention biases declared without them: o_proj.bias unused
    let message = refused("llama-tied-bias-bf16", |c| {
        c.insert("attention_bias".into(), serde_json::json!(false));
    });
    assert!(message.contains("o_proj.bias"), "{message}");
}

#[derive(serde::Deserialize)]
struct ChatReference {
    conversation: serde_json::Value,
    tools: serde_json::Value,
    prompt_text: String,
    prompt: Vec<u32>,
    greedy: Vec<u32>,
    greedy_text: String,
    multi_turn: serde_json::Value,
    multi_turn_text: String,
}

#[test]
fn a_chat_checkpoint_renders_its_template_and_generates_as_transformers_does() {
    use star_model::student::ChatLm;
    let dir = fixture("chat");
    let r: ChatReference =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let chat = ChatLm::load(&dir, &Device::flex()).unwrap();
    let template = chat.template();
    let text = template
        .render(&r.conversation, Some(&r.tools), true)
        .unwrap();
    assert_eq!(text, r.prompt_text);
    assert_eq!(
        template
            .render(&r.multi_turn, Some(&r.tools), true)
            .unwrap(),
        r.multi_turn_text
    );
    let ids = chat.encode(&text).unwrap();
    assert_eq!(ids, r.prompt);
    let greedy = chat.generate(&ids, r.greedy.len(), false);
    assert_eq!(greedy, r.greedy);
    assert_eq!(chat.decode(&greedy).unwrap(), r.greedy_text);

    // the text around one user message: what frames a pretrained student's prompt
    let (prefix, suffix) = template.user_turn().unwrap();
    let one = serde_json::json!([{"content": "History: 42", "role": "user"}]);
    assert_eq!(
        format!("{prefix}History: 42{suffix}"),
        template.render(&one, None, true).unwrap()
    );
    assert!(prefix.starts_with("<|im_start|>user") && suffix.ends_with("<|im_start|>assistant\n"));

    // a template saved with Windows line endings renders as Jinja2 renders it: `\n` only
    let source = std::fs::read_to_string(dir.join("chat_template.jinja")).unwrap();
    let crlf = star_model::student::ChatTemplate::new(
        source.replace('\n', "\r\n"),
        dir.join("chat_template.jinja"),
        String::new(),
        "<|im_end|>".into(),
    )
    .unwrap();
    assert_eq!(
        crlf.render(&r.multi_turn, Some(&r.tools), true).unwrap(),
        r.multi_turn_text
    );

    // a directory without a template is refused, naming it
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
    }
    let err = ChatLm::load(tmp.path(), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no chat template"), "{err}");
}

#[test]
fn a_long_prompt_prefilled_in_chunks_generates_what_one_pass_does() {
    use star_model::student::PREFILL_CHUNK;
    // grouped-query attention and a sliding window: the cache must carry both across chunks
    for name in ["llama", "mistral"] {
        let (cfg, lm) = load(&fixture(name)).unwrap();
        let prompt: Vec<u32> = (0..2 * PREFILL_CHUNK + 37)
            .map(|i| ((i * 7919) % cfg.vocab_size) as u32)
            .collect();
        let chunked = lm.generate_greedy(&prompt, 3, &[]);
        let mut seq = prompt.clone();
        for _ in 0..3 {
            let logits = lm.forward(row(&seq), None, None);
            let [_, t, v] = logits.dims();
            let last = logits.slice([0..1, t - 1..t, 0..v]).reshape([v]);
            seq.push(last.argmax(0).into_scalar::<i64>() as u32);
        }
        assert_eq!(chunked, seq[prompt.len()..], "{name}");
    }
}

#[test]
fn saved_checkpoints_read_back_to_the_same_logits() {
    // STAR_HF_SAVED=DIR keeps the saved directories there, for
    // scripts/fixtures/check_saved.py to load them in transformers
    let keep = std::env::var_os("STAR_HF_SAVED").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    for name in FIXTURES {
        let (cfg, lm) = load(&fixture(name)).unwrap();
        let out = keep.as_deref().unwrap_or(tmp.path()).join(name);
        lm.save_hf_weights(&out).unwrap();
        std::fs::write(
            out.join("config.json"),
            serde_json::to_string_pretty(&cfg).unwrap(),
        )
        .unwrap();
        let (again, back) = load(&out).unwrap();
        assert_eq!(again, cfg, "{name}");
        let t = row(&[3, 1, 4, 1, 5, 9, 2, 6]);
        let a = lm.forward(t.clone(), None, None).into_data();
        assert_eq!(a, back.forward(t, None, None).into_data(), "{name}");
    }
}
