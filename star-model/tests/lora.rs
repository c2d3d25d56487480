//! A pretrained base grown to new tokens, and LoRA on it (the `chat` fixture written by
//! transformers): new embedding rows start at the mean row and the old ones are kept; the
//! adapted model starts equal to the base, a training step moves the adapters and the embedding
//! but not the frozen layers, and merging gives the adapted function with Hugging Face tensors
//! only.

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use star_model::student::{token_row, CausalLm, DecoderConfig, LoraConfig, LoraTarget};
use std::path::Path;

fn base(device: &Device) -> CausalLm {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/fixtures/hf/chat");
    let cfg = DecoderConfig::load(&dir.join("config.json")).unwrap();
    cfg.init_lm(device).load_hf_weights(&dir).unwrap()
}

fn values(t: Tensor<3>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn adapters_start_at_the_base_train_alone_and_merge_exactly() {
    let device = Device::flex().autodiff();
    device.seed(7);
    let tokens = token_row(&[5, 40, 77, 120, 9, 300, 41, 2], &device);
    let plain = base(&device);
    let before = values(plain.forward(tokens.clone(), None, None));

    let mut cfg = LoraConfig::new(4);
    cfg.targets = LoraTarget::ALL.to_vec();
    let mut lm = base(&device);
    lm.model = lm.model.with_lora(&cfg, &device);
    assert!(lm.model.has_lora());
    assert_eq!(
        values(lm.forward(tokens.clone(), None, None)),
        before,
        "B starts at zero"
    );

    // one optimiser step on a next-token loss
    let q_before = lm.model.layers[0].self_attn.q_proj.weight.val().into_data();
    let embed_before = lm.model.embed_tokens.weight.val().into_data();
    let logits = lm.forward(tokens.clone(), None, None);
    let loss = logits.powf_scalar(2.0).mean();
    let grads = GradientsParams::from_grads(loss.backward(), &lm);
    let mut optim = AdamConfig::new().init();
    lm = optim.step(1e-2, lm, grads);
    let layer = &lm.model.layers[0];
    assert_eq!(
        layer.self_attn.q_proj.weight.val().into_data(),
        q_before,
        "frozen"
    );
    assert_ne!(lm.model.embed_tokens.weight.val().into_data(), embed_before);
    let b = layer.mlp.down_lora.as_ref().unwrap().b.val();
    assert!(
        b.abs().max().into_scalar::<f32>() > 0.0,
        "the adapter learned"
    );
    let adapted = values(lm.forward(tokens.clone(), None, None));
    assert!(max_diff(&adapted, &before) > 1e-4);

    // merged: the same function, no adapter left
    lm.model = lm.model.merge_lora();
    assert!(!lm.model.has_lora());
    let merged = values(lm.forward(tokens, None, None));
    let worst = max_diff(&merged, &adapted);
    assert!(worst < 1e-5, "merged differs by {worst}");
}

#[test]
fn lora_targets_parse_by_their_hugging_face_names() {
    assert_eq!("gate_proj".parse::<LoraTarget>(), Ok(LoraTarget::GateProj));
    let err = "lm_head".parse::<LoraTarget>().unwrap_err();
    assert!(err.contains("lm_head") && err.contains("q_proj"), "{err}");
}

#[test]
fn a_grown_vocabulary_keeps_the_old_rows_and_starts_new_ones_at_the_mean() {
    let device = Device::flex();
    let lm = base(&device);
    let old = lm.model.embed_tokens.weight.val();
    let [rows, d] = old.dims();
    let grown = base(&device).resize_vocab(rows + 3);
    let new = grown.model.embed_tokens.weight.val();
    assert_eq!(new.dims(), [rows + 3, d]);
    let head = new.clone().slice([0..rows, 0..d]);
    assert_eq!(head.into_data(), old.clone().into_data());
    let mean = old
        .mean_dim(0)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    for r in rows..rows + 3 {
        let row = new
            .clone()
            .slice([r..r + 1, 0..d])
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(row, mean, "row {r}");
    }
    // the old tokens' logits do not change (untied head: its new rows are only new outputs)
    let tokens = token_row(&[5, 40, 77], &device);
    let a = values(lm.forward(tokens.clone(), None, None));
    let b = values(grown.forward(tokens, None, None));
    let v = rows;
    for (t, chunk) in a.chunks(v).enumerate() {
        assert_eq!(chunk, &b[t * (v + 3)..t * (v + 3) + v], "position {t}");
    }
}
