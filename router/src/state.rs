//! The router's shared state: the served config as an atomically swapped [`Snapshot`]
//! (config, per-policy classifiers, endpoint runtimes), the API keys, metrics and HTTP clients.
//!
//! Reloads build and warm a complete new snapshot first and swap it in only when everything
//! succeeded; requests in flight keep the `Arc<Snapshot>` they started with. Endpoint runtimes
//! (breaker, limits, connection pool) carry over to the new snapshot when the endpoint's
//! definition did not change.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use switchyard_crds::config::{CONFIG_API_VERSION, CONFIG_KIND, ResolvedPolicy, RouterConfig};

use crate::auth::{AuthTable, KeySet};
use crate::classify::onnx::OnnxFactory;
use crate::classify::{BuildContext, ClassifierFactory, PolicyClassifier};
use crate::metrics::{EndpointLabels, Metrics};
use crate::secrets::{SecretStore, SecretsHandle};
use crate::upstream::breaker::BreakerSettings;
use crate::upstream::endpoint::EndpointRuntime;
use crate::upstream::{ClientError, build_client, tls_config};

/// A config that could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The config is inconsistent.
    #[error("invalid config: {0}")]
    Invalid(String),
    /// A policy's classifier could not be built or warmed up.
    #[error("policy {policy:?}: {source}")]
    Classifier {
        /// Policy name.
        policy: String,
        /// Cause.
        #[source]
        source: crate::classify::ClassifyError,
    },
    /// An endpoint's HTTP client could not be built.
    #[error("endpoint {endpoint:?}: {source}")]
    Client {
        /// Endpoint name.
        endpoint: String,
        /// Cause.
        #[source]
        source: ClientError,
    },
    /// The config source could not be read or resolved.
    #[error("{0}")]
    Source(String),
}

/// Tuning of the router's runtime behaviour (from command-line flags).
#[derive(Clone)]
pub struct RuntimeOptions {
    /// Directory of built-in models.
    pub models_dir: PathBuf,
    /// Circuit breaker tuning.
    pub breaker: BreakerSettings,
    /// Longest time a classifier may take to warm up.
    pub warm_up_timeout: Duration,
    /// Builds classifiers.
    pub factory: Arc<dyn ClassifierFactory>,
    /// Serve the `/ui` demo page.
    pub ui: bool,
    /// PEM file of extra CA certificates trusted for https upstreams (besides the system's).
    pub upstream_ca_bundle: Option<PathBuf>,
    /// Largest total size of a request's headers (names and values), in bytes: 431 beyond.
    pub max_header_bytes: usize,
    /// Longest time a client may take to send a request's header block, counted from when the
    /// connection starts waiting for it (idle keep-alive connections close after it too).
    pub header_read_timeout: Duration,
    /// Dedicated server worker threads ([`crate::server::serve_workers`]); each endpoint keeps
    /// an upstream connection pool per worker. 0 when requests are served on the caller's
    /// runtime.
    pub workers: usize,
}

/// Default of [`RuntimeOptions::max_header_bytes`]: 64 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;

/// Default of [`RuntimeOptions::header_read_timeout`]: 60 s (nginx's `client_header_timeout`).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            models_dir: PathBuf::from("models"),
            breaker: BreakerSettings::default(),
            warm_up_timeout: Duration::from_secs(120),
            factory: Arc::new(OnnxFactory::default()),
            ui: true,
            upstream_ca_bundle: None,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            workers: 0,
        }
    }
}

/// One policy ready to serve.
pub struct PolicyRuntime {
    /// The resolved policy.
    pub policy: ResolvedPolicy,
    /// Its classifier, warmed up.
    pub classifier: Arc<dyn PolicyClassifier>,
}

/// Everything a request needs, swapped atomically on reload.
pub struct Snapshot {
    /// The served config.
    pub config: Arc<RouterConfig>,
    /// Its hash.
    pub hash: String,
    /// Policies by name.
    pub policies: HashMap<String, PolicyRuntime>,
    /// Endpoint runtimes by name.
    pub endpoints: HashMap<String, Arc<EndpointRuntime>>,
    /// Problems that leave the config serving with less than asked for.
    pub degraded: Vec<String>,
}

impl Snapshot {
    /// Whether an endpoint's circuit breaker is open.
    pub fn is_open(&self, endpoint: &str) -> bool {
        self.endpoints
            .get(endpoint)
            .is_some_and(|e| e.breaker.is_open())
    }

    /// Whether a model id (or endpoint name) is served by some endpoint.
    pub fn serves_model(&self, model: &str) -> bool {
        self.config
            .endpoints
            .iter()
            .any(|e| e.model == model || e.name == model)
    }
}

struct Inner {
    snapshot: ArcSwapOption<Snapshot>,
    secrets: SecretsHandle,
    metrics: Metrics,
    tls: Arc<rustls::ClientConfig>,
    http: reqwest::Client,
    options: RuntimeOptions,
    reload_lock: tokio::sync::Mutex<()>,
    inflight: AtomicU64,
    client_keys: ArcSwapOption<KeySet>,
    auth: ArcSwap<AuthTable>,
    auth_lock: std::sync::Mutex<()>,
}

