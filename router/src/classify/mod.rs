//! The classifier interface between the router and its scoring engines, and the factory that
//! builds one classifier per policy on every (re)load.
//!
//! A [`PolicyClassifier`] turns a conversation (text turns plus decoded images) into a
//! [`Classification`]: an intent with per-route scores, or per-candidate probabilities for the
//! `auto` strategy. The routing decision itself ([`crate::decide`]) is a pure function of that
//! output, so engines can be swapped without touching routing.
//!
//! Engines:
//! - [`onnx`]: the `embedding` and `onnx` intent classifiers and the `auto` head, running on the
//!   ONNX inference engine (`switchyard-inference`); [`onnx::OnnxFactory`] is the production
//!   factory.
//! - [`llm::LlmClassifier`] (`classifier.type: llm`): asks a small LLM behind a ModelEndpoint
//!   to name the route.
//! - `placeholder` (tests only, feature `testing`): keyword and length-based test doubles for
//!   tests that must not depend on model files.

pub mod llm;
pub mod onnx;
#[cfg(any(test, feature = "testing"))]
pub mod placeholder;

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use switchyard_crds::config::{ResolvedPolicy, RouterConfig};

use crate::secrets::SecretsHandle;

/// One conversation turn as the classifier sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    /// `system`, `user`, `assistant`, `tool`, ...
    pub role: String,
    /// The turn's text parts joined with newlines (images removed).
    pub text: String,
}

/// A decoded image of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageData {
    /// The encoded image file (PNG, JPEG, ...), not yet decoded into pixels.
    pub bytes: Bytes,
    /// Media type from the data URL or the HTTP response, when known.
    pub media_type: Option<String>,
}

/// What a classifier sees of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassifyInput {
    /// The conversation, in order.
    pub turns: Vec<Turn>,
    /// Images whose bytes are available (data URLs, fetched URLs), in order.
    pub images: Vec<ImageData>,
    /// Whether the request carries images at all (also true for unfetched URLs).
    pub has_images: bool,
}

impl ClassifyInput {
    /// A single user turn with the given text.
    pub fn from_prompt(text: &str) -> Self {
        Self {
            turns: vec![Turn {
                role: "user".to_owned(),
                text: text.to_owned(),
            }],
            ..Self::default()
        }
    }

    /// Text of the last user turn (the intent router's input), or empty.
    pub fn last_user_text(&self) -> &str {
        self.turns
            .iter()
            .rev()
            .find(|t| t.role == "user")
            .map(|t| t.text.as_str())
            .unwrap_or("")
    }

    /// The whole conversation's text (the auto router's input), turns joined by newlines.
    pub fn conversation_text(&self) -> String {
        let mut out = String::new();
        for t in &self.turns {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&t.text);
        }
        out
    }
}

/// Intent classification result.
#[derive(Clone, Debug, PartialEq)]
pub struct IntentScores {
    /// The best route.
    pub route: String,
    /// Its confidence (similarity or probability, 0..1).
    pub confidence: f64,
    /// Score of every route, in declaration order.
    pub scores: Vec<(String, f64)>,
}

/// Auto-strategy result.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoScores {
    /// Predicted probability of a good answer per candidate endpoint name.
    pub probabilities: Vec<(String, f64)>,
    /// Calibrated thresholds per endpoint name (from the head), used when the policy sets none.
    pub thresholds: Vec<(String, f64)>,
}

/// What a classifier returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Classification {
    /// For the `intent` strategy.
    Intent(IntentScores),
    /// For the `auto` strategy.
    Auto(AutoScores),
}

/// Why classification failed; the request then takes the policy's default route.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    /// No answer in time.
    #[error("classifier timed out after {0} ms")]
    Timeout(u64),
    /// The classifier endpoint could not be reached or answered an error.
    #[error("classifier endpoint failed: {0}")]
    Upstream(String),
    /// The classifier answered something that names no route.
    #[error("classifier answer names no route: {0:?}")]
    Unparsable(String),
    /// The classifier needs an API key that is missing.
    #[error("classifier endpoint needs an API key: {0}")]
    MissingApiKey(String),
    /// The classifier could not be built or warmed up.
    #[error("classifier unavailable: {0}")]
    Unavailable(String),
    /// The conversation has no text (e.g. an image alone); routing uses structure only.
    #[error("the conversation has no text to classify")]
    NoText,
    /// The request itself is unusable (corrupt or oversized image): a client error.
    #[error("{0}")]
    BadInput(String),
    /// An image of the request exceeds the byte or pixel limits: a client error (413).
    #[error("{0}")]
    TooLarge(String),
    /// The inference queue is full: the client should retry.
    #[error("the inference queue is full")]
    Overloaded {
        /// Seconds the client should wait.
        retry_after_s: u64,
    },
}

