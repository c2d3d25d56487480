//! # star-model
//!
//! burn modules for STAR: the CF encoders (BPR-MF, LightGCN), SASRec, the student (a
//! Llama/Qwen2/Qwen3/Mistral decoder that loads Hugging Face checkpoints exactly, with CF item
//! fusion and a ranking head; [`student::ChatLm`] runs a Hugging Face chat checkpoint with its
//! template), the fused top-k scoring kernel, and the fused training operations with their own
//! backward passes ([`cross_entropy`], [`linear_cross_entropy`], [`softmax`], [`swiglu`], the
//! LightGCN propagation in [`cf::spmm`]). It depends on burn and on `star-cf`'s plain data
//! types only, so other burn applications can embed it.
//!
//! Modules are backend-agnostic (burn 0.22 dispatches on the runtime [`burn::tensor::Device`]);
//! [`device`] turns a `--device` name into a device among the backends compiled in. Fallible
//! functions return [`Error`], whose variants name the file, tensor, field or device at fault.

// burn 0.22 deprecates its NdArray backend, which the `ndarray` feature still offers; the
// backend operations' generated dispatch names it (their `backend_extension` output cannot
// carry an `allow` of its own).
#![cfg_attr(feature = "ndarray", allow(deprecated))]

#[macro_use]
mod backend_operation;
pub mod cf;
pub mod cross_entropy;
pub mod device;
pub mod dropout;
pub mod error;
#[cfg(feature = "flex")]
mod flex_host;
pub mod linear_cross_entropy;
pub mod model;
mod parallel;
pub mod sasrec;
pub mod softmax;
pub mod student;
pub mod swiglu;
pub mod topk;

pub use device::{available_devices, device_from_name};
pub use error::{Error, Result};
