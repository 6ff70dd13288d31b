//! A fake kubelet (and Deployment controller) for the hermetic suite. For every Deployment the
//! operator writes it runs `spec.replicas` real router processes with the container's args and
//! env: `POD_NAME`/`POD_NAMESPACE` from the downward API, `--models` pointed at the local
//! models directory, the listen addresses moved to free 127.0.0.1 ports, `KUBECONFIG` at the
//! fake API server (the router reads its ConfigMap and Secrets through the API, as in a
//! cluster; its only volumes are an emptyDir `/tmp` and optional model volumes, which the
//! hermetic suite does not use). It writes a Pod object per process (labels from the
//! template, owned by the Deployment, `restartCount` in its status, the address in an
//! annotation) and the Deployment's status (`readyReplicas`: `/readyz` answered 200; three
//! failed probes in a row make a pod unready again, like the real probe's
//! `failureThreshold`). It restarts processes that exit (counting restarts), replaces pods
//! whose Deployment's pod template changed (a rollout: new pod name, new process), stops
//! extra ones when replicas drop, and stops all of a Deployment's processes when it is
//! deleted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Pod};
use kube::ResourceExt;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::HarnessError;
use super::process::{Proc, free_addr};
use crate::fakeapi::FakeApiServer;

/// Annotation on fake Pods with the router's API address.
pub const ADDR_ANNOTATION: &str = "e2e.switchyard.dev/http";

/// How often the kubelet looks at Deployments and processes.
const TICK: Duration = Duration::from_millis(50);

/// Failed readiness probes in a row that make a ready pod unready.
const FAILURE_THRESHOLD: u32 = 3;

/// What the kubelet needs to start routers.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    /// The `switchyard-router` binary (the image's entrypoint).
    pub router: PathBuf,
    /// Kubeconfig of the fake API server.
    pub kubeconfig: PathBuf,
    /// Local replacement for the image's `/models`.
    pub models: PathBuf,
    /// Where process logs go.
    pub log_dir: PathBuf,
    /// `RUST_LOG` of the routers.
    pub rust_log: String,
}

/// A router process as tests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    /// Pod name (also the router's `POD_NAME`).
    pub name: String,
    /// Process id of the current process.
    pub pid: u32,
    /// `http://127.0.0.1:port` of its API.
    pub url: String,
    /// Times the process was restarted after exiting.
    pub restarts: u32,
    /// Whether `/readyz` answered 200.
    pub ready: bool,
    /// Its log file.
    pub log: PathBuf,
}

struct FakePod {
    name: String,
    container: Container,
    /// The pod template this pod was started from (a change means a rollout).
    template: Value,
    proc: Proc,
    http: SocketAddr,
    restarts: u32,
    ready: bool,
    /// Consecutive failed readiness probes.
    failures: u32,
    /// When the process exited (a restart waits for a back-off).
    exited_at: Option<Instant>,
    reported: Option<(u32, bool)>,
}

/// `(namespace, deployment name, deployment uid)`.
type DeploymentKey = (String, String, String);

#[derive(Default)]
struct State {
    pods: BTreeMap<DeploymentKey, Vec<FakePod>>,
    /// Suffix of the next pod name.
    next: u64,
    /// Router processes started so far (restarts and rollouts included).
    started: u64,
}

