//! The embedder seam: what training and evaluation need from a prompt encoder.
//!
//! The router's inference engine owns the production encoders; this trait lets the trainer
//! use any of them (or a test double) as long as it reports the same fingerprint the router
//! checks when it loads a head.

use crate::error::Result;

/// A prompt encoder: text (and optionally an image) to a fixed-width vector.
pub trait Embedder: Send + Sync {
    /// Fingerprint stored in the head and checked by the router
    /// (`switchyard_crds::head::embedder_fingerprint`).
    fn fingerprint(&self) -> String;
    /// Width of the embedding.
    fn dim(&self) -> usize;
    /// Whether [`Embedder::embed_batch`] accepts images.
    fn supports_images(&self) -> bool {
        false
    }
    /// Number of prompts per call that keeps the encoder efficient.
    fn batch_size(&self) -> usize {
        32
    }
    /// Embeds a batch: `texts[i]` with the encoded image `images[i]` (PNG/JPEG/WebP bytes).
    /// Both slices have the same length; the result has one vector of [`Embedder::dim`] per
    /// prompt.
    fn embed_batch(&self, texts: &[String], images: &[Option<Vec<u8>>]) -> Result<Vec<Vec<f32>>>;
}
