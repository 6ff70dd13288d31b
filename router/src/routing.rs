//! Routing one request with a policy: fetch image URLs when the classifier wants pixels and
//! the limits allow it, classify, decide, and record the decision's metrics. Shared by the
//! proxy, the recommendation endpoints and the `route` command.

use std::time::{Duration, Instant};

use futures::StreamExt;
use switchyard_crds::config::Limits;

use crate::classify::{ClassifyError, ClassifyInput, ImageData};
use crate::decide::{DecideError, Decision, Knobs, decide};
use crate::error::ApiError;
use crate::metrics::{PolicyLabels, ReasonLabels};
use crate::state::{AppState, PolicyRuntime, Snapshot};

/// Time allowed to fetch one image URL.
pub const IMAGE_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A decision with its timing.
#[derive(Clone, Debug)]
pub struct Routed {
    /// The decision.
    pub decision: Decision,
    /// Milliseconds spent classifying and deciding.
    pub decision_ms: f64,
    /// The classifier engine used.
    pub engine: &'static str,
}

/// Per-request options of a routed request.
#[derive(Clone, Debug, Default)]
pub struct RouteOptions {
    /// Tolerance override.
    pub tolerance: Option<f64>,
    /// Allow-list.
    pub models: Option<Vec<String>>,
    /// Estimated prompt tokens.
    pub est_tokens: u64,
    /// The request declares tools.
    pub needs_tools: bool,
}

/// Classifies and decides.
pub async fn route(
    state: &AppState,
    snap: &Snapshot,
    policy: &PolicyRuntime,
    mut input: ClassifyInput,
    image_urls: &[String],
    opts: &RouteOptions,
) -> Result<Routed, ApiError> {
    let started = Instant::now();
    let limits = &snap.config.server.limits;
    if policy.classifier.wants_images() && limits.allow_image_urls {
        for url in image_urls {
            input
                .images
                .push(fetch_image(state.http(), url, limits).await?);
        }
    }
    input.has_images |= !image_urls.is_empty();
    let name = &policy.policy.name;
    let scores = match policy.classifier.classify(&input).await {
        Ok(c) => Some(c),
        // An image without text: routing goes by structure (the images route).
        Err(ClassifyError::NoText) if input.has_images => None,
        Err(ClassifyError::NoText) => {
            return Err(ApiError::BadRequest(
                "the conversation has no text to route on".to_owned(),
            ));
        }
        Err(ClassifyError::BadInput(msg)) => return Err(ApiError::BadRequest(msg)),
        Err(ClassifyError::TooLarge(msg)) => return Err(ApiError::TooLarge(msg)),
        Err(ClassifyError::Overloaded { retry_after_s }) => {
            return Err(ApiError::Overloaded {
                message: format!("the router's inference queue is full; retry in {retry_after_s}s"),
                retry_after_s,
            });
        }
        Err(e) => {
            state
                .metrics()
                .classifier_failures
                .get_or_create(&ReasonLabels {
                    policy: name.clone(),
                    reason: e.category().to_owned(),
                })
                .inc();
            tracing::warn!(policy = %name, error = %e, "classifier failed; using the default route");
            None
        }
    };
    let knobs = Knobs {
        tolerance: opts.tolerance,
        allow: opts.models.as_deref(),
        has_images: input.has_images,
        est_tokens: opts.est_tokens,
        needs_tools: opts.needs_tools,
    };
    let decision = decide(
        &policy.policy,
        &snap.config,
        scores.as_ref(),
        &knobs,
        &|e| snap.is_open(e),
    )
    .map_err(decide_error)?;
    let elapsed = started.elapsed();
    state
        .metrics()
        .decision_seconds
        .get_or_create(&PolicyLabels {
            policy: name.clone(),
            strategy: policy.policy.strategy_name().to_owned(),
        })
        .observe(elapsed.as_secs_f64());
    Ok(Routed {
        decision,
        decision_ms: elapsed.as_secs_f64() * 1000.0,
        engine: policy.classifier.engine(),
    })
}

/// Maps a decision failure to the API error.
pub fn decide_error(e: DecideError) -> ApiError {
    match e {
        DecideError::NoEndpoints { .. } => ApiError::Unavailable(e.to_string()),
        DecideError::NoEligible { .. } => ApiError::NoEligibleEndpoint(e.to_string()),
    }
}

/// Fetches an http(s) image URL with the size limit and [`IMAGE_FETCH_TIMEOUT`].
pub async fn fetch_image(
    http: &reqwest::Client,
    url: &str,
    limits: &Limits,
) -> Result<ImageData, ApiError> {
    let fail = |why: String| {
        ApiError::BadRequest(format!("image URL {url:?} could not be fetched: {why}"))
    };
    let fetch = async {
        let resp = http
            .get(url)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("status {}", resp.status())));
        }
        let media_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = resp.bytes_stream();
        let mut buf = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| fail(e.to_string()))?;
            buf.extend_from_slice(&chunk);
            if buf.len() as u64 > limits.max_image_bytes {
                return Err(ApiError::TooLarge(format!(
                    "image URL {url:?} is larger than the limit of {} bytes",
                    limits.max_image_bytes
                )));
            }
        }
        Ok(ImageData {
            bytes: buf.into(),
            media_type,
        })
    };
    tokio::time::timeout(IMAGE_FETCH_TIMEOUT, fetch)
        .await
        .map_err(|_| fail(format!("no answer within {IMAGE_FETCH_TIMEOUT:?}")))?
}
