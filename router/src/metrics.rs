//! Prometheus metrics of the router (prometheus-client). Label values come from bounded sets:
//! status classes, failure categories, and the names of policies, routes and endpoints in the
//! served config (never from client input: an unknown model is labelled `none`).

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// HTTP status class of a response.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum StatusClass {
    /// 2xx.
    S2xx,
    /// 4xx.
    S4xx,
    /// 5xx.
    S5xx,
    /// Anything else.
    Other,
}

impl EncodeLabelValue for StatusClass {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        encoder.write_str(match self {
            Self::S2xx => "2xx",
            Self::S4xx => "4xx",
            Self::S5xx => "5xx",
            Self::Other => "other",
        })
    }
}

impl StatusClass {
    /// Class of a status code.
    pub fn of(status: u16) -> Self {
        match status {
            200..=299 => Self::S2xx,
            400..=499 => Self::S4xx,
            500..=599 => Self::S5xx,
            _ => Self::Other,
        }
    }
}

/// Labels of `switchyard_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Policy name, `none` for manual routing or unrouted requests.
    pub policy: String,
    /// Route name, `auto`, `manual` or `none`.
    pub route: String,
    /// Endpoint name that answered, or `none`.
    pub model: String,
    /// Status class.
    pub status: StatusClass,
}

/// Labels with a policy and a strategy.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    /// Policy name.
    pub policy: String,
    /// `intent`, `auto` or `manual`.
    pub strategy: String,
}

/// Labels with a policy and a bounded reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Policy name.
    pub policy: String,
    /// Bounded reason.
    pub reason: String,
}

/// Labels with an endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// Endpoint name.
    pub endpoint: String,
}

/// Labels with an endpoint and a bounded outcome or kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointKindLabels {
    /// Endpoint name.
    pub endpoint: String,
    /// Bounded outcome (`ok`, `timeout`, ...) or token kind (`prompt`, `completion`).
    pub kind: String,
}

/// Labels with a result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `success` or `error`.
    pub result: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.1 ms .. ~105 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 21))
}

/// All metrics, registered once per process. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Requests by policy, route, answering endpoint and status class.
    pub requests: Family<RequestLabels, Counter>,
    /// Time from request parsed to decision made.
    pub decision_seconds: HistogramFamily<PolicyLabels>,
    /// Upstream time to first byte (response headers and first chunk).
    pub upstream_ttfb_seconds: HistogramFamily<EndpointLabels>,
    /// Upstream time to the end of the response.
    pub upstream_seconds: HistogramFamily<EndpointLabels>,
    /// Upstream attempts by outcome.
    pub upstream_attempts: Family<EndpointKindLabels, Counter>,
    /// Fallbacks to the next candidate by trigger.
    pub fallbacks: Family<ReasonLabels, Counter>,
    /// Circuit state per endpoint: 0 closed, 1 open, 2 half-open.
    pub circuit_state: Family<EndpointLabels, Gauge>,
    /// Tokens reported by upstreams' `usage`.
    pub tokens: Family<EndpointKindLabels, Counter>,
    /// Config reloads by result.
    pub reloads: Family<ResultLabels, Counter>,
    /// Classifier failures by reason (the default route was used).
    pub classifier_failures: Family<ReasonLabels, Counter>,
    /// Requests in flight.
    pub inflight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("switchyard");
        let requests = Family::default();
        r.register("requests", "Routed requests", requests.clone());
        let decision_seconds: HistogramFamily<PolicyLabels> =
            Family::new_with_constructor(latency_histogram);
        r.register(
            "decision_duration_seconds",
            "Time to classify and decide",
            decision_seconds.clone(),
        );
        let upstream_ttfb_seconds: HistogramFamily<EndpointLabels> =
            Family::new_with_constructor(latency_histogram);
        r.register(
            "upstream_ttfb_seconds",
            "Upstream time to first byte",
            upstream_ttfb_seconds.clone(),
        );
        let upstream_seconds: HistogramFamily<EndpointLabels> =
            Family::new_with_constructor(latency_histogram);
        r.register(
            "upstream_duration_seconds",
            "Upstream time to the end of the response",
            upstream_seconds.clone(),
        );
        let upstream_attempts = Family::default();
        r.register(
            "upstream_attempts",
            "Upstream attempts by outcome",
            upstream_attempts.clone(),
        );
        let fallbacks = Family::default();
        r.register(
            "fallbacks",
            "Fallbacks to the next candidate",
            fallbacks.clone(),
        );
        let circuit_state = Family::default();
        r.register(
            "circuit_state",
            "Circuit breaker state: 0 closed, 1 open, 2 half-open",
            circuit_state.clone(),
        );
        let tokens = Family::default();
        r.register("tokens", "Tokens reported by upstreams", tokens.clone());
        let reloads = Family::default();
        r.register(
            "config_reloads",
            "Config reloads by result",
            reloads.clone(),
        );
        let classifier_failures = Family::default();
        r.register(
            "classifier_failures",
            "Classifier failures (default route used)",
            classifier_failures.clone(),
        );
        let inflight = Gauge::default();
        r.register("inflight_requests", "Requests in flight", inflight.clone());
        Self {
            registry: Arc::new(r),
            requests,
            decision_seconds,
            upstream_ttfb_seconds,
            upstream_seconds,
            upstream_attempts,
            fallbacks,
            circuit_state,
            tokens,
            reloads,
            classifier_failures,
            inflight,
        }
    }

    /// Counts a reload.
    pub fn reload(&self, ok: bool) {
        let result = if ok { "success" } else { "error" };
        self.reloads
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Value of `switchyard_config_reloads_total{result}` (tests and logs).
    pub fn reload_count(&self, ok: bool) -> u64 {
        let result = if ok { "success" } else { "error" };
        self.reloads
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .get()
    }

    /// Records one finished request.
    pub fn request(&self, policy: &str, route: &str, model: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                policy: policy.to_owned(),
                route: route.to_owned(),
                model: model.to_owned(),
                status: StatusClass::of(status),
            })
            .inc();
    }

    /// Records an upstream attempt's outcome.
    pub fn attempt(&self, endpoint: &str, outcome: &str) {
        self.upstream_attempts
            .get_or_create(&EndpointKindLabels {
                endpoint: endpoint.to_owned(),
                kind: outcome.to_owned(),
            })
            .inc();
    }

    /// Renders the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_with_labels() {
        let m = Metrics::new();
        m.request("p", "chat", "small", 200);
        m.reload(false);
        m.inflight.inc();
        let text = m.encode();
        assert!(
            text.contains(
                r#"switchyard_requests_total{policy="p",route="chat",model="small",status="2xx"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"switchyard_config_reloads_total{result="error"} 1"#));
        assert!(text.contains("switchyard_inflight_requests 1"));
        assert_eq!(m.reload_count(false), 1);
        assert_eq!(m.reload_count(true), 0);
    }
}
