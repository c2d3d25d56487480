//! The student's tokenizer (Hugging Face `tokenizers`): byte-level BPE trained on a trajectory
//! corpus, with the special tokens of `assets/special_tokens.json` kept atomic: padding, begin
//! and end of sequence, the candidate marker `<item>`, and the segment tags (`<plan>`,
//! `</plan>`, `<tool_call>`, …). Saved and loaded as a standard `tokenizer.json`.

use serde::Deserialize;
use std::path::Path;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder};

/// The shipped special-token definitions.
pub const SPECIAL_TOKENS: &str = include_str!("../../../assets/special_tokens.json");

#[derive(Deserialize)]
struct SpecialSpec {
    pad: String,
    bos: String,
    eos: String,
    unk: String,
    item: String,
    segments: Vec<String>,
}

/// The special tokens, in the order they get ids (0, 1, 2, ...).
pub fn special_tokens() -> Vec<String> {
    let s: SpecialSpec =
        serde_json::from_str(SPECIAL_TOKENS).expect("assets/special_tokens.json is valid");
    let mut v = vec![s.pad, s.bos, s.eos, s.unk, s.item];
    for seg in s.segments {
        v.push(format!("<{seg}>"));
        v.push(format!("</{seg}>"));
    }
    v
}

/// Errors of the tokenizer.
#[derive(Debug, thiserror::Error)]
#[error("tokenizer{}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
pub struct TokenizerError {
    /// The file concerned, if any.
    pub path: Option<std::path::PathBuf>,
    /// What went wrong.
    pub message: String,
}

fn err(path: Option<&Path>, e: impl std::fmt::Display) -> TokenizerError {
    TokenizerError {
        path: path.map(Path::to_path_buf),
        message: e.to_string(),
    }
}

/// A tokenizer with STAR's special tokens.
#[derive(Clone)]
pub struct StarTokenizer {
    inner: Tokenizer,
}

impl std::fmt::Debug for StarTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StarTokenizer(vocab {})", self.vocab_size())
    }
}

impl StarTokenizer {
    /// Trains a byte-level BPE tokenizer of (at most) `vocab_size` tokens on `corpus`.
    pub fn train<I, S>(corpus: I, vocab_size: usize) -> Result<Self, TokenizerError>
    where
        I: Iterator<Item = S> + Send,
        S: AsRef<str> + Send,
    {
        let specials: Vec<AddedToken> = special_tokens()
            .into_iter()
            .map(|t| AddedToken::from(t, true))
            .collect();
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(specials.clone())
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        let mut tk: tokenizers::TokenizerImpl<
            BPE,
            tokenizers::NormalizerWrapper,
            ByteLevel,
            tokenizers::PostProcessorWrapper,
            ByteLevelDecoder,
        > = TokenizerBuilder::new()
            .with_model(BPE::default())
            .with_normalizer(None)
            .with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)))
            .with_post_processor(None)
            .with_decoder(Some(ByteLevelDecoder::default()))
            .build()
            .map_err(|e| err(None, e))?;
        tk.train(&mut trainer, corpus).map_err(|e| err(None, e))?;
        let mut inner: Tokenizer = tk.into();
        inner.add_special_tokens(&specials);
        Ok(StarTokenizer { inner })
    }

    /// Loads a `tokenizer.json` (ours or any Hugging Face one).
    ///
    /// The file is checked to be JSON first, and a panic inside the tokenizers crate (it has
    /// some on damaged files) is turned into an error naming the file.
    pub fn load(path: &Path) -> Result<Self, TokenizerError> {
        let text = std::fs::read_to_string(path).map_err(|e| err(Some(path), e))?;
        serde_json::from_str::<serde::de::IgnoredAny>(&text)
            .map_err(|e| err(Some(path), format!("not JSON: {e}")))?;
        let parsed = std::panic::catch_unwind(|| text.parse::<Tokenizer>());
        let inner = match parsed {
            Ok(result) => result.map_err(|e| err(Some(path), e))?,
            Err(panic) => {
                let message = star_cf::error::panic_message(panic.as_ref());
                return Err(err(Some(path), format!("not a tokenizer: {message}")));
            }
        };
        Ok(StarTokenizer { inner })
    }

    /// Adds the STAR special tokens a foreign tokenizer (a pretrained base's) lacks, as
    /// special tokens after its own ids; returns how many were added.
    pub fn add_star_tokens(&mut self) -> usize {
        let missing: Vec<AddedToken> = special_tokens()
            .into_iter()
            .filter(|t| self.inner.token_to_id(t).is_none())
            .map(|t| AddedToken::from(t, true))
            .collect();
        self.inner.add_special_tokens(&missing)
    }

    /// Writes `tokenizer.json` through a temporary file renamed into place, so a crash never
    /// leaves a file cut short.
    pub fn save(&self, path: &Path) -> Result<(), TokenizerError> {
        star_cf::fsutil::write_atomic_path(path, |tmp| self.inner.save(tmp, false))
            .map_err(|e| err(None, e))
    }

    /// Vocabulary size including special tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Token ids of `text` (special tokens in the text become their single ids).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(|e| err(None, e))?
            .get_ids()
            .to_vec())
    }

    /// Text of `ids` (special tokens kept).
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.inner.decode(ids, false).map_err(|e| err(None, e))
    }

    /// Text of `ids` with special tokens left out (a chat model's answer).
    pub fn decode_text(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.inner.decode(ids, true).map_err(|e| err(None, e))
    }

    /// The id of a token (e.g. `<recommend>`).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The underlying Hugging Face tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }
}
