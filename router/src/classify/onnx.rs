//! The ONNX engines (`switchyard-inference`) behind the classifier interface: the `embedding`
//! and `onnx` intent classifiers and the `auto` head. One inference [`Engine`] is shared by
//! every policy and reload; it is restarted only when the config's inference settings change.

use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use switchyard_crds::config::{ResolvedAuto, ResolvedEndpoint, ResolvedIntent, ResolvedStrategy};
use switchyard_crds::policy::ClassifierType;
use switchyard_inference::{self as inference, Engine, ErrorKind, ImageLimits};
use tokio::sync::OnceCell;

use super::{
    AutoScores, BuildContext, Classification, ClassifierFactory, ClassifyError, ClassifyInput,
    IntentScores, PolicyClassifier, llm,
};
use switchyard_crds::config::ResolvedPolicy;

/// Builds ONNX-backed classifiers (and the `llm` classifier) over one shared engine.
#[derive(Default)]
pub struct OnnxFactory {
    engine: Mutex<Option<Engine>>,
}

impl OnnxFactory {
    /// The engine for `ctx`'s settings, started on first use or when the settings changed.
    fn engine(&self, ctx: &BuildContext) -> Result<Engine, ClassifyError> {
        let settings = &ctx.config.server.inference;
        let mut slot = self
            .engine
            .lock()
            .map_err(|_| ClassifyError::Unavailable("engine lock poisoned".into()))?;
        if let Some(engine) = slot.as_ref()
            && engine.settings() == settings
            && engine.models_dir() == ctx.models_dir
        {
            engine.set_image_limits(ImageLimits::from_config(&ctx.config.server.limits));
            return Ok(engine.clone());
        }
        if slot.is_some() {
            tracing::info!("inference settings changed; starting a new engine");
        }
        let engine = Engine::start(settings, &ctx.models_dir)
            .map_err(|e| ClassifyError::Unavailable(e.to_string()))?;
        engine.set_image_limits(ImageLimits::from_config(&ctx.config.server.limits));
        *slot = Some(engine.clone());
        Ok(engine)
    }

    /// Status of the current engine, if one was started.
    pub fn status(&self) -> Option<inference::EngineStatus> {
        self.engine.lock().ok()?.as_ref().map(Engine::status)
    }
}

impl ClassifierFactory for OnnxFactory {
    fn build(
        &self,
        policy: &ResolvedPolicy,
        ctx: &BuildContext,
    ) -> Result<Arc<dyn PolicyClassifier>, ClassifyError> {
        match &policy.strategy {
            ResolvedStrategy::Intent(intent) if intent.classifier.kind == ClassifierType::Llm => {
                Ok(Arc::new(llm::LlmClassifier::new(intent, ctx)?))
            }
            ResolvedStrategy::Intent(intent) => Ok(Arc::new(OnnxIntent {
                engine: self.engine(ctx)?,
                spec: intent.clone(),
                model: OnceCell::new(),
            })),
            ResolvedStrategy::Auto(auto) => Ok(Arc::new(OnnxAuto {
                engine: self.engine(ctx)?,
                spec: auto.clone(),
                endpoints: ctx.config.endpoints.clone(),
                model: OnceCell::new(),
            })),
        }
    }
}

/// Maps an inference error to the classifier interface.
fn classify_error(e: inference::Error) -> ClassifyError {
    match (e.kind(), &e) {
        (_, inference::Error::EmptyInput) => ClassifyError::NoText,
        (
            _,
            inference::Error::Image(
                inference::ImageError::TooLarge { .. }
                | inference::ImageError::TooManyPixels { .. },
            ),
        ) => ClassifyError::TooLarge(e.to_string()),
        (ErrorKind::Client, _) => ClassifyError::BadInput(e.to_string()),
        (ErrorKind::Overloaded, inference::Error::Overloaded { retry_after }) => {
            ClassifyError::Overloaded {
                retry_after_s: retry_after.as_secs().max(1),
            }
        }
        _ => ClassifyError::Unavailable(e.to_string()),
    }
}

fn to_inference(input: &ClassifyInput) -> inference::ClassifyInput {
    inference::ClassifyInput {
        turns: input
            .turns
            .iter()
            .map(|t| inference::Turn {
                role: inference::Role::parse(&t.role),
                text: t.text.clone(),
            })
            .collect(),
        images: input.images.iter().map(|i| i.bytes.clone()).collect(),
    }
}

