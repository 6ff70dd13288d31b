//! Errors of the inference engine, split by who has to act: the client (bad image, empty
//! text → 4xx), the operator of the router (missing or mismatched model files → a `Degraded`
//! condition and a metric), or nobody but time (a full queue → 429 with `Retry-After`).

use std::path::PathBuf;
use std::time::Duration;

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who an error is for; the router maps this once to a status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is at fault (4xx).
    Client,
    /// The engine is saturated; retry later (429 + `Retry-After`).
    Overloaded,
    /// Configuration or model files are at fault (`Degraded` condition, 503 for the policy).
    Config,
    /// The runtime failed while serving (500), or the engine shut down.
    Internal,
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ONNX Runtime shared library could not be loaded or initialised.
    #[error(
        "ONNX Runtime could not be initialised from {path:?}: {message} \
         (set ORT_DYLIB_PATH to libonnxruntime.so.*; scripts/setup.sh installs one: \
         `source .tools/env.sh`)"
    )]
    Runtime {
        /// Library path tried.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A model file that the configuration names does not exist.
    #[error("{model}: file {path:?} not found{hint}")]
    ModelNotFound {
        /// Model description (`built-in model "x"` or `model file "p"`).
        model: String,
        /// Missing file.
        path: PathBuf,
        /// Extra advice, starting with "; " when not empty.
        hint: String,
    },
    /// A model file exists but cannot be used (unreadable, wrong inputs, bad `model.json`,
    /// failing warm-up).
    #[error("{model}: {reason}")]
    ModelInvalid {
        /// Model description.
        model: String,
        /// What is wrong.
        reason: String,
    },
    /// Two artefacts that must agree do not (a head and its embedder or candidates, a
    /// classifier and its labels).
    #[error("{model}: {reason}")]
    Mismatch {
        /// Model description.
        model: String,
        /// What disagrees.
        reason: String,
    },
    /// ONNX Runtime failed while running a batch.
    #[error("{model}: inference failed: {message}")]
    Inference {
        /// Model description.
        model: String,
        /// Runtime message.
        message: String,
    },
    /// The queue of a model is full; the caller should retry after the given delay.
    #[error("inference queue full; retry after {} ms", retry_after.as_millis())]
    Overloaded {
        /// Estimated time until the queue has drained.
        retry_after: Duration,
    },
    /// The input has no text to classify.
    #[error("the conversation has no text to classify")]
    EmptyInput,
    /// A tokenizer failed on the input text.
    #[error("{model}: tokenization failed: {message}")]
    Tokenize {
        /// Model description.
        model: String,
        /// Tokenizer message.
        message: String,
    },
    /// An image could not be used.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The engine (or the worker of a model) has shut down.
    #[error("the inference engine has shut down")]
    Shutdown,
}

impl Error {
    /// Bounded label for metrics and logs (a variant name, never object names).
    pub fn category(&self) -> &'static str {
        match self {
            Self::Runtime { .. } => "runtime",
            Self::ModelNotFound { .. } => "model_not_found",
            Self::ModelInvalid { .. } => "model_invalid",
            Self::Mismatch { .. } => "model_mismatch",
            Self::Inference { .. } => "inference",
            Self::Overloaded { .. } => "overloaded",
            Self::EmptyInput => "empty_input",
            Self::Tokenize { .. } => "tokenize",
            Self::Image(e) => e.category(),
            Self::Shutdown => "shutdown",
        }
    }

    /// Who has to act on this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::EmptyInput | Self::Image(_) => ErrorKind::Client,
            Self::Overloaded { .. } => ErrorKind::Overloaded,
            Self::Runtime { .. }
            | Self::ModelNotFound { .. }
            | Self::ModelInvalid { .. }
            | Self::Mismatch { .. } => ErrorKind::Config,
            Self::Inference { .. } | Self::Tokenize { .. } | Self::Shutdown => ErrorKind::Internal,
        }
    }

    /// Whether the request is at fault (the router answers 4xx).
    pub fn is_client_error(&self) -> bool {
        self.kind() == ErrorKind::Client
    }

    pub(crate) fn invalid(model: &str, reason: impl Into<String>) -> Self {
        Self::ModelInvalid {
            model: model.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn mismatch(model: &str, reason: impl Into<String>) -> Self {
        Self::Mismatch {
            model: model.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Why an image was refused. All of these are the client's doing.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No bytes at all.
    #[error("the image is empty")]
    Empty,
    /// More encoded bytes than allowed.
    #[error("the image is {bytes} bytes; at most {max} are allowed")]
    TooLarge {
        /// Encoded size.
        bytes: u64,
        /// Limit.
        max: u64,
    },
    /// More pixels than allowed (checked from the header, before decoding).
    #[error("the image is {width}x{height} pixels; at most {max} pixels are allowed")]
    TooManyPixels {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// Limit.
        max: u64,
    },
    /// Not PNG, JPEG, WebP or GIF.
    #[error("unsupported image format (PNG, JPEG, WebP and GIF are accepted)")]
    Unsupported,
    /// The bytes do not decode.
    #[error("the image cannot be decoded: {0}")]
    Corrupt(#[source] image::ImageError),
}

impl ImageError {
    /// Bounded label for metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Empty => "image_empty",
            Self::TooLarge { .. } => "image_too_large",
            Self::TooManyPixels { .. } => "image_too_many_pixels",
            Self::Unsupported => "image_unsupported",
            Self::Corrupt(_) => "image_corrupt",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_split_client_config_and_load() {
        assert!(Error::EmptyInput.is_client_error());
        assert!(Error::Image(ImageError::Unsupported).is_client_error());
        let overloaded = Error::Overloaded {
            retry_after: Duration::from_millis(20),
        };
        assert_eq!(overloaded.kind(), ErrorKind::Overloaded);
        assert!(!overloaded.is_client_error());
        assert_eq!(Error::mismatch("m", "x").kind(), ErrorKind::Config);
        assert_eq!(Error::mismatch("m", "x").category(), "model_mismatch");
        assert_eq!(
            Error::Image(ImageError::Empty).category(),
            ImageError::Empty.category()
        );
    }
}
