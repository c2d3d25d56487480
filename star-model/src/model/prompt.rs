//! The student's prompt: the recent history and the candidates as `<item>` markers, with the
//! CST evidence as marker features or as text.
//!
//! ```text
//! <s>History:<item><item>…<item>
//! Candidates: 50<item> 181<item> … 77<item>
//! Candidates: 50 users 12/50, co-watched 8 recent, popularity #34, genres 60%<item> …   (EvidenceMode::Text)
//! ```
//!
//! Each marker closes its item's entry, so under causal attention the marker's hidden state has
//! seen the item's raw id and evidence; its input embedding adds the projected CF embedding
//! (and, for candidates in [`EvidenceMode::Features`], the projected evidence features). Fast
//! mode appends `<recommend>`; explain mode generates from the prompt on.
//!
//! Tokens are produced piece by piece (text between special tokens is tokenised on its own by
//! the tokenizer anyway), and pieces without evidence text are cached, so building a prompt
//! costs a few microseconds beyond the evidence look-ups. A test checks the tokens equal the
//! tokenizer's encoding of [`Prompt::text`].

use super::config::{EvidenceMode, StarConfig};
use super::features::{evidence_features, evidence_text, sequence_features, NUM_EVIDENCE_FEATURES};
use crate::student::{StarTokenizer, TokenizerError};
use star_cf::evidence::EvidenceStore;
use star_cf::{ItemId, RankError, RankRequest, Ranker};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The marker token.
pub const ITEM_MARKER: &str = "<item>";

/// Token ids of prompt pieces that recur (item ids, fixed text), shared by the prompts of a
/// model. Holds at most [`TokenCache::CAPACITY`] pieces; it starts over when full.
#[derive(Debug, Default)]
pub struct TokenCache {
    map: RwLock<HashMap<String, Arc<[u32]>>>,
}

impl TokenCache {
    /// Pieces kept before the cache starts over.
    pub const CAPACITY: usize = 1 << 20;

    fn encode(&self, tok: &StarTokenizer, piece: &str) -> Result<Arc<[u32]>, TokenizerError> {
        if let Some(ids) = self.map.read().expect("token cache").get(piece) {
            return Ok(ids.clone());
        }
        let ids: Arc<[u32]> = tok.encode(piece)?.into();
        let mut map = self.map.write().expect("token cache");
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(piece.to_string(), ids.clone());
        Ok(ids)
    }
}

/// How a dataset's items map onto a model's item table.
#[derive(Clone, Debug)]
pub struct ItemBinding {
    raw_ids: Vec<String>,
    rows: Vec<u32>,
    /// The dataset item of each model row, if the dataset has it.
    items_of_rows: Vec<Option<ItemId>>,
    known: usize,
    unknown_row: u32,
}

impl ItemBinding {
    /// Binds the items of a dataset (raw ids indexed by [`ItemId`]) to a model whose item table
    /// rows are `model_items` (raw ids). Items the model does not know map to its zero row.
    pub fn new(dataset_raw_ids: &[String], model_items: &[String]) -> Self {
        let index: HashMap<&str, u32> = model_items
            .iter()
            .enumerate()
            .map(|(r, id)| (id.as_str(), r as u32))
            .collect();
        let unknown_row = model_items.len() as u32;
        let rows: Vec<u32> = dataset_raw_ids
            .iter()
            .map(|id| index.get(id.as_str()).copied().unwrap_or(unknown_row))
            .collect();
        let known = rows.iter().filter(|&&r| r != unknown_row).count();
        let mut items_of_rows = vec![None; model_items.len()];
        for (i, &r) in rows.iter().enumerate() {
            if r != unknown_row {
                items_of_rows[r as usize] = Some(ItemId::from(i));
            }
        }
        ItemBinding {
            raw_ids: dataset_raw_ids.to_vec(),
            rows,
            items_of_rows,
            known,
            unknown_row,
        }
    }

