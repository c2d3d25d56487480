//! The student decoder: numerics against a plain-Rust reference written from the Hugging Face
//! Llama definition, checkpoint loading by Hugging Face tensor names, causality, the KV cache,
//! padding, save → load.

use burn::module::Param;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use star_model::student::{CausalLm, DecoderConfig, KvCache};
use std::collections::BTreeMap;

fn cfg() -> DecoderConfig {
    DecoderConfig {
        intermediate_size: 12,
        num_hidden_layers: 2,
        ..DecoderConfig::llama(13, 8, 2, 2, 1)
    }
}

/// Hugging Face-named weights in PyTorch layout (`[out, in]`), seeded.
fn hf_weights(c: &DecoderConfig, seed: u64) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut w = BTreeMap::new();
    let mut put = |name: String, shape: Vec<usize>, scale: f32| {
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| scale * (rng.random::<f32>() * 2.0 - 1.0))
            .collect();
        w.insert(name, (shape, v));
    };
    let (d, hd, i) = (c.hidden_size, c.head_dim(), c.intermediate_size);
    put(
        "model.embed_tokens.weight".into(),
        vec![c.vocab_size, d],
        1.0,
    );
    for l in 0..c.num_hidden_layers {
        let p = format!("model.layers.{l}");
        put(
            format!("{p}.self_attn.q_proj.weight"),
            vec![c.num_attention_heads * hd, d],
            0.5,
        );
        put(
            format!("{p}.self_attn.k_proj.weight"),
            vec![c.kv_heads() * hd, d],
            0.5,
        );
        put(
            format!("{p}.self_attn.v_proj.weight"),
            vec![c.kv_heads() * hd, d],
            0.5,
        );
        put(
            format!("{p}.self_attn.o_proj.weight"),
            vec![d, c.num_attention_heads * hd],
            0.5,
        );
        put(format!("{p}.mlp.gate_proj.weight"), vec![i, d], 0.5);
        put(format!("{p}.mlp.up_proj.weight"), vec![i, d], 0.5);
        put(format!("{p}.mlp.down_proj.weight"), vec![d, i], 0.5);
        put(format!("{p}.input_layernorm.weight"), vec![d], 1.0);
        put(format!("{p}.post_attention_layernorm.weight"), vec![d], 1.0);
    }
    put("model.norm.weight".into(), vec![d], 1.0);
    put("lm_head.weight".into(), vec![c.vocab_size, d], 0.5);
    w
}

