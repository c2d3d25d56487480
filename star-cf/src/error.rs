//! The error type of `star-cf`. Every variant names the file, line or id that caused it.

use std::path::PathBuf;

/// Result alias used throughout `star-cf`.
pub type Result<T, E = CfError> = std::result::Result<T, E>;

/// Errors from loading, splitting, sampling and evidence look-ups.
#[derive(Debug, thiserror::Error)]
pub enum CfError {
    /// A file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A line of a file could not be parsed.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// A file is not in the expected format as a whole (wrong header, missing columns, ...).
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file that must hold records holds none.
    #[error("{}: file is empty (no records)", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A record refers to a user or item id that the dataset does not have.
    #[error("{}:{line}: unknown {kind} id `{id}`", path.display())]
    UnknownId {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// `"user"` or `"item"`.
        kind: &'static str,
        /// The raw id as written in the file.
        id: String,
    },
    /// A required file is missing from a dataset directory.
    #[error("{}: file not found{}", path.display(), hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Missing {
        /// The path that was looked for.
        path: PathBuf,
        /// What to do about it.
        hint: Option<String>,
    },
    /// A dataset could not be downloaded or verified.
    #[error("fetching {dataset}: {message}")]
    Fetch {
        /// The dataset name.
        dataset: String,
        /// What went wrong, and where to put the files by hand.
        message: String,
    },
    /// Anything else that is invalid (bad options, too small a catalogue, ...).
    #[error("{0}")]
    Invalid(String),
}

impl CfError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CfError::Io {
            path: path.into(),
            source,
        }
    }

    /// A parse error at `path:line`.
    pub fn parse(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        CfError::Parse {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    /// A whole-file format error.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        CfError::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The message of a caught panic (`std::panic::catch_unwind`'s payload), or `""` when it is not
/// a string.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}