    /// The model row of an item, or `None` when the model does not know it (or the id is out of
    /// the dataset's range).
    pub fn row(&self, item: ItemId) -> Option<u32> {
        self.rows
            .get(item.idx())
            .copied()
            .filter(|&r| r != self.unknown_row)
    }

    /// The row used in tensors (the zero row for unknown items).
    pub fn row_or_zero(&self, item: ItemId) -> u32 {
        self.row(item).unwrap_or(self.unknown_row)
    }

    /// The dataset item of a model row, if the dataset has it.
    pub fn item_of_row(&self, row: u32) -> Option<ItemId> {
        self.items_of_rows.get(row as usize).copied().flatten()
    }

    /// The raw id of a dataset item.
    pub fn raw_id(&self, item: ItemId) -> Option<&str> {
        self.raw_ids.get(item.idx()).map(String::as_str)
    }

    /// Dataset items.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the dataset has no items.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Dataset items the model knows.
    pub fn known(&self) -> usize {
        self.known
    }
}

/// A tokenised prompt with its item markers.
#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    /// The prompt text (special tokens written out).
    pub text: String,
    /// Its token ids.
    pub tokens: Vec<u32>,
    /// Token positions of the `<item>` markers, in order.
    pub markers: Vec<usize>,
    /// Item-table row of each marker (the zero row for unknown items).
    pub rows: Vec<u32>,
    /// Features of each marker, `markers × feature_dim`: the evidence features (zeros outside
    /// [`EvidenceMode::Features`]), then the sequence features when the configuration has
    /// them; zeros for history markers.
    pub features: Vec<f32>,
    /// Features per marker ([`StarConfig::marker_features`]).
    pub feature_dim: usize,
    /// For each candidate of the request, in request order, the index of its marker.
    pub candidates: Vec<usize>,
    /// The sequential model's score of each candidate, in request order (higher is better;
    /// non-finite where it gave none), when the configuration has sequence evidence: the
    /// numbers behind the sequence features, and the soft targets of distillation.
    pub sequence_scores: Option<Vec<f32>>,
}

/// Why a prompt cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// An item of the request is not in the dataset the binding was made for.
    #[error("item {0} is outside the bound dataset")]
    UnknownItem(ItemId),
    /// The evidence mode needs an evidence store and none was given.
    #[error("evidence mode {0:?} needs an evidence store")]
    NoEvidence(EvidenceMode),
    /// The model was trained with sequence evidence (`star.sequence_evidence` in its
    /// configuration) and no sequential model was given.
    #[error(
        "the model was trained with sequence evidence (star.sequence_evidence) and no sequential model scores the candidates; bind one with StarModel::with_sequence_evidence"
    )]
    NoSequenceEvidence,
    /// The sequential model failed, or returned no score for a candidate.
    #[error("sequence evidence: {0}")]
    Sequence(String),
    /// The tokenizer failed or lacks the marker.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The tokenizer lacks a special token the prompt needs.
    #[error("the tokenizer has no `{0}` token")]
    MissingToken(String),
    /// A piece of prompt text (e.g. an item's raw id) contains a special token.
    #[error("prompt text `{0}` contains a special token")]
    SpecialInText(String),
    /// [`PromptBuilder::build`] on a builder made by [`PromptBuilder::text_only`].
    #[error(
        "this prompt builder renders text only (PromptBuilder::text_only): it has no tokenizer"
    )]
    NoTokenizer,
}

/// Builds prompts for requests.
pub struct PromptBuilder<'a> {
    tokenizer: Option<&'a StarTokenizer>,
    config: &'a StarConfig,
    items: &'a ItemBinding,
    store: Option<&'a EvidenceStore>,
    cache: Option<&'a TokenCache>,
    sequence: Option<&'a dyn Ranker>,
}

impl<'a> PromptBuilder<'a> {
    /// A builder; `store` is needed unless the evidence mode is [`EvidenceMode::None`].
    pub fn new(
        tokenizer: &'a StarTokenizer,
        config: &'a StarConfig,
        items: &'a ItemBinding,
        store: Option<&'a EvidenceStore>,
    ) -> Self {
        PromptBuilder {
            tokenizer: Some(tokenizer),
            config,
            items,
            store,
            cache: None,
            sequence: None,
        }
    }

