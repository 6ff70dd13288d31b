//! The server handle: starts the fake on `127.0.0.1:0`, hands out its URL, a kubeconfig
//! for child processes and kube clients for tests, installs faults, reads counters, and
//! shuts the server down when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::counters::{CounterSnapshot, Counters};
use super::faults::{Fault, Faults};
use super::lock;
use super::resources::ResourceInfo;
use super::status::ApiError;
use super::store::Store;

/// Settings of a fake API server.
#[derive(Clone, Debug)]
pub struct FakeApiOptions {
    /// Check Switchyard custom resources against their CRD schema (OpenAPI + CEL) on every
    /// write, answering `422 Invalid` like the real server. Off by default.
    pub validate_crs: bool,
    /// Change events kept for watches that resume from a resourceVersion; older ones get
    /// `410 Expired`.
    pub history_limit: usize,
    /// How often a watch that asked for bookmarks gets one.
    pub bookmark_interval: Duration,
    /// Events a live watch may fall behind before it is ended with `410 Expired`.
    pub watch_buffer: usize,
}

impl Default for FakeApiOptions {
    fn default() -> Self {
        Self {
            validate_crs: false,
            history_limit: 10_000,
            bookmark_interval: Duration::from_secs(30),
            watch_buffer: 4_096,
        }
    }
}

/// Errors of the fake API server's own API (not of requests it serves).
#[derive(Debug, thiserror::Error)]
pub enum FakeApiError {
    /// Binding or serving the listener failed.
    #[error("starting the fake API server: {0}")]
    Start(#[source] std::io::Error),
    /// Writing the kubeconfig failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Building a kube client failed.
    #[error("building a kube client: {0}")]
    Client(#[source] kube::Error),
    /// An object did not (de)serialise.
    #[error("object (de)serialisation: {0}")]
    Json(#[from] serde_json::Error),
    /// The type's resource is not in the fake's resource table.
    #[error("{0} is not served by the fake API server")]
    UnknownResource(String),
    /// The store refused the operation, as the API would have.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A condition did not hold in time.
    #[error("timed out after {0:?} waiting for a condition")]
    Timeout(Duration),
}

/// State shared by the handle and the HTTP handlers.
pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub counters: Arc<Counters>,
    pub faults: Faults,
    pub options: FakeApiOptions,
    pub shutdown: watch::Receiver<bool>,
    pub addr: SocketAddr,
}

/// A running fake Kubernetes API server (plain HTTP on 127.0.0.1). Dropping it stops it.
pub struct FakeApiServer {
    pub(crate) shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FakeApiServer {
    /// Starts a server with default options on a free port.
    pub async fn start() -> Result<Self, FakeApiError> {
        Self::start_with(FakeApiOptions::default()).await
    }

    /// Starts a server with these options on a free port.
    pub async fn start_with(options: FakeApiOptions) -> Result<Self, FakeApiError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(FakeApiError::Start)?;
        let addr = listener.local_addr().map_err(FakeApiError::Start)?;
        let (stop, shutdown) = watch::channel(false);
        let store = Store::new(
            options.history_limit,
            options.watch_buffer,
            options.validate_crs,
        );
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            counters: Arc::default(),
            faults: Faults::default(),
            options,
            shutdown: shutdown.clone(),
            addr,
        });
        let app = super::http::router(shared.clone());
        let mut signal = shutdown;
        let task = tokio::spawn(async move {
            let stopped = async move {
                let _ = signal.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::warn!(error = %e, "fake API server stopped with an error");
            }
        });
        Ok(Self {
            shared,
            stop,
            task: Some(task),
        })
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// A kubeconfig (YAML) pointing at this server, with `namespace` as the context's
    /// default namespace. No credentials: the fake does no authentication.
    pub fn kubeconfig_yaml(&self, namespace: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\n\
             users:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    \
             cluster: fake\n    user: fake\n    namespace: {namespace}\ncurrent-context: fake\n",
            url = self.url()
        )
    }

    /// Writes [`Self::kubeconfig_yaml`] (namespace `default`) to `path`, for child processes
    /// (`KUBECONFIG=path`).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), FakeApiError> {
        std::fs::write(path, self.kubeconfig_yaml("default")).map_err(|source| {
            FakeApiError::Write {
                path: path.to_owned(),
                source,
            }
        })
    }

    /// A kube client for this server, default namespace `default`.
    pub fn client(&self) -> Result<kube::Client, FakeApiError> {
        let url = self
            .url()
            .parse()
            .map_err(|e| FakeApiError::Start(std::io::Error::other(e)))?;
        let config = kube::Config::new(url);
        kube::Client::try_from(config).map_err(FakeApiError::Client)
    }

    /// Installs a fault rule (see [`Fault`]); rules are tried in the order installed.
    pub fn inject(&self, fault: Fault) {
        self.shared.faults.add(fault);
    }

    /// Removes all fault rules.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Matching requests still to be faulted, over all rules.
    pub fn faults_pending(&self) -> usize {
        self.shared.faults.pending()
    }

    /// The counters now.
    pub fn counters(&self) -> CounterSnapshot {
        let (events, noop_writes) = {
            let store = lock(&self.shared.store);
            (
                store
                    .event_counts
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect(),
                store
                    .noop_writes
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect(),
            )
        };
        CounterSnapshot {
            requests: self.shared.counters.requests(),
            events,
            noop_writes,
            watch_lines: self.shared.counters.watch_lines(),
            faults_triggered: self.shared.faults.triggered(),
            open_watches: self.shared.counters.open_watches(),
        }
    }

    /// Waits until at least `n` watches are open on `resource` (plural), e.g. before
    /// [`Self::expire_watches`] or to know a controller has started.
    pub async fn wait_for_watches(
        &self,
        resource: &str,
        n: u64,
        timeout: Duration,
    ) -> Result<(), FakeApiError> {
        let deadline = tokio::time::Instant::now() + timeout;
        while self
            .shared
            .counters
            .open_watches()
            .get(resource)
            .copied()
            .unwrap_or(0)
            < n
        {
            if tokio::time::Instant::now() >= deadline {
                return Err(FakeApiError::Timeout(timeout));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        lock(&self.shared.store).resource_version()
    }

    /// Forgets the change history (like etcd compaction): watches and list continuations
    /// from older resourceVersions get `410 Expired`.
    pub fn compact(&self) {
        lock(&self.shared.store).compact();
    }

    /// Ends every open watch with a `410 Expired` ERROR event and forgets the history, so
    /// watchers must relist (what a real server does to watchers that fall behind).
    pub fn expire_watches(&self) {
        let mut store = lock(&self.shared.store);
        store.compact();
        store.expire_watches();
    }

    /// Serves an extra resource (a CRD created through the API is picked up by itself).
    pub fn register_resource(&self, info: ResourceInfo) {
        lock(&self.shared.store).resources.register(info);
    }

    /// Stops the server and waits (at most 5 s) for it to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
