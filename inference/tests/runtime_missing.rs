//! A missing ONNX Runtime library is a clear error, not a panic. Its own test binary: the
//! runtime can be loaded only once per process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use switchyard_crds::config::Inference;
use switchyard_inference::{Engine, EngineOptions};

#[test]
fn missing_library_is_a_runtime_error_with_advice() {
    let options = EngineOptions {
        ort_dylib: Some(PathBuf::from("/nonexistent/libonnxruntime.so.1.31.1")),
        ..Default::default()
    };
    let err = Engine::start_with(&Inference::default(), Path::new("/tmp"), options).unwrap_err();
    assert_eq!(err.category(), "runtime");
    let text = err.to_string();
    assert!(text.contains("scripts/setup.sh"), "{text}");
    assert!(
        text.contains("/nonexistent/libonnxruntime.so.1.31.1"),
        "{text}"
    );
}
