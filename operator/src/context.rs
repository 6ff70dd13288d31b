//! The state every reconcile shares: client, caches, index, recorder, metrics, settings and
//! the per-object error backoff.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;

use crate::build::BuildOptions;
use crate::index::{Key, RefIndex};
use crate::lenient::Lenient;
use crate::metrics::Metrics;
use switchyard_crds::ModelEndpoint;

/// Settings from the command line.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// What shapes the children.
    pub build: BuildOptions,
    /// Namespace watched; `None` = all.
    pub namespace: Option<String>,
    /// Reconciles run at once per controller.
    pub concurrency: u16,
    /// Requeue after a successful reconcile (a safety net; changes arrive through watches).
    pub resync: Duration,
    /// How long a reconcile waits for the caches to sync before failing.
    pub cache_timeout: Duration,
    /// Longest one reconcile may take (API calls that hang included) before it fails and
    /// is retried with backoff.
    pub reconcile_timeout: Duration,
    /// First retry delay after a failed reconcile; it doubles per failure.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            build: BuildOptions::default(),
            namespace: None,
            concurrency: 16,
            resync: Duration::from_secs(600),
            cache_timeout: Duration::from_secs(30),
            reconcile_timeout: Duration::from_secs(60),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(300),
        }
    }
}

/// Marks one cache as synced (its first list finished). Unlike `Store::wait_until_ready`,
/// which wakes only the last of several concurrent waiters (a single-waker oneshot inside
/// kube-runtime 5), any number of tasks may wait on a gate; the controllers' own runners stay
/// the only waiters on their stores.
#[derive(Debug)]
pub struct Gate {
    name: &'static str,
    tx: tokio::sync::watch::Sender<bool>,
}

impl Gate {
    /// A closed gate for the cache `name`.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            tx: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Opens the gate (idempotent).
    pub fn open(&self) {
        self.tx.send_replace(true);
    }

    /// Whether the cache has synced.
    pub fn is_open(&self) -> bool {
        *self.tx.borrow()
    }

    /// Waits until the cache has synced, at most `timeout`.
    pub async fn wait(&self, timeout: Duration) -> crate::Result<()> {
        let mut rx = self.tx.subscribe();
        match tokio::time::timeout(timeout, rx.wait_for(|open| *open)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(crate::Error::CacheNotReady(self.name)),
        }
    }
}

/// The sync gates of every cache the policy controller reads.
#[derive(Debug)]
pub struct Gates {
    /// RoutingPolicies.
    pub policies: Gate,
    /// ModelEndpoints.
    pub endpoints: Gate,
    /// Secret metadata.
    pub secrets: Gate,
    /// Managed PDBs.
    pub pdbs: Gate,
    /// Managed HPAs.
    pub hpas: Gate,
}

impl Default for Gates {
    fn default() -> Self {
        Self {
            policies: Gate::new("RoutingPolicy"),
            endpoints: Gate::new("ModelEndpoint"),
            secrets: Gate::new("Secret"),
            pdbs: Gate::new("PodDisruptionBudget"),
            hpas: Gate::new("HorizontalPodAutoscaler"),
        }
    }
}

impl Gates {
    fn all(&self) -> [&Gate; 5] {
        [
            &self.policies,
            &self.endpoints,
            &self.secrets,
            &self.pdbs,
            &self.hpas,
        ]
    }

    /// Gates that are already open (for tests and tools that fill caches by hand).
    pub fn opened() -> Self {
        let g = Self::default();
        for gate in g.all() {
            gate.open();
        }
        g
    }

    /// Waits until every cache has synced.
    pub async fn wait_all(&self) {
        for gate in self.all() {
            let mut rx = gate.tx.subscribe();
            let _ = rx.wait_for(|open| *open).await;
        }
    }
}

/// Per-object exponential backoff for failed reconciles, reset on success.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempts: Mutex<HashMap<Key, u32>>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(300))
    }
}

impl Backoff {
    /// Backoff starting at `base`, doubling per failure, capped at `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Records a failure and returns how long to wait before the next attempt.
    pub fn next(&self, key: &Key) -> Duration {
        let mut map = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(key.clone()).or_insert(0);
        let delay = self
            .base
            .saturating_mul(2u32.saturating_pow((*n).min(20)))
            .min(self.max);
        *n = n.saturating_add(1);
        delay
    }