// ---- a plain reference, straight from the HF Llama definition ----
fn matvec(w: &[f32], out: usize, inp: usize, x: &[f64]) -> Vec<f64> {
    (0..out)
        .map(|o| (0..inp).map(|i| w[o * inp + i] as f64 * x[i]).sum())
        .collect()
}
fn rms(x: &[f64], w: &[f32], eps: f64) -> Vec<f64> {
    let r = (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64 + eps).sqrt();
    x.iter().zip(w).map(|(v, g)| v / r * *g as f64).collect()
}
fn rope(x: &mut [f64], pos: usize, theta: f64) {
    let hd = x.len();
    let half = hd / 2;
    let orig = x.to_vec();
    for i in 0..hd {
        let f = pos as f64 / theta.powf(2.0 * (i % half) as f64 / hd as f64);
        let rot = if i < half {
            -orig[i + half]
        } else {
            orig[i - half]
        };
        x[i] = orig[i] * f.cos() + rot * f.sin();
    }
}
fn reference(
    c: &DecoderConfig,
    w: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    tokens: &[usize],
) -> Vec<Vec<f64>> {
    let (d, hd, h, kvh, inter) = (
        c.hidden_size,
        c.head_dim(),
        c.num_attention_heads,
        c.kv_heads(),
        c.intermediate_size,
    );
    let g = |n: &str| &w[n].1;
    let mut xs: Vec<Vec<f64>> = tokens
        .iter()
        .map(|&t| {
            g("model.embed_tokens.weight")[t * d..(t + 1) * d]
                .iter()
                .map(|&v| v as f64)
                .collect()
        })
        .collect();
    for l in 0..c.num_hidden_layers {
        let p = format!("model.layers.{l}");
        let normed: Vec<Vec<f64>> = xs
            .iter()
            .map(|x| rms(x, g(&format!("{p}.input_layernorm.weight")), c.rms_norm_eps))
            .collect();
        let q: Vec<Vec<f64>> = normed
            .iter()
            .map(|x| matvec(g(&format!("{p}.self_attn.q_proj.weight")), h * hd, d, x))
            .collect();
        let k: Vec<Vec<f64>> = normed
            .iter()
            .map(|x| matvec(g(&format!("{p}.self_attn.k_proj.weight")), kvh * hd, d, x))
            .collect();
        let v: Vec<Vec<f64>> = normed
            .iter()
            .map(|x| matvec(g(&format!("{p}.self_attn.v_proj.weight")), kvh * hd, d, x))
            .collect();
        let t = tokens.len();
        let mut attn_out = vec![vec![0.0; h * hd]; t];
        for head in 0..h {
            let kv = head / (h / kvh);
            for i in 0..t {
                let mut qi = q[i][head * hd..(head + 1) * hd].to_vec();
                rope(&mut qi, i, c.rope_theta);
                let scores: Vec<f64> = (0..=i)
                    .map(|j| {
                        let mut kj = k[j][kv * hd..(kv + 1) * hd].to_vec();
                        rope(&mut kj, j, c.rope_theta);
                        qi.iter().zip(&kj).map(|(a, b)| a * b).sum::<f64>() / (hd as f64).sqrt()
                    })
                    .collect();
                let m = scores.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for (j, ej) in e.iter().enumerate() {
                    for k2 in 0..hd {
                        attn_out[i][head * hd + k2] += ej / z * v[j][kv * hd + k2];
                    }
                }
            }
        }
        for i in 0..t {
            let o = matvec(
                g(&format!("{p}.self_attn.o_proj.weight")),
                d,
                h * hd,
                &attn_out[i],
            );
            for (x, y) in xs[i].iter_mut().zip(o) {
                *x += y;
            }
            let y = rms(
                &xs[i],
                g(&format!("{p}.post_attention_layernorm.weight")),
                c.rms_norm_eps,
            );
            let gate = matvec(g(&format!("{p}.mlp.gate_proj.weight")), inter, d, &y);
            let up = matvec(g(&format!("{p}.mlp.up_proj.weight")), inter, d, &y);
            let act: Vec<f64> = gate
                .iter()
                .zip(&up)
                .map(|(a, b)| a / (1.0 + (-a).exp()) * b)
                .collect();
            let down = matvec(g(&format!("{p}.mlp.down_proj.weight")), d, inter, &act);
            for (x, y) in xs[i].iter_mut().zip(down) {
                *x += y;
            }
        }
    }
    xs.iter()
        .map(|x| {
            matvec(
                g("lm_head.weight"),
                c.vocab_size,
                d,
                &rms(x, g("model.norm.weight"), c.rms_norm_eps),
            )
        })
        .collect()
}

fn write_hf(
    dir: &std::path::Path,
    c: &DecoderConfig,
    w: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), serde_json::to_string(c).unwrap()).unwrap();
    let bytes: BTreeMap<&String, Vec<u8>> = w
        .iter()
        .map(|(n, (_, v))| (n, v.iter().flat_map(|f| f.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(&String, safetensors::tensor::TensorView)> = w
        .iter()
        .map(|(n, (s, _))| {
            (
                n,
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), &bytes[n])
                    .unwrap(),
            )
        })
        .collect();
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
}

