//! The causal language model (`model.*` + `lm_head`) and Hugging Face checkpoint I/O.

use super::config::DecoderConfig;
use super::decoder::{Decoder, KvCache};
use crate::cross_entropy::cross_entropy;
use crate::error::{Error, Result};
use crate::linear_cross_entropy::{linear_cross_entropy, TokenLoss};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::store::{
    BurnToPyTorchAdapter, FloatCastAdapter, ModuleAdapter, ModuleSnapshot, PyTorchToBurnAdapter,
    SafetensorsStore,
};
use std::collections::HashMap;
use std::path::Path;

/// Prompt positions run in one pass by [`CausalLm::generate_greedy`].
pub const PREFILL_CHUNK: usize = 512;

/// The weights file of a Hugging Face checkpoint directory (unsharded).
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// A decoder with its output head, named like Hugging Face's `LlamaForCausalLM` /
/// `Qwen2ForCausalLM` (`model.*`, `lm_head.weight`).
#[derive(Module, Debug)]
pub struct CausalLm {
    /// The trunk.
    pub model: Decoder,
    /// Output projection; `None` when tied to the input embedding.
    pub lm_head: Option<Linear>,
}

impl DecoderConfig {
    /// Initialises a causal LM with random weights.
    pub fn init_lm(&self, device: &Device) -> CausalLm {
        CausalLm {
            model: self.init_decoder(device),
            lm_head: (!self.tie_word_embeddings).then(|| {
                LinearConfig::new(self.hidden_size, self.vocab_size)
                    .with_bias(false)
                    .init(device)
            }),
        }
    }
}

impl CausalLm {
    /// Vocabulary logits `[B, T, V]` of hidden states `[B, T, d]`.
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        lm_logits(&self.model, self.lm_head.as_ref(), hidden)
    }

    /// The weighted next-token loss of hidden states `[N, d]` (see [`lm_token_loss`]).
    pub fn token_loss(
        &self,
        hidden: Tensor<2>,
        targets: Tensor<1, Int>,
        row_weights: Tensor<1>,
    ) -> TokenLoss {
        lm_token_loss(
            &self.model,
            self.lm_head.as_ref(),
            hidden,
            targets,
            row_weights,
        )
    }

    /// Logits of `tokens` `[B, T]` (see [`Decoder::forward_embeddings`] for `pad` and `cache`).
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        pad: Option<Tensor<2, Bool>>,
        cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        let x = self.model.embed(tokens);
        self.logits(self.model.forward_embeddings(x, pad, cache))
    }

    /// Greedy generation of up to `max_new` tokens after `prompt`, with the KV cache; stops at
    /// any token of `stop`. Returns the new tokens.
    ///
    /// A long prompt is run in chunks of [`PREFILL_CHUNK`] positions through the cache, so the
    /// attention scores of one chunk (not of the whole prompt squared) are in memory at a time.
    /// Under dynamic rope scaling the prompt runs whole, as transformers runs it: its
    /// frequencies depend on the length of the pass.
    pub fn generate_greedy(&self, prompt: &[u32], max_new: usize, stop: &[u32]) -> Vec<u32> {
        let device = self.model.embed_tokens.weight.device();
        let mut cache = KvCache::new();
        let ids = |v: &[u32]| token_row(v, &device);
        let mut out = Vec::new();
        let chunk = if self.model.rotary.is_dynamic() {
            prompt.len().max(1)
        } else {
            PREFILL_CHUNK
        };
        let mut chunks = prompt.chunks(chunk).peekable();
        let mut logits = loop {
            let part = chunks.next().unwrap_or(&[]);
            if chunks.peek().is_none() {
                break self.forward(ids(part), None, Some(&mut cache));
            }
            // only the cache matters for the chunks before the last
            let x = self.model.embed(ids(part));
            self.model.forward_embeddings(x, None, Some(&mut cache));
        };
        for _ in 0..max_new {
            let [_, t, v] = logits.dims();
            let last = logits.slice([0..1, t - 1..t, 0..v]).reshape([v]);
            let next = last.argmax(0).into_scalar::<i64>() as u32;
            out.push(next);
            if stop.contains(&next) {
                break;
            }
            logits = self.forward(ids(&[next]), None, Some(&mut cache));
        }
        out
    }

    /// The same model with `vocab` token rows (at least its present count): the embedding (and
    /// an untied output head) gain rows set to the mean of the existing ones, as transformers'
    /// `resize_token_embeddings` centres new rows, so new tokens start as an average token.
    pub fn resize_vocab(mut self, vocab: usize) -> Self {
        let grow = |w: Tensor<2>| {
            let [rows, d] = w.dims();
            if vocab <= rows {
                return w;
            }
            let mean = w.clone().mean_dim(0).expand([vocab - rows, d]);
            Tensor::cat(vec![w, mean], 0).detach()
        };
        let embed = &mut self.model.embed_tokens;
        embed.weight = burn::module::Param::from_tensor(grow(embed.weight.val()));
        if let Some(head) = self.lm_head.as_mut() {
            // burn's Linear weight is [in, out]: the vocabulary is the second dimension
            let w = grow(head.weight.val().transpose()).transpose().detach();
            head.weight = burn::module::Param::from_tensor(w);
        }
        self
    }

    /// Loads weights from a Hugging Face safetensors file (`model.safetensors`, or the shards
    /// listed in `model.safetensors.index.json`) in `dir`, converting to f32. Every parameter
    /// must be found (the output head may be absent when embeddings are tied).
    pub fn load_hf_weights(mut self, dir: &Path) -> Result<Self> {
        load_hf(&mut self, dir)?;
        Ok(self)
    }

    /// Writes the weights as `model.safetensors` in Hugging Face layout (`[out, in]` linear
    /// weights, `model.` prefix).
    pub fn save_hf_weights(&self, dir: &Path) -> Result<()> {
        save_hf(self, dir)
    }
}