/// The running fake kubelet. Dropping it stops every router process.
pub struct Kubelet {
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Kubelet {
    /// Starts the kubelet loop against `server`.
    pub fn start(server: Arc<FakeApiServer>, config: KubeletConfig) -> Self {
        super::install_crypto_provider();
        let state = Arc::new(Mutex::new(State::default()));
        let s = Arc::clone(&state);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .no_proxy()
            .build()
            .unwrap_or_default();
        let task = tokio::spawn(async move {
            loop {
                sync(&server, &config, &s, &http).await;
                tokio::time::sleep(TICK).await;
            }
        });
        Self { state, task }
    }

    /// The router pods of Deployment `name` in `namespace`.
    pub fn pods(&self, namespace: &str, name: &str) -> Vec<PodInfo> {
        let st = lock(&self.state);
        st.pods
            .iter()
            .filter(|((ns, n, _), _)| ns == namespace && n == name)
            .flat_map(|(_, pods)| pods.iter())
            .map(|p| PodInfo {
                name: p.name.clone(),
                pid: p.proc.pid(),
                url: format!("http://{}", p.http),
                restarts: p.restarts,
                ready: p.ready,
                log: p.proc.log().to_owned(),
            })
            .collect()
    }

    /// Every router process running now, over all Deployments.
    pub fn running(&self) -> usize {
        lock(&self.state).pods.values().map(Vec::len).sum()
    }

    /// Router processes started so far (restarts and rollouts included).
    pub fn started(&self) -> u64 {
        lock(&self.state).started
    }

    /// The last lines of every router's log, for failure reports.
    pub fn log_tails(&self, n: usize) -> Vec<(String, String)> {
        let st = lock(&self.state);
        st.pods
            .values()
            .flatten()
            .map(|p| (p.name.clone(), p.proc.tail(n)))
            .collect()
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
        lock(&self.state).pods.clear();
    }
}

/// `args` with the listen addresses and the models directory rewritten for this machine.
fn local_args(args: &[String], http: SocketAddr, metrics: SocketAddr, models: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (a.as_str(), None),
        };
        let replacement = match flag {
            "--listen" => Some(http.to_string()),
            "--metrics-listen" => Some(metrics.to_string()),
            "--models" => Some(models.to_owned()),
            _ => None,
        };
        match replacement {
            Some(v) => {
                if inline.is_none() {
                    it.next();
                }
                out.push(flag.to_owned());
                out.push(v);
            }
            None => out.push(a.clone()),
        }
    }
    out
}

fn spawn(
    config: &KubeletConfig,
    container: &Container,
    namespace: &str,
    pod: &str,
) -> Result<(Proc, SocketAddr), HarnessError> {
    let http = free_addr()?;
    let metrics = free_addr()?;
    let args = local_args(
        container.args.as_deref().unwrap_or_default(),
        http,
        metrics,
        &config.models.to_string_lossy(),
    );
    let mut cmd = Command::new(&config.router);
    cmd.args(&args)
        .env("KUBECONFIG", &config.kubeconfig)
        .env("RUST_LOG", &config.rust_log)
        .env("SWITCHYARD_MODELS", &config.models)
        // What the image's environment would not have.
        .env_remove("SWITCHYARD_LISTEN")
        .env_remove("SWITCHYARD_METRICS_LISTEN")
        .env_remove("SWITCHYARD_API_KEYS_FILE");
    for e in container.env.as_deref().unwrap_or_default() {
        let field = e
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str());
        let value = match (field, &e.value) {
            (Some("metadata.name"), _) => pod.to_owned(),
            (Some("metadata.namespace"), _) => namespace.to_owned(),
            (_, Some(v)) => v.clone(),
            _ => continue,
        };
        cmd.env(&e.name, value);
    }
    let log = config.log_dir.join(format!("router.{namespace}.{pod}.log"));
    Ok((Proc::spawn(pod, cmd, &log)?, http))
}

fn pod_object(dep: &Deployment, name: &str, http: SocketAddr) -> Value {
    let labels = dep
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": dep.namespace(), "labels": labels,
            "annotations": {ADDR_ANNOTATION: format!("http://{http}")},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                "name": dep.name_any(), "uid": dep.uid(), "controller": true}],
        },
        "spec": dep.spec.as_ref().and_then(|s| s.template.spec.clone()),
    })
}

fn pod_status(p: &FakePod) -> Value {
    json!({"status": {
        "phase": "Running", "podIP": "127.0.0.1",
        "conditions": [{"type": "Ready", "status": if p.ready { "True" } else { "False" }}],
        "containerStatuses": [{"name": p.container.name, "ready": p.ready,
            "restartCount": p.restarts, "image": p.container.image.clone().unwrap_or_default(),
            "imageID": "", "started": true}],
    }})
}

