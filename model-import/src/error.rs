//! The error type of the importer.
//!
//! Every variant that is caused by the content of an input file names that
//! file, and where it applies the tensor, field or line at fault, so that an
//! operator can tell which model is broken and how.

use std::io;
use std::path::{Path, PathBuf};

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// An I/O operation on `path` failed.
    #[error("{}: cannot {action}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What was attempted ("read", "create", "rename to ...").
        action: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The CTranslate2 binary version is not one this importer was tested with.
    #[error(
        "{file}: unsupported CTranslate2 binary version {found} \
         (only version {supported} is supported; re-export the model with CTranslate2 4.x)"
    )]
    UnsupportedVersion {
        /// The model file.
        file: String,
        /// The version found in the file.
        found: u32,
        /// The version this importer supports.
        supported: u32,
    },

    /// The model is not a Whisper model.
    #[error("{file}: model spec is {found:?}, expected \"WhisperSpec\" (not a Whisper model)")]
    UnsupportedSpec {
        /// The model file.
        file: String,
        /// The spec name found in the file.
        found: String,
    },

    /// The file's structure is invalid (truncated, bad string, bad dtype, ...).
    #[error("{file}: at byte {offset}: {field}: {msg}")]
    Format {
        /// The file.
        file: String,
        /// Byte offset where the bad field starts.
        offset: usize,
        /// The field being read (e.g. `variable #3 (encoder/conv1/weight): shape`).
        field: String,
        /// What is wrong.
        msg: String,
    },

    /// A tensor (variable) has unexpected content, shape or type.
    #[error("{file}: tensor {tensor}: {msg}")]
    Tensor {
        /// The file.
        file: String,
        /// The CTranslate2 variable name.
        tensor: String,
        /// What is wrong.
        msg: String,
    },

    /// A required tensor is missing from the model.
    #[error("{file}: tensor {tensor} is missing")]
    MissingTensor {
        /// The file.
        file: String,
        /// The CTranslate2 variable name.
        tensor: String,
    },

    /// The model is structurally valid but cannot be represented in whisper.cpp.
    #[error("{file}: {msg}")]
    Unsupported {
        /// The file.
        file: String,
        /// What is not supported.
        msg: String,
    },

    /// The vocabulary file is invalid.
    #[error("{file}: {location}: {msg}")]
    Vocabulary {
        /// The vocabulary file.
        file: String,
        /// Where in the file ("line 12", "entry 12", "whole file").
        location: String,
        /// What is wrong.
        msg: String,
    },

    /// The model directory has neither `vocabulary.txt` nor `vocabulary.json`.
    #[error("{}: no vocabulary.txt or vocabulary.json in the model directory", dir.display())]
    NoVocabulary {
        /// The model directory.
        dir: PathBuf,
    },
}

impl ImportError {
    pub(crate) fn io(path: &Path, action: impl Into<String>, source: io::Error) -> Self {
        ImportError::Io {
            path: path.to_path_buf(),
            action: action.into(),
            source,
        }
    }

    pub(crate) fn tensor(file: &str, tensor: &str, msg: impl Into<String>) -> Self {
        ImportError::Tensor {
            file: file.to_owned(),
            tensor: tensor.to_owned(),
            msg: msg.into(),
        }
    }

    pub(crate) fn missing(file: &str, tensor: &str) -> Self {
        ImportError::MissingTensor {
            file: file.to_owned(),
            tensor: tensor.to_owned(),
        }
    }

    pub(crate) fn unsupported(file: &str, msg: impl Into<String>) -> Self {
        ImportError::Unsupported {
            file: file.to_owned(),
            msg: msg.into(),
        }
    }
}
