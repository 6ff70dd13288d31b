//! Embedding of data sets, in length-sorted batches, behind an on-disk cache.
//!
//! The cache is one append-only file per embedder fingerprint under the cache directory:
//! a header (`SYEMB1`, embedding width) followed by records of a 32-byte key (SHA-256 of the
//! prompt text and image) and the embedding as little-endian f32. Re-running training with
//! other hyper-parameters reads every embedding back instead of re-encoding; a run that is
//! interrupted keeps what it already wrote (a torn last record is dropped on the next open).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::data::Example;
use crate::embed::Embedder;
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"SYEMB1\0\0";
const HEADER: usize = 12;

/// Cache key of a prompt: SHA-256 over its text and image bytes.
pub fn key(text: &str, image: Option<&[u8]>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((text.len() as u64).to_le_bytes());
    h.update(text.as_bytes());
    match image {
        Some(img) => {
            h.update([1u8]);
            h.update(img);
        }
        None => h.update([0u8]),
    }
    h.finalize().into()
}

/// An embedding cache file for one embedder.
pub struct Cache {
    path: Option<PathBuf>,
    dim: usize,
    entries: HashMap<[u8; 32], Vec<f32>>,
    file: Option<std::fs::File>,
}

impl Cache {
    /// A cache that stores nothing.
    pub fn disabled(dim: usize) -> Self {
        Self {
            path: None,
            dim,
            entries: HashMap::new(),
            file: None,
        }
    }