    /// Forgets the failures of an object.
    pub fn reset(&self, key: &Key) {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Failures recorded for an object since its last success.
    pub fn attempts(&self, key: &Key) -> u32 {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
            .unwrap_or(0)
    }
}

/// Shared state of the controllers.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Settings.
    pub config: OperatorConfig,
    /// Event recorder.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: std::sync::Arc<Metrics>,
    /// Cache of ModelEndpoints (updated before the triggers it causes), unreadable ones
    /// included.
    pub endpoints: Store<Lenient<ModelEndpoint>>,
    /// Cache of Secret metadata (existence only; values are never cached).
    pub secrets: Store<PartialObjectMeta<Secret>>,
    /// Cache of the PDBs the operator manages (for garbage collection).
    pub pdbs: Store<PodDisruptionBudget>,
    /// Cache of the HPAs the operator manages (for garbage collection).
    pub hpas: Store<HorizontalPodAutoscaler>,
    /// Reverse references.
    pub index: std::sync::Arc<RefIndex>,
    /// Sync state of the caches.
    pub gates: std::sync::Arc<Gates>,
    /// Backoff of failed policy reconciles.
    pub policy_backoff: Backoff,
    /// Backoff of failed endpoint reconciles.
    pub endpoint_backoff: Backoff,
    /// HTTP client for endpoint health probes.
    pub http: reqwest::Client,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The caches a [`Context`] reads.
#[derive(Clone)]
pub struct Stores {
    /// ModelEndpoints.
    pub endpoints: Store<Lenient<ModelEndpoint>>,
    /// Secret metadata.
    pub secrets: Store<PartialObjectMeta<Secret>>,
    /// Managed PDBs.
    pub pdbs: Store<PodDisruptionBudget>,
    /// Managed HPAs.
    pub hpas: Store<HorizontalPodAutoscaler>,
    /// Their sync gates.
    pub gates: std::sync::Arc<Gates>,
}

impl Context {
    /// Builds the context.
    pub fn new(
        client: Client,
        config: OperatorConfig,
        stores: Stores,
        index: std::sync::Arc<RefIndex>,
        metrics: std::sync::Arc<Metrics>,
        reporter_instance: Option<String>,
    ) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: crate::MANAGER.to_owned(),
                instance: reporter_instance,
            },
        );
        let policy_backoff = Backoff::new(config.backoff_base, config.backoff_max);
        let endpoint_backoff = Backoff::new(config.backoff_base, config.backoff_max);
        Self {
            client,
            config,
            recorder,
            metrics,
            endpoints: stores.endpoints,
            secrets: stores.secrets,
            pdbs: stores.pdbs,
            hpas: stores.hpas,
            gates: stores.gates,
            index,
            policy_backoff,
            endpoint_backoff,
            http: crate::probe::http_client(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let k = ("ns".to_owned(), "p".to_owned());
        assert_eq!(b.next(&k), Duration::from_millis(100));
        assert_eq!(b.next(&k), Duration::from_millis(200));
        assert_eq!(b.next(&k), Duration::from_millis(400));
        assert_eq!(b.next(&k), Duration::from_millis(500));
        assert_eq!(b.attempts(&k), 4);
        b.reset(&k);
        assert_eq!(b.attempts(&k), 0);
        assert_eq!(b.next(&k), Duration::from_millis(100));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod gate_tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn every_waiter_wakes_when_the_gate_opens() {
        let gate = Arc::new(Gate::new("X"));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let g = gate.clone();
                tokio::spawn(async move { g.wait(Duration::from_secs(5)).await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(!gate.is_open());
        gate.open();
        for w in waiters {
            assert!(w.await.unwrap().is_ok());
        }
    }

    #[tokio::test]
    async fn a_closed_gate_times_out_with_a_bounded_error() {
        let gate = Gate::new("ModelEndpoint");
        let err = gate.wait(Duration::from_millis(20)).await.unwrap_err();
        assert_eq!(err.category(), crate::error::ErrorCategory::NotSynced);
    }
}
