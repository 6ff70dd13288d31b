//! The end-to-end harness: a [`Cluster`] the scenarios run against, either [`Hermetic`] (the
//! fake API server, the real operator binary, and a fake kubelet that runs real router
//! processes) or [`RealCluster`] (any cluster reached through a kubeconfig), plus what the
//! scenarios share: object helpers ([`objects`]), waits on what the cluster shows
//! ([`observe`]) and an HTTP client for the routers ([`client`]).

pub mod bins;
pub mod client;
mod hermetic;
mod kubelet;
pub mod objects;
pub mod observe;
pub mod process;
mod real;
mod relay;
mod wait;

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

pub use hermetic::{Hermetic, HermeticOptions, OperatorInfo, metric_sum, metric_sum_where};
pub use kubelet::{ADDR_ANNOTATION, Kubelet, KubeletConfig, PodInfo};
pub use real::RealCluster;
pub use relay::Relay;
pub use wait::{poll_until, wait_until};

use crate::fakeapi::{FakeApiError, FakeApiServer};

/// Errors of the harness (not of the system under test: those are test assertions).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The operator or router binary could not be found or built.
    #[error("binaries: {0}")]
    Binaries(String),
    /// A file or process operation failed.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// The fake API server failed.
    #[error(transparent)]
    FakeApi(#[from] FakeApiError),
    /// A Kubernetes API call failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The cluster configuration could not be loaded.
    #[error("kubeconfig: {0}")]
    Config(String),
    /// An HTTP call to a router or operator failed.
    #[error("HTTP: {0}")]
    Http(String),
    /// A condition did not hold in time.
    #[error("timed out after {0:?}: {1}")]
    Timeout(std::time::Duration, String),
    /// Something the harness needs is missing or unexpected.
    #[error("{0}")]
    Other(String),
}

impl From<reqwest::Error> for HarnessError {
    fn from(e: reqwest::Error) -> Self {
        Self::Http(error_chain(&e))
    }
}

impl From<serde_json::Error> for HarnessError {
    fn from(e: serde_json::Error) -> Self {
        Self::Other(format!("JSON: {e}"))
    }
}

/// `e: cause: cause...` of an error, for messages.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A router pod as the scenarios see it, in either setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterPod {
    /// Pod name.
    pub name: String,
    /// What changes when the router process is replaced: the process id (hermetic) or the
    /// pod uid and container id (real cluster).
    pub instance: String,
    /// Container restarts.
    pub restarts: u32,
    /// Whether the pod is ready.
    pub ready: bool,
}

/// Where the scenarios run. The same scenario code drives the hermetic setup in CI and a real
/// cluster: everything observable goes through the Kubernetes API with a plain
/// [`kube::Client`]; only reaching routers and upstreams, seeing router processes and
/// restarting the operator differ.
#[allow(async_fn_in_trait)]
pub trait Cluster {
    /// A client for the cluster.
    fn client(&self) -> kube::Client;

    /// The namespace this run's objects live in.
    fn namespace(&self) -> &str;

    /// The fake API server, in the hermetic setup (for request counters and faults).
    fn fake(&self) -> Option<&FakeApiServer>;

    /// The hermetic setup itself (operator processes and metrics), if this is one.
    fn hermetic(&self) -> Option<&Hermetic>;

    /// The base URL (`http://host:port`, no `/v1`) of a ready router of `policy`, reachable
    /// from the test process.
    async fn router_url(&self, policy: &str) -> Result<String, HarnessError>;

    /// The router pods of `policy` running now.
    async fn router_pods(&self, policy: &str) -> Result<Vec<RouterPod>, HarnessError>;

    /// The base URL (`http://host:port/v1`) under which routers reach an upstream listening
    /// on `addr` (127.0.0.1) in the test process.
    async fn upstream_url(&self, addr: SocketAddr) -> Result<String, HarnessError>;

    /// Stops the operator and starts it again (the hermetic setup: SIGKILL, then a new
    /// process), or deletes the operator pods so that their Deployment recreates them (a real
    /// cluster); returns once the new operator is ready.
    async fn restart_operator(&self) -> Result<(), HarnessError>;

    /// Identities of the operator replicas running now (their Lease holder names: process
    /// names hermetically, pod names in a real cluster).
    async fn operator_identities(&self) -> Result<Vec<String>, HarnessError>;

    /// Ends one operator replica gracefully (SIGTERM; a leader releases its Lease): the
    /// hermetic setup stops the process, a real cluster deletes the pod (its Deployment starts
    /// a replacement).
    async fn terminate_operator(&self, identity: &str) -> Result<(), HarnessError>;

    /// Namespace of the operators' leader-election Lease.
    fn lease_namespace(&self) -> String;

    /// Logs and state worth printing when a scenario fails.
    async fn diagnostics(&self) -> String;
}

/// Runs a scenario against `cluster`; when it fails (an error or a failed assertion) the
/// cluster's diagnostics (operator and router logs) are printed before the test fails.
pub async fn run_scenario<C, F>(cluster: &C, scenario: F)
where
    C: Cluster,
    F: Future<Output = Result<(), HarnessError>>,
{
    let started = std::time::Instant::now();
    match AssertUnwindSafe(scenario).catch_unwind().await {
        Ok(Ok(())) => {
            eprintln!(
                "scenario passed in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        Ok(Err(e)) => {
            let diag = cluster.diagnostics().await;
            panic!("scenario failed: {e}\n\n{diag}");
        }
        Err(panic) => {
            eprintln!("{}", cluster.diagnostics().await);
            std::panic::resume_unwind(panic);
        }
    }
}

/// Installs ring as the process-wide rustls provider (reqwest and kube need one; idempotent).
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Turns on test logging once (`RUST_LOG`, default `warn`), captured per test by libtest.
pub fn init_test_logging() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
    });
}
