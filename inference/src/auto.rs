//! Learned ("auto") routing: an [`Embedder`] turns a request into one vector, and a head
//! (format in [`crate::head`]) predicts per candidate the probability of a good answer.
//!
//! Embedders:
//! - `text`: the text encoder's vector of the conversation text ([`TextPolicy::Conversation`]);
//!   images are ignored (image requests are routed structurally by the router).
//! - `clip`: CLIP text vector ‖ CLIP image vector of the first image (512 + 512), zeros for
//!   the image half when there is no image, as in NVIDIA's reference. The two towers run in
//!   parallel on their own workers.
//!
//! Training (`switchyard-router train`) must embed with [`Embedder::embed`] and write
//! [`Embedder::fingerprint`] into the head so that serving and training agree. The head format
//! is [`switchyard_crds::head`]; loading checks are described in [`crate::head`].

use std::sync::Arc;

use switchyard_crds::config::{ResolvedAuto, ResolvedEndpoint};
use switchyard_crds::policy::EmbedderType;

use crate::encoder::{TextEncoder, VisionEncoder};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::head::{fingerprint_files, parse_metadata};
use crate::models::{ModelRole, locate};
use crate::pool::{Item, Pool, Runner};
use crate::text::{ClassifyInput, TextPolicy, conversation_text};

/// Text policy of auto routing.
pub const AUTO_TEXT_POLICY: TextPolicy = TextPolicy::Conversation;

/// The embedder of an auto policy.
#[derive(Clone, Debug)]
pub struct Embedder {
    kind: EmbedderType,
    text: TextEncoder,
    vision: Option<VisionEncoder>,
    fingerprint: String,
    dim: usize,
}

impl Embedder {
    /// Loads the text encoder (and, for `clip`, the vision tower) of `auto` and warms them up.
    pub async fn load(engine: &Engine, auto: &ResolvedAuto) -> Result<Embedder> {
        let text = TextEncoder::load(engine, &auto.text_model, ModelRole::Text).await?;
        let vision = match (auto.embedder, &auto.vision_model) {
            (EmbedderType::Clip, Some(loc)) => Some(VisionEncoder::load(engine, loc).await?),
            (EmbedderType::Clip, None) => {
                return Err(Error::invalid(
                    "auto embedder",
                    "embedder type clip needs a vision tower",
                ));
            }
            (EmbedderType::Text, _) => None,
        };
        let (fingerprint, dim) = match &vision {
            Some(v) => (
                fingerprint_files(
                    "clip",
                    &[&text.files().onnx, &v.files().onnx],
                    text.describe(),
                )?,
                text.dim() + v.dim(),
            ),
            None => (
                fingerprint_files("text", &[&text.files().onnx], text.describe())?,
                text.dim(),
            ),
        };
        Ok(Embedder {
            kind: auto.embedder,
            text,
            vision,
            fingerprint,
            dim,
        })
    }

    /// Identity of this embedder as written into heads: `text:<hash>` or
    /// `clip:<text hash>+<vision hash>` ([`switchyard_crds::head::embedder_fingerprint`]).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Output width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Embedder kind.
    pub fn kind(&self) -> EmbedderType {
        self.kind
    }

    /// Embeds a request: the conversation text, and for CLIP the first image.
    /// [`Error::EmptyInput`] when there is neither text nor (for CLIP) an image.
    pub async fn embed(&self, input: &ClassifyInput) -> Result<Vec<f32>> {
        let text = conversation_text(input, AUTO_TEXT_POLICY, self.text.max_chars());
        match &self.vision {
            None => {
                let text = text.ok_or(Error::EmptyInput)?;
                self.text.embed(&text).await
            }
            Some(vision) => {
                let image = input.images.first().cloned();
                if text.is_none() && image.is_none() {
                    return Err(Error::EmptyInput);
                }
                let text = text.unwrap_or_default();
                let text_fut = self.text.embed_any(&text);
                let image_fut = async {
                    match image {
                        Some(bytes) => vision.embed(bytes).await,
                        None => Ok(vec![0f32; vision.dim()]),
                    }
                };
                let (t, i) = tokio::join!(text_fut, image_fut);
                // A bad image is the client's error even when the text failed too.
                let i = i?;
                let mut v = t?;
                v.extend_from_slice(&i);
                Ok(v)
            }
        }
    }
}