impl ClassifyError {
    /// Bounded label for metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Upstream(_) => "upstream",
            Self::Unparsable(_) => "unparsable",
            Self::MissingApiKey(_) => "missing_api_key",
            Self::Unavailable(_) => "unavailable",
            Self::NoText => "no_text",
            Self::BadInput(_) => "bad_input",
            Self::TooLarge(_) => "too_large",
            Self::Overloaded { .. } => "overloaded",
        }
    }
}

/// A policy's scoring engine. Built per policy on every (re)load, warmed up before the config
/// is swapped in, then shared by all requests on that config.
pub trait PolicyClassifier: Send + Sync {
    /// Short engine name for logs, `/readyz` and decisions (e.g. `llm`, `placeholder-keyword`).
    fn engine(&self) -> &'static str;

    /// Whether the engine uses image bytes (so http(s) image URLs are worth fetching).
    fn wants_images(&self) -> bool {
        false
    }

    /// Something that makes this classifier serve with less than asked for (e.g. CUDA
    /// requested but inference on CPU); reported on `/readyz`.
    fn degraded(&self) -> Option<String> {
        None
    }

    /// Device the engine runs inference on (`cpu`, `cuda`), when it runs models at all.
    fn device(&self) -> Option<&'static str> {
        None
    }

    /// Prepares the engine (loads models, runs a first inference). Readiness waits for it.
    fn warm_up(&self) -> BoxFuture<'_, Result<(), ClassifyError>>;

    /// Scores one request.
    fn classify<'a>(
        &'a self,
        input: &'a ClassifyInput,
    ) -> BoxFuture<'a, Result<Classification, ClassifyError>>;
}

/// What a factory may use to build classifiers.
#[derive(Clone)]
pub struct BuildContext {
    /// The whole config (endpoints for the `llm` classifier).
    pub config: Arc<RouterConfig>,
    /// Directory of built-in models (`--models`).
    pub models_dir: PathBuf,
    /// HTTP client for classifiers that call endpoints.
    pub http: reqwest::Client,
    /// Current API keys (they may rotate without a rebuild).
    pub secrets: SecretsHandle,
}

/// Builds a policy's classifier. The ONNX engine plugs in here.
pub trait ClassifierFactory: Send + Sync {
    /// Builds the classifier for `policy`.
    fn build(
        &self,
        policy: &ResolvedPolicy,
        ctx: &BuildContext,
    ) -> Result<Arc<dyn PolicyClassifier>, ClassifyError>;
}

/// TEST DOUBLE factory: the real `llm` classifier, and the keyword/length [`placeholder`]
/// engines instead of the ONNX models, for tests that must not depend on model files.
#[cfg(any(test, feature = "testing"))]
#[derive(Clone, Copy, Debug, Default)]
pub struct KeywordFactory;

#[cfg(any(test, feature = "testing"))]
impl ClassifierFactory for KeywordFactory {
    fn build(
        &self,
        policy: &ResolvedPolicy,
        ctx: &BuildContext,
    ) -> Result<Arc<dyn PolicyClassifier>, ClassifyError> {
        use switchyard_crds::config::ResolvedStrategy;
        use switchyard_crds::policy::ClassifierType;
        match &policy.strategy {
            ResolvedStrategy::Intent(intent) => match intent.classifier.kind {
                ClassifierType::Llm => Ok(Arc::new(llm::LlmClassifier::new(intent, ctx)?)),
                ClassifierType::Embedding | ClassifierType::Onnx => {
                    Ok(Arc::new(placeholder::KeywordIntent::new(intent)))
                }
            },
            ResolvedStrategy::Auto(auto) => {
                Ok(Arc::new(placeholder::LengthAuto::new(auto, &ctx.config)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_helpers() {
        let input = ClassifyInput {
            turns: vec![
                Turn {
                    role: "system".into(),
                    text: "be nice".into(),
                },
                Turn {
                    role: "user".into(),
                    text: "first".into(),
                },
                Turn {
                    role: "assistant".into(),
                    text: "ok".into(),
                },
                Turn {
                    role: "user".into(),
                    text: "second".into(),
                },
            ],
            ..ClassifyInput::default()
        };
        assert_eq!(input.last_user_text(), "second");
        assert_eq!(input.conversation_text(), "be nice\nfirst\nok\nsecond");
        assert_eq!(ClassifyInput::default().last_user_text(), "");
    }
}