/// Shared router state. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl AppState {
    /// State with no config loaded yet (not ready).
    pub fn new(options: RuntimeOptions, secrets: SecretStore) -> Result<Self, ClientError> {
        let tls = tls_config(options.upstream_ca_bundle.as_deref())?;
        let http = build_client(&tls, Duration::from_secs(5))?;
        Ok(Self {
            inner: Arc::new(Inner {
                snapshot: ArcSwapOption::empty(),
                secrets: Arc::new(ArcSwap::from_pointee(secrets)),
                metrics: Metrics::new(),
                tls,
                http,
                options,
                reload_lock: tokio::sync::Mutex::new(()),
                inflight: AtomicU64::new(0),
                client_keys: ArcSwapOption::empty(),
                auth: ArcSwap::from_pointee(AuthTable::default()),
                auth_lock: std::sync::Mutex::new(()),
            }),
        })
    }

    /// The served snapshot, once a config is loaded.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.inner.snapshot.load_full()
    }

    /// Metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Whether the `/ui` demo page is served.
    pub fn ui_enabled(&self) -> bool {
        self.inner.options.ui
    }

    /// The shared HTTP client (classifiers, image fetching).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Current API keys.
    pub fn secrets(&self) -> Arc<SecretStore> {
        self.inner.secrets.load_full()
    }

    /// Replaces the API keys (a rotated Secret); takes effect for the next upstream call and,
    /// for policies' client keys, the next request.
    pub fn set_secrets(&self, secrets: SecretStore) {
        self.inner.secrets.store(Arc::new(secrets));
        self.refresh_auth();
    }

    /// Replaces the process-wide client API keys (`--api-keys-file`); `None` turns them off.
    /// Returns whether they changed.
    pub fn set_client_keys(&self, keys: Option<KeySet>) -> bool {
        let old = self.inner.client_keys.load_full();
        if old.as_deref() == keys.as_ref() {
            return false;
        }
        self.inner.client_keys.store(keys.map(Arc::new));
        self.refresh_auth();
        true
    }

    /// Largest total size of request headers.
    pub fn max_header_bytes(&self) -> usize {
        self.inner.options.max_header_bytes
    }

    /// Longest time a client may take to send a request's headers.
    pub fn header_read_timeout(&self) -> Duration {
        self.inner.options.header_read_timeout
    }

    /// The client authentication table of `snap`. Normally the cached one; in the instant
    /// between a config swap and its table's rebuild, one built on the spot, so a request
    /// is never checked against another config's rules.
    pub fn auth_for(&self, snap: &Snapshot) -> Arc<AuthTable> {
        let table = self.inner.auth.load_full();
        if table.config_hash() == Some(snap.hash.as_str()) {
            return table;
        }
        Arc::new(self.build_auth(Some(snap)))
    }

    /// The client authentication table of the served config (an empty one before any).
    pub fn auth(&self) -> Arc<AuthTable> {
        match self.snapshot() {
            Some(s) => self.auth_for(&s),
            None => Arc::new(self.build_auth(None)),
        }
    }

    fn build_auth(&self, snap: Option<&Snapshot>) -> AuthTable {
        let global = self.inner.client_keys.load_full().map(|k| (*k).clone());
        let secrets = self.secrets();
        match snap {
            Some(s) => AuthTable::build(&s.config, &secrets, global).with_hash(&s.hash),
            None => AuthTable::build(&RouterConfig::empty(), &secrets, global),
        }
    }

    fn refresh_auth(&self) {
        // Serialised so that an older build never overwrites a newer one.
        let _g = match self.inner.auth_lock.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let snap = self.snapshot();
        let table = self.build_auth(snap.as_deref());
        self.inner.auth.store(Arc::new(table));
    }

    /// Counter of requests in flight, for the global limit.
    pub(crate) fn inflight(&self) -> &AtomicU64 {
        &self.inner.inflight
    }

    /// Validates, builds and warms a snapshot for `config`, then swaps it in. On error the
    /// old snapshot keeps serving. Counts the reload in `switchyard_config_reloads_total`.
    pub async fn load(
        &self,
        config: RouterConfig,
        degraded: Vec<String>,
    ) -> Result<Arc<Snapshot>, ReloadError> {
        let _serial = self.inner.reload_lock.lock().await;
        let result = self.build(config, degraded).await;
        match result {
            Ok(snap) => {
                let snap = Arc::new(snap);
                for (name, ep) in &snap.endpoints {
                    self.metrics()
                        .circuit_state
                        .get_or_create(&EndpointLabels {
                            endpoint: name.clone(),
                        })
                        .set(ep.breaker.state().code());
                }
                self.inner.snapshot.store(Some(Arc::clone(&snap)));
                self.refresh_auth();
                self.metrics().reload(true);
                tracing::info!(
                    hash = %snap.hash,
                    policies = snap.policies.len(),
                    endpoints = snap.endpoints.len(),
                    "config loaded"
                );
                for d in &snap.degraded {
                    tracing::warn!(problem = %d, "config degraded");
                }
                Ok(snap)
            }
            Err(e) => {
                self.metrics().reload(false);
                tracing::error!(error = %e, "config rejected; the previous config keeps serving");
                Err(e)
            }
        }
    }

    /// Counts a reload that failed before a config could be built (parse or resolve error).
    pub fn reject(&self, error: &ReloadError) {
        self.metrics().reload(false);
        tracing::error!(error = %error, "config rejected; the previous config keeps serving");
    }

    async fn build(
        &self,
        config: RouterConfig,
        degraded: Vec<String>,
    ) -> Result<Snapshot, ReloadError> {
        check(&config)?;
        let config = Arc::new(config);
        let old = self.snapshot();
        let mut endpoints = HashMap::new();
        for def in &config.endpoints {
            let reused = old
                .as_ref()
                .and_then(|o| o.endpoints.get(&def.name))
                .filter(|rt| rt.def == *def)
                .cloned();
            let rt = match reused {
                Some(rt) => rt,
                None => Arc::new(
                    EndpointRuntime::new(
                        def.clone(),
                        &self.inner.tls,
                        self.inner.options.breaker,
                        self.inner.options.workers,
                    )
                    .map_err(|source| ReloadError::Client {
                        endpoint: def.name.clone(),
                        source,
                    })?,
                ),
            };
            endpoints.insert(def.name.clone(), rt);
        }
        let ctx = BuildContext {
            config: Arc::clone(&config),
            models_dir: self.inner.options.models_dir.clone(),
            http: self.inner.http.clone(),
            secrets: Arc::clone(&self.inner.secrets),
        };
        let mut policies = HashMap::new();
        for p in &config.policies {
            let classifier = self
                .inner
                .options
                .factory
                .build(p, &ctx)
                .map_err(|source| ReloadError::Classifier {
                    policy: p.name.clone(),
                    source,
                })?;
            let warm =
                tokio::time::timeout(self.inner.options.warm_up_timeout, classifier.warm_up());
            match warm.await {
                Ok(Ok(())) => {}
                Ok(Err(source)) => {
                    return Err(ReloadError::Classifier {
                        policy: p.name.clone(),
                        source,
                    });
                }
                Err(_) => {
                    return Err(ReloadError::Classifier {
                        policy: p.name.clone(),
                        source: crate::classify::ClassifyError::Unavailable(format!(
                            "warm-up took longer than {:?}",
                            self.inner.options.warm_up_timeout
                        )),
                    });
                }
            }
            policies.insert(
                p.name.clone(),
                PolicyRuntime {
                    policy: p.clone(),
                    classifier,
                },
            );
        }
        Ok(Snapshot {
            hash: config.hash(),
            config,
            policies,
            endpoints,
            degraded,
        })
    }
}