/// The same weights set directly on the modules (burn layout: linear weights `[in, out]`).
fn set_directly(
    c: &DecoderConfig,
    w: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    dev: &Device,
) -> CausalLm {
    let mut lm = c.init_lm(dev);
    let t2 = |n: &str| {
        let (s, v) = &w[n];
        Tensor::<2>::from_data(TensorData::new(v.clone(), [s[0], s[1]]), dev)
    };
    let lin = |n: &str| Param::from_tensor(t2(n).transpose());
    let vec1 = |n: &str| {
        Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(w[n].1.clone(), [w[n].0[0]]),
            dev,
        ))
    };
    lm.model.embed_tokens.weight = Param::from_tensor(t2("model.embed_tokens.weight"));
    for (l, layer) in lm.model.layers.iter_mut().enumerate() {
        let p = format!("model.layers.{l}");
        layer.self_attn.q_proj.weight = lin(&format!("{p}.self_attn.q_proj.weight"));
        layer.self_attn.k_proj.weight = lin(&format!("{p}.self_attn.k_proj.weight"));
        layer.self_attn.v_proj.weight = lin(&format!("{p}.self_attn.v_proj.weight"));
        layer.self_attn.o_proj.weight = lin(&format!("{p}.self_attn.o_proj.weight"));
        layer.mlp.gate_proj.weight = lin(&format!("{p}.mlp.gate_proj.weight"));
        layer.mlp.up_proj.weight = lin(&format!("{p}.mlp.up_proj.weight"));
        layer.mlp.down_proj.weight = lin(&format!("{p}.mlp.down_proj.weight"));
        layer.input_layernorm.weight = vec1(&format!("{p}.input_layernorm.weight"));
        layer.post_attention_layernorm.weight =
            vec1(&format!("{p}.post_attention_layernorm.weight"));
    }
    lm.model.norm.weight = vec1("model.norm.weight");
    lm.lm_head.as_mut().unwrap().weight = lin("lm_head.weight");
    lm
}

fn tokens(v: &[usize], dev: &Device) -> Tensor<2, Int> {
    Tensor::from_data(
        TensorData::new(
            v.iter().map(|&x| x as i64).collect::<Vec<_>>(),
            [1, v.len()],
        ),
        dev,
    )
}

fn rows(t: Tensor<3>) -> Vec<Vec<f32>> {
    let [_, n, v] = t.dims();
    let flat: Vec<f32> = t.into_data().convert::<f32>().try_into_vec().unwrap();
    (0..n).map(|i| flat[i * v..(i + 1) * v].to_vec()).collect()
}

fn close(a: &[Vec<f32>], b: &[Vec<f64>], tol: f64) {
    for (x, y) in a.iter().zip(b) {
        for (p, q) in x.iter().zip(y) {
            assert!((*p as f64 - q).abs() < tol, "{p} vs {q}");
        }
    }
}

#[test]
fn hf_checkpoint_loads_by_name_and_matches_the_reference() {
    let dev = Device::flex();
    let c = cfg();
    let w = hf_weights(&c, 1);
    let dir = tempfile::tempdir().unwrap();
    write_hf(dir.path(), &c, &w);
    let toks = [3usize, 7, 1, 12, 5, 5, 0];
    let expect = reference(&c, &w, &toks);

    let loaded_cfg = DecoderConfig::load(&dir.path().join("config.json")).unwrap();
    let loaded = loaded_cfg
        .init_lm(&dev)
        .load_hf_weights(dir.path())
        .unwrap();
    let got = rows(loaded.forward(tokens(&toks, &dev), None, None));
    close(&got, &expect, 1e-4);
    let direct = rows(set_directly(&c, &w, &dev).forward(tokens(&toks, &dev), None, None));
    close(&direct, &expect, 1e-4);

    // a checkpoint missing a tensor is refused, naming what is missing
    let mut partial = w.clone();
    partial.remove("model.layers.1.mlp.up_proj.weight");
    let dir2 = tempfile::tempdir().unwrap();
    write_hf(dir2.path(), &c, &partial);
    let err = c.init_lm(&dev).load_hf_weights(dir2.path()).unwrap_err();
    assert!(
        matches!(&err, star_model::Error::IncompleteCheckpoint { path, tensors }
            if path == dir2.path() && tensors.len() == 1 && tensors[0].contains("up_proj")),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("lacks 1 tensors") && err.to_string().contains("up_proj"),
        "{err}"
    );
}