fn device(engine: &Engine) -> Option<&'static str> {
    Some(match engine.status().device {
        switchyard_crds::config::Device::Cpu => "cpu",
        switchyard_crds::config::Device::Cuda => "cuda",
    })
}

fn degraded(engine: &Engine) -> Option<String> {
    let status = engine.status();
    if let Some(e) = status.error {
        return Some(format!("inference engine failed: {e}"));
    }
    status
        .cuda_unavailable
        .map(|why| format!("CUDA requested but unavailable ({why}); inference runs on CPU"))
}

/// Warm-up shared by the ONNX classifiers: waits for the engine, then builds the model once.
async fn warm<M, Fut>(
    engine: &Engine,
    model: &OnceCell<M>,
    build: impl FnOnce() -> Fut,
) -> Result<(), ClassifyError>
where
    Fut: std::future::Future<Output = inference::Result<M>>,
{
    engine.ready().await.map_err(classify_error)?;
    model.get_or_try_init(build).await.map_err(classify_error)?;
    Ok(())
}

/// The model [`warm`] built, or `Unavailable` before warm-up.
fn warmed<M>(model: &OnceCell<M>) -> Result<&M, ClassifyError> {
    model
        .get()
        .ok_or_else(|| ClassifyError::Unavailable("classifier not warmed up".into()))
}

/// `embedding` / `onnx` intent classifier.
struct OnnxIntent {
    engine: Engine,
    spec: ResolvedIntent,
    model: OnceCell<inference::IntentModel>,
}

impl PolicyClassifier for OnnxIntent {
    fn engine(&self) -> &'static str {
        match self.spec.classifier.kind {
            ClassifierType::Onnx => "onnx",
            _ => "embedding",
        }
    }

    fn degraded(&self) -> Option<String> {
        degraded(&self.engine)
    }

    fn device(&self) -> Option<&'static str> {
        device(&self.engine)
    }

    fn warm_up(&self) -> BoxFuture<'_, Result<(), ClassifyError>> {
        warm(&self.engine, &self.model, || {
            inference::IntentModel::build(&self.engine, &self.spec)
        })
        .boxed()
    }

    fn classify<'a>(
        &'a self,
        input: &'a ClassifyInput,
    ) -> BoxFuture<'a, Result<Classification, ClassifyError>> {
        async move {
            let model = warmed(&self.model)?;
            let s = model
                .classify(&to_inference(input))
                .await
                .map_err(classify_error)?;
            Ok(Classification::Intent(IntentScores {
                route: s.route,
                confidence: s.confidence,
                scores: s.scores.into_iter().map(|r| (r.route, r.score)).collect(),
            }))
        }
        .boxed()
    }
}

/// `auto` strategy: embedder + head.
struct OnnxAuto {
    engine: Engine,
    spec: ResolvedAuto,
    endpoints: Vec<ResolvedEndpoint>,
    model: OnceCell<inference::AutoModel>,
}

impl PolicyClassifier for OnnxAuto {
    fn engine(&self) -> &'static str {
        "auto-head"
    }

    fn wants_images(&self) -> bool {
        self.spec.vision_model.is_some()
    }

    fn degraded(&self) -> Option<String> {
        degraded(&self.engine)
    }

    fn device(&self) -> Option<&'static str> {
        device(&self.engine)
    }

    fn warm_up(&self) -> BoxFuture<'_, Result<(), ClassifyError>> {
        warm(&self.engine, &self.model, || {
            inference::AutoModel::build(&self.engine, &self.spec, &self.endpoints)
        })
        .boxed()
    }

    fn classify<'a>(
        &'a self,
        input: &'a ClassifyInput,
    ) -> BoxFuture<'a, Result<Classification, ClassifyError>> {
        async move {
            let model = warmed(&self.model)?;
            let s = model
                .score(&to_inference(input))
                .await
                .map_err(classify_error)?;
            Ok(Classification::Auto(AutoScores {
                thresholds: s
                    .candidates
                    .iter()
                    .map(|c| (c.endpoint.clone(), c.threshold))
                    .collect(),
                probabilities: s
                    .candidates
                    .into_iter()
                    .map(|c| (c.endpoint, c.probability))
                    .collect(),
            }))
        }
        .boxed()
    }
}
