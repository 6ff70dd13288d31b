//! The ONNX Runtime environment (one per process, loaded from the shared library at run time)
//! and session creation on the requested execution provider, falling back to CPU.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use switchyard_crds::config::Device;

use crate::error::{Error, Result};

/// The environment, created once: ONNX Runtime allows one per process. A failed attempt is not
/// remembered, so a later call with a corrected path can succeed.
static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// The library path from `explicit` or `ORT_DYLIB_PATH`.
pub(crate) fn dylib_path(explicit: Option<&Path>) -> Result<PathBuf> {
    match explicit {
        Some(p) => Ok(p.to_path_buf()),
        None => match std::env::var_os("ORT_DYLIB_PATH") {
            Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
            _ => Err(Error::Runtime {
                path: PathBuf::new(),
                message: "ORT_DYLIB_PATH is not set".to_owned(),
            }),
        },
    }
}

/// Loads ONNX Runtime from `explicit` (or `ORT_DYLIB_PATH`) and creates the environment, or
/// returns the one created before (the library loaded first stays loaded).
pub(crate) fn environment(explicit: Option<&Path>) -> Result<Environment> {
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(env) = slot.as_ref() {
        return Ok(env.clone());
    }
    let path = dylib_path(explicit)?;
    if !path.is_file() {
        return Err(Error::Runtime {
            path,
            message: "no such file".to_owned(),
        });
    }
    let builder = ort::init_from(&path).map_err(|e| Error::Runtime {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let env = builder
        .with_name("switchyard")
        .with_telemetry(false)
        .build()
        .map_err(|e| Error::Runtime {
            path: path.clone(),
            message: e.to_string(),
        })?;
    *slot = Some(env.clone());
    Ok(env)
}

/// Why the CUDA execution provider cannot be used, or `None` when it is compiled into the
/// loaded runtime (whether a GPU is usable shows only when a session is created).
pub(crate) fn cuda_unavailable_reason() -> Option<String> {
    match ep::CUDA::is_available() {
        Ok(true) => None,
        Ok(false) => Some(
            "the loaded ONNX Runtime has no CUDA execution provider (install the \
             onnxruntime-gpu build and the CUDA/cuDNN libraries)"
                .to_owned(),
        ),
        Err(e) => Some(format!("cannot list execution providers: {e}")),
    }
}

/// A created session and where it runs.
pub(crate) struct BuiltSession {
    pub session: Session,
    /// Set when CUDA was asked for but the session runs on CPU.
    pub fallback: Option<String>,
}

/// Creates a session for `onnx` on `device` with `intra_threads` CPU threads. A CUDA session
/// that cannot be created is retried on CPU; the reason is returned in `fallback`.
pub(crate) fn build_session(
    env: &Environment,
    onnx: &Path,
    device: Device,
    intra_threads: usize,
    describe: &str,
) -> Result<BuiltSession> {
    if device == Device::Cuda {
        let reason = match cuda_unavailable_reason() {
            Some(r) => r,
            None => match try_build(env, onnx, true, intra_threads) {
                Ok(session) => {
                    return Ok(BuiltSession {
                        session,
                        fallback: None,
                    });
                }
                Err(e) => format!("CUDA session creation failed: {e}"),
            },
        };
        tracing::warn!(model = describe, %reason, "CUDA requested but unavailable; using CPU");
        let session = try_build(env, onnx, false, intra_threads)
            .map_err(|e| load_error(describe, onnx, &e))?;
        return Ok(BuiltSession {
            session,
            fallback: Some(reason),
        });
    }
    let session =
        try_build(env, onnx, false, intra_threads).map_err(|e| load_error(describe, onnx, &e))?;
    Ok(BuiltSession {
        session,
        fallback: None,
    })
}

fn try_build(
    env: &Environment,
    onnx: &Path,
    cuda: bool,
    intra_threads: usize,
) -> std::result::Result<Session, String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let mut builder = Session::builder(env).map_err(|e| text(&e))?;
    if cuda {
        builder = builder
            .with_execution_providers([ep::CUDA::default().build().error_on_failure()])
            .map_err(|e| text(&e))?;
    } else {
        // No arena and no memory pattern on CPU: batch shapes vary from call to call, and the
        // arena would keep the largest batch's activations forever (~30 MB for the CLIP
        // towers, measured) for no measurable speed-up.
        builder = builder
            .with_execution_providers([ep::CPU::default().with_arena_allocator(false).build()])
            .map_err(|e| text(&e))?
            .with_memory_pattern(false)
            .map_err(|e| text(&e))?;
    }
    builder
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| text(&e))?
        .with_intra_threads(intra_threads.max(1))
        .map_err(|e| text(&e))?
        .commit_from_file(onnx)
        .map_err(|e| text(&e))
}

fn load_error(describe: &str, onnx: &Path, message: &str) -> Error {
    Error::invalid(describe, format!("cannot load {onnx:?}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_missing_library_is_a_clear_error() {
        // Only meaningful before any environment exists in this process; the unit tests of
        // this crate never create one.
        let err = environment(Some(Path::new("/nonexistent/libonnxruntime.so"))).unwrap_err();
        assert_eq!(err.category(), "runtime");
        let text = err.to_string();
        assert!(text.contains("ORT_DYLIB_PATH"), "{text}");
        assert!(text.contains("no such file"), "{text}");
    }
}