/// One row of token ids `[1, T]` on `device`.
pub fn token_row(ids: &[u32], device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(
        TensorData::new(
            ids.iter().map(|&x| x as i64).collect::<Vec<_>>(),
            [1, ids.len()],
        ),
        device,
    )
}

/// Vocabulary logits `[B, T, V]` of hidden states: through `lm_head`, or the input embedding
/// when tied.
pub fn lm_logits(model: &Decoder, lm_head: Option<&Linear>, hidden: Tensor<3>) -> Tensor<3> {
    match lm_head {
        Some(head) => head.forward(hidden),
        None => {
            let [b, t, d] = hidden.dims();
            let w = model.embed_tokens.weight.val();
            let v = w.dims()[0];
            hidden
                .reshape([b * t, d])
                .matmul(w.transpose())
                .reshape([b, t, v])
        }
    }
}

/// The weighted next-token loss of hidden states `[N, d]` against `targets [N]`, with
/// `row_weights [N]` (see [`linear_cross_entropy`]): the head and its cross-entropy fused, so the
/// `[N, V]` logits are never stored. A head with a bias (never built here) goes through its
/// logits.
pub fn lm_token_loss(
    model: &Decoder,
    lm_head: Option<&Linear>,
    hidden: Tensor<2>,
    targets: Tensor<1, Int>,
    row_weights: Tensor<1>,
) -> TokenLoss {
    let weight = match lm_head {
        Some(head) if head.bias.is_some() => {
            let [n, d] = hidden.dims();
            let logits = lm_logits(model, Some(head), hidden.reshape([1, n, d]));
            let v = logits.dims()[2];
            let nll = cross_entropy(logits.reshape([n, v]), targets);
            return TokenLoss {
                loss: (nll.clone() * row_weights.detach()).sum(),
                nll: nll.detach(),
            };
        }
        // burn's Linear keeps [in, out]; the fused loss takes the embedding's [V, d]
        Some(head) => head.weight.val().transpose(),
        None => model.embed_tokens.weight.val(),
    };
    linear_cross_entropy(hidden, weight, targets, row_weights)
}

/// Loads a module's parameters from the Hugging Face safetensors file(s) of `dir` by name,
/// converting to f32; every parameter must be found.
pub(crate) fn load_hf<M: ModuleSnapshot>(module: &mut M, dir: &Path) -> Result<()> {
    let files = weight_files(dir)?;
    let mut applied = std::collections::HashSet::new();
    let mut missing = Vec::new();
    let mut unused = Vec::new();
    for file in &files {
        let mut store = SafetensorsStore::from_file(file)
            .with_from_adapter(
                PyTorchToBurnAdapter.chain(FloatCastAdapter::to(burn::tensor::DType::F32)),
            )
            .allow_partial(true);
        let r = module
            .load_from(&mut store)
            .map_err(|e| Error::Safetensors {
                path: file.clone(),
                message: e.to_string(),
            })?;
        if !r.errors.is_empty() {
            return Err(Error::Safetensors {
                path: file.clone(),
                message: format!("{:?}", r.errors),
            });
        }
        applied.extend(r.applied);
        missing = r.missing.into_iter().map(|m| m.0).collect();
        // transformers recomputes the rotary frequencies and ignores saved copies of them
        unused.extend(
            r.unused
                .into_iter()
                .filter(|name| !name.ends_with("rotary_emb.inv_freq")),
        );
    }
    if !unused.is_empty() {
        unused.sort();
        return Err(Error::UnusedTensors {
            path: dir.to_path_buf(),
            tensors: unused,
        });
    }
    let missing: Vec<String> = missing
        .into_iter()
        .filter(|m| !applied.contains(m))
        .collect();
    if !missing.is_empty() {
        return Err(Error::IncompleteCheckpoint {
            path: dir.to_path_buf(),
            tensors: missing,
        });
    }
    Ok(())
}

