//! The embedder the router serves with: `switchyard-inference`'s [`Embedder`] (the same model
//! files, tokenizer, truncation, pooling and fingerprint), driven from the trainer's
//! synchronous code on a private tokio runtime.
//!
//! The engine runs with `max_batch = 1`: the int8 encoder quantises activations per input
//! tensor, so a prompt batched with others embeds slightly differently (cosine ~0.993) from the
//! same prompt alone — which is how the router sees a lone request. Unbatched runs make an
//! embedding a function of its text only; `threads` workers run in parallel.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use switchyard_crds::common::DEFAULT_TEXT_ENCODER;
use switchyard_crds::config::{Device, Inference, ModelLocation, ResolvedAuto};
use switchyard_crds::policy::EmbedderType;
use switchyard_inference::{self as inference, ClassifyInput, Engine, Role, Turn};

use crate::embed::Embedder;
use crate::error::{Error, Result};

/// The inference crate's embedder behind the trainer's [`Embedder`] trait.
pub struct EngineEmbedder {
    runtime: tokio::runtime::Runtime,
    embedder: inference::Embedder,
    workers: usize,
    // Keeps the worker threads alive.
    _engine: Engine,
}

fn models_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("models")
        })
}

/// A model named by an `--embedder` part: a built-in name, or a directory holding
/// `model.onnx` (+ `tokenizer.json`).
fn location(spec: &str) -> ModelLocation {
    let spec = if spec.is_empty() || spec == "builtin" {
        DEFAULT_TEXT_ENCODER
    } else {
        spec
    };
    let dir = Path::new(spec);
    if dir.is_dir() || spec.contains('/') {
        let tokenizer = dir.join("tokenizer.json");
        ModelLocation {
            builtin: None,
            path: Some(dir.join("model.onnx").display().to_string()),
            tokenizer: tokenizer.exists().then(|| tokenizer.display().to_string()),
        }
    } else {
        ModelLocation::builtin(spec)
    }
}

impl EngineEmbedder {
    /// Opens the embedder named by `spec`: a text encoder (`minilm-l6-v2-int8`, or a
    /// directory), or `clip:TEXT+VISION` for CLIP towers (names or directories).
    pub fn open(spec: &str, threads: usize) -> Result<Self> {
        let workers = threads.max(1);
        let (kind, text_model, vision_model) = match spec.strip_prefix("clip:") {
            Some(rest) => {
                let (t, v) = rest.split_once('+').ok_or_else(|| {
                    Error::Embedder(format!(
                        "embedder {spec:?}: a CLIP embedder is written clip:TEXT+VISION"
                    ))
                })?;
                (EmbedderType::Clip, location(t), Some(location(v)))
            }
            None => (EmbedderType::Text, location(spec), None),
        };
        let settings = Inference {
            device: Device::Cpu,
            workers: u32::try_from(workers).unwrap_or(1),
            max_batch: 1,
            batch_window_us: 0,
            queue_depth: 4096,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| Error::Embedder(format!("cannot start a runtime: {e}")))?;
        let auto = ResolvedAuto {
            embedder: kind,
            text_model: text_model.clone(),
            vision_model,
            head: text_model,
            candidates: Vec::new(),
            tolerance: 0.0,
            vision_endpoint: None,
        };
        let (engine, embedder) = runtime.block_on(async {
            let engine = Engine::start(&settings, &models_dir())
                .map_err(|e| Error::Embedder(e.to_string()))?;
            engine
                .ready()
                .await
                .map_err(|e| Error::Embedder(e.to_string()))?;
            let embedder = inference::Embedder::load(&engine, &auto)
                .await
                .map_err(|e| Error::Embedder(e.to_string()))?;
            Ok::<_, Error>((engine, embedder))
        })?;
        Ok(Self {
            runtime,
            embedder,
            workers,
            _engine: engine,
        })
    }
}

impl Embedder for EngineEmbedder {
    fn fingerprint(&self) -> String {
        self.embedder.fingerprint().to_owned()
    }

    fn dim(&self) -> usize {
        self.embedder.dim()
    }

    fn supports_images(&self) -> bool {
        self.embedder.kind() == EmbedderType::Clip
    }

    fn batch_size(&self) -> usize {
        8 * self.workers
    }

    fn embed_batch(&self, texts: &[String], images: &[Option<Vec<u8>>]) -> Result<Vec<Vec<f32>>> {
        if !self.supports_images() && images.iter().any(Option::is_some) {
            return Err(Error::Embedder(
                "the text encoder cannot embed images; use a CLIP embedder for data with images"
                    .to_owned(),
            ));
        }
        let inputs: Vec<ClassifyInput> = texts
            .iter()
            .zip(images.iter().chain(std::iter::repeat(&None)))
            .map(|(text, image)| ClassifyInput {
                turns: vec![Turn {
                    role: Role::User,
                    text: text.clone(),
                }],
                images: image.iter().map(|b| Bytes::from(b.clone())).collect(),
            })
            .collect();
        self.runtime.block_on(async {
            let results =
                futures::future::join_all(inputs.iter().map(|i| self.embedder.embed(i))).await;
            results
                .into_iter()
                .map(|r| r.map_err(|e| Error::Embedder(e.to_string())))
                .collect()
        })
    }
}
