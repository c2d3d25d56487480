//! Final CF embeddings as a standalone record, saved as safetensors.

use crate::error::{Error, Result};
use burn::module::Param;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, ModuleStore, SafetensorsStore};
use std::path::Path;

/// Final user and item embeddings, saved as a safetensors file with the tensors `users`
/// `[num_users, dim]` and `items` `[num_items, dim]`.
#[derive(Module, Debug)]
pub struct CfEmbeddings {
    /// User embeddings.
    pub users: Param<Tensor<2>>,
    /// Item embeddings.
    pub items: Param<Tensor<2>>,
}

impl CfEmbeddings {
    /// Wraps two embedding matrices (detached from any autodiff graph).
    pub fn new(users: Tensor<2>, items: Tensor<2>) -> Self {
        CfEmbeddings {
            users: Param::from_tensor(users.detach()),
            items: Param::from_tensor(items.detach()),
        }
    }

    /// Scores `[B, N]` of users against items: `users[u] · items[i]`.
    pub fn scores(&self, users: Tensor<1, Int>, items: Tensor<1, Int>) -> Tensor<2> {
        let u = self.users.val().select(0, users);
        let i = self.items.val().select(0, items);
        u.matmul(i.transpose())
    }

    /// Writes the embeddings to a safetensors file (replacing it).
    pub fn save_safetensors(&self, path: &Path) -> Result<()> {
        // burn's safetensors store writes a scratch file and renames it into place
        star_cf::fsutil::remove_stale_temps(path);
        let mut store = SafetensorsStore::from_file(path).overwrite(true);
        self.save_into(&mut store).map_err(|e| Error::Safetensors {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Reads embeddings written by [`CfEmbeddings::save_safetensors`] (or any safetensors file
    /// with 2-D float tensors `users` and `items`).
    pub fn load_safetensors(path: &Path, device: &Device) -> Result<Self> {
        let err = |e: &dyn std::fmt::Display| Error::Safetensors {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mut store = SafetensorsStore::from_file(path);
        let shapes = store.get_all_tensors().map_err(|e| err(&e))?;
        let shape = |name: &str| -> Result<[usize; 2]> {
            let t = shapes.get(name).ok_or_else(|| Error::MissingTensor {
                path: path.to_path_buf(),
                tensor: name.to_string(),
                expected: None,
            })?;
            match t.shape.as_slice() {
                &[a, b] => Ok([a, b]),
                other => Err(Error::TensorShape {
                    path: path.to_path_buf(),
                    tensor: name.to_string(),
                    found: other.to_vec(),
                    expected: "expected 2 dimensions".into(),
                }),
            }
        };
        let (su, si) = (shape("users")?, shape("items")?);
        let mut out = CfEmbeddings::new(Tensor::zeros(su, device), Tensor::zeros(si, device));
        let applied = out.load_from(&mut store).map_err(|e| err(&e))?;
        if !applied.errors.is_empty() {
            return Err(err(&format!("{:?}", applied.errors)));
        }
        Ok(out)
    }
}