async fn probe_ready(http: &reqwest::Client, addr: SocketAddr) -> bool {
    matches!(
        http.get(format!("http://{addr}/readyz")).send().await,
        Ok(r) if r.status().is_success()
    )
}

fn template_of(dep: &Deployment) -> Value {
    dep.spec
        .as_ref()
        .and_then(|s| serde_json::to_value(&s.template).ok())
        .unwrap_or(Value::Null)
}

/// Starts one pod of `dep`: the process and its Pod object.
fn start_pod(
    server: &FakeApiServer,
    config: &KubeletConfig,
    dep: &Deployment,
    container: &Container,
    name: String,
) -> Result<FakePod, HarnessError> {
    let namespace = dep.namespace().unwrap_or_default();
    let (proc, http) = spawn(config, container, &namespace, &name)?;
    server.create_json(pod_object(dep, &name, http))?;
    tracing::info!(pod = %name, pid = proc.pid(), "kubelet: router started");
    Ok(FakePod {
        name,
        container: container.clone(),
        template: template_of(dep),
        proc,
        http,
        restarts: 0,
        ready: false,
        failures: 0,
        exited_at: None,
        reported: None,
    })
}

/// One pass: converge processes and Pod objects to the Deployments, then report status.
async fn sync(
    server: &FakeApiServer,
    config: &KubeletConfig,
    state: &Mutex<State>,
    http: &reqwest::Client,
) {
    let deployments = match server.list::<Deployment>(None) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "kubelet: listing deployments");
            return;
        }
    };
    let live: BTreeMap<DeploymentKey, Deployment> = deployments
        .into_iter()
        .filter(|d| d.metadata.deletion_timestamp.is_none())
        .map(|d| {
            let key = (
                d.namespace().unwrap_or_default(),
                d.name_any(),
                d.uid().unwrap_or_default(),
            );
            (key, d)
        })
        .collect();
    // Probe addresses to check, collected under the lock and probed without it.
    let mut probes = Vec::new();
    {
        let mut st = lock(state);
        // Deployments that are gone (or were recreated): stop their processes.
        let gone: Vec<_> = st
            .pods
            .keys()
            .filter(|k| !live.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            for p in st.pods.remove(&key).unwrap_or_default() {
                let _ = server.delete::<Pod>(Some(&key.0), &p.name);
                tracing::info!(pod = %p.name, "kubelet: deployment gone, router stopped");
            }
        }
        for (key, dep) in &live {
            let Some(container) = dep
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .and_then(|s| s.containers.first())
                .cloned()
            else {
                continue;
            };
            let template = template_of(dep);
            let desired = dep.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let desired = usize::try_from(desired).unwrap_or(0);
            let State {
                pods,
                next,
                started,
            } = &mut *st;
            let pods = pods.entry(key.clone()).or_default();
            // A changed pod template rolls out: the old pods go, new ones start below.
            pods.retain(|p| {
                let keep = p.template == template;
                if !keep {
                    let _ = server.delete::<Pod>(Some(&key.0), &p.name);
                    tracing::info!(pod = %p.name, "kubelet: pod template changed, pod replaced");
                }
                keep
            });
            while pods.len() < desired {
                let name = format!("{}-{}", key.1, *next);
                *next += 1;
                match start_pod(server, config, dep, &container, name) {
                    Ok(p) => {
                        *started += 1;
                        pods.push(p);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "kubelet: starting router");
                        break;
                    }
                }
            }
            while pods.len() > desired {
                if let Some(p) = pods.pop() {
                    let _ = server.delete::<Pod>(Some(&key.0), &p.name);
                }
            }
            for p in pods.iter_mut() {
                if restart_if_exited(config, &key.0, p, server) {
                    *started += 1;
                }
                if p.exited_at.is_none() {
                    probes.push((key.clone(), p.name.clone(), p.http));
                }
            }
        }
    }
    let mut results = Vec::with_capacity(probes.len());
    for (key, name, addr) in probes {
        let ok = probe_ready(http, addr).await;
        results.push((key, name, addr, ok));
    }
    let mut st = lock(state);
    for (key, name, addr, ok) in results {
        let Some(p) = st
            .pods
            .get_mut(&key)
            .and_then(|ps| ps.iter_mut().find(|p| p.name == name && p.http == addr))
        else {
            continue;
        };
        if ok && p.exited_at.is_none() {
            p.ready = true;
            p.failures = 0;
        } else {
            p.failures += 1;
            if p.failures >= FAILURE_THRESHOLD || p.exited_at.is_some() {
                p.ready = false;
            }
        }
    }
    for (key, pods) in st.pods.iter_mut() {
        for p in pods.iter_mut() {
            let now = (p.restarts, p.ready);
            if p.reported != Some(now)
                && server
                    .merge_patch::<Pod>(Some(&key.0), &p.name, &pod_status(p), true)
                    .is_ok()
            {
                p.reported = Some(now);
            }
        }
        if let Some(dep) = live.get(key) {
            report_deployment(server, dep, pods);
        }
    }
}

