//! Runtime state of one endpoint: its HTTP client, circuit breaker and admission limits.
//! Kept across config reloads as long as the endpoint's definition is unchanged, so that a
//! reload neither resets a tripped breaker nor forgets requests in flight.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use switchyard_crds::config::ResolvedEndpoint;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ClientError;
use super::breaker::{Breaker, BreakerSettings};
use super::client::{Target, UpstreamClient};
use super::limiter::RateLimiter;
use crate::metrics::EndpointSeries;

/// One endpoint's runtime.
#[derive(Debug)]
pub struct EndpointRuntime {
    /// The definition it was built from.
    pub def: ResolvedEndpoint,
    /// The chat-completions URL, parsed once.
    pub target: Target,
    /// HTTP client (connect timeout of this endpoint).
    pub client: UpstreamClient,
    /// Circuit breaker.
    pub breaker: Breaker,
    /// The model id as an `x-switchyard-model` header value (`None` if it cannot be one).
    pub model_header: Option<HeaderValue>,
    /// This endpoint's metric series, looked up once.
    pub series: EndpointSeries,
    concurrency: Option<Arc<Semaphore>>,
    rate: Option<RateLimiter>,
}

/// Why an endpoint refused a request locally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `maxConcurrency` requests are already in flight.
    Concurrency,
    /// `requestsPerMinute` is used up.
    RateLimit,
}

impl Refusal {
    /// Human-readable reason.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Concurrency => "maxConcurrency reached",
            Self::RateLimit => "requestsPerMinute reached",
        }
    }
}

/// Held while a request to the endpoint is in flight (streams included).
#[derive(Debug)]
pub struct Admission {
    _permit: Option<OwnedSemaphorePermit>,
}

impl EndpointRuntime {
    /// Builds the runtime for `def`, with an upstream connection pool per server worker.
    pub fn new(
        def: ResolvedEndpoint,
        tls: &Arc<rustls::ClientConfig>,
        breaker: BreakerSettings,
        workers: usize,
    ) -> Result<Self, ClientError> {
        let target = Target::parse(&def.chat_completions_url())?;
        let client = UpstreamClient::new(
            tls,
            Duration::from_millis(def.timeouts.connect_ms),
            &target.uri,
            workers,
        )?;
        Ok(Self {
            target,
            client,
            breaker: Breaker::new(breaker),
            model_header: HeaderValue::from_str(&def.model).ok(),
            series: EndpointSeries::default(),
            concurrency: def
                .max_concurrency
                .map(|n| Arc::new(Semaphore::new(n as usize))),
            rate: def.requests_per_minute.map(RateLimiter::new),
            def,
        })
    }

    /// Admits a request if the endpoint's limits allow it.
    pub fn admit(&self) -> Result<Admission, Refusal> {
        let permit = match &self.concurrency {
            Some(s) => Some(
                Arc::clone(s)
                    .try_acquire_owned()
                    .map_err(|_| Refusal::Concurrency)?,
            ),
            None => None,
        };
        if let Some(r) = &self.rate
            && !r.try_take()
        {
            return Err(Refusal::RateLimit);
        }
        Ok(Admission { _permit: permit })
    }
}
