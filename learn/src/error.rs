//! The crate's error type: one enum for every stage of training and evaluation.

use std::path::PathBuf;

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while loading data, embedding, training, exporting or
/// evaluating a head.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A data row is malformed (bad value, bad base64, wrong shape).
    #[error("{path}:{line}: {message}")]
    Row {
        /// The data file.
        path: PathBuf,
        /// 1-based line number (CSV: the record's first line).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A data file as a whole is unusable (no header, no rows, unknown format).
    #[error("{path}: {message}")]
    File {
        /// The data file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The data set as a whole cannot train or evaluate a head (e.g. a single class).
    #[error("data set: {0}")]
    Dataset(String),
    /// The embedder failed or does not fit the data.
    #[error("embedder: {0}")]
    Embedder(String),
    /// ONNX Runtime failed.
    #[error("onnx runtime: {context}: {source}")]
    Ort {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: ort::Error,
    },
    /// A head file is missing, malformed or does not fit the embedder.
    #[error("head {path}: {message}")]
    Head {
        /// The head file or directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Command-line arguments that do not fit together.
    #[error("invalid arguments: {0}")]
    Args(String),
    /// Plotting failed.
    #[error("plot {path}: {message}")]
    Plot {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Training diverged or produced non-finite numbers.
    #[error("training: {0}")]
    Training(String),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps an ONNX Runtime error with what was being done.
    pub fn ort(context: impl Into<String>, source: ort::Error) -> Self {
        Self::Ort {
            context: context.into(),
            source,
        }
    }

    /// A bounded label for metrics and logs (the variant name).
    pub fn category(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::Row { .. } => "row",
            Self::File { .. } => "file",
            Self::Dataset(_) => "dataset",
            Self::Embedder(_) => "embedder",
            Self::Ort { .. } => "ort",
            Self::Head { .. } => "head",
            Self::Args(_) => "args",
            Self::Plot { .. } => "plot",
            Self::Training(_) => "training",
        }
    }
}
