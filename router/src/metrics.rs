//! Prometheus metrics of the router (prometheus-client). Label values come from bounded sets:
//! status classes, failure categories, and the names of policies, routes and endpoints in the
//! served config (never from client input: an unknown model is labelled `none`).

use std::sync::{Arc, OnceLock, RwLock};

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

/// Labels of `switchyard_rejected_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    /// Bounded reason: `unauthenticated`, `headers_too_large`, `overloaded`.
    pub reason: String,
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
    /// Requests refused before routing (client key, header size, in-flight limit).
    pub rejected: Family<RejectLabels, Counter>,
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
        r.register(
            "requests",
            "Routed requests (chat completions, and the decisions of /v1/route, /route and /{policy}/chat/completions), by the endpoint that answered or was chosen",
            requests.clone(),
        );
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
        let rejected = Family::default();
        r.register(
            "rejected_requests",
            "Requests refused before routing, by reason",
            rejected.clone(),
        );
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
            rejected,
        }
    }

    /// Counts a request refused before routing; `reason` is one of a fixed set.
    pub fn reject(&self, reason: &'static str) {
        self.rejected
            .get_or_create(&RejectLabels {
                reason: reason.to_owned(),
            })
            .inc();
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

/// One endpoint's series on the proxy path, each looked up in its family on first use and
/// kept: a lookup allocates the label strings and hashes them, per request otherwise. Series
/// are created when first used, as with `get_or_create`, so `/metrics` shows the same lines.
/// Each [`crate::upstream::endpoint::EndpointRuntime`] holds one and always passes its own
/// state's [`Metrics`], so the kept handles are those of the registered families.
#[derive(Debug, Default)]
pub struct EndpointSeries {
    /// `switchyard_requests_total` by policy, route and status class, this endpoint answering
    /// (a few entries: the policies and routes that use the endpoint).
    requests: RwLock<Vec<(String, String, StatusClass, Counter)>>,
    ttfb: OnceLock<Histogram>,
    duration: OnceLock<Histogram>,
    ok: OnceLock<Counter>,
    circuit: OnceLock<Gauge>,
    tokens: OnceLock<(Counter, Counter)>,
}

impl EndpointSeries {
    /// Counts a finished request this endpoint answered ([`Metrics::request`]).
    pub fn request(&self, m: &Metrics, policy: &str, route: &str, endpoint: &str, status: u16) {
        let class = StatusClass::of(status);
        let same = |e: &&(String, String, StatusClass, Counter)| {
            e.2 == class && e.0 == policy && e.1 == route
        };
        if let Some(e) = self
            .requests
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(same)
        {
            e.3.inc();
            return;
        }
        let counter = m
            .requests
            .get_or_create(&RequestLabels {
                policy: policy.to_owned(),
                route: route.to_owned(),
                model: endpoint.to_owned(),
                status: class,
            })
            .clone();
        counter.inc();
        let mut all = self.requests.write().unwrap_or_else(|p| p.into_inner());
        if !all.iter().any(|e| same(&e)) {
            all.push((policy.to_owned(), route.to_owned(), class, counter));
        }
    }

    /// `switchyard_upstream_ttfb_seconds{endpoint}`.
    pub fn ttfb(&self, m: &Metrics, endpoint: &str) -> &Histogram {
        self.ttfb.get_or_init(|| {
            m.upstream_ttfb_seconds
                .get_or_create(&EndpointLabels {
                    endpoint: endpoint.to_owned(),
                })
                .clone()
        })
    }

    /// `switchyard_upstream_duration_seconds{endpoint}`.
    pub fn duration(&self, m: &Metrics, endpoint: &str) -> &Histogram {
        self.duration.get_or_init(|| {
            m.upstream_seconds
                .get_or_create(&EndpointLabels {
                    endpoint: endpoint.to_owned(),
                })
                .clone()
        })
    }

    /// `switchyard_upstream_attempts_total{endpoint,kind="ok"}`.
    pub fn ok(&self, m: &Metrics, endpoint: &str) -> &Counter {
        self.ok.get_or_init(|| {
            m.upstream_attempts
                .get_or_create(&EndpointKindLabels {
                    endpoint: endpoint.to_owned(),
                    kind: "ok".to_owned(),
                })
                .clone()
        })
    }

    /// `switchyard_circuit_state{endpoint}`.
    pub fn circuit(&self, m: &Metrics, endpoint: &str) -> &Gauge {
        self.circuit.get_or_init(|| {
            m.circuit_state
                .get_or_create(&EndpointLabels {
                    endpoint: endpoint.to_owned(),
                })
                .clone()
        })
    }

    /// `switchyard_tokens_total{endpoint,kind}` for prompt and completion tokens.
    pub fn tokens(&self, m: &Metrics, endpoint: &str) -> &(Counter, Counter) {
        self.tokens.get_or_init(|| {
            let series = |kind: &str| {
                m.tokens
                    .get_or_create(&EndpointKindLabels {
                        endpoint: endpoint.to_owned(),
                        kind: kind.to_owned(),
                    })
                    .clone()
            };
            (series("prompt"), series("completion"))
        })
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

    #[test]
    fn endpoint_series_are_the_registered_ones() {
        let m = Metrics::new();
        let s = EndpointSeries::default();
        s.request(&m, "none", "manual", "small", 200);
        s.request(&m, "none", "manual", "small", 201);
        s.request(&m, "p", "chat", "small", 503);
        m.request("none", "manual", "small", 204);
        s.ok(&m, "small").inc();
        s.ttfb(&m, "small").observe(0.01);
        let text = m.encode();
        for line in [
            r#"switchyard_requests_total{policy="none",route="manual",model="small",status="2xx"} 3"#,
            r#"switchyard_requests_total{policy="p",route="chat",model="small",status="5xx"} 1"#,
            r#"switchyard_upstream_attempts_total{endpoint="small",kind="ok"} 1"#,
            r#"switchyard_upstream_ttfb_seconds_count{endpoint="small"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        // Series appear when first used, as with `get_or_create`.
        assert!(!text.contains("switchyard_tokens_total{"), "{text}");
    }
}
