//! Shared test setup: where the models, the runtime and the Python fixtures scripts are, and
//! fixture generation (cached in the target directory, keyed by the scripts' contents).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use switchyard_crds::config::{Inference, ModelLocation};
use switchyard_inference::Engine;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The models directory; fails the test with advice when the built-in models are missing.
pub fn models_dir() -> PathBuf {
    let dir = std::env::var_os("SWITCHYARD_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models"));
    let minilm = dir.join("minilm-l6-v2-int8").join("model.onnx");
    assert!(
        minilm.is_file(),
        "{} is missing: run scripts/setup.sh (and `source .tools/env.sh`) before the tests",
        minilm.display()
    );
    dir
}

/// The ONNX Runtime library: ORT_DYLIB_PATH, else the one in the repository's venv; fails
/// the test with advice when neither exists.
pub fn ort_dylib() -> PathBuf {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "ORT_DYLIB_PATH={p:?} does not exist: run scripts/setup.sh"
        );
        return p;
    }
    let lib = repo().join(".venv/lib");
    for py in std::fs::read_dir(&lib).expect("no .venv: run scripts/setup.sh") {
        let capi = py.unwrap().path().join("site-packages/onnxruntime/capi");
        if let Ok(dir) = std::fs::read_dir(&capi) {
            for e in dir {
                let p = e.unwrap().path();
                if p.to_string_lossy().contains("libonnxruntime.so.") {
                    return p;
                }
            }
        }
    }
    panic!("ONNX Runtime not found: run scripts/setup.sh and `source .tools/env.sh`");
}

pub fn python() -> PathBuf {
    let p = std::env::var_os("SWITCHYARD_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh",
        p.display()
    );
    p
}

pub fn settings() -> Inference {
    Inference::default()
}

/// Starts an engine and waits (bounded) for its probe.
pub async fn engine_with(settings: Inference) -> Engine {
    let models = models_dir();
    let options = switchyard_inference::EngineOptions {
        ort_dylib: Some(ort_dylib()),
        ..Default::default()
    };
    let engine = Engine::start_with(&settings, &models, options).expect("engine starts");
    tokio::time::timeout(Duration::from_secs(60), engine.ready())
        .await
        .expect("probe finishes in time")
        .expect("engine ready");
    engine
}

pub async fn engine() -> Engine {
    engine_with(settings()).await
}

pub fn path_location(path: &Path) -> ModelLocation {
    ModelLocation {
        builtin: None,
        path: Some(path.display().to_string()),
        tokenizer: None,
    }
}

fn scripts_digest() -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for f in [
        "make_test_clip.py",
        "clip_tokenizer.py",
        "make_test_head.py",
    ] {
        h.update(std::fs::read(repo().join("scripts/models").join(f)).unwrap());
    }
    hex::encode(&h.finalize()[..8])
}

fn fixtures_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("switchyard-fixtures")
}

pub fn run_python(args: &[&str]) {
    let out = Command::new(python())
        .args(args)
        .env("SWITCHYARD_MODELS", models_dir())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The tiny CLIP-shaped stand-in (generated once per scripts version).
pub fn tiny_clip() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = fixtures_root().join(format!("clip-tiny-{}", scripts_digest()));
        if !dir.join("model.json").is_file() {
            let tmp = fixtures_root().join(format!("tmp-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            let script = repo().join("scripts/models/make_test_clip.py");
            run_python(&[
                script.to_str().unwrap(),
                "--out",
                tmp.to_str().unwrap(),
                "--size",
                "tiny",
            ]);
            // Another test binary may have won the race; either copy is complete.
            if std::fs::rename(&tmp, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&tmp);
            }
        }
        dir
    })
    .clone()
}

/// Writes a head fixture to a fresh file under the fixtures dir and returns its path.
pub fn make_head(
    name: &str,
    embedder: &str,
    dim: usize,
    candidates: &[&str],
    thresholds: &[f64],
) -> PathBuf {
    let dir = fixtures_root().join("heads");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{name}-{}.onnx", std::process::id()));
    let script = repo().join("scripts/models/make_test_head.py");
    let dim = dim.to_string();
    let cands = candidates.join(",");
    let th: Vec<String> = thresholds.iter().map(f64::to_string).collect();
    let th = th.join(",");
    let mut args = vec![
        script.to_str().unwrap(),
        "head",
        "--out",
        out.to_str().unwrap(),
        "--embedder",
        embedder,
        "--input-dim",
        &dim,
        "--candidates",
        &cands,
    ];
    if !th.is_empty() {
        args.push("--thresholds");
        args.push(&th);
    }
    run_python(&args);
    out
}
