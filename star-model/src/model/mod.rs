//! The STAR student as a recommender: [`StarModel`] bundles the network ([`StarNet`]), its
//! tokenizer and configuration, loads and saves a model directory, and ranks requests in fast
//! mode (one forward pass) or explain mode (generation with live tool calls). It implements
//! `star-cf`'s [`Ranker`] and [`CatalogueScorer`]. [`StarEnsemble`] ranks with several
//! students at once.
//!
//! A model directory holds `config.json` (Hugging Face decoder fields plus a `star` section),
//! `model.safetensors` (decoder tensors under Hugging Face names, the rest under `star.*`) and
//! `tokenizer.json`.

mod base;
mod config;
mod ensemble;
mod explain;
mod features;
mod net;
mod prompt;
mod rerank;

pub use config::{ChatWrap, EvidenceMode, ModelConfig, StarConfig};
pub use ensemble::StarEnsemble;
pub use explain::{Decoding, Explanation, Greedy, Sampling, ToolExecutor};
pub use features::{
    evidence_features, evidence_text, sequence_features, EVIDENCE_FEATURES, NUM_EVIDENCE_FEATURES,
    NUM_SEQUENCE_FEATURES, SEQUENCE_FEATURES,
};
pub use net::{BatchRow, PromptBatch, StarHead, StarNet};
pub use prompt::{ItemBinding, Prompt, PromptBuilder, PromptError, TokenCache, ITEM_MARKER};
pub use rerank::{Reranked, DEFAULT_RERANK};

use crate::error::{Error, Result};
use crate::student::{check_weight_shapes, load_hf, save_hf, Segment, StarTokenizer};
use burn::module::Param;
use burn::prelude::*;
use explain::ControlTokens;
use star_cf::evidence::EvidenceStore;
use star_cf::{CatalogueScorer, ItemId, RankError, RankRequest, Ranker, Ranking};
use std::path::Path;
use std::sync::Arc;

/// How [`StarModel`] ranks as a [`Ranker`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InferenceMode {
    /// Prompt + `<recommend>`, scores from one forward pass (`student-fast`).
    #[default]
    Fast,
    /// Greedy generation with live tool calls, then scores (`student-explain`).
    Explain,
}

/// What a model needs to answer requests about a dataset.
#[derive(Clone)]
struct Binding {
    items: ItemBinding,
    store: Option<Arc<EvidenceStore>>,
}

/// The STAR student: network, tokenizer and configuration, optionally bound to a dataset.
#[derive(Clone)]
pub struct StarModel {
    net: StarNet,
    tokenizer: StarTokenizer,
    config: ModelConfig,
    recommend_id: u32,
    pad_id: u32,
    binding: Option<Binding>,
    mode: InferenceMode,
    name: Option<String>,
    batch_size: usize,
    cache: Arc<TokenCache>,
    /// The sequential model behind the sequence features ([`StarModel::with_sequence_evidence`]).
    sequence: Option<Arc<dyn Ranker>>,
    /// The tools explain mode calls ([`StarModel::with_tools`]).
    tools: Option<Arc<dyn ToolExecutor>>,
}

impl std::fmt::Debug for StarModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StarModel")
            .field("config", &self.config)
            .field("mode", &self.mode)
            .field("bound", &self.binding.is_some())
            .finish()
    }
}

/// The model directory's file names.
pub const CONFIG_FILE: &str = "config.json";
/// The weights file (written and read by the student's Hugging Face checkpoint I/O).
pub use crate::student::WEIGHTS_FILE;
/// The tokenizer file.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

impl StarModel {
    /// Bundles a network with its tokenizer and configuration. The tokenizer must have the STAR
    /// special tokens and fit the decoder's vocabulary.
    pub fn new(net: StarNet, tokenizer: StarTokenizer, config: ModelConfig) -> Result<Self> {
        config.validate()?;
        if tokenizer.vocab_size() > config.decoder.vocab_size {
            return Err(Error::mismatch(format!(
                "the tokenizer has {} tokens but the decoder only {}",
                tokenizer.vocab_size(),
                config.decoder.vocab_size
            )));
        }
        let id = |t: &str| tokenizer.token_id(t).ok_or_else(|| Error::missing_token(t));
        let (recommend_id, pad_id) = (id(&Segment::Recommend.open())?, id("<pad>")?);
        id(ITEM_MARKER)?;
        let rows = net.star.item_embeddings.val().dims()[0];
        if rows != config.star.items.len() + 1 {
            return Err(Error::mismatch(format!(
                "the item table has {rows} rows, expected {} items + 1",
                config.star.items.len()
            )));
        }
        Ok(StarModel {
            net,
            tokenizer,
            config,
            recommend_id,
            pad_id,
            binding: None,
            mode: InferenceMode::Fast,
            name: None,
            batch_size: 16,
            cache: Arc::default(),
            sequence: None,
            tools: None,
        })
    }