/// Writes a module's parameters to `dir/model.safetensors` in Hugging Face layout (burn's
/// safetensors store writes a scratch file and renames it into place).
pub(crate) fn save_hf<M: ModuleSnapshot>(module: &M, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(WEIGHTS_FILE);
    star_cf::fsutil::remove_stale_temps(&path);
    let mut store = SafetensorsStore::from_file(&path)
        .with_to_adapter(BurnToPyTorchAdapter)
        .overwrite(true);
    module
        .save_into(&mut store)
        .map_err(|e| Error::Safetensors {
            path: path.clone(),
            message: e.to_string(),
        })
}

/// Tensor shapes from the headers of the weight files of `dir`, without reading the tensors.
fn weight_shapes(dir: &Path) -> Result<HashMap<String, Vec<usize>>> {
    use std::io::Read;
    let mut out = HashMap::new();
    for file in weight_files(dir)? {
        let err = |message: String| Error::Safetensors {
            path: file.clone(),
            message,
        };
        let io = |e: std::io::Error| Error::io(&file, e);
        let mut f = std::fs::File::open(&file).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        let mut prefix = [0u8; 8];
        f.read_exact(&mut prefix)
            .map_err(|_| err("too short for a safetensors file".into()))?;
        let n = u64::from_le_bytes(prefix);
        if n > len.saturating_sub(8) {
            return Err(err(format!(
                "the header length says {n} bytes, the file has {len}"
            )));
        }
        let mut header = vec![0u8; n as usize];
        f.read_exact(&mut header).map_err(io)?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| err(format!("header: {e}")))?;
        for (name, t) in header {
            if name == "__metadata__" {
                continue;
            }
            let shape = t
                .get("shape")
                .and_then(|s| s.as_array())
                .and_then(|a| {
                    a.iter()
                        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                        .collect::<Option<Vec<usize>>>()
                })
                .ok_or_else(|| err(format!("tensor `{name}` has no valid shape")))?;
            out.insert(name, shape);
        }
    }
    Ok(out)
}

/// Checks, before anything is allocated, that the weight files of `dir` hold the tensors a
/// configuration implies: the embedding and each layer's MLP and key projection for the
/// decoder, plus `extra`. A configuration whose sizes the files do not back (a damaged or
/// foreign config.json) is an error naming the tensor, not an allocation of its sizes.
pub(crate) fn check_weight_shapes(
    cfg: &DecoderConfig,
    dir: &Path,
    extra: &[(&str, Vec<usize>)],
) -> Result<()> {
    let shapes = weight_shapes(dir)?;
    if cfg.num_hidden_layers > shapes.len() {
        return Err(Error::Config {
            path: Some(dir.to_path_buf()),
            field: "num_hidden_layers",
            message: format!(
                "config.json has {} layers, the weights hold {} tensors",
                cfg.num_hidden_layers,
                shapes.len()
            ),
        });
    }
    let h = cfg.hidden_size;
    let mut expected = vec![(
        "model.embed_tokens.weight".to_string(),
        vec![cfg.vocab_size, h],
    )];
    for i in 0..cfg.num_hidden_layers {
        expected.push((
            format!("model.layers.{i}.mlp.gate_proj.weight"),
            vec![cfg.intermediate_size, h],
        ));
        expected.push((
            format!("model.layers.{i}.self_attn.k_proj.weight"),
            vec![cfg.kv_heads() * cfg.head_dim(), h],
        ));
    }
    expected.extend(extra.iter().map(|(n, s)| (n.to_string(), s.clone())));
    for (name, want) in expected {
        match shapes.get(&name) {
            None => {
                return Err(Error::MissingTensor {
                    path: dir.to_path_buf(),
                    tensor: name,
                    expected: Some(want),
                })
            }
            Some(have) if *have != want => {
                return Err(Error::TensorShape {
                    path: dir.to_path_buf(),
                    tensor: name,
                    found: have.clone(),
                    expected: format!("config.json implies {want:?}"),
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The safetensors files of a model directory.
fn weight_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let single = dir.join(WEIGHTS_FILE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&index).map_err(|_| Error::NoWeights {
        dir: dir.to_path_buf(),
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|source| Error::Json {
        path: index.clone(),
        source,
    })?;
    let index_err = |message: String| Error::Safetensors {
        path: index.clone(),
        message,
    };
    let mut files: Vec<String> = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| index_err("no weight_map".into()))?
        .values()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect();
    files.sort();
    files.dedup();
    if let Some(bad) = files
        .iter()
        .find(|f| Path::new(f).components().count() != 1 || f.starts_with('.'))
    {
        return Err(index_err(format!(
            "weight file `{bad}` is not a file name in the model directory"
        )));
    }
    Ok(files.into_iter().map(|f| dir.join(f)).collect())
}