/// Consistency checks a resolved config must pass (it may come from a hand-edited file).
pub fn check(config: &RouterConfig) -> Result<(), ReloadError> {
    if config.api_version != CONFIG_API_VERSION || config.kind != CONFIG_KIND {
        return Err(ReloadError::Invalid(format!(
            "apiVersion/kind must be {CONFIG_API_VERSION}/{CONFIG_KIND}, not {}/{}",
            config.api_version, config.kind
        )));
    }
    let mut names = BTreeSet::new();
    for e in &config.endpoints {
        if !names.insert(e.name.as_str()) {
            return Err(ReloadError::Invalid(format!(
                "endpoint {:?} is defined twice",
                e.name
            )));
        }
        if !(e.base_url.starts_with("http://") || e.base_url.starts_with("https://")) {
            return Err(ReloadError::Invalid(format!(
                "endpoint {:?}: baseURL {:?} is not an http(s) URL",
                e.name, e.base_url
            )));
        }
    }
    let mut policies = BTreeSet::new();
    for p in &config.policies {
        if !policies.insert(p.name.as_str()) {
            return Err(ReloadError::Invalid(format!(
                "policy {:?} is defined twice",
                p.name
            )));
        }
        for ep in p.endpoint_names() {
            if !names.contains(ep) {
                return Err(ReloadError::Invalid(format!(
                    "policy {:?} references endpoint {ep:?}, which the config does not define",
                    p.name
                )));
            }
        }
    }
    let l = &config.server.limits;
    if l.max_body_bytes == 0 || l.max_messages == 0 || l.max_inflight == 0 {
        return Err(ReloadError::Invalid(
            "server.limits: maxBodyBytes, maxMessages and maxInflight must be positive".into(),
        ));
    }
    Ok(())
}

/// Decrements the in-flight counter and gauge when dropped.
pub(crate) struct InflightGuard {
    state: AppState,
}

impl InflightGuard {
    /// Admits a request if fewer than `max` are in flight.
    pub(crate) fn try_new(state: &AppState, max: u64) -> Option<Self> {
        let prev = state.inflight().fetch_add(1, Ordering::AcqRel);
        if prev >= max {
            state.inflight().fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        state.metrics().inflight.inc();
        Some(Self {
            state: state.clone(),
        })
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.state.inflight().fetch_sub(1, Ordering::AcqRel);
        self.state.metrics().inflight.dec();
    }
}
