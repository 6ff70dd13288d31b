//! The operator's command line (clap). Kept in the library so that the CLI reference
//! (`docs/reference/cli.md`) can be generated from it.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use switchyard_crds::common::parse_positive_duration;

use crate::DEFAULT_ROUTER_IMAGE;

/// Log output format.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Turns RoutingPolicy and ModelEndpoint resources into router Deployments.
#[derive(Debug, Parser)]
#[command(name = "switchyard-operator", version, about)]
pub struct Args {
    /// Namespace to watch (default: all namespaces).
    #[arg(long, env = "SWITCHYARD_NAMESPACE")]
    pub namespace: Option<String>,
    /// Router image for policies that do not set spec.router.image.
    #[arg(long, env = "SWITCHYARD_ROUTER_IMAGE", default_value = DEFAULT_ROUTER_IMAGE)]
    pub router_image: String,
    /// Elect one active replica through a Lease.
    #[arg(long, env = "SWITCHYARD_LEADER_ELECT")]
    pub leader_elect: bool,
    /// Namespace of the leader Lease (default: $POD_NAMESPACE, else --namespace, else default).
    #[arg(long, env = "SWITCHYARD_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "SWITCHYARD_METRICS_LISTEN",
        default_value = "0.0.0.0:9090"
    )]
    pub metrics_listen: SocketAddr,
    /// Log format.
    #[arg(
        long,
        env = "SWITCHYARD_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Reconciles run at once per controller.
    #[arg(long, env = "SWITCHYARD_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Deadline of one reconcile; past it the reconcile fails (category `Timeout`) and is
    /// retried with backoff.
    #[arg(long, env = "SWITCHYARD_RECONCILE_TIMEOUT", default_value = "60s", value_parser = parse_positive_duration)]
    pub reconcile_timeout: Duration,
    /// First retry delay of an object whose reconcile failed; doubles on each further failure.
    #[arg(long, env = "SWITCHYARD_BACKOFF_BASE", default_value = "500ms", value_parser = parse_positive_duration)]
    pub backoff_base: Duration,
    /// Longest retry delay of an object whose reconcile keeps failing.
    #[arg(long, env = "SWITCHYARD_BACKOFF_MAX", default_value = "5m", value_parser = parse_positive_duration)]
    pub backoff_max: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_nonsense_is_refused() {
        let a = Args::try_parse_from([
            "switchyard-operator",
            "--reconcile-timeout",
            "90s",
            "--backoff-base",
            "250ms",
            "--backoff-max",
            "2m",
        ])
        .unwrap();
        assert_eq!(a.reconcile_timeout, Duration::from_secs(90));
        assert_eq!(a.backoff_base, Duration::from_millis(250));
        assert_eq!(a.backoff_max, Duration::from_secs(120));
        let d = Args::try_parse_from(["switchyard-operator"]).unwrap();
        assert_eq!(d.reconcile_timeout, Duration::from_secs(60));
        assert_eq!(d.backoff_base, Duration::from_millis(500));
        assert_eq!(d.backoff_max, Duration::from_secs(300));
        for bad in ["soon", "0s", "-1s"] {
            let flag = format!("--backoff-max={bad}");
            let e = Args::try_parse_from(["switchyard-operator", flag.as_str()])
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a positive duration"), "{bad}: {e}");
        }
    }
}