    /// A builder that renders prompt text only ([`PromptBuilder::text`]), with no tokenizer:
    /// e.g. to collect the corpus a tokenizer is trained on, before there is one.
    pub fn text_only(
        config: &'a StarConfig,
        items: &'a ItemBinding,
        store: Option<&'a EvidenceStore>,
    ) -> Self {
        PromptBuilder {
            tokenizer: None,
            config,
            items,
            store,
            cache: None,
            sequence: None,
        }
    }

    /// Caches the tokens of recurring pieces in `cache`.
    pub fn with_cache(mut self, cache: &'a TokenCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Scores the candidates with `sequence` for the sequence features (needed when the
    /// configuration has [`StarConfig::sequence_evidence`]).
    pub fn with_sequence(mut self, sequence: Option<&'a dyn Ranker>) -> Self {
        self.sequence = sequence;
        self
    }

    /// The sequential model's scores of the request's candidates, in request order (`None`
    /// when the configuration has no sequence evidence).
    fn sequence_scores(&self, request: &RankRequest) -> Result<Option<Vec<f32>>, PromptError> {
        if !self.config.sequence_evidence {
            return Ok(None);
        }
        let ranker = self.sequence.ok_or(PromptError::NoSequenceEvidence)?;
        let ranking = ranker
            .rank(request)
            .map_err(|e: RankError| PromptError::Sequence(format!("{}: {e}", ranker.name())))?;
        let scores = ranking.scores.as_deref().ok_or_else(|| {
            PromptError::Sequence(format!("{} returned no scores", ranker.name()))
        })?;
        let of: HashMap<ItemId, f32> = ranking
            .items
            .iter()
            .copied()
            .zip(scores.iter().copied())
            .collect();
        let scores = request
            .candidates
            .iter()
            .map(|c| {
                of.get(c).copied().ok_or_else(|| {
                    PromptError::Sequence(format!("{} gave no score for item {c}", ranker.name()))
                })
            })
            .collect::<Result<Vec<f32>, _>>()?;
        Ok(Some(scores))
    }

    /// The prompt of `request`.
    pub fn build(&self, request: &RankRequest) -> Result<Prompt, PromptError> {
        let tok = self.tokenizer.ok_or(PromptError::NoTokenizer)?;
        self.render(request, Some(tok))
    }

    /// The prompt text of `request` ([`Prompt::text`]), without tokenising it.
    pub fn text(&self, request: &RankRequest) -> Result<String, PromptError> {
        Ok(self.render(request, None)?.text)
    }

    /// The prompt of `request`; only its text when `tok` is `None`.
    fn render(
        &self,
        request: &RankRequest,
        tok: Option<&StarTokenizer>,
    ) -> Result<Prompt, PromptError> {
        let mode = self.config.evidence;
        if let Some(&bad) = request
            .candidates
            .iter()
            .chain(&request.history)
            .find(|i| i.idx() >= self.items.len())
        {
            return Err(PromptError::UnknownItem(bad));
        }
        let h = &request.history;
        let shown = &h[h.len().saturating_sub(self.config.history)..];
        let evidence = match (mode, self.store) {
            (EvidenceMode::None, _) => None,
            (_, Some(store)) => Some((store, store.evidence(request))),
            (_, None) => return Err(PromptError::NoEvidence(mode)),
        };

        let marker = match tok {
            Some(tok) => tok
                .token_id(ITEM_MARKER)
                .ok_or_else(|| PromptError::MissingToken(ITEM_MARKER.to_string()))?,
            None => 0,
        };
        let mut p = Pieces {
            tok,
            cache: self.cache,
            text: String::with_capacity(64 + 24 * request.candidates.len()),
            tokens: Vec::with_capacity(16 + shown.len() + 4 * request.candidates.len()),
            markers: Vec::with_capacity(shown.len() + request.candidates.len()),
            marker,
        };
        match &self.config.chat {
            Some(chat) => p.piece(&chat.prefix, true)?,
            None => p.special("<s>")?,
        }
        p.piece("History:", true)?;
        let mut rows = Vec::with_capacity(shown.len() + request.candidates.len());
        for &i in shown {
            p.marker();
            rows.push(self.items.row_or_zero(i));
        }
        p.piece("\nCandidates:", true)?;
        // the text does not show them: a text-only prompt needs no sequential model
        let sequence_scores = match tok {
            Some(_) => self.sequence_scores(request)?,
            None => None,
        };
        let sequence = sequence_scores.as_deref().map(sequence_features);
        let f = self.config.marker_features();
        let mut features = vec![0.0f32; (shown.len() + request.candidates.len()) * f];
        let mut piece = String::new();
        for (j, &c) in request.candidates.iter().enumerate() {
            piece.clear();
            piece.push(' ');
            piece.push_str(self.items.raw_id(c).unwrap_or("?"));
            let mut cacheable = true;
            if let Some((store, ev)) = &evidence {
                let ev = &ev.candidates[j];
                match mode {
                    EvidenceMode::Features => {
                        let hist = h.len().min(store.config().max_history);
                        let m = shown.len() + j;
                        features[m * f..m * f + NUM_EVIDENCE_FEATURES].copy_from_slice(
                            &evidence_features(ev, hist, store.graph().num_items()),
                        );
                    }
                    EvidenceMode::Text => {
                        piece.push(' ');
                        piece.push_str(&evidence_text(ev, store.config().recent_window));
                        cacheable = false;
                    }
                    EvidenceMode::None => {}
                }
            }
            if let Some(seq) = &sequence {
                let m = shown.len() + j;
                features[m * f + NUM_EVIDENCE_FEATURES..(m + 1) * f].copy_from_slice(&seq[j]);
            }
            p.piece(&piece, cacheable)?;
            p.marker();
            rows.push(self.items.row_or_zero(c));
        }
        if let Some(chat) = &self.config.chat {
            p.piece(&chat.suffix, true)?;
        }
        let (text, tokens, markers) = (p.text, p.tokens, p.markers);
        Ok(Prompt {
            text,
            tokens,
            markers,
            rows,
            features,
            feature_dim: f,
            candidates: (shown.len()..shown.len() + request.candidates.len()).collect(),
            sequence_scores,
        })
    }
}

/// Text and tokens built piece by piece (text only without a tokenizer).
struct Pieces<'a> {
    tok: Option<&'a StarTokenizer>,
    cache: Option<&'a TokenCache>,
    text: String,
    tokens: Vec<u32>,
    markers: Vec<usize>,
    marker: u32,
}

impl Pieces<'_> {
    fn special(&mut self, token: &str) -> Result<(), PromptError> {
        self.text.push_str(token);
        if let Some(tok) = self.tok {
            let id = tok
                .token_id(token)
                .ok_or_else(|| PromptError::MissingToken(token.to_string()))?;
            self.tokens.push(id);
        }
        Ok(())
    }

    fn piece(&mut self, piece: &str, cacheable: bool) -> Result<(), PromptError> {
        self.text.push_str(piece);
        let Some(tok) = self.tok else {
            return Ok(());
        };
        let start = self.tokens.len();
        match (self.cache, cacheable) {
            (Some(cache), true) => self.tokens.extend_from_slice(&cache.encode(tok, piece)?),
            _ => self.tokens.extend(tok.encode(piece)?),
        }
        if self.tokens[start..].contains(&self.marker) {
            return Err(PromptError::SpecialInText(piece.to_string()));
        }
        Ok(())
    }

    fn marker(&mut self) {
        self.text.push_str(ITEM_MARKER);
        self.markers.push(self.tokens.len());
        self.tokens.push(self.marker);
    }
}
