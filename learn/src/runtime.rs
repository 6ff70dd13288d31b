//! The process-wide ONNX Runtime environment, loaded from `ORT_DYLIB_PATH`.
//!
//! `ort` is built with `load-dynamic`: the runtime library is found at run time. A missing or
//! unloadable library is reported as an error here instead of `ort`'s panic on first use.

use std::path::Path;
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use crate::error::{Error, Result};

/// Environment variable naming the ONNX Runtime shared library.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

static ENV: OnceLock<Result<Environment, String>> = OnceLock::new();

/// The shared ONNX Runtime environment (created on first use).
pub fn environment() -> Result<&'static Environment> {
    ENV.get_or_init(|| {
        let path = std::env::var_os(ORT_DYLIB_ENV).ok_or_else(|| {
            format!(
                "{ORT_DYLIB_ENV} is not set; point it at libonnxruntime.so \
                 (scripts/setup.sh writes it to .tools/env.sh)"
            )
        })?;
        if !Path::new(&path).is_file() {
            return Err(format!(
                "{ORT_DYLIB_ENV}={} does not name a file",
                Path::new(&path).display()
            ));
        }
        let builder = ort::init_from(&path).map_err(|e| e.to_string())?;
        builder
            .with_name("switchyard-learn")
            .build()
            .map_err(|e| e.to_string())
    })
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
