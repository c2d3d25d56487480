//! A model directory's `config.json`: the decoder's Hugging Face fields plus a `star` section.

use crate::error::{Error, Result};
use crate::student::DecoderConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How the CST evidence enters the student's prompt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceMode {
    /// Each candidate marker's input embedding adds a learned projection of the candidate's
    /// evidence features ([`super::EVIDENCE_FEATURES`]); the prompt stays one line per candidate.
    #[default]
    Features,
    /// The evidence is written out as compact text before each candidate marker.
    Text,
    /// No evidence (the `student-no-cst` ablation).
    None,
}

/// A pretrained base's chat template around the STAR prompt: the prompt is the user's turn,
/// and the answer (`<recommend>`, or a trajectory) the assistant's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatWrap {
    /// The template's text before the user's message (system turn, user turn header).
    pub prefix: String,
    /// The text after it: the end of the user's turn and the assistant's turn header.
    pub suffix: String,
}

/// The STAR-specific part of `config.json` (key `star`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StarConfig {
    /// Size of the CF item embeddings fused into `<item>` markers.
    pub cf_dim: usize,
    /// Size of the ranking space (query at `<recommend>`, keys per item).
    pub rank_dim: usize,
    /// History items shown in the prompt (the most recent ones).
    #[serde(default = "default_history")]
    pub history: usize,
    /// How the CST evidence enters the prompt.
    #[serde(default)]
    pub evidence: EvidenceMode,
    /// Each candidate marker also gets the [`super::SEQUENCE_FEATURES`]: what a trained
    /// sequential model (e.g. SASRec) scores the request's candidates, given to the model when
    /// it is bound ([`super::StarModel::with_sequence_evidence`]).
    #[serde(default)]
    pub sequence_evidence: bool,
    /// How many cross-fitted fold models gave the training prompts their sequence evidence
    /// (0: none, or a model written before this was recorded). Training from this model
    /// again (GRPO) must use as many.
    #[serde(default)]
    pub sequence_folds: usize,
    /// Token budget of explain-mode generation before `<recommend>` is forced.
    #[serde(default = "default_max_new")]
    pub max_new_tokens: usize,
    /// Raw ids of the rows of the item table, in row order (a dataset's items are matched to
    /// rows by raw id; unknown items get a zero CF embedding).
    pub items: Vec<String>,
    /// A pretrained base's chat template around the prompt; `None`: the prompt starts with
    /// `<s>` (the small student trained from scratch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<ChatWrap>,
}

fn default_history() -> usize {
    20
}
fn default_max_new() -> usize {
    1024
}

impl StarConfig {
    /// A configuration for `items` (raw ids) with CF embeddings of size `cf_dim`.
    pub fn new(items: Vec<String>, cf_dim: usize) -> Self {
        StarConfig {
            cf_dim,
            rank_dim: 64,
            history: default_history(),
            evidence: EvidenceMode::default(),
            sequence_evidence: false,
            sequence_folds: 0,
            max_new_tokens: default_max_new(),
            items,
            chat: None,
        }
    }

    /// Features per `<item>` marker: the [`super::EVIDENCE_FEATURES`], then the
    /// [`super::SEQUENCE_FEATURES`] when [`StarConfig::sequence_evidence`] is on.
    pub fn marker_features(&self) -> usize {
        super::NUM_EVIDENCE_FEATURES
            + if self.sequence_evidence {
                super::NUM_SEQUENCE_FEATURES
            } else {
                0
            }
    }
}

/// The whole `config.json` of a model directory: Hugging Face decoder fields at the top level
/// (so standard tools read it) and the STAR part under `star`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Hugging Face architecture names (informational).
    #[serde(default)]
    pub architectures: Vec<String>,
    /// The decoder.
    #[serde(flatten)]
    pub decoder: DecoderConfig,
    /// The STAR part.
    pub star: StarConfig,
}

impl ModelConfig {
    /// Joins a decoder and a STAR configuration.
    pub fn new(decoder: DecoderConfig, star: StarConfig) -> Self {
        ModelConfig {
            architectures: vec![decoder.model_type.causal_lm_class().into()],
            decoder,
            star,
        }
    }

    /// Checks that the parts fit together.
    pub fn validate(&self) -> Result<()> {
        self.decoder.validate()?;
        let s = &self.star;
        for (field, v) in [("star.cf_dim", s.cf_dim), ("star.rank_dim", s.rank_dim)] {
            if v == 0 {
                return Err(Error::config(field, format!("{field} must be positive")));
            }
        }
        if s.items.is_empty() {
            return Err(Error::config("star.items", "star.items is empty"));
        }
        Ok(())
    }

    /// Reads `config.json` (errors name the file).
    pub fn load(path: &Path) -> Result<Self> {
        crate::student::load_config(path, ModelConfig::validate)
    }

    /// Writes `config.json` (through a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("config serialises");
        star_cf::fsutil::write_atomic(path, |w| {
            use std::io::Write;
            w.write_all(text.as_bytes())?;
            w.write_all(b"\n")
        })?;
        Ok(())
    }
}
