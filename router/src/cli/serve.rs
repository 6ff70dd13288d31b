//! `switchyard-router serve`: serves the API from files (watched and hot-reloaded), from the
//! embedded quickstart, or in a cluster from a ConfigMap and Secrets (`--kube-configmap`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use switchyard_crds::common::{parse_duration, parse_positive_duration};
use tokio::net::TcpListener;

use super::{CliError, SourceArgs, models_dir};
use crate::auth;
use crate::config::kube::KubeSource;
use crate::config::report::Reporter;
use crate::config::{self, watch};
use crate::secrets::SecretStore;
use crate::server::{serve_workers, shutdown_signal};
use crate::state::{AppState, DEFAULT_MAX_HEADER_BYTES, RuntimeOptions};
use crate::tls;
use crate::upstream::breaker::BreakerSettings;

/// Flags of `serve`.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    /// Config source (default: the embedded quickstart).
    #[command(flatten)]
    pub source: SourceArgs,
    /// Address of the API.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SWITCHYARD_LISTEN")]
    pub listen: SocketAddr,
    /// Separate address for `/metrics` (it is also served on the main address).
    #[arg(long, env = "SWITCHYARD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Built-in models directory (default: ./models if present, else /models).
    #[arg(long, env = "SWITCHYARD_MODELS")]
    pub models: Option<PathBuf>,
    /// In a cluster: read the resolved config from this ConfigMap (key router.yaml).
    #[arg(long, conflicts_with_all = ["files", "config"])]
    pub kube_configmap: Option<String>,
    /// Namespace of the ConfigMap and Secrets.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub kube_namespace: String,
    /// This pod's name: routers report what they serve under it in the policy's status
    /// ConfigMap (`<x>-status` for `--kube-configmap <x>-config`). Unset: no reports.
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// How long in-flight requests may finish after SIGTERM.
    #[arg(long, default_value = "30s", value_parser = duration)]
    pub shutdown_grace: Duration,
    /// Consecutive upstream failures that open an endpoint's circuit.
    #[arg(long, default_value_t = 5)]
    pub breaker_failures: u32,
    /// How long an open circuit waits before a probe request.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub breaker_cooldown: Duration,
    /// Do not watch the config files for changes.
    #[arg(long)]
    pub no_watch: bool,
    /// Do not serve the `/ui` demo page.
    #[arg(long, env = "SWITCHYARD_NO_UI")]
    pub no_ui: bool,
    /// Client API keys accepted for every request, one per line (watched; edits apply
    /// without a restart). Unset: only policies' `auth` Secrets protect anything.
    #[arg(long, env = "SWITCHYARD_API_KEYS_FILE", value_name = "FILE")]
    pub api_keys_file: Option<PathBuf>,
    /// PEM certificate chain for TLS on the API listener (with --tls-key).
    #[arg(
        long,
        env = "SWITCHYARD_TLS_CERT",
        requires = "tls_key",
        value_name = "PEM"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS on the API listener (with --tls-cert).
    #[arg(
        long,
        env = "SWITCHYARD_TLS_KEY",
        requires = "tls_cert",
        value_name = "PEM"
    )]
    pub tls_key: Option<PathBuf>,
    /// PEM file of extra CA certificates trusted for https upstreams, besides the system's.
    #[arg(long, env = "SWITCHYARD_UPSTREAM_CA_BUNDLE", value_name = "PEM")]
    pub upstream_ca_bundle: Option<PathBuf>,
    /// Largest total size of a request's header names and values, in bytes (431 beyond).
    #[arg(long, env = "SWITCHYARD_MAX_HEADER_BYTES", default_value_t = DEFAULT_MAX_HEADER_BYTES)]
    pub max_header_bytes: usize,
    /// Longest time a client may take to send a request's header block, counted from when the
    /// connection starts waiting for one: silent or trickling clients are disconnected, and
    /// idle keep-alive connections are closed after it.
    #[arg(long, env = "SWITCHYARD_HEADER_READ_TIMEOUT", default_value = "60s", value_parser = parse_positive_duration)]
    pub header_read_timeout: Duration,
    /// Threads serving requests, each with its own event loop and upstream connections (as
    /// nginx's worker processes); default: one per CPU. 0 serves on the shared runtime. With
    /// TLS the listener is always served on the shared runtime.
    #[arg(long, env = "SWITCHYARD_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration like 500ms, 30s or 1m"))
}

/// Serves until SIGTERM/SIGINT.
pub async fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    let tls_enabled = args.tls_cert.is_some();
    let workers = match args.workers {
        _ if tls_enabled => 0,
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let options = RuntimeOptions {
        models_dir: models_dir(args.models.clone()),
        breaker: BreakerSettings {
            failure_threshold: args.breaker_failures.max(1),
            cooldown: args.breaker_cooldown,
        },
        ui: !args.no_ui,
        upstream_ca_bundle: args.upstream_ca_bundle.clone(),
        max_header_bytes: args.max_header_bytes.max(1024),
        header_read_timeout: args.header_read_timeout,
        workers,
        ..RuntimeOptions::default()
    };
    let in_cluster = args.kube_configmap.is_some();
    let state = AppState::new(options, SecretStore::empty(!in_cluster))?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        _ => None,
    };
    let mut _keys_watch = None;
    if let Some(path) = &args.api_keys_file {
        let keys = auth::read_keys_file(path).map_err(CliError::Usage)?;
        tracing::info!(file = %path.display(), keys = keys.len(), "client API keys loaded");
        state.set_client_keys(Some(keys));
        if !args.no_watch {
            _keys_watch = Some(auth::watch_keys_file(state.clone(), path.clone())?);
        }
    }
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|source| CliError::Io {
            context: format!("cannot listen on {}", args.listen),
            source,
        })?;
    let metrics_listener = match args.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| CliError::Io {
                    context: format!("cannot listen on {addr}"),
                    source,
                })?,
        ),
        None => None,
    };
    let mut _watch = None;
    let mut _kube = None;
    if let Some(name) = &args.kube_configmap {
        let client = kube::Client::try_default().await?;
        let source = KubeSource {
            configmap: name.clone(),
            namespace: args.kube_namespace.clone(),
            reporter: args.pod_name.clone().map(|pod| Reporter {
                configmap: Reporter::status_configmap(name),
                namespace: args.kube_namespace.clone(),
                pod,
            }),
        };
        tracing::info!(configmap = %name, namespace = %args.kube_namespace, "reading config from the cluster");
        _kube = Some(tokio::spawn(config::kube::run(
            state.clone(),
            client,
            source,
        )));
    } else {
        let source = args.source.source();
        // The first config must load: a router that cannot serve should not start.
        config::reload(&state, &source).await?;
        if !args.no_watch && source != config::Source::Embedded {
            _watch = Some(watch::watch(state.clone(), source)?);
        }
    }
    let addr = listener.local_addr().map_err(|source| CliError::Io {
        context: "listener address".into(),
        source,
    })?;
    tracing::info!(%addr, tls = tls.is_some(), workers, "serving");
    serve_workers(
        state,
        listener,
        metrics_listener,
        tls,
        args.shutdown_grace,
        workers,
        shutdown_signal(),
    )
    .await
    .map_err(|source| CliError::Io {
        context: "server".into(),
        source,
    })?;
    if let Some(k) = _kube {
        k.abort();
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