    /// A model with random weights whose item table holds `cf_items` `[items, cf_dim]` (the
    /// CF encoder's item embeddings, rows in the order of `config.star.items`).
    pub fn init(
        config: ModelConfig,
        tokenizer: StarTokenizer,
        cf_items: Tensor<2>,
        device: &Device,
    ) -> Result<Self> {
        let lm = config.decoder.init_lm(device);
        Self::around(lm, config, tokenizer, cf_items, device)
    }

    /// [`StarModel::init`] around a given causal LM (random, or a pretrained base's).
    fn around(
        lm: crate::student::CausalLm,
        config: ModelConfig,
        tokenizer: StarTokenizer,
        cf_items: Tensor<2>,
        device: &Device,
    ) -> Result<Self> {
        let [n, dim] = cf_items.dims();
        if n != config.star.items.len() || dim != config.star.cf_dim {
            return Err(Error::mismatch(format!(
                "CF item embeddings are [{n}, {dim}], the configuration wants [{}, {}]",
                config.star.items.len(),
                config.star.cf_dim
            )));
        }
        let mut net = config.net_with(lm, device);
        let table = Tensor::cat(
            vec![cf_items.to_device(device), Tensor::zeros([1, dim], device)],
            0,
        );
        net.star.item_embeddings = Param::from_tensor(table).set_require_grad(false);
        StarModel::new(net, tokenizer, config)
    }

