//! The error type of `star-eval`. Every variant names the file or input that caused it.

use std::path::PathBuf;

/// Result alias used throughout `star-eval`.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;

/// Errors from setting up an evaluation and from reading or writing results.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A results file is not valid JSON of the expected shape.
    #[error("{}: not a star-eval results file: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What the parser said (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A plot could not be drawn or written.
    #[error("{}: cannot draw the plot: {message}", path.display())]
    Plot {
        /// The figure being written.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A results file or figure is readable but incomplete or wrong; every problem is listed.
    #[error("{}: {}", path.display(), problems.join("; "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, one entry per problem (naming the method and key).
        problems: Vec<String>,
    },
    /// The dataset, split and candidate set handed to the runner do not belong together.
    #[error("inputs do not match: {0}")]
    Mismatch(String),
    /// An error from `star-cf` (it names its own file).
    #[error(transparent)]
    Cf(#[from] star_cf::CfError),
}

impl EvalError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io {
            path: path.into(),
            source,
        }
    }
}
