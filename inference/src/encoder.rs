//! Encoders: a text model with its tokenizer, and a CLIP vision tower. Each wraps a loaded
//! model (shared through the engine's cache) and knows how to turn one input into one vector.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchyard_crds::config::ModelLocation;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::image::CLIP_SIZE;
use crate::models::{ModelFiles, ModelRole, Pooling, locate};
use crate::pool::{Item, Pool, Runner};
use crate::text::TextTokenizer;

/// A loaded text model (sentence encoder, CLIP text tower or classifier) and its tokenizer.
#[derive(Clone, Debug)]
pub struct TextEncoder {
    pool: Arc<Pool>,
    tokenizer: Arc<TextTokenizer>,
    files: Arc<ModelFiles>,
    dim: usize,
}

impl TextEncoder {
    /// Loads `loc` for `role` (`Text` or `Classifier`) and warms it up; the same file loaded
    /// the same way by several users shares one model.
    pub async fn load(engine: &Engine, loc: &ModelLocation, role: ModelRole) -> Result<Self> {
        let files = locate(loc, engine.models_dir(), role)?;
        let tokenizer = files
            .tokenizer
            .as_deref()
            .ok_or_else(|| Error::invalid(&files.describe, "no tokenizer"))?;
        let tokenizer = TextTokenizer::load(tokenizer, files.spec.max_length, &files.describe)?;
        let classifier = role == ModelRole::Classifier;
        let runner = Runner::Tokens {
            pooling: files.spec.pooling.unwrap_or(if classifier {
                Pooling::None
            } else {
                Pooling::Mean
            }),
            normalize: files.spec.normalize.unwrap_or(!classifier),
            pad_to: files
                .spec
                .pad_to_max_length
                .unwrap_or(false)
                .then_some(tokenizer.max_len),
            pad_id: tokenizer.pad_id,
        };
        let warmup = vec![
            tokenizer.encode("warm up")?,
            tokenizer.encode("a somewhat longer sentence to warm up a padded batch")?,
        ];
        let pool = engine.load(&files, runner, warmup).await?;
        let dim = match (files.spec.dim, pool.out_dim) {
            (Some(want), Some(got)) if want != got => {
                return Err(Error::invalid(
                    &files.describe,
                    format!("model.json says dim {want} but the model outputs {got}"),
                ));
            }
            (Some(d), _) | (None, Some(d)) => d,
            (None, None) => probe_dim(&pool, &tokenizer).await?,
        };
        Ok(Self {
            pool,
            tokenizer: Arc::new(tokenizer),
            files: Arc::new(files),
            dim,
        })
    }

    /// Output width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Longest token sequence.
    pub fn max_len(&self) -> usize {
        self.tokenizer.max_len
    }

    /// Characters kept before tokenizing.
    pub fn max_chars(&self) -> usize {
        self.tokenizer.max_chars()
    }

    /// Label list from the model's ONNX metadata (`labels`: a JSON array or comma-separated).
    pub(crate) fn metadata(&self, key: &str) -> Option<String> {
        self.pool.metadata(key)
    }

    /// Description for messages.
    pub fn describe(&self) -> &str {
        &self.files.describe
    }

    /// The model's files and settings.
    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    /// Encodes one text (truncated to the model's length); [`Error::EmptyInput`] when blank.
    pub async fn embed(&self, text: &str) -> Result<Vec<f32>> {
        if text.trim().is_empty() {
            return Err(Error::EmptyInput);
        }
        self.embed_any(text).await
    }

    /// Encodes one text, blank included (a CLIP text tower embeds "" as start + end tokens).
    pub(crate) async fn embed_any(&self, text: &str) -> Result<Vec<f32>> {
        let item = self.tokenizer.encode(text)?;
        self.pool.infer(item).await
    }

    /// Encodes many texts, in batches of at most `max_batch`, waiting and retrying when the
    /// queue is full (for building route tables while traffic is served).
    pub async fn embed_many(&self, texts: &[String], max_batch: usize) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(max_batch.max(1)) {
            let mut pending = Vec::with_capacity(chunk.len());
            for text in chunk {
                let item = self.tokenizer.encode(text)?;
                pending.push(submit_patiently(&self.pool, item).await?);
            }
            for rx in pending {
                out.push(rx.await.map_err(|_| Error::Shutdown)??);
            }
        }
        Ok(out)
    }
}

async fn submit_patiently(
    pool: &Pool,
    item: Item,
) -> Result<tokio::sync::oneshot::Receiver<Result<Vec<f32>>>> {
    let mut tries = 0;
    loop {
        match pool.submit(item.clone()) {
            Err(Error::Overloaded { retry_after }) if tries < 50 => {
                tries += 1;
                tokio::time::sleep(retry_after.min(Duration::from_millis(200))).await;
            }
            other => return other,
        }
    }
}

async fn probe_dim(pool: &Pool, tokenizer: &TextTokenizer) -> Result<usize> {
    Ok(pool.infer(tokenizer.encode("dimension")?).await?.len())
}

/// A loaded CLIP vision tower.
#[derive(Clone, Debug)]
pub struct VisionEncoder {
    pool: Arc<Pool>,
    files: Arc<ModelFiles>,
    dim: usize,
    engine: Engine,
}

impl VisionEncoder {
    /// Loads `loc` as a vision tower and warms it up.
    pub async fn load(engine: &Engine, loc: &ModelLocation) -> Result<Self> {
        let files = locate(loc, engine.models_dir(), ModelRole::Vision)?;
        let size = files.spec.image_size.unwrap_or(CLIP_SIZE);
        let runner = Runner::Pixels {
            size,
            pooling: files.spec.pooling.unwrap_or(Pooling::None),
            normalize: files.spec.normalize.unwrap_or(true),
        };
        let row = 3 * (size as usize) * (size as usize);
        let warmup = vec![Item::Pixels(vec![0.0; row]), Item::Pixels(vec![0.5; row])];
        let pool = engine.load(&files, runner, warmup).await?;
        let dim = match (files.spec.dim, pool.out_dim) {
            (Some(want), Some(got)) if want != got => {
                return Err(Error::invalid(
                    &files.describe,
                    format!("model.json says dim {want} but the model outputs {got}"),
                ));
            }
            (Some(d), _) | (None, Some(d)) => d,
            (None, None) => pool.infer(Item::Pixels(vec![0.0; row])).await?.len(),
        };
        Ok(Self {
            pool,
            files: Arc::new(files),
            dim,
            engine: engine.clone(),
        })
    }

    /// Output width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The model's files and settings.
    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    /// Decodes (within the engine's image limits), preprocesses and encodes one image on the
    /// worker.
    pub async fn embed(&self, image: Bytes) -> Result<Vec<f32>> {
        let limits = self.engine.image_limits();
        self.pool.infer(Item::Image(image, limits)).await
    }
}