#[test]
fn save_load_gives_identical_logits_and_tied_heads_work() {
    let dev = Device::flex();
    let c = cfg();
    let lm = c.init_lm(&dev);
    let dir = tempfile::tempdir().unwrap();
    lm.save_hf_weights(dir.path()).unwrap();
    let back = c.init_lm(&dev).load_hf_weights(dir.path()).unwrap();
    let t = tokens(&[1, 2, 3, 4], &dev);
    assert_eq!(
        rows(lm.forward(t.clone(), None, None)),
        rows(back.forward(t, None, None))
    );

    let tied = DecoderConfig {
        tie_word_embeddings: true,
        ..cfg()
    };
    let lm = tied.init_lm(&dev);
    assert!(lm.lm_head.is_none());
    let dir = tempfile::tempdir().unwrap();
    lm.save_hf_weights(dir.path()).unwrap();
    let back = tied.init_lm(&dev).load_hf_weights(dir.path()).unwrap();
    let t = tokens(&[9, 2, 0], &dev);
    assert_eq!(
        rows(lm.forward(t.clone(), None, None)),
        rows(back.forward(t, None, None))
    );
}

#[test]
fn causal_cache_and_padding() {
    let dev = Device::flex();
    let c = cfg();
    let lm = set_directly(&c, &hf_weights(&c, 2), &dev);
    // causality: later tokens never change earlier logits
    let a = rows(lm.forward(tokens(&[1, 2, 3, 4, 5], &dev), None, None));
    let b = rows(lm.forward(tokens(&[1, 2, 3, 9, 11], &dev), None, None));
    assert_eq!(a[..3], b[..3]);
    assert_ne!(a[3], b[3]);

    // the KV cache: feeding tokens one by one equals recomputing the whole sequence
    let seq = [4usize, 8, 12, 1, 6, 2];
    let full = rows(lm.forward(tokens(&seq, &dev), None, None));
    let mut cache = KvCache::new();
    let first = rows(lm.forward(tokens(&seq[..2], &dev), None, Some(&mut cache)));
    let mut inc = first;
    for &t in &seq[2..] {
        inc.extend(rows(lm.forward(tokens(&[t], &dev), None, Some(&mut cache))));
    }
    assert_eq!(cache.len(), seq.len());
    for (x, y) in inc.iter().zip(&full) {
        for (p, q) in x.iter().zip(y) {
            assert!((p - q).abs() < 1e-4, "{p} vs {q}");
        }
    }
    // greedy generation with the cache equals argmax over full recomputation
    let gen = lm.generate_greedy(&[1, 2, 3], 5, &[]);
    let mut ctx = vec![1usize, 2, 3];
    for &g in &gen {
        let r = rows(lm.forward(tokens(&ctx, &dev), None, None));
        let last = r.last().unwrap();
        let argmax = (0..last.len())
            .max_by(|&i, &j| last[i].total_cmp(&last[j]))
            .unwrap();
        assert_eq!(g as usize, argmax);
        ctx.push(argmax);
    }

    // left padding: the real tokens of a padded row get the unpadded logits
    let short = [7usize, 3, 2];
    let solo = rows(lm.forward(tokens(&short, &dev), None, None));
    let batch = Tensor::<2, Int>::from_data(
        TensorData::new(vec![0i64, 0, 7, 3, 2, 5, 6, 7, 8, 9], [2, 5]),
        &dev,
    );
    let pad = Tensor::<2, Bool>::from_data(
        TensorData::new(
            vec![
                true, true, false, false, false, false, false, false, false, false,
            ],
            [2, 5],
        ),
        &dev,
    );
    let out = lm.forward(batch, Some(pad), None);
    let [_, _, v] = out.dims();
    let row0 = rows(out.slice([0..1, 2..5, 0..v]));
    for (x, y) in row0.iter().zip(&solo) {
        for (p, q) in x.iter().zip(y) {
            assert!((p - q).abs() < 1e-4, "{p} vs {q}");
        }
    }
}