    /// Opens (or creates) the cache file for `fingerprint` under `dir`.
    pub fn open(dir: &Path, fingerprint: &str, dim: usize) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let safe: String = fingerprint
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = dir.join(format!("{safe}-d{dim}.bin"));
        let mut entries = HashMap::new();
        let record = 32 + 4 * dim;
        let mut valid_len = HEADER as u64;
        if path.exists() {
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let header_ok = bytes.len() >= HEADER
                && &bytes[..8] == MAGIC
                && bytes[8..12] == (dim as u32).to_le_bytes();
            if header_ok {
                for rec in bytes[HEADER..].chunks_exact(record) {
                    let mut k = [0u8; 32];
                    k.copy_from_slice(&rec[..32]);
                    let v = rec[32..]
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect();
                    entries.insert(k, v);
                }
                valid_len = (HEADER + (bytes.len() - HEADER) / record * record) as u64;
            } else {
                tracing::warn!(path = %path.display(), "embedding cache has a foreign header; starting it afresh");
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        if entries.is_empty() {
            file.set_len(0).map_err(|e| Error::io(&path, e))?;
            file.write_all(MAGIC).map_err(|e| Error::io(&path, e))?;
            file.write_all(&(dim as u32).to_le_bytes())
                .map_err(|e| Error::io(&path, e))?;
        } else {
            // Drop a torn trailing record, then append after the valid ones.
            file.set_len(valid_len).map_err(|e| Error::io(&path, e))?;
        }
        use std::io::Seek;
        file.seek(std::io::SeekFrom::End(0))
            .map_err(|e| Error::io(&path, e))?;
        Ok(Self {
            path: Some(path),
            dim,
            entries,
            file: Some(file),
        })
    }

    /// Number of cached embeddings.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached embedding for `key`.
    pub fn get(&self, key: &[u8; 32]) -> Option<&Vec<f32>> {
        self.entries.get(key)
    }

    fn insert(&mut self, key: [u8; 32], v: Vec<f32>) -> Result<()> {
        if let (Some(file), Some(path)) = (self.file.as_mut(), self.path.as_ref()) {
            let mut buf = Vec::with_capacity(32 + 4 * self.dim);
            buf.extend_from_slice(&key);
            for x in &v {
                buf.extend_from_slice(&x.to_le_bytes());
            }
            file.write_all(&buf).map_err(|e| Error::io(path, e))?;
        }
        self.entries.insert(key, v);
        Ok(())
    }
}

/// Facts about one embedding pass, for the model card.
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedStats {
    /// Prompts in the data set.
    pub prompts: usize,
    /// Prompts found in the cache (or repeating an earlier prompt of the data).
    pub cached: usize,
    /// Prompts encoded in this run (distinct texts).
    pub encoded: usize,
    /// Wall-clock seconds spent encoding.
    pub seconds: f64,
    /// Encoded prompts per second (0 when nothing was encoded).
    pub per_second: f64,
}

/// Embeds every example (cached ones are read back), returning one row per example.
pub fn embed_examples(
    examples: &[Example],
    embedder: &dyn Embedder,
    cache: &mut Cache,
    origin: &dyn Fn(&Example) -> String,
) -> Result<(Vec<Vec<f32>>, EmbedStats)> {
    let dim = embedder.dim();
    if examples.iter().any(|e| e.image.is_some()) && !embedder.supports_images() {
        let first = examples.iter().find(|e| e.image.is_some());
        return Err(Error::Embedder(format!(
            "the data has images (first at {}) but embedder {} embeds text only; use a CLIP \
             embedder (text + vision towers) for image data",
            first.map(origin).unwrap_or_default(),
            embedder.fingerprint()
        )));
    }
    let keys: Vec<[u8; 32]> = examples
        .iter()
        .map(|e| key(&e.text, e.image.as_deref()))
        .collect();
    let mut todo: Vec<usize> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, k) in keys.iter().enumerate() {
        if cache.get(k).is_none() && seen.insert(*k) {
            todo.push(i);
        }
    }
    // Similar lengths in one batch keep padding (wasted encoder work) small.
    todo.sort_by_key(|&i| std::cmp::Reverse(examples[i].text.len()));
    let stats_cached = examples.len() - todo.len();
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(todo.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "embedding {bar:40} {pos}/{len} prompts, {per_sec}, eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::with_draw_target(Some(todo.len() as u64), ProgressDrawTarget::hidden())
    };
    let start = Instant::now();
    for chunk in todo.chunks(embedder.batch_size().max(1)) {
        let texts: Vec<String> = chunk.iter().map(|&i| examples[i].text.clone()).collect();
        let images: Vec<Option<Vec<u8>>> =
            chunk.iter().map(|&i| examples[i].image.clone()).collect();
        let vectors = embedder.embed_batch(&texts, &images).map_err(|e| {
            Error::Embedder(format!(
                "batch starting at {}: {e}",
                chunk
                    .first()
                    .map(|&i| origin(&examples[i]))
                    .unwrap_or_default()
            ))
        })?;
        if vectors.len() != chunk.len() {
            return Err(Error::Embedder(format!(
                "embedder returned {} vectors for {} prompts",
                vectors.len(),
                chunk.len()
            )));
        }
        for (&i, v) in chunk.iter().zip(vectors) {
            if v.len() != dim || v.iter().any(|x| !x.is_finite()) {
                return Err(Error::Embedder(format!(
                    "embedding of {} has width {} (expected {dim}) or non-finite values",
                    origin(&examples[i]),
                    v.len()
                )));
            }
            cache.insert(keys[i], v)?;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let mut out = Vec::with_capacity(examples.len());
    for k in &keys {
        out.push(
            cache
                .get(k)
                .cloned()
                .ok_or_else(|| Error::Embedder("embedding missing after encoding".to_owned()))?,
        );
    }
    let stats = EmbedStats {
        prompts: examples.len(),
        cached: stats_cached,
        encoded: todo.len(),
        seconds,
        per_second: if todo.is_empty() || seconds <= 0.0 {
            0.0
        } else {
            todo.len() as f64 / seconds
        },
    };
    Ok((out, stats))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trips_and_survives_a_torn_record() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = key("a", None);
        let k2 = key("a", Some(b"img"));
        assert_ne!(k1, k2);
        {
            let mut c = Cache::open(dir.path(), "text:abc", 2).unwrap();
            c.insert(k1, vec![1.0, 2.0]).unwrap();
            c.insert(k2, vec![3.0, 4.0]).unwrap();
        }
        let file = dir.path().join("text_abc-d2.bin");
        // Tear the last record.
        let len = std::fs::metadata(&file).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        {
            let mut c = Cache::open(dir.path(), "text:abc", 2).unwrap();
            assert_eq!(c.len(), 1);
            assert_eq!(c.get(&k1), Some(&vec![1.0, 2.0]));
            c.insert(k2, vec![5.0, 6.0]).unwrap();
        }
        let c = Cache::open(dir.path(), "text:abc", 2).unwrap();
        assert_eq!(c.get(&k2), Some(&vec![5.0, 6.0]));
        // Another embedder has its own file.
        assert!(Cache::open(dir.path(), "text:other", 2).unwrap().is_empty());
    }
}
