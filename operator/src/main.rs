//! `switchyard-operator`: parses flags, starts logging, runs the operator library.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use switchyard_operator::build::BuildOptions;
use switchyard_operator::run::{RunOptions, install_crypto_provider, run};
use switchyard_operator::{DEFAULT_ROUTER_IMAGE, OperatorConfig};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Turns RoutingPolicy and ModelEndpoint resources into router Deployments.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Namespace to watch (default: all namespaces).
    #[arg(long, env = "SWITCHYARD_NAMESPACE")]
    namespace: Option<String>,
    /// Router image for policies that do not set spec.router.image.
    #[arg(long, env = "SWITCHYARD_ROUTER_IMAGE", default_value = DEFAULT_ROUTER_IMAGE)]
    router_image: String,
    /// Elect one active replica through a Lease.
    #[arg(long, env = "SWITCHYARD_LEADER_ELECT")]
    leader_elect: bool,
    /// Namespace of the leader Lease (default: $POD_NAMESPACE, else --namespace, else default).
    #[arg(long, env = "SWITCHYARD_LEASE_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "SWITCHYARD_METRICS_LISTEN",
        default_value = "0.0.0.0:9090"
    )]
    metrics_listen: SocketAddr,
    /// Log format.
    #[arg(
        long,
        env = "SWITCHYARD_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
    /// Reconciles run at once per controller.
    #[arg(long, env = "SWITCHYARD_CONCURRENCY", default_value_t = 16)]
    concurrency: u16,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logging(args.log_format);
    install_crypto_provider();
    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes configuration (KUBECONFIG, ~/.kube/config or in-cluster)")?;
    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("switchyard-operator-{}", std::process::id()));
    let lease_namespace = args
        .lease_namespace
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .or_else(|| args.namespace.clone())
        .unwrap_or_else(|| "default".to_owned());
    let opts = RunOptions {
        config: OperatorConfig {
            build: BuildOptions {
                default_image: args.router_image,
            },
            namespace: args.namespace,
            concurrency: args.concurrency,
            ..OperatorConfig::default()
        },
        leader_elect: args.leader_elect,
        lease_namespace,
        identity,
        metrics_listen: args.metrics_listen,
    };
    tracing::info!(?opts, "starting switchyard-operator");
    run(client, opts, shutdown_signal()).await?;
    Ok(())
}
