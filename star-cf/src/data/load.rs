//! Recognising a dataset directory by the files in it, and loading it with the right loader.

use super::{generic, movielens, recbole, Dataset, PreprocessOptions};
use crate::error::{CfError, Result};
use std::fmt;
use std::path::{Path, PathBuf};

/// The on-disk dataset formats [`load_dir`] recognises.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DatasetFormat {
    /// MovieLens 100K: `u.data` (+ `u.item`, `u.user`, `u.genre`).
    MovieLens100k,
    /// MovieLens 1M: `ratings.dat` (+ `movies.dat`, `users.dat`).
    MovieLens1m,
    /// MovieLens CSV releases (latest-small, 20M, 25M): `ratings.csv` (+ `movies.csv`).
    MovieLensCsv,
    /// RecBole atomic files: `<name>.inter` (+ `<name>.item`, `<name>.user`).
    RecBole,
    /// The generic format: `interactions.csv|.tsv|.jsonl` (+ `items.*`, `users.*`).
    Generic,
}

const GENERIC_EXTENSIONS: [&str; 5] = ["csv", "tsv", "tab", "jsonl", "ndjson"];

impl DatasetFormat {
    /// Every format, in the order [`detect_format`] tries them.
    pub const ALL: [DatasetFormat; 5] = [
        DatasetFormat::MovieLens100k,
        DatasetFormat::MovieLens1m,
        DatasetFormat::MovieLensCsv,
        DatasetFormat::RecBole,
        DatasetFormat::Generic,
    ];

    /// The files that identify the format (required first, optional in parentheses).
    pub fn expected_files(self) -> &'static str {
        match self {
            DatasetFormat::MovieLens100k => "u.data (+ u.item, u.user, u.genre)",
            DatasetFormat::MovieLens1m => "ratings.dat (+ movies.dat, users.dat)",
            DatasetFormat::MovieLensCsv => "ratings.csv (+ movies.csv)",
            DatasetFormat::RecBole => "<name>.inter (+ <name>.item, <name>.user)",
            DatasetFormat::Generic => "interactions.csv|.tsv|.jsonl (+ items.*, users.*)",
        }
    }

    /// Whether `dir` itself holds this format's required file.
    fn is_in(self, dir: &Path) -> bool {
        match self {
            DatasetFormat::MovieLens100k => dir.join("u.data").is_file(),
            DatasetFormat::MovieLens1m => dir.join("ratings.dat").is_file(),
            DatasetFormat::MovieLensCsv => dir.join("ratings.csv").is_file(),
            DatasetFormat::RecBole => !inter_files(dir).is_empty(),
            DatasetFormat::Generic => generic_file(dir, "interactions").is_some(),
        }
    }
}

impl fmt::Display for DatasetFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DatasetFormat::MovieLens100k => "MovieLens 100K",
            DatasetFormat::MovieLens1m => "MovieLens 1M",
            DatasetFormat::MovieLensCsv => "MovieLens CSV",
            DatasetFormat::RecBole => "RecBole atomic files",
            DatasetFormat::Generic => "generic CSV/JSONL",
        })
    }
}

/// The format of the dataset in `dir`, or in one of its subdirectories (e.g. `dir/ml-100k/`).
pub fn detect_format(dir: &Path) -> Option<DatasetFormat> {
    locate(dir).map(|(format, _)| format)
}

/// Detects the format of `dir` (or of a subdirectory) and loads it.
///
/// `name` renames the dataset; by default MovieLens 100K/1M keep their fixed names, RecBole
/// files are named by their `*.inter` file and the CSV formats by their directory. With several
/// `*.inter` files, `name` picks one.
pub fn load_dir(dir: &Path, name: Option<&str>, opts: &PreprocessOptions) -> Result<Dataset> {
    if !dir.is_dir() {
        return Err(CfError::Missing {
            path: dir.to_path_buf(),
            hint: Some("a dataset directory, e.g. ml-100k/ holding u.data".into()),
        });
    }
    let Some((format, root)) = locate(dir) else {
        let expected: Vec<String> = DatasetFormat::ALL
            .iter()
            .map(|f| format!("{f}: {}", f.expected_files()))
            .collect();
        let message = format!(
            "no dataset recognised here or one level below; expected one of: {}",
            expected.join("; ")
        );
        return Err(CfError::format(dir, message));
    };
    tracing::info!("loading {} from {}", format, root.display());
    let dir_name = root.file_name().map_or_else(
        || "dataset".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut ds = match format {
        DatasetFormat::MovieLens100k => movielens::load_100k(&root, opts)?,
        DatasetFormat::MovieLens1m => movielens::load_1m(&root, opts)?,
        DatasetFormat::MovieLensCsv => movielens::load_csv(&root, name.unwrap_or(&dir_name), opts)?,
        DatasetFormat::RecBole => {
            let stem = pick_inter(&root, name)?;
            recbole::load_atomic(&root, &stem, opts)?
        }
        DatasetFormat::Generic => {
            let interactions = generic_file(&root, "interactions").unwrap_or_default();
            let items = generic_file(&root, "items");
            let users = generic_file(&root, "users");
            let name = name.unwrap_or(&dir_name);
            generic::load_generic(
                &interactions,
                items.as_deref(),
                users.as_deref(),
                name,
                opts,
            )?
        }
    };
    if let Some(name) = name {
        ds.name = name.to_string();
    }
    Ok(ds)
}

/// The first format found in `dir`, else in its subdirectories (in name order).
fn locate(dir: &Path) -> Option<(DatasetFormat, PathBuf)> {
    let here = |d: &Path| DatasetFormat::ALL.into_iter().find(|f| f.is_in(d));
    if let Some(format) = here(dir) {
        return Some((format, dir.to_path_buf()));
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    subdirs.into_iter().find_map(|d| Some((here(&d)?, d)))
}

/// The `*.inter` files of `dir`, sorted.
fn inter_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "inter"))
        .collect();
    files.sort();
    files
}

/// The RecBole dataset name: the stem of the only `*.inter` file, or the one called `name`.
fn pick_inter(dir: &Path, name: Option<&str>) -> Result<String> {
    let stems: Vec<String> = inter_files(dir)
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
        .collect();
    match (stems.as_slice(), name) {
        ([only], _) => Ok(only.clone()),
        (_, Some(name)) if stems.iter().any(|s| s == name) => Ok(name.to_string()),
        _ => Err(CfError::format(
            dir,
            format!(
                "several RecBole datasets ({}); pass a name to pick one",
                stems.join(".inter, ") + ".inter"
            ),
        )),
    }
}

/// `dir/<stem>.<ext>` for the first generic extension that exists.
fn generic_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    GENERIC_EXTENSIONS
        .iter()
        .map(|ext| dir.join(format!("{stem}.{ext}")))
        .find(|p| p.is_file())
}
