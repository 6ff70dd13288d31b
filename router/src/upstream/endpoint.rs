//! Runtime state of one endpoint: its HTTP client, circuit breaker and admission limits.
//! Kept across config reloads as long as the endpoint's definition is unchanged, so that a
//! reload neither resets a tripped breaker nor forgets requests in flight.

use std::sync::Arc;
use std::time::Duration;

use switchyard_crds::config::ResolvedEndpoint;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::breaker::{Breaker, BreakerSettings};
use super::limiter::RateLimiter;
use super::{ClientError, build_client};

/// One endpoint's runtime.
#[derive(Debug)]
pub struct EndpointRuntime {
    /// The definition it was built from.
    pub def: ResolvedEndpoint,
    /// The chat-completions URL, parsed once.
    pub url: reqwest::Url,
    /// HTTP client (connect timeout of this endpoint).
    pub client: reqwest::Client,
    /// Circuit breaker.
    pub breaker: Breaker,
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
    /// Builds the runtime for `def`.
    pub fn new(
        def: ResolvedEndpoint,
        tls: &rustls::ClientConfig,
        breaker: BreakerSettings,
    ) -> Result<Self, ClientError> {
        let client = build_client(tls, Duration::from_millis(def.timeouts.connect_ms))?;
        let url = reqwest::Url::parse(&def.chat_completions_url())
            .map_err(|e| ClientError::Url(e.to_string()))?;
        Ok(Self {
            url,
            client,
            breaker: Breaker::new(breaker),
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
