//! The error type of `star-model`. Every variant names what caused it: the file or model
//! directory, the tensor, the configuration field, the token or the device.

use crate::model::PromptError;
use crate::student::TokenizerError;
use star_cf::{ItemId, UserId};
use std::path::{Path, PathBuf};

/// Result alias used throughout `star-model`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors from loading, saving, configuring and running the models of `star-model`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read, written, created or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (`config.json`, a safetensors index) is not valid JSON or lacks fields.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },
    /// A configuration field is out of range or does not fit the other fields or the weights.
    #[error("{}{message}", at(path))]
    Config {
        /// The configuration file, when the configuration came from one.
        path: Option<PathBuf>,
        /// The field at fault (`hidden_size`, `star.items`, …).
        field: &'static str,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A weights file is damaged or not a safetensors file, or burn's store refused it.
    #[error("{}: {message}", path.display())]
    Safetensors {
        /// The weights file (or the model directory / index naming it).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A model directory holds neither `model.safetensors` nor `model.safetensors.index.json`.
    #[error("{}: no model.safetensors or model.safetensors.index.json", dir.display())]
    NoWeights {
        /// The model directory.
        dir: PathBuf,
    },
    /// A tensor the configuration implies is not in the weights.
    #[error("{}: {}", path.display(), missing_tensor(tensor, expected))]
    MissingTensor {
        /// The weights file or model directory.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// The shape the configuration implies, when it implies one.
        expected: Option<Vec<usize>>,
    },
    /// Parameters of a module were found in no weights file.
    #[error(
        "{}: the checkpoint lacks {} tensors, e.g. {}",
        path.display(),
        tensors.len(),
        tensors.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
    )]
    IncompleteCheckpoint {
        /// The model directory.
        path: PathBuf,
        /// Every parameter not found.
        tensors: Vec<String>,
    },
    /// The weights hold tensors the model has no place for (a part of the architecture the
    /// loader does not implement, or another model's checkpoint).
    #[error(
        "{}: the checkpoint holds {} tensors the model does not use (the loader does not implement what they belong to), e.g. {}",
        path.display(),
        tensors.len(),
        tensors.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
    )]
    UnusedTensors {
        /// The model directory.
        path: PathBuf,
        /// Every tensor left unused.
        tensors: Vec<String>,
    },
    /// A chat template is missing, does not parse, or failed while rendering.
    #[error("{}: chat template: {message}", path.display())]
    Template {
        /// The template file (or the model directory lacking one).
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A tensor in the weights has another shape than the configuration implies.
    #[error("{}: tensor `{tensor}` is {found:?} in the weights, {expected}", path.display())]
    TensorShape {
        /// The weights file or model directory.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// Its shape in the weights.
        found: Vec<usize>,
        /// What was expected (e.g. "config.json implies [8, 16]").
        expected: String,
    },
    /// Parts of a model do not fit together (tokenizer and decoder vocabulary, item table and
    /// item list, user and item embeddings).
    #[error("{}{message}", at(path))]
    Mismatch {
        /// The model directory, when the parts came from one.
        path: Option<PathBuf>,
        /// What does not fit, with both sizes.
        message: String,
    },
    /// The tokenizer failed, or its file is unreadable.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The tokenizer lacks a special token the model needs.
    #[error("{}the tokenizer has no `{token}` token", at(path))]
    MissingToken {
        /// The model directory, when the tokenizer came from one.
        path: Option<PathBuf>,
        /// The token.
        token: String,
    },
    /// A request's prompt could not be built.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// A sequence does not fit the model's positions.
    #[error("a sequence of {tokens} tokens is longer than the model's {max} positions (max_position_embeddings); shorten the history (star.history) or the trajectory")]
    PromptTooLong {
        /// Tokens of the sequence.
        tokens: usize,
        /// `max_position_embeddings`.
        max: usize,
    },
    /// The model was asked to rank before [`crate::model::StarModel::bind`].
    #[error("the model is not bound to a dataset (call StarModel::bind)")]
    NotBound,
    /// A user id beyond the model's users.
    #[error("user {user} has no embedding (the model has {users} users)")]
    UnknownUser {
        /// The user.
        user: UserId,
        /// Users the model has.
        users: usize,
    },
    /// An item id beyond the model's catalogue.
    #[error("item {item} is outside the model's catalogue of {items} items")]
    UnknownItem {
        /// The item.
        item: ItemId,
        /// Items the model has.
        items: usize,
    },
    /// Tensor values could not be read back from the device.
    #[error("reading {what}: {source}")]
    TensorData {
        /// Which values (`scores`, `logits`, …).
        what: &'static str,
        /// What burn said.
        #[source]
        source: burn::tensor::DataError,
    },
    /// A device name that no backend knows.
    #[error("unknown device `{name}` (available: {})", available.join(", "))]
    UnknownDevice {
        /// The name asked for.
        name: String,
        /// The names this build accepts.
        available: Vec<&'static str>,
    },
    /// A device whose backend is not compiled into this build.
    #[error(
        "device `{name}` is not compiled in (available: {}); rebuild with `--features {feature}`",
        available.join(", ")
    )]
    DeviceNotCompiled {
        /// The name asked for.
        name: String,
        /// The names this build accepts.
        available: Vec<&'static str>,
        /// The cargo feature that adds it.
        feature: String,
    },
    /// A `cuda:N` name whose `N` is not an index.
    #[error("bad CUDA device index in `{name}`")]
    BadDeviceIndex {
        /// The name asked for.
        name: String,
    },
    /// The build has no backend at all.
    #[error("no backend compiled in")]
    NoBackend,
    /// An error from `star-cf` (writing a file atomically, …).
    #[error(transparent)]
    Cf(star_cf::CfError),
}

