//! # star-model
//!
//! burn modules for STAR: the CF encoder (BPR-MF, LightGCN), the student decoder transformer
//! and the fused top-k scoring kernel. It depends on burn and on `star-cf`'s plain data types
//! only, so other burn applications can embed it.
//!
//! *Not implemented yet.* This crate is a shell until the CF-encoder and student-model issues
//! land; it already selects the burn backends (`flex` by default, `ndarray`, `wgpu`, `cuda`).