    /// Loads a model directory onto `device`. Errors name the file.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let config = ModelConfig::load(&dir.join(CONFIG_FILE))?;
        let tokenizer = StarTokenizer::load(&dir.join(TOKENIZER_FILE))?;
        let (s, d) = (&config.star, config.decoder.hidden_size);
        check_weight_shapes(
            &config.decoder,
            dir,
            &[
                ("star.item_embeddings", vec![s.items.len() + 1, s.cf_dim]),
                ("star.item_key.weight", vec![s.rank_dim, s.cf_dim]),
                ("star.query.weight", vec![s.rank_dim, d]),
                ("star.evidence_proj.weight", vec![d, s.marker_features()]),
            ],
        )?;
        let mut net = config.init_net(device);
        load_hf(&mut net, dir)?;
        StarModel::new(net, tokenizer, config).map_err(|e| e.at(dir))
    }

    /// Writes the model directory as a whole: the files go to a sibling directory that then
    /// replaces `dir`, so a crash leaves either the old directory or the new one (or none),
    /// never a mix or a directory with files missing.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let name = dir
            .file_name()
            .ok_or_else(|| {
                let e =
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a directory name");
                Error::io(dir, e)
            })?
            .to_string_lossy()
            .into_owned();
        let sibling =
            |what: &str| dir.with_file_name(format!(".{name}.{what}-{}", std::process::id()));
        let (tmp, old) = (sibling("tmp"), sibling("old"));
        // what saves killed part-way left (under another pid's names)
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
            let n = entry.file_name().to_string_lossy().into_owned();
            if n.starts_with(&format!(".{name}.tmp-")) || n.starts_with(&format!(".{name}.old-")) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        self.config.save(&tmp.join(CONFIG_FILE))?;
        self.tokenizer.save(&tmp.join(TOKENIZER_FILE))?;
        if self.net.model.has_lora() {
            // a saved model is a plain checkpoint: the adapters folded into the weights
            let mut merged = self.net.clone();
            merged.model = merged.model.merge_lora();
            save_hf(&merged, &tmp)?;
        } else {
            save_hf(&self.net, &tmp)?;
        }
        let had_old = dir.exists();
        if had_old {
            std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
        }
        if let Err(e) = std::fs::rename(&tmp, dir) {
            if had_old {
                let _ = std::fs::rename(&old, dir); // put the old model back
            }
            return Err(Error::io(dir, e));
        }
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }

    /// The network.
    pub fn net(&self) -> &StarNet {
        &self.net
    }

    /// Replaces the network (e.g. after a training step); shapes must match the configuration.
    pub fn with_net(mut self, net: StarNet) -> Self {
        self.net = net;
        self
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &StarTokenizer {
        &self.tokenizer
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The device the network is on.
    pub fn device(&self) -> Device {
        self.net.model.embed_tokens.weight.device()
    }

    /// Binds the model to a dataset: its items' raw ids (indexed by [`ItemId`]), the evidence
    /// store built from its train split (needed unless the evidence mode is
    /// [`EvidenceMode::None`]).
    pub fn bind(mut self, dataset_raw_ids: &[String], store: Option<Arc<EvidenceStore>>) -> Self {
        self.binding = Some(Binding {
            items: ItemBinding::new(dataset_raw_ids, &self.config.star.items),
            store,
        });
        self
    }

    /// Sets the sequential model whose scores of a request's candidates become their sequence
    /// features (before or after [`StarModel::bind`]; needed when the configuration has
    /// [`StarConfig::sequence_evidence`]). It must rank the bound dataset's items. Training
    /// prompts should come from a model that did not train on their targets (cross-fitted),
    /// evaluation prompts from the one trained on the whole train split.
    pub fn with_sequence_evidence(mut self, sequence: Arc<dyn Ranker>) -> Self {
        self.sequence = Some(sequence);
        self
    }

    /// Sets the tools explain mode calls (before or after [`StarModel::bind`]).
    pub fn with_tools(mut self, tools: Arc<dyn ToolExecutor>) -> Self {
        self.tools = Some(tools);
        self
    }

    /// Sets how [`Ranker::rank`] works.
    pub fn with_mode(mut self, mode: InferenceMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the method name in results (default `student-fast` / `student-explain`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the explain-mode token budget (generated tokens before `<recommend>` is forced);
    /// saved with the model.
    pub fn with_max_new_tokens(mut self, n: usize) -> Self {
        self.config.star.max_new_tokens = n;
        self
    }

    /// Sets how many requests [`StarModel::score_batch`] runs per forward pass (default 16;
    /// on burn's CPU backends larger batches were slower per request, see BENCHMARKS.md).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The dataset binding's item map.
    pub fn items(&self) -> Option<&ItemBinding> {
        self.binding.as_ref().map(|b| &b.items)
    }

    fn binding(&self) -> Result<&Binding> {
        self.binding.as_ref().ok_or(Error::NotBound)
    }

    /// The prompt of a request.
    pub fn prompt(&self, request: &RankRequest) -> Result<Prompt> {
        let b = self.binding()?;
        let p = PromptBuilder::new(
            &self.tokenizer,
            &self.config.star,
            &b.items,
            b.store.as_deref(),
        )
        .with_cache(&self.cache)
        .with_sequence(self.sequence.as_deref())
        .build(request)?;
        self.check_length(p.tokens.len() + 1)?;
        Ok(p)
    }

    /// Checks that a sequence of `tokens` tokens fits the model's positions.
    pub fn check_length(&self, tokens: usize) -> Result<()> {
        let max = self.config.decoder.max_position_embeddings;
        if tokens > max {
            return Err(Error::PromptTooLong { tokens, max });
        }
        Ok(())
    }

    /// Fast-mode scores of prompts (each + `<recommend>`), one forward pass per chunk of at
    /// most the batch size with equal candidate counts; scores in each request's candidate
    /// order. On a CPU device the chunks run on [`crate::topk::cpu_threads`] threads (burn's
    /// CPU backends use about one core per forward pass).
    pub fn score_prompts(&self, prompts: &[Prompt]) -> Result<Vec<Vec<f32>>> {
        for p in prompts {
            self.check_length(p.tokens.len() + 1)?;
        }
        let device = self.device();
        let threads = if crate::topk::is_cpu(&device) {
            crate::topk::cpu_threads()
        } else {
            1
        };
        let mut order: Vec<usize> = (0..prompts.len()).collect();
        order.sort_by_key(|&i| prompts[i].candidates.len());
        let per_chunk = self.batch_size.min(prompts.len().div_ceil(threads).max(1));
        let chunks: Vec<&[usize]> = order
            .chunk_by(|&a, &b| prompts[a].candidates.len() == prompts[b].candidates.len())
            .flat_map(|g| g.chunks(per_chunk))
            .collect();
        let results = crate::parallel::map_ordered(&chunks, threads, |chunk| {
            self.score_chunk(prompts, chunk, &device)
        });
        let mut out = vec![Vec::new(); prompts.len()];
        for (chunk, scores) in chunks.iter().zip(results) {
            let scores = scores?;
            let c = prompts[chunk[0]].candidates.len();
            for (k, &i) in chunk.iter().enumerate() {
                out[i] = scores[k * c..(k + 1) * c].to_vec();
            }
        }
        Ok(out)
    }

    /// Scores `[chunk × C]` (flat) of one chunk of prompts with equal candidate counts.
    fn score_chunk(
        &self,
        prompts: &[Prompt],
        chunk: &[usize],
        device: &Device,
    ) -> Result<Vec<f32>> {
        if prompts[chunk[0]].candidates.is_empty() {
            return Ok(Vec::new());
        }
        let suffix = [self.recommend_id];
        let rows: Vec<BatchRow> = chunk
            .iter()
            .map(|&i| BatchRow {
                prompt: &prompts[i],
                continuation: &suffix,
                recommend: prompts[i].tokens.len(),
            })
            .collect();
        let batch = PromptBatch::new(&rows, self.pad_id, device);
        self.net
            .candidate_scores(self.net.hidden(&batch), &batch)
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .map_err(Error::data("scores"))
    }

    /// Fast-mode scores of requests (batched, see [`StarModel::with_batch_size`]).
    pub fn score_batch(&self, requests: &[RankRequest]) -> Result<Vec<Vec<f32>>> {
        let prompts = requests
            .iter()
            .map(|r| self.prompt(r))
            .collect::<Result<Vec<_>, _>>()?;
        self.score_prompts(&prompts)
    }

    /// Explain mode for one request with the given decoding (greedy: [`Greedy`]).
    pub fn explain_with(
        &self,
        request: &RankRequest,
        decoding: &mut dyn Decoding,
    ) -> Result<Explanation> {
        let prompt = self.prompt(request)?;
        let ctl = ControlTokens::of(&self.tokenizer)?;
        let tools = self.tools.as_deref();
        explain::explain(
            &self.net,
            &self.tokenizer,
            &ctl,
            request,
            &prompt,
            tools,
            decoding,
            self.config.star.max_new_tokens,
            self.config.decoder.max_position_embeddings,
        )
    }

    /// Explain mode with greedy decoding.
    pub fn explain(&self, request: &RankRequest) -> Result<Explanation> {
        self.explain_with(request, &mut Greedy)
    }

    /// The ranking query `[B, r]` of requests (fast mode), for full-catalogue ranking.
    pub fn queries(&self, requests: &[RankRequest]) -> Result<Tensor<2>> {
        let prompts = requests
            .iter()
            .map(|r| self.prompt(r))
            .collect::<Result<Vec<_>, _>>()?;
        let suffix = [self.recommend_id];
        let rows: Vec<BatchRow> = prompts
            .iter()
            .map(|p| BatchRow {
                prompt: p,
                continuation: &suffix,
                recommend: p.tokens.len(),
            })
            .collect();
        let batch = PromptBatch::new(&rows, self.pad_id, &self.device());
        let h = self.net.hidden(&batch);
        let [b, t, d] = h.dims();
        Ok(self
            .net
            .query(h.reshape([b * t, d]).select(0, batch.recommend_index)))
    }

    /// The top `k` items of the whole catalogue for each request, through the fused top-k
    /// kernel ([`crate::topk::score_topk`]) over the context-free item keys; items in the
    /// request's history are left out. Returns dataset items with scores, best first.
    pub fn top_k_catalogue(
        &self,
        requests: &[RankRequest],
        k: usize,
    ) -> Result<Vec<Vec<(ItemId, f32)>>> {
        let b = self.binding()?;
        let q = self.queries(requests)?;
        let extra = requests.iter().map(|r| r.history.len()).max().unwrap_or(0);
        let (scores, idx) = crate::topk::score_topk(q, self.net.catalogue_keys(), k + extra);
        let [bq, kk] = scores.dims();
        let scores: Vec<f32> = scores
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .map_err(Error::data("top-k scores"))?;
        let idx: Vec<i64> = idx
            .into_data()
            .convert::<i64>()
            .try_into_vec()
            .map_err(Error::data("top-k indices"))?;
        Ok((0..bq)
            .map(|i| {
                let seen: std::collections::HashSet<ItemId> =
                    requests[i].history.iter().copied().collect();
                (0..kk)
                    .filter_map(|j| {
                        let item = b.items.item_of_row(idx[i * kk + j] as u32)?;
                        (!seen.contains(&item)).then_some((item, scores[i * kk + j]))
                    })
                    .take(k)
                    .collect()
            })
            .collect())
    }
}

impl Ranker for StarModel {
    fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            match self.mode {
                InferenceMode::Fast => "student-fast",
                InferenceMode::Explain => "student-explain",
            }
            .into()
        })
    }

    fn rank(&self, request: &RankRequest) -> Result<Ranking, RankError> {
        let scores = match self.mode {
            InferenceMode::Fast => self
                .score_batch(std::slice::from_ref(request))?
                .pop()
                .unwrap_or_default(),
            InferenceMode::Explain => self.explain(request)?.scores,
        };
        Ok(Ranking::from_scores(&request.candidates, &scores))
    }
}

impl CatalogueScorer for StarModel {
    fn name(&self) -> String {
        Ranker::name(self)
    }

    /// Scores of every dataset item against the request's query (context-free item keys;
    /// items the model does not know score 0).
    fn score_all(&self, request: &RankRequest) -> Result<Vec<f32>, RankError> {
        let b = self.binding()?;
        let q = self.queries(std::slice::from_ref(request))?;
        let all: Vec<f32> = self
            .net
            .catalogue_keys()
            .matmul(q.transpose())
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .map_err(Error::data("catalogue scores"))?;
        Ok((0..b.items.len())
            .map(|i| {
                b.items
                    .row(ItemId::from(i))
                    .map_or(0.0, |r| all[r as usize])
            })
            .collect())
    }
}
