//! `docs/reference/metrics.md`: every metric the router and the operator register, read back
//! from their Prometheus registries (name, type, help, labels, histogram buckets).
//!
//! A labelled family shows up in the exposition only once it has a child, so the generator
//! touches every family once with placeholder labels; a family it does not know about would
//! have no samples and fails the generator, as does a label without a description below.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use switchyard_operator::error::ErrorCategory;
use switchyard_operator::metrics::{ControllerKind, Metrics as OperatorMetrics};
use switchyard_router::metrics::{
    EndpointKindLabels, EndpointLabels, Metrics as RouterMetrics, PolicyLabels, ReasonLabels,
};

use crate::Error;

/// What each label means (and its values, where they form a fixed set).
const LABELS: &[(&str, &str)] = &[
    (
        "policy",
        "RoutingPolicy name; `none` for manual routing (a concrete model id) and requests that \
         never reached a policy",
    ),
    ("route", "intent route name, `auto`, `manual`, or `none`"),
    (
        "model",
        "ModelEndpoint name that answered (or was recommended), or `none`",
    ),
    ("status", "`2xx`, `4xx`, `5xx` or `other`"),
    ("strategy", "`intent`, `auto` or `manual`"),
    (
        "reason",
        "bounded reason: for fallbacks the failure that triggered it (`connect_error`, \
         `timeout`, `rate_limited`, `server_error`, ...); for classifier failures the failure \
         kind; for rejections `unauthenticated`, `headers_too_large` or `overloaded`",
    ),
    ("endpoint", "ModelEndpoint name"),
    (
        "kind",
        "attempts: the outcome (`ok` or a failure category); tokens: `prompt` or `completion`",
    ),
    ("result", "`success` or `error`"),
    ("controller", "`RoutingPolicy` or `ModelEndpoint`"),
    (
        "category",
        "bounded error category: `Forbidden`, `Conflict`, `NotFound`, `ServerError`, \
         `Throttled`, `Transport`, `Rejected`, `Internal`, `NotSynced`, `Timeout`",
    ),
];

/// One metric as read from an exposition.
#[derive(Debug, Default)]
struct Metric {
    kind: String,
    help: String,
    labels: Vec<String>,
    buckets: Vec<String>,
    samples: usize,
}

/// Parses the OpenMetrics text prometheus-client writes.
fn parse(text: &str) -> BTreeMap<String, Metric> {
    let mut out: BTreeMap<String, Metric> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.entry(name.to_owned()).or_default().help = help.trim_end_matches('.').to_owned();
            order.push(name.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            out.entry(name.to_owned()).or_default().kind = kind.to_owned();
        } else if !line.starts_with('#') && !line.is_empty() {
            let series = line.split_whitespace().next().unwrap_or_default();
            let (sample, labels) = match series.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (series, ""),
            };
            // The family a sample belongs to: the longest declared name it starts with.
            let Some(family) = order
                .iter()
                .filter(|n| sample.starts_with(n.as_str()))
                .max_by_key(|n| n.len())
            else {
                continue;
            };
            let m = out.entry(family.clone()).or_default();
            m.samples += 1;
            for pair in labels.split(',').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                if k == "le" {
                    let v = v.trim_matches('"').to_owned();
                    if !m.buckets.contains(&v) {
                        m.buckets.push(v);
                    }
                } else if !m.labels.iter().any(|l| l == k) {
                    m.labels.push(k.to_owned());
                }
            }
        }
    }
    out
}

/// Exposed sample names of a family (`_total` for counters, the series of a histogram).
fn series(name: &str, kind: &str) -> String {
    match kind {
        "counter" => format!("`{name}_total`"),
        "histogram" => format!("`{name}_bucket`, `_sum`, `_count`"),
        _ => format!("`{name}`"),
    }
}

fn bucket_summary(buckets: &[String]) -> String {
    let finite: Vec<&String> = buckets.iter().filter(|b| *b != "+Inf").collect();
    match (finite.first(), finite.last()) {
        (Some(first), Some(last)) => {
            format!(
                " Buckets (seconds): {} from {first} to {last}, then +Inf.",
                finite.len()
            )
        }
        _ => String::new(),
    }
}

fn table(out: &mut String, text: &str) -> Result<(), Error> {
    out.push_str("| metric | type | labels | description |\n|---|---|---|---|\n");
    for (name, m) in parse(text) {
        if m.samples == 0 {
            return Err(Error(format!(
                "metric {name} has no samples: touch it in docgen/src/metrics.rs so that its \
                 labels can be documented"
            )));
        }
        let mut labels = Vec::new();
        for l in &m.labels {
            if !LABELS.iter().any(|(k, _)| k == l) {
                return Err(Error(format!(
                    "label {l:?} of {name} has no description in docgen/src/metrics.rs"
                )));
            }
            labels.push(format!("`{l}`"));
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}.{} |",
            series(&name, &m.kind),
            m.kind,
            labels.join(", "),
            m.help,
            bucket_summary(&m.buckets)
        );
    }
    out.push('\n');
    Ok(())
}

