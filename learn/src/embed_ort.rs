//! A minimal MiniLM sentence encoder on ONNX Runtime, used by the trainer until the
//! inference crate's encoder is wired in (this module is the one piece to replace).
//!
//! Model directory layout (as `scripts/setup.sh` builds it): `model.onnx` (inputs
//! `input_ids`, `attention_mask`, `token_type_ids`, int64; output `last_hidden_state`),
//! `tokenizer.json`, `model.json` (`dim`, `maxLength`). Embedding = attention-masked mean of
//! the last hidden state, L2-normalised; prompts are truncated to `maxLength` tokens.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::Session;
use ort::value::Tensor;
use serde::Deserialize;
use switchyard_crds::head::embedder_fingerprint;
use tokenizers::{Tokenizer, TruncationParams};

use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::runtime::session_from_memory;

/// Environment variable naming the models directory.
pub const MODELS_ENV: &str = "SWITCHYARD_MODELS";
/// Name of the built-in text encoder's directory under the models directory.
pub const BUILTIN_TEXT_ENCODER: &str = "minilm-l6-v2-int8";

/// The fields of `model.json` this encoder reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelJson {
    dim: usize,
    #[serde(default = "default_max_length")]
    max_length: usize,
    #[serde(default = "default_output")]
    output: String,
}

fn default_max_length() -> usize {
    256
}

fn default_output() -> String {
    "last_hidden_state".to_owned()
}

/// Mean-pooled, L2-normalised transformer sentence encoder (e.g. all-MiniLM-L6-v2).
pub struct MiniLmEncoder {
    /// One single-threaded session per worker; prompts are spread over them.
    sessions: Vec<Mutex<Session>>,
    tokenizer: Tokenizer,
    fingerprint: String,
    dim: usize,
    output: String,
}

/// The models directory: `$SWITCHYARD_MODELS`, else `models/` under the current directory.
pub fn models_dir() -> PathBuf {
    std::env::var_os(MODELS_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("models"))
}

/// Resolves an `--embedder` argument: `builtin` (or empty) is the built-in text encoder; a
/// bare name is a directory under the models directory; anything else is a path.
pub fn resolve_model_dir(spec: &str) -> PathBuf {
    let spec = if spec.is_empty() || spec == "builtin" {
        BUILTIN_TEXT_ENCODER
    } else {
        spec
    };
    let direct = PathBuf::from(spec);
    if direct.is_dir() || spec.contains('/') {
        direct
    } else {
        models_dir().join(spec)
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

impl MiniLmEncoder {
    /// Opens the encoder in `dir` with `threads` workers (one single-threaded ONNX Runtime
    /// session each). Unbatched prompts parallelise better across sessions than across the
    /// intra-op threads of one session.
    pub fn open(dir: &Path, threads: usize) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Embedder(format!(
                "model directory {} does not exist (set {MODELS_ENV} or run scripts/setup.sh)",
                dir.display()
            )));
        }
        let meta_path = dir.join("model.json");
        let meta: ModelJson = serde_json::from_slice(&read(&meta_path)?)
            .map_err(|e| Error::Embedder(format!("{}: {e}", meta_path.display())))?;
        let model = read(&dir.join("model.onnx"))?;
        let fingerprint = embedder_fingerprint("text", &[&model]);
        let sessions = (0..threads.max(1))
            .map(|_| session_from_memory(&model, 1, "text encoder").map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path)
            .map_err(|e| Error::Embedder(format!("{}: {e}", tok_path.display())))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: meta.max_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| Error::Embedder(format!("tokenizer truncation: {e}")))?;
        tokenizer.with_padding(None);
        Ok(Self {
            sessions,
            tokenizer,
            fingerprint,
            dim: meta.dim,
            output: meta.output,
        })
    }

    fn encode(&self, worker: usize, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Embedder(format!("tokenizing: {e}")))?;
        let batch = encodings.len();
        let len = encodings.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0i64; batch * len];
        let mut mask = vec![0i64; batch * len];
        for (row, enc) in encodings.iter().enumerate() {
            for (j, (&id, &m)) in enc
                .get_ids()
                .iter()
                .zip(enc.get_attention_mask())
                .enumerate()
            {
                ids[row * len + j] = i64::from(id);
                mask[row * len + j] = i64::from(m);
            }
        }
        let types = vec![0i64; batch * len];
        let shape = [batch, len];
        let ctx = "text encoder input";
        let inputs = ort::inputs![
            "input_ids" => Tensor::from_array((shape, ids)).map_err(|e| Error::ort(ctx, e))?,
            "attention_mask" => Tensor::from_array((shape, mask.clone())).map_err(|e| Error::ort(ctx, e))?,
            "token_type_ids" => Tensor::from_array((shape, types)).map_err(|e| Error::ort(ctx, e))?,
        ];
        let mut session = self.sessions[worker % self.sessions.len()]
            .lock()
            .map_err(|_| Error::Embedder("encoder session lock poisoned".to_owned()))?;
        let outputs = session
            .run(inputs)
            .map_err(|e| Error::ort("running text encoder", e))?;
        let value = outputs.get(&self.output).ok_or_else(|| {
            Error::Embedder(format!("text encoder has no output {:?}", self.output))
        })?;
        let (out_shape, data) = value
            .try_extract_tensor::<f32>()
            .map_err(|e| Error::ort("reading text encoder output", e))?;
        let dims: Vec<i64> = out_shape.iter().copied().collect();
        let hidden = self.dim;
        if dims != [batch as i64, len as i64, hidden as i64] {
            return Err(Error::Embedder(format!(
                "text encoder output shape {dims:?}, expected [{batch}, {len}, {hidden}]"
            )));
        }
        Ok((0..batch)
            .map(|row| {
                pool(
                    &data[row * len * hidden..(row + 1) * len * hidden],
                    &mask[row * len..(row + 1) * len],
                    hidden,
                )
            })
            .collect())
    }
}

