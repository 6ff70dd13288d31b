//! ONNX inference engine of the Switchyard router.
//!
//! - [`Engine`]: the ONNX Runtime environment (loaded from `ORT_DYLIB_PATH`), the device
//!   decision (CUDA when asked for and usable, else CPU with the reason in
//!   [`EngineStatus`]), readiness, and the loaded models: worker threads owning the sessions,
//!   a bounded queue per model ([`Error::Overloaded`] when full) and dynamic batching.
//! - [`IntentModel`]: intent classification by embedding similarity or a supervised ONNX
//!   classifier.
//! - [`AutoModel`]: learned routing: an embedder (text encoder, or CLIP text + vision towers)
//!   and a head predicting per candidate the probability of a good answer. The head's
//!   metadata format is documented in [`head`].
//! - [`decode_image`] with limits and CLIP preprocessing; [`ClassifyInput`] and the
//!   conversation → text policy in [`text`].

pub mod auto;
mod batch;
pub mod encoder;
pub mod engine;
pub mod error;
pub mod head;
pub mod image;
pub mod intent;
pub mod models;
mod pool;
mod runtime;
pub mod text;

pub use auto::{AutoModel, AutoScores, CandidateScore, Embedder};
pub use encoder::{TextEncoder, VisionEncoder};
pub use engine::{Engine, EngineOptions, EngineStatus, WorkerHold};
pub use error::{Error, ErrorKind, ImageError, Result};
pub use image::{ImageLimits, clip_preprocess, decode_image};
pub use intent::{IntentModel, IntentScores, RouteScore};
pub use text::{ClassifyInput, Role, TextPolicy, Turn, conversation_text};

/// The process-wide ONNX Runtime environment, loaded from `ORT_DYLIB_PATH` on first use and
/// shared with every [`Engine`]. ONNX Runtime allows one environment per process, so other
/// crates that create sessions of their own (the trainer's parity check) must use this one.
pub fn ort_environment() -> Result<ort::environment::Environment> {
    runtime::environment(None)
}

#[cfg(test)]
mod tests {
    /// The router shares these across tasks.
    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<crate::Engine>();
        check::<crate::IntentModel>();
        check::<crate::AutoModel>();
        check::<crate::Embedder>();
        check::<crate::Error>();
    }
}
