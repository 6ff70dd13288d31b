//! The process-wide ONNX Runtime environment, loaded from `ORT_DYLIB_PATH`.
//!
//! `ort` is built with `load-dynamic`: the runtime library is found at run time. A missing or
//! unloadable library is reported as an error here instead of `ort`'s panic on first use.

use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use crate::error::{Error, Result};

static ENV: OnceLock<Result<Environment, String>> = OnceLock::new();

/// The process's ONNX Runtime environment: the inference engine's (ONNX Runtime allows only
/// one per process, and the embedder runs on that engine).
pub fn environment() -> Result<&'static Environment> {
    ENV.get_or_init(|| switchyard_inference::ort_environment().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|m| Error::Embedder(format!("cannot start ONNX Runtime: {m}")))
}

/// Opens an ONNX model from bytes with `threads` intra-op threads.
pub fn session_from_memory(bytes: &[u8], threads: usize, what: &str) -> Result<Session> {
    let env = environment()?;
    let ctx = || format!("loading {what}");
    Session::builder(env)
        .map_err(|e| Error::ort(ctx(), e))?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| Error::ort(ctx(), e.into()))?
        .with_intra_threads(threads.max(1))
        .map_err(|e| Error::ort(ctx(), e.into()))?
        .with_inter_threads(1)
        .map_err(|e| Error::ort(ctx(), e.into()))?
        .commit_from_memory(bytes)
        .map_err(|e| Error::ort(ctx(), e))
}
