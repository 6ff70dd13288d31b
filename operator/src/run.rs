//! Wiring: watches, caches, the two controllers, leader election and the HTTP server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use switchyard_crds::{ModelEndpoint, RoutingPolicy};
use tokio::sync::watch;

use crate::context::{Context, Gate, Gates, OperatorConfig, Stores};
use crate::http::Health;
use crate::index::RefIndex;
use crate::leader::{LeaderElector, LeaseConfig, LeaseError};
use crate::lenient::Lenient;
use crate::metrics::Metrics;
use crate::names::MANAGED_SELECTOR;
use crate::{endpoint_controller, policy_controller};

/// Name of the leader-election Lease.
pub const LEASE_NAME: &str = "switchyard-operator";

/// Installs ring as the process-wide rustls provider (idempotent).
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Controller settings.
    pub config: OperatorConfig,
    /// Elect a leader among replicas.
    pub leader_elect: bool,
    /// Namespace of the Lease.
    pub lease_namespace: String,
    /// This replica's identity (pod name).
    pub identity: String,
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub metrics_listen: SocketAddr,
}

/// Why the operator stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The metrics address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Leadership was lost; the process should exit and be restarted.
    #[error("lost leadership: {0}")]
    LostLease(#[source] LeaseError),
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Opens `gate` once the stream's first list is in the cache (after `reflect`).
fn open_on_sync<K>(
    gates: &Arc<Gates>,
    pick: fn(&Gates) -> &Gate,
) -> impl FnMut(&watcher::Event<K>) + use<K> {
    let gates = gates.clone();
    move |ev| {
        if matches!(ev, watcher::Event::InitDone) {
            pick(&gates).open();
        }
    }
}

fn managed_cache<K>(
    client: &Client,
    namespace: Option<&str>,
    gates: &Arc<Gates>,
    pick: fn(&Gates) -> &Gate,
) -> (
    Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(
        api::<K>(client, namespace),
        watcher::Config::default().labels(MANAGED_SELECTOR),
    )
    .default_backoff()
    .modify(|o| o.managed_fields_mut().clear())
    .reflect(writer)
    .inspect_ok(open_on_sync(gates, pick))
    .touched_objects();
    (reader, stream)
}

/// Runs both controllers until `shutdown` resolves. `health` turns ready once every cache
/// has synced.
pub async fn run_controllers(
    client: Client,
    config: OperatorConfig,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    identity: Option<String>,
    shutdown: watch::Receiver<bool>,
) {
    let ns = config.namespace.clone();
    let ns = ns.as_deref();
    let index = Arc::new(RefIndex::default());
    let gates = Arc::new(Gates::default());
    let all = watcher::Config::default();
    let managed = watcher::Config::default().labels(MANAGED_SELECTOR);

    // Lenient: one object that does not decode must not fail the list for the others.
    let (policy_reader, policy_writer) = reflector::store();
    let idx = index.clone();
    let policies = watcher(api::<Lenient<RoutingPolicy>>(&client, ns), all.clone())
        .default_backoff()
        .modify(|p| p.managed_fields_mut().clear())
        .reflect(policy_writer)
        .inspect_ok(open_on_sync(&gates, |g| &g.policies))
        .inspect_ok(move |ev| {
            tracing::trace!(event = event_kind(ev), "policy watch event");
            idx.observe_watched_policy(ev);
        })
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());

    let (endpoint_reader, endpoint_writer) = reflector::store();
    let idx = index.clone();
    let endpoints = watcher(api::<Lenient<ModelEndpoint>>(&client, ns), all.clone())
        .default_backoff()
        .modify(|e| e.managed_fields_mut().clear())
        .reflect(endpoint_writer)
        .inspect_ok(open_on_sync(&gates, |g| &g.endpoints))
        .map_ok(move |ev| {
            futures::stream::iter(idx.observe_watched_endpoint(&ev).into_iter().map(Ok))
        })
        .try_flatten();

    let (secret_reader, secret_writer) = reflector::store();
    // Metadata only: Secret values are never cached by the operator.
    let secrets = watcher(api::<PartialObjectMeta<Secret>>(&client, ns), all.clone())
        .default_backoff()
        .modify(|s| {
            s.managed_fields_mut().clear();
            s.annotations_mut().clear();
        })
        .reflect(secret_writer)
        .inspect_ok(open_on_sync(&gates, |g| &g.secrets))
        .touched_objects();

    let (pdb_reader, pdbs) = managed_cache::<PodDisruptionBudget>(&client, ns, &gates, |g| &g.pdbs);
    let (hpa_reader, hpas) =
        managed_cache::<HorizontalPodAutoscaler>(&client, ns, &gates, |g| &g.hpas);

    let stores = Stores {
        endpoints: endpoint_reader,
        secrets: secret_reader,
        pdbs: pdb_reader,
        hpas: hpa_reader,
        gates: gates.clone(),
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        config.clone(),
        stores,
        index.clone(),
        metrics,
        identity,
    ));
    let controller_config = controller::Config::default().concurrency(config.concurrency);

    let idx_e = index.clone();
    let idx_s = index.clone();
    let stop = shutdown.clone();
    let policy_controller = Controller::for_stream(policies, policy_reader)
        .with_config(controller_config.clone())
        .owns(api::<ConfigMap>(&client, ns), managed.clone())
        .owns(api::<Deployment>(&client, ns), managed.clone())
        .owns(api::<Service>(&client, ns), managed.clone())
        .owns(api::<ServiceAccount>(&client, ns), managed.clone())
        .owns(api::<Role>(&client, ns), managed.clone())
        .owns(api::<RoleBinding>(&client, ns), managed.clone())
        .owns_stream(pdbs)
        .owns_stream(hpas)
        .watches_stream(endpoints, move |ep: Lenient<ModelEndpoint>| {
            let ns = ep.namespace().unwrap_or_default();
            retype(idx_e.policies_for_endpoint(&ns, &ep.name_any()))
        })
        .watches_stream(secrets, move |s| {
            retype(idx_s.policies_for_secret(&s.namespace().unwrap_or_default(), &s.name_any()))
        })
        .graceful_shutdown_on(wait_for(stop))
        .run(
            policy_controller::reconcile_watched,
            policy_controller::error_policy_watched,
            ctx.clone(),
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "policy controller");
            }
        });

    let endpoint_controller = Controller::new(api::<Lenient<ModelEndpoint>>(&client, ns), all)
        .with_config(controller_config)
        .graceful_shutdown_on(wait_for(shutdown))
        .run(
            endpoint_controller::reconcile_watched,
            endpoint_controller::error_policy_watched,
            ctx,
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "endpoint controller");
            }
        });

    // Never `Store::wait_until_ready` here: the runners already wait on their stores, and a
    // second waiter would take their wake-up (see `Gate`).
    let synced = async move {
        gates.wait_all().await;
        health.set_ready(true);
        tracing::info!("caches synced; operator ready");
    };
    tokio::join!(policy_controller, endpoint_controller, synced);
}

