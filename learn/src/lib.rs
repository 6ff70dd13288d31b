//! Training and evaluation of Switchyard's learned (`auto`) routing heads.
//!
//! `switchyard-router train` and `switchyard-router eval` are thin wrappers over [`train()`]
//! and [`eval()`]: their flags are [`TrainArgs`] and [`EvalArgs`] (clap `Args`), and the
//! embedder comes from the caller through the [`Embedder`] trait, so the trainer embeds with
//! exactly the encoder the router serves. [`open_embedder`] opens the built-in text encoder
//! through the router's own inference engine (`switchyard-inference`).
//!
//! The written head follows `switchyard_crds::head`: ONNX input `embedding [N, D]`, output
//! `probabilities [N, K]` (sigmoid in the graph), metadata under `switchyard.head`.

pub mod cache;
pub mod card;
pub mod data;
pub mod embed;
pub mod embed_engine;
pub mod embed_ort;
pub mod error;
pub mod eval;
pub mod fit;
pub mod head_file;
pub mod metrics;
pub mod model;
pub mod onnx;
pub mod plot;
pub mod runtime;
pub mod summary;
pub mod train;

pub use data::{Dataset, Format};
pub use embed::Embedder;
pub use error::{Error, Result};
pub use eval::{EvalArgs, EvalReport, eval};
pub use train::{TrainArgs, TrainReport, ValBy, train};

/// Opens the embedder named by an `--embedder` argument: the router's own inference engine
/// ([`embed_engine::EngineEmbedder`]) with `threads` parallel workers.
pub fn open_embedder(spec: &str, threads: usize) -> Result<Box<dyn Embedder>> {
    Ok(Box::new(embed_engine::EngineEmbedder::open(spec, threads)?))
}
