//! The operator's command line (clap). Kept in the library so that the CLI reference
//! (`docs/reference/cli.md`) can be generated from it.

use std::net::SocketAddr;

use clap::{Parser, ValueEnum};

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
}