impl Error {
    /// Names `path` (a file or model directory) in an error about a configuration or a model's
    /// parts that does not name one yet; other errors are returned as they are.
    pub fn at(mut self, file: &Path) -> Self {
        match &mut self {
            Error::Config { path, .. }
            | Error::Mismatch { path, .. }
            | Error::MissingToken { path, .. }
                if path.is_none() =>
            {
                *path = Some(file.to_path_buf());
            }
            _ => {}
        }
        self
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A configuration error about `field`, not yet tied to a file.
    pub(crate) fn config(field: &'static str, message: impl Into<String>) -> Self {
        Error::Config {
            path: None,
            field,
            message: message.into(),
        }
    }

    /// Parts that do not fit, not yet tied to a directory.
    pub(crate) fn mismatch(message: impl Into<String>) -> Self {
        Error::Mismatch {
            path: None,
            message: message.into(),
        }
    }

    /// A missing special token, not yet tied to a directory.
    pub(crate) fn missing_token(token: &str) -> Self {
        Error::MissingToken {
            path: None,
            token: token.to_string(),
        }
    }

    /// A read-back failure of `what`.
    pub(crate) fn data(what: &'static str) -> impl FnOnce(burn::tensor::DataError) -> Self {
        move |source| Error::TensorData { what, source }
    }
}

impl From<star_cf::CfError> for Error {
    fn from(e: star_cf::CfError) -> Self {
        match e {
            star_cf::CfError::Io { path, source } => Error::Io { path, source },
            other => Error::Cf(other),
        }
    }
}

/// `"PATH: "`, or nothing.
fn at(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!("{}: ", p.display()))
        .unwrap_or_default()
}

fn missing_tensor(tensor: &str, expected: &Option<Vec<usize>>) -> String {
    match expected {
        Some(shape) => {
            format!("config.json implies a tensor `{tensor}` {shape:?} that the weights lack")
        }
        None => format!("no tensor `{tensor}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_names_the_file_once_and_only_where_none_is_named() {
        let e = Error::config("vocab_size", "vocab_size must be positive")
            .at(Path::new("m/config.json"));
        assert_eq!(e.to_string(), "m/config.json: vocab_size must be positive");
        // a second `at` (an outer caller) does not prefix again
        let e = e.at(Path::new("m"));
        assert!(
            matches!(&e, Error::Config { path: Some(p), field: "vocab_size", .. } if p == Path::new("m/config.json"))
        );
        // errors that name their file already are left alone
        let e = Error::NoWeights { dir: "a".into() }.at(Path::new("b"));
        assert_eq!(
            e.to_string(),
            "a: no model.safetensors or model.safetensors.index.json"
        );
        assert_eq!(
            Error::missing_token("<pad>").at(Path::new("d")).to_string(),
            "d: the tokenizer has no `<pad>` token"
        );
    }

    #[test]
    fn star_cf_io_errors_become_io_errors() {
        let cf = star_cf::CfError::io("x.json", std::io::Error::other("disk full"));
        let e = Error::from(cf);
        assert!(matches!(&e, Error::Io { path, .. } if path == Path::new("x.json")));
        assert_eq!(e.to_string(), "x.json: disk full");
    }
}