/// One candidate's prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct CandidateScore {
    /// Endpoint name.
    pub endpoint: String,
    /// Predicted probability of a good answer.
    pub probability: f64,
    /// Threshold: the policy's, else the head's calibrated one.
    pub threshold: f64,
}

/// Result of scoring one request.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoScores {
    /// Candidates in the policy's order.
    pub candidates: Vec<CandidateScore>,
    /// Whether an image was embedded (CLIP with an image).
    pub image_used: bool,
}

/// A built auto-routing model for one policy.
#[derive(Clone, Debug)]
pub struct AutoModel {
    embedder: Embedder,
    head: Arc<Pool>,
    /// Per policy candidate: (endpoint, head column, threshold).
    columns: Vec<(String, usize, f64)>,
}

impl AutoModel {
    /// Loads the embedder and the head of `auto`, and checks that the head was trained for
    /// this embedder and covers every candidate. A candidate's head output is its
    /// `headOutput`, else its endpoint name, else its endpoint's upstream model id (looked up
    /// in `endpoints`, the config's resolved endpoints).
    pub async fn build(
        engine: &Engine,
        auto: &ResolvedAuto,
        endpoints: &[ResolvedEndpoint],
    ) -> Result<AutoModel> {
        let embedder = Embedder::load(engine, auto).await?;
        let files = locate(&auto.head, engine.models_dir(), ModelRole::Head)?;
        let runner = Runner::Vector {
            dim: embedder.dim(),
        };
        let warmup = vec![
            Item::Vector(vec![0.0; embedder.dim()]),
            Item::Vector(vec![0.1; embedder.dim()]),
        ];
        let head = engine.load(&files, runner, warmup).await?;
        let meta = parse_metadata(&files.describe, |k| head.metadata(k))?;
        if meta.embedder != embedder.fingerprint() {
            return Err(Error::mismatch(
                &files.describe,
                format!(
                    "the head was trained on embedder {:?} but the policy's embedder is {:?}; \
                     retrain the head with this embedder",
                    meta.embedder,
                    embedder.fingerprint()
                ),
            ));
        }
        if meta.input_dim != embedder.dim() {
            return Err(Error::mismatch(
                &files.describe,
                format!(
                    "the head takes {} inputs but the embedder gives {}",
                    meta.input_dim,
                    embedder.dim()
                ),
            ));
        }
        if let Some(out) = head.out_dim.filter(|&o| o != meta.candidates.len()) {
            return Err(Error::invalid(
                &files.describe,
                format!(
                    "the head outputs {out} values but names {} candidates",
                    meta.candidates.len()
                ),
            ));
        }
        let mut columns = Vec::with_capacity(auto.candidates.len());
        let mut missing = Vec::new();
        for c in &auto.candidates {
            let model = endpoints
                .iter()
                .find(|e| e.name == c.endpoint)
                .map(|e| e.model.as_str());
            let find = |name: &str| meta.candidates.iter().position(|h| h == name);
            let col = match &c.head_output {
                Some(output) => find(output),
                None => find(&c.endpoint).or_else(|| model.and_then(find)),
            };
            match col {
                Some(col) => {
                    let threshold = c.threshold.unwrap_or(meta.thresholds[col]);
                    columns.push((c.endpoint.clone(), col, threshold));
                }
                None => missing.push(c.head_output.clone().unwrap_or_else(|| c.endpoint.clone())),
            }
        }
        if !missing.is_empty() {
            return Err(Error::mismatch(
                &files.describe,
                format!(
                    "candidates {missing:?} are not in the head (it predicts {:?}); retrain the \
                     head with them or remove them from the policy",
                    meta.candidates
                ),
            ));
        }
        Ok(AutoModel {
            embedder,
            head,
            columns,
        })
    }

    /// The embedder (for training with exactly the serving embeddings).
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// Predicts, per candidate, the probability of a good answer.
    pub async fn score(&self, input: &ClassifyInput) -> Result<AutoScores> {
        let vector = self.embedder.embed(input).await?;
        let out = self.head.infer(Item::Vector(vector)).await?;
        let candidates = self
            .columns
            .iter()
            .map(|(endpoint, col, threshold)| CandidateScore {
                endpoint: endpoint.clone(),
                probability: f64::from(out.get(*col).copied().unwrap_or(0.0)),
                threshold: *threshold,
            })
            .collect();
        Ok(AutoScores {
            candidates,
            image_used: self.embedder.kind == EmbedderType::Clip && !input.images.is_empty(),
        })
    }
}
