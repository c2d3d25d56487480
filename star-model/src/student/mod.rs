//! The STAR student: a Llama/Qwen2-style decoder ([`CausalLm`]) with Hugging Face checkpoint
//! I/O.

mod config;
mod decoder;
mod lm;
mod segment;
mod tokenizer;

pub(crate) use config::load_config;
pub use config::{DecoderConfig, MAX_POSITIONS};
pub use decoder::{Decoder, DecoderLayer, KvCache, LlamaRmsNorm, Mlp, Rotary, SelfAttention};
pub(crate) use lm::{check_weight_shapes, load_hf, save_hf};
pub use lm::{lm_logits, token_row, CausalLm, WEIGHTS_FILE};
pub use segment::Segment;
pub use tokenizer::{special_tokens, StarTokenizer, TokenizerError, SPECIAL_TOKENS};
