//! `switchyard-operator`: parses flags, starts logging, runs the operator library.

use anyhow::Context as _;
use clap::Parser;
use switchyard_operator::OperatorConfig;
use switchyard_operator::build::BuildOptions;
use switchyard_operator::cli::{Args, LogFormat};
use switchyard_operator::run::{RunOptions, install_crypto_provider, run};

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
            reconcile_timeout: args.reconcile_timeout,
            backoff_base: args.backoff_base,
            backoff_max: args.backoff_max.max(args.backoff_base),
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