/// The router's exposition with every family touched once.
fn router_text() -> String {
    let m = RouterMetrics::new();
    m.request("p", "r", "e", 200);
    let policy = PolicyLabels {
        policy: "p".into(),
        strategy: "intent".into(),
    };
    m.decision_seconds.get_or_create(&policy).observe(0.001);
    let endpoint = EndpointLabels {
        endpoint: "e".into(),
    };
    m.upstream_ttfb_seconds
        .get_or_create(&endpoint)
        .observe(0.1);
    m.upstream_seconds.get_or_create(&endpoint).observe(0.1);
    m.attempt("e", "ok");
    let reason = ReasonLabels {
        policy: "p".into(),
        reason: "timeout".into(),
    };
    m.fallbacks.get_or_create(&reason).inc();
    m.circuit_state.get_or_create(&endpoint).set(0);
    m.tokens
        .get_or_create(&EndpointKindLabels {
            endpoint: "e".into(),
            kind: "prompt".into(),
        })
        .inc();
    m.reload(true);
    m.classifier_failures.get_or_create(&reason).inc();
    m.reject("overloaded");
    m.encode()
}

/// The operator's exposition with every family touched once.
fn operator_text() -> String {
    let m = OperatorMetrics::new();
    m.observe::<()>(ControllerKind::RoutingPolicy, &Ok(()), Duration::ZERO);
    m.status_patched(ControllerKind::RoutingPolicy);
    m.error_count(ControllerKind::RoutingPolicy, ErrorCategory::Conflict);
    m.encode()
}

/// The whole page.
pub fn markdown() -> Result<String, Error> {
    let mut out = String::from(
        "# Metrics reference\n\n\
         Generated from the metric registrations of both binaries by \
         `cargo run -p switchyard-docgen`; do not edit by hand. Both expose the Prometheus / \
         OpenMetrics text format on `GET /metrics`.\n\n\
         ## Router (`switchyard-router`)\n\n\
         Served on the API address (`--listen`, default `127.0.0.1:8080`) and, with \
         `--metrics-listen`, on that address too. In a cluster the operator starts routers with \
         `--listen 0.0.0.0:8080 --metrics-listen 0.0.0.0:9090`; the router Service names the \
         ports `http` (80) and `metrics` (9090), and the chart's routers `ServiceMonitor` \
         (`metrics.serviceMonitor.enabled`) scrapes `metrics`. The demo page's live panel reads \
         `switchyard_requests_total` and `switchyard_decision_duration_seconds`; an HPA with \
         `spec.router.autoscaling.targetInflightRequests` scales on \
         `switchyard_inflight_requests`.\n\n",
    );
    table(&mut out, &router_text())?;
    out.push_str(
        "## Operator (`switchyard-operator`)\n\n\
         Served on `--metrics-listen` (default `0.0.0.0:9090`) with `/healthz` and `/readyz`.\n\n",
    );
    table(&mut out, &operator_text())?;
    out.push_str("## Labels\n\n| label | meaning |\n|---|---|\n");
    for (label, meaning) in LABELS {
        let _ = writeln!(out, "| `{label}` | {meaning} |");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_router_and_operator_metric_with_labels() {
        let page = markdown()
            .map_err(|e| e.0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(page.contains(
            "| `switchyard_requests_total` | counter | `policy`, `route`, `model`, `status` |"
        ));
        assert!(page.contains("| `switchyard_inflight_requests` | gauge |  |"));
        assert!(page.contains(
            "| `switchyard_decision_duration_seconds_bucket`, `_sum`, `_count` | histogram | \
             `policy`, `strategy` |"
        ));
        assert!(page.contains("`switchyard_operator_reconcile_errors_total`"));
        assert!(page.contains("Buckets (seconds): 21 from"));
    }

    #[test]
    fn a_family_without_samples_is_an_error() {
        let text = "# HELP x_things Things.\n# TYPE x_things counter\n# EOF\n";
        let mut out = String::new();
        assert!(table(&mut out, text).is_err());
        let text = "# HELP x_things Things.\n# TYPE x_things counter\n\
                    x_things_total{mystery=\"a\"} 1\n# EOF\n";
        let err = table(&mut out, text).err().map(|e| e.0).unwrap_or_default();
        assert!(err.contains("mystery"), "{err}");
    }
}
