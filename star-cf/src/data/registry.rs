//! Named datasets: resolve `--dataset NAME [--data DIR]` to a loaded [`Dataset`].
//!
//! - `synthetic`, `synthetic:SEED` or `synthetic:key=value,…`: the seeded generator, with its
//!   default sizes or the ones named ([`SyntheticConfig::from_spec`]);
//! - a [`KnownDataset`] name (`movielens-100k`, `movielens-1m`, `movielens-latest-small`,
//!   `movielens-25m`): loaded from the cache, fetched first if it is not there;
//! - with `--data DIR`: the files in `DIR`, whatever their format (detected), named `NAME`.

use super::load::load_dir;
use super::synthetic::{generate, SyntheticConfig};
use super::{Dataset, PreprocessOptions};
use crate::error::{CfError, Result};
use crate::fetch::{fetch, KnownDataset};
use std::path::Path;

/// Loads the dataset called `name`, from `data_dir` when given, else from the cache under
/// `home` (fetching it if needed).
pub fn load_named(
    name: &str,
    data_dir: Option<&Path>,
    home: &Path,
    opts: &PreprocessOptions,
) -> Result<Dataset> {
    if let Some(dir) = data_dir {
        if !dir.exists() {
            return Err(CfError::Missing {
                path: dir.to_path_buf(),
                hint: Some("--data must be a directory holding the dataset files".into()),
            });
        }
        let mut ds = load_dir(dir, Some(name), opts)?;
        ds.name = name.to_string();
        return Ok(ds);
    }
    if let Some(rest) = name.strip_prefix("synthetic") {
        let spec = match rest.strip_prefix(':') {
            Some(spec) => spec,
            None if rest.is_empty() => "",
            None => return Err(unknown(name)),
        };
        return generate(&SyntheticConfig::from_spec(spec)?);
    }
    let known = KnownDataset::from_name(name).ok_or_else(|| unknown(name))?;
    let dir = fetch(home, known)?;
    let mut ds = load_dir(&dir, Some(known.name()), opts)?;
    ds.name = known.name().to_string();
    Ok(ds)
}

fn unknown(name: &str) -> CfError {
    let known: Vec<&str> = KnownDataset::ALL.iter().map(|d| d.name()).collect();
    CfError::Invalid(format!(
        "unknown dataset `{name}`: use one of {}, synthetic[:SEED | :key=value,...], or pass --data DIR with your own files",
        known.join(", ")
    ))
}