/// Notices an exited process and, after a short back-off, starts it again. Returns whether
/// it started one.
fn restart_if_exited(
    config: &KubeletConfig,
    namespace: &str,
    p: &mut FakePod,
    server: &FakeApiServer,
) -> bool {
    if p.exited_at.is_none() {
        if let Some(how) = p.proc.exited() {
            tracing::warn!(pod = %p.name, %how, log = %p.proc.tail(20), "kubelet: router exited");
            p.exited_at = Some(Instant::now());
            p.ready = false;
        }
        return false;
    }
    // Back off like kubelet's CrashLoopBackOff, much shorter.
    let backoff = Duration::from_millis(250 * u64::from(p.restarts.min(8) + 1));
    if p.exited_at.is_some_and(|t| t.elapsed() < backoff) {
        return false;
    }
    match spawn(config, &p.container, namespace, &p.name) {
        Ok((proc, http)) => {
            p.proc = proc;
            p.http = http;
            p.restarts += 1;
            p.failures = 0;
            p.exited_at = None;
            let _ = server.merge_patch::<Pod>(
                Some(namespace),
                &p.name,
                &json!({"metadata": {"annotations": {ADDR_ANNOTATION: format!("http://{http}")}}}),
                false,
            );
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "kubelet: restarting router");
            false
        }
    }
}

fn report_deployment(server: &FakeApiServer, dep: &Deployment, pods: &[FakePod]) {
    let n = i32::try_from(pods.len()).unwrap_or(i32::MAX);
    let ready = i32::try_from(pods.iter().filter(|p| p.ready).count()).unwrap_or(i32::MAX);
    let status = json!({
        "observedGeneration": dep.metadata.generation,
        "replicas": n, "updatedReplicas": n, "readyReplicas": ready,
        "availableReplicas": ready, "unavailableReplicas": n - ready,
    });
    let current = dep
        .status
        .as_ref()
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(Value::Null);
    let same = [
        "observedGeneration",
        "replicas",
        "readyReplicas",
        "availableReplicas",
    ]
    .iter()
    .all(|k| current[k].as_i64().unwrap_or(0) == status[k].as_i64().unwrap_or(0));
    if !same {
        let patch = json!({"status": status});
        if let Err(e) = server.merge_patch::<Deployment>(
            dep.namespace().as_deref(),
            &dep.name_any(),
            &patch,
            true,
        ) {
            tracing::warn!(error = %e, "kubelet: deployment status");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_listen_addresses_and_models() {
        let args: Vec<String> = [
            "serve",
            "--kube-configmap",
            "p-router-config",
            "--listen",
            "0.0.0.0:8080",
            "--metrics-listen=0.0.0.0:9090",
            "--models",
            "/models",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let http = SocketAddr::from(([127, 0, 0, 1], 1234));
        let metrics = SocketAddr::from(([127, 0, 0, 1], 5678));
        let out = local_args(&args, http, metrics, "/work/models");
        assert_eq!(
            out,
            [
                "serve",
                "--kube-configmap",
                "p-router-config",
                "--listen",
                "127.0.0.1:1234",
                "--metrics-listen",
                "127.0.0.1:5678",
                "--models",
                "/work/models"
            ]
        );
    }
}