/// The policies to reconcile, as references into the lenient watch.
fn retype(refs: Vec<ObjectRef<RoutingPolicy>>) -> Vec<ObjectRef<Lenient<RoutingPolicy>>> {
    refs.into_iter()
        .map(|r| {
            let named = ObjectRef::new(&r.name);
            match r.namespace {
                Some(ns) => named.within(&ns),
                None => named,
            }
        })
        .collect()
}

fn event_kind<K>(ev: &watcher::Event<K>) -> &'static str {
    match ev {
        watcher::Event::Apply(_) => "apply",
        watcher::Event::Delete(_) => "delete",
        watcher::Event::Init => "init",
        watcher::Event::InitApply(_) => "init-apply",
        watcher::Event::InitDone => "init-done",
    }
}

async fn wait_for(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Runs the operator: HTTP endpoints, then (after winning the lease, when electing) the
/// controllers, until `shutdown` resolves or leadership is lost.
pub async fn run(
    client: Client,
    opts: RunOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    install_crypto_provider();
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let listener = tokio::net::TcpListener::bind(opts.metrics_listen)
        .await
        .map_err(|source| RunError::Bind {
            addr: opts.metrics_listen,
            source,
        })?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let app = crate::http::app(metrics.clone(), health.clone());
    let http_stop = wait_for(stop_rx.clone());
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(http_stop)
            .await
        {
            tracing::error!(error = %e, "metrics server failed");
        }
    });
    let stop_tx = Arc::new(stop_tx);
    let on_signal = stop_tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = on_signal.send(true);
    });

    let result = if opts.leader_elect {
        let lease_api: Api<Lease> = Api::namespaced(client.clone(), &opts.lease_namespace);
        let mut elector =
            LeaderElector::new(lease_api, LeaseConfig::new(LEASE_NAME, &opts.identity));
        // A standby replica is healthy and ready: it serves nothing but its metrics.
        health.set_ready(true);
        let mut stop = stop_rx.clone();
        let acquired = tokio::select! {
            () = elector.acquire() => true,
            _ = stop.wait_for(|s| *s) => false,
        };
        if acquired {
            health.set_ready(false);
            metrics.leader.set(1);
            let controllers = run_controllers(
                client,
                opts.config,
                metrics.clone(),
                health.clone(),
                Some(opts.identity.clone()),
                stop_rx.clone(),
            );
            let outcome = tokio::select! {
                () = controllers => Ok(()),
                lost = elector.hold() => Err(RunError::LostLease(lost)),
            };
            metrics.leader.set(0);
            if outcome.is_ok()
                && let Err(e) = elector.release().await
            {
                tracing::warn!(error = %e, "could not release the leader lease");
            }
            outcome
        } else {
            Ok(())
        }
    } else {
        metrics.leader.set(1);
        run_controllers(
            client,
            opts.config,
            metrics,
            health,
            Some(opts.identity),
            stop_rx.clone(),
        )
        .await;
        Ok(())
    };
    // Also on a lost lease: stop the HTTP server so that the process can exit.
    let _ = stop_tx.send(true);
    let _ = server.await;
    result
}
