//! The STAR student: a Llama/Qwen2/Qwen3/Mistral decoder ([`CausalLm`]) with Hugging Face checkpoint
//! I/O.

mod chat_lm;
mod chat_template;
mod config;
mod decoder;
mod hf_config;
mod lm;
mod lora;
mod rope;
mod segment;
mod tokenizer;

pub use chat_lm::ChatLm;
pub use chat_template::ChatTemplate;
pub(crate) use config::load_config;
pub use config::{Architecture, DecoderConfig, LayerType, MAX_POSITIONS};
pub use decoder::{Decoder, DecoderLayer, KvCache, LlamaRmsNorm, Mlp, SelfAttention};
pub(crate) use lm::{check_weight_shapes, load_hf, save_hf};
pub use lm::{lm_logits, lm_token_loss, token_row, CausalLm, PREFILL_CHUNK, WEIGHTS_FILE};
pub use lora::{LoraAdapter, LoraConfig, LoraTarget};
pub use rope::{RopeScaling, RopeSpec, Rotary};
pub use segment::Segment;
pub use tokenizer::{special_tokens, StarTokenizer, TokenizerError, SPECIAL_TOKENS};