/// Attention-masked mean over tokens, then L2 normalisation.
fn pool(states: &[f32], mask: &[i64], hidden: usize) -> Vec<f32> {
    let mut sum = vec![0f32; hidden];
    let mut count = 0f32;
    for (token, &m) in states.chunks_exact(hidden).zip(mask) {
        if m != 0 {
            count += 1.0;
            for (s, v) in sum.iter_mut().zip(token) {
                *s += v;
            }
        }
    }
    let count = count.max(1.0);
    sum.iter_mut().for_each(|s| *s /= count);
    let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    sum.iter_mut().for_each(|s| *s /= norm);
    sum
}

impl Embedder for MiniLmEncoder {
    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn batch_size(&self) -> usize {
        8 * self.sessions.len()
    }

    fn embed_batch(&self, texts: &[String], images: &[Option<Vec<u8>>]) -> Result<Vec<Vec<f32>>> {
        if images.iter().any(Option::is_some) {
            return Err(Error::Embedder(
                "the text encoder cannot embed images; use a CLIP embedder for data with images"
                    .to_owned(),
            ));
        }
        // One prompt per run: the int8 encoder quantises activations dynamically over the
        // whole input tensor, so a prompt batched with others (and their padding) embeds
        // slightly differently (cosine ~0.993) from the same prompt alone, which is how the
        // router sees it. Unbatched runs make an embedding a function of its text only.
        let workers = self.sessions.len().min(texts.len()).max(1);
        let per = texts.len().div_ceil(workers);
        let parts: Vec<Result<Vec<Vec<f32>>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = texts
                .chunks(per.max(1))
                .enumerate()
                .map(|(w, chunk)| {
                    scope.spawn(move || {
                        let mut out = Vec::with_capacity(chunk.len());
                        for text in chunk {
                            out.extend(self.encode(w, std::slice::from_ref(text))?);
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::Embedder("encoder worker panicked".to_owned()))
                    })
                })
                .collect()
        });
        let mut out = Vec::with_capacity(texts.len());
        for part in parts {
            out.extend(part?);
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn pool_masks_padding_and_normalises() {
        // Two tokens of width 2; the second is padding and must not count.
        let v = pool(&[3.0, 4.0, 100.0, 100.0], &[1, 0], 2);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn resolves_builtin_name() {
        assert!(resolve_model_dir("builtin").ends_with(BUILTIN_TEXT_ENCODER));
        assert_eq!(resolve_model_dir("./x/y"), PathBuf::from("./x/y"));
    }
}
