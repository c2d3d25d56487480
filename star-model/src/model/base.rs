//! A student started from a pretrained Hugging Face checkpoint instead of random weights: the
//! base's decoder weights and its own `tokenizer.json`, with the STAR special tokens added and
//! the embeddings resized to them, and its chat template (when it has one) around the prompt.
//! The STAR head (item fusion, ranking) starts at random.

use super::{ChatWrap, ModelConfig, StarConfig, StarModel};
use crate::error::Result;
use crate::student::{ChatTemplate, DecoderConfig, LoraConfig, StarTokenizer};
use burn::prelude::*;
use std::path::Path;

impl StarModel {
    /// A student whose decoder is the checkpoint in `base` (`config.json`, weights,
    /// `tokenizer.json`; every architecture the decoder loads exactly) and whose item table
    /// holds `cf_items` `[items, cf_dim]`. The tokenizer gains the STAR special tokens it lacks;
    /// the vocabulary grows to hold them, new embedding rows starting at the mean row. Errors
    /// name the file and what the loader does not implement.
    pub fn from_base(
        base: &Path,
        mut star: StarConfig,
        cf_items: Tensor<2>,
        device: &Device,
    ) -> Result<Self> {
        let mut decoder = DecoderConfig::load(&base.join("config.json"))?;
        // the base's chat template, when it has one, frames the prompt as the user's turn
        star.chat = match ChatTemplate::find(base)? {
            Some(template) => {
                let (prefix, suffix) = template.user_turn()?;
                Some(ChatWrap { prefix, suffix })
            }
            None => None,
        };
        let mut tokenizer = StarTokenizer::load(&base.join(super::TOKENIZER_FILE))?;
        tokenizer.add_star_tokens();
        let lm = decoder
            .init_lm(device)
            .load_hf_weights(base)?
            .resize_vocab(tokenizer.vocab_size());
        decoder.vocab_size = decoder.vocab_size.max(tokenizer.vocab_size());
        StarModel::around(
            lm,
            ModelConfig::new(decoder, star),
            tokenizer,
            cf_items,
            device,
        )
    }

    /// The model with LoRA adapters on its decoder (`cfg.targets` of every layer), the
    /// decoder's layer weights frozen; the token embedding and the STAR head stay trainable.
    /// [`StarModel::save`] folds the adapters into the weights.
    pub fn with_lora(self, cfg: &LoraConfig) -> Result<Self> {
        if cfg.rank == 0 || cfg.targets.is_empty() || !(cfg.alpha.is_finite() && cfg.alpha > 0.0) {
            return Err(crate::error::Error::config(
                "lora",
                format!(
                    "LoRA needs a positive rank, a positive finite alpha and at least one target (rank {}, alpha {}, {} targets)",
                    cfg.rank,
                    cfg.alpha,
                    cfg.targets.len()
                ),
            ));
        }
        let device = self.device();
        let mut net = self.net().clone();
        net.model = net.model.with_lora(cfg, &device);
        Ok(self.with_net(net))
    }
}
