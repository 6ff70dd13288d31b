//! Shared helpers of the integration tests: a deterministic fake embedder with a planted
//! signal, data-file writers, and the ONNX Runtime / models lookup.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use switchyard_learn::{Embedder, Result};

/// Embeds text as hash noise plus one planted feature: +1 when the prompt starts with
/// "hard", else -1.
pub struct FakeEmbedder {
    pub fingerprint: String,
    pub images: bool,
}

impl FakeEmbedder {
    pub fn new() -> Self {
        Self {
            fingerprint: "text:fakefakefakefake".to_owned(),
            images: false,
        }
    }
}

pub const DIM: usize = 8;

impl Embedder for FakeEmbedder {
    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }
    fn dim(&self) -> usize {
        DIM
    }
    fn supports_images(&self) -> bool {
        self.images
    }
    fn embed_batch(&self, texts: &[String], _images: &[Option<Vec<u8>>]) -> Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let h = Sha256::digest(t.as_bytes());
                let mut v: Vec<f32> = (0..DIM).map(|i| f32::from(h[i]) / 255.0 - 0.5).collect();
                v[0] = if t.starts_with("hard") { 1.0 } else { -1.0 };
                v
            })
            .collect())
    }
}

/// A RouteLLM-format CSV: `n` prompts, half "hard" ones; the weak model fails hard prompts
/// (with 10 % label noise), the strong one answers almost everything.
pub fn write_planted_csv(path: &Path, n: usize, salt: &str) {
    let mut s = String::from("prompt,weak-model,strong-model\n");
    for i in 0..n {
        let hard = i % 2 == 0;
        let noise = i % 10 == 3;
        let weak = !hard ^ noise;
        let strong = i % 17 != 5;
        let text = format!("{} question {salt} {i}", if hard { "hard" } else { "easy" });
        s.push_str(&format!(
            "\"{text}\",{},{}\n",
            if weak { "True" } else { "False" },
            if strong { "True" } else { "False" }
        ));
    }
    std::fs::write(path, s).unwrap();
}

/// Fails the test with a clear message when ONNX Runtime is not configured.
pub fn require_ort() {
    match std::env::var_os("ORT_DYLIB_PATH") {
        Some(p) if Path::new(&p).is_file() => {}
        _ => panic!(
            "this test needs ONNX Runtime: set ORT_DYLIB_PATH to libonnxruntime.so \
             (source .tools/env.sh after scripts/setup.sh)"
        ),
    }
}

/// The models directory: $SWITCHYARD_MODELS, else <repo>/models; fails clearly without the
/// built-in text encoder.
pub fn require_models() -> PathBuf {
    let dir = std::env::var_os("SWITCHYARD_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models"));
    let enc = dir.join("minilm-l6-v2-int8");
    assert!(
        enc.join("model.onnx").is_file() && enc.join("tokenizer.json").is_file(),
        "this test needs the built-in text encoder in {} (run scripts/setup.sh or set \
         SWITCHYARD_MODELS)",
        enc.display()
    );
    dir
}
