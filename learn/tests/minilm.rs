//! The built-in text encoder through ONNX Runtime (needs ORT_DYLIB_PATH and the models).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use switchyard_crds::head::embedder_fingerprint;
use switchyard_learn::Embedder;
use switchyard_learn::embed_ort::MiniLmEncoder;

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn encodes_normalised_vectors_that_respect_meaning() {
    common::require_ort();
    let dir = common::require_models().join("minilm-l6-v2-int8");
    let enc = MiniLmEncoder::open(&dir, 1).unwrap();
    let bytes = std::fs::read(dir.join("model.onnx")).unwrap();
    assert_eq!(enc.fingerprint(), embedder_fingerprint("text", &[&bytes]));
    assert_eq!(enc.dim(), 384);
    let texts: Vec<String> = [
        "How do I bake sourdough bread?",
        "What is a good recipe for sourdough?",
        "Prove that there are infinitely many primes.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let v = enc.embed_batch(&texts, &[None, None, None]).unwrap();
    assert_eq!(v.len(), 3);
    for e in &v {
        assert_eq!(e.len(), 384);
        assert!((cos(e, e) - 1.0).abs() < 1e-4);
    }
    assert!(cos(&v[0], &v[1]) > cos(&v[0], &v[2]) + 0.2);
    // A prompt's embedding does not depend on the prompts it is batched with.
    let alone = enc.embed_batch(&texts[2..], &[None]).unwrap();
    let c = cos(&alone[0], &v[2]);
    assert!(c > 0.9999, "batched vs alone cosine {c}");
    // Images are refused clearly by a text encoder.
    let err = enc
        .embed_batch(&texts[..1], &[Some(vec![1, 2, 3])])
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot embed images"), "{err}");
}

#[test]
fn a_missing_model_directory_is_a_clear_error() {
    let err = MiniLmEncoder::open(std::path::Path::new("/nonexistent/enc"), 1)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("/nonexistent/enc") && err.contains("does not exist"),
        "{err}"
    );
}
