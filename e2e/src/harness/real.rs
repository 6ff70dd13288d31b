//! A real cluster (kind, k3d or any other) with the Switchyard chart installed, reached through
//! the kubeconfig in `SWITCHYARD_E2E_KUBECONFIG`. Each run gets its own namespace, deleted
//! when the handle is dropped. Routers are reached through `kubectl port-forward` to their
//! Service; fake upstreams in the test process are reached by the router pods through a
//! [`Relay`] on this machine at `SWITCHYARD_E2E_HOST` (the address pods reach the test machine
//! at, e.g. the kind network's gateway; `e2e/cluster/kind.sh env` prints it).
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `SWITCHYARD_E2E_KUBECONFIG` | kubeconfig of the cluster (the tests run only when set) | — |
//! | `SWITCHYARD_E2E_HOST` | address of this machine as seen from pods | — (required) |
//! | `SWITCHYARD_E2E_OPERATOR_NAMESPACE` | namespace of the chart's operator | `switchyard-system` |
//! | `SWITCHYARD_E2E_OPERATOR_SELECTOR` | label selector of the operator pods | `app.kubernetes.io/name=switchyard,app.kubernetes.io/component=operator` |
//! | `KUBECTL` | the kubectl binary (port-forward, namespace cleanup) | `kubectl` |

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Config, ResourceExt};
use serde_json::json;

use super::process::Proc;
use super::{Cluster, HarnessError, Relay, RouterPod, poll_until};
use crate::fakeapi::FakeApiServer;

/// The environment variable that turns the real-cluster tests on.
pub const KUBECONFIG_ENV: &str = "SWITCHYARD_E2E_KUBECONFIG";

/// Label on the namespaces the suite creates (for cleaning up after aborted runs).
pub const NAMESPACE_LABEL: &str = "e2e.switchyard.dev/run";

/// How long pods may take to start in a real cluster (image pulls included).
const POD_READY: Duration = Duration::from_secs(300);

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// A port-forward to one Service.
struct Forward {
    proc: Proc,
    url: String,
}

/// A configured real cluster.
pub struct RealCluster {
    client: kube::Client,
    namespace: String,
    kubeconfig: PathBuf,
    kubectl: String,
    host: String,
    operator_namespace: String,
    operator_selector: String,
    log_dir: PathBuf,
    forwards: tokio::sync::Mutex<HashMap<String, Forward>>,
    relays: std::sync::Mutex<Vec<Relay>>,
}

impl RealCluster {
    /// Whether a real cluster is configured (`SWITCHYARD_E2E_KUBECONFIG` is set).
    pub fn configured() -> bool {
        env(KUBECONFIG_ENV).is_some()
    }

    /// Connects and creates this run's namespace, `sy-e2e-<name>-<random>`.
    pub async fn connect(name: &str) -> Result<Self, HarnessError> {
        super::install_crypto_provider();
        super::init_test_logging();
        let kubeconfig = env(KUBECONFIG_ENV)
            .map(PathBuf::from)
            .ok_or_else(|| HarnessError::Config(format!("{KUBECONFIG_ENV} is not set")))?;
        let host = env("SWITCHYARD_E2E_HOST").ok_or_else(|| {
            HarnessError::Config(
                "SWITCHYARD_E2E_HOST is not set: the address router pods reach this machine at \
                 (e2e/cluster/kind.sh env prints it)"
                    .into(),
            )
        })?;
        let kc = Kubeconfig::read_from(&kubeconfig)
            .map_err(|e| HarnessError::Config(format!("{}: {e}", kubeconfig.display())))?;
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| HarnessError::Config(e.to_string()))?;
        let client = kube::Client::try_from(config)?;
        let suffix: String = format!("{:x}", rand_suffix());
        let base: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .take(40)
            .collect();
        let namespace = format!("sy-e2e-{}-{suffix}", base.trim_matches('-'));
        let ns: Namespace = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {NAMESPACE_LABEL: name}},
        }))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        let log_dir = tempfile::Builder::new()
            .prefix(&format!("switchyard-e2e-{base}-"))
            .tempdir()
            .map_err(|e| HarnessError::Io("creating the log directory".into(), e))?
            .keep();
        Ok(Self {
            client,
            namespace,
            kubeconfig,
            kubectl: env("KUBECTL").unwrap_or_else(|| "kubectl".to_owned()),
            host,
            operator_namespace: env("SWITCHYARD_E2E_OPERATOR_NAMESPACE")
                .unwrap_or_else(|| "switchyard-system".to_owned()),
            operator_selector: env("SWITCHYARD_E2E_OPERATOR_SELECTOR").unwrap_or_else(|| {
                "app.kubernetes.io/name=switchyard,app.kubernetes.io/component=operator".to_owned()
            }),
            log_dir,
            forwards: tokio::sync::Mutex::new(HashMap::new()),
            relays: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The namespace the operator runs in.
    pub fn operator_namespace(&self) -> &str {
        &self.operator_namespace
    }

    /// The operator pods (all phases).
    pub async fn operator_pods(&self) -> Result<Vec<Pod>, HarnessError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.operator_namespace);
        Ok(api
            .list(&ListParams::default().labels(&self.operator_selector))
            .await?
            .items)
    }

    /// Deletes one operator pod (e.g. the leader) and returns at once.
    pub async fn delete_operator_pod(&self, name: &str) -> Result<(), HarnessError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.operator_namespace);
        api.delete(name, &DeleteParams::default()).await?;
        Ok(())
    }

    /// Waits until the operator Deployment's replicas are all ready, none of them in `old`.
    pub async fn wait_operator_pods(&self, old: &[String]) -> Result<Vec<Pod>, HarnessError> {
        let deployments: Api<Deployment> =
            Api::namespaced(self.client.clone(), &self.operator_namespace);
        poll_until(POD_READY, "operator pods ready", || async {
            let want = deployments
                .list(&ListParams::default().labels(&self.operator_selector))
                .await?
                .items
                .iter()
                .filter_map(|d| d.spec.as_ref().and_then(|s| s.replicas))
                .sum::<i32>()
                .max(1);
            let pods = self.operator_pods().await?;
            let fresh: Vec<Pod> = pods
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .filter(|p| !old.contains(&p.uid().unwrap_or_default()))
                .filter(pod_ready)
                .collect();
            Ok((fresh.len() >= usize::try_from(want).unwrap_or(1)).then_some(fresh))
        })
        .await
    }

    async fn forward(&self, policy: &str) -> Result<String, HarnessError> {
        let mut forwards = self.forwards.lock().await;
        if let Some(f) = forwards.get_mut(policy) {
            if f.proc.exited().is_none() {
                return Ok(f.url.clone());
            }
            forwards.remove(policy);
        }
        // Wait for a ready router first: port-forward picks a pod when it starts.
        poll_until(
            POD_READY,
            &format!("a ready router pod of {policy:?}"),
            || async {
                Ok(self
                    .router_pods(policy)
                    .await?
                    .iter()
                    .any(|p| p.ready)
                    .then_some(()))
            },
        )
        .await?;
        let log = self.log_dir.join(format!("port-forward.{policy}.log"));
        let _ = std::fs::remove_file(&log);
        let mut cmd = Command::new(&self.kubectl);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["-n", &self.namespace, "port-forward"])
            .arg(format!("service/{policy}-router"))
            .args([":80", "--address", "127.0.0.1"]);
        let mut proc = Proc::spawn(&format!("port-forward {policy}"), cmd, &log)?;
        let port = poll_until(Duration::from_secs(30), "port-forward listening", || {
            let exited = proc.exited();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            async move {
                if let Some(how) = exited {
                    return Err(HarnessError::Other(format!(
                        "kubectl port-forward exited ({how}): {text}"
                    )));
                }
                Ok(text.lines().find_map(|l| {
                    l.strip_prefix("Forwarding from 127.0.0.1:")
                        .and_then(|r| r.split_whitespace().next())
                        .and_then(|p| p.parse::<u16>().ok())
                }))
            }
        })
        .await?;
        let url = format!("http://127.0.0.1:{port}");
        forwards.insert(
            policy.to_owned(),
            Forward {
                proc,
                url: url.clone(),
            },
        );
        Ok(url)
    }
}

/// Whether a pod's `Ready` condition is true.
pub fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn rand_suffix() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        // Synchronous and without waiting: the namespace's objects go with it.
        let _ = Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["delete", "namespace", &self.namespace, "--wait=false"])
            .output();
    }
}

impl Cluster for RealCluster {
    fn client(&self) -> kube::Client {
        self.client.clone()
    }

    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn fake(&self) -> Option<&FakeApiServer> {
        None
    }

    fn hermetic(&self) -> Option<&super::Hermetic> {
        None
    }

    async fn router_url(&self, policy: &str) -> Result<String, HarnessError> {
        self.forward(policy).await
    }

    async fn router_pods(&self, policy: &str) -> Result<Vec<RouterPod>, HarnessError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let selector =
            format!("app.kubernetes.io/name=switchyard-router,app.kubernetes.io/instance={policy}");
        let pods = api.list(&ListParams::default().labels(&selector)).await?;
        Ok(pods
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .map(|p| {
                let cs = p
                    .status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .and_then(|c| c.first());
                RouterPod {
                    name: p.name_any(),
                    instance: format!(
                        "uid {} container {}",
                        p.uid().unwrap_or_default(),
                        cs.and_then(|c| c.container_id.clone()).unwrap_or_default()
                    ),
                    restarts: cs
                        .map(|c| u32::try_from(c.restart_count).unwrap_or(0))
                        .unwrap_or(0),
                    ready: pod_ready(p),
                }
            })
            .collect())
    }

    async fn upstream_url(&self, addr: SocketAddr) -> Result<String, HarnessError> {
        let relay = Relay::start(addr).await?;
        let url = format!("http://{}:{}/v1", self.host, relay.port());
        self.relays
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(relay);
        Ok(url)
    }

    async fn restart_operator(&self) -> Result<(), HarnessError> {
        let old: Vec<String> = self
            .operator_pods()
            .await?
            .iter()
            .filter_map(|p| p.uid())
            .collect();
        for p in self.operator_pods().await? {
            self.delete_operator_pod(&p.name_any()).await?;
        }
        self.wait_operator_pods(&old).await?;
        Ok(())
    }

    async fn operator_identities(&self) -> Result<Vec<String>, HarnessError> {
        Ok(self
            .operator_pods()
            .await?
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && pod_ready(p))
            .map(ResourceExt::name_any)
            .collect())
    }

    async fn terminate_operator(&self, identity: &str) -> Result<(), HarnessError> {
        self.delete_operator_pod(identity).await
    }

    fn lease_namespace(&self) -> String {
        self.operator_namespace.clone()
    }

    async fn diagnostics(&self) -> String {
        let mut out = format!(
            "namespace {} (deleted at the end of the run); logs in {}\n",
            self.namespace,
            self.log_dir.display()
        );
        for (what, ns, selector) in [
            (
                "operator",
                self.operator_namespace.as_str(),
                self.operator_selector.clone(),
            ),
            (
                "router",
                self.namespace.as_str(),
                "app.kubernetes.io/name=switchyard-router".to_owned(),
            ),
        ] {
            let logs = Command::new(&self.kubectl)
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .args(["-n", ns, "logs", "-l", &selector, "--tail=40", "--prefix"])
                .output();
            match logs {
                Ok(o) => out.push_str(&format!(
                    "--- {what} logs ---\n{}{}\n",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )),
                Err(e) => out.push_str(&format!("--- {what} logs: kubectl failed: {e}\n")),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    /// The cluster scripts parse (`bash -n`) and, where shellcheck is installed, lint clean.
    #[test]
    fn cluster_scripts_parse() -> Result<(), Box<dyn std::error::Error>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster");
        let mut scripts: Vec<_> = std::fs::read_dir(&dir)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sh"))
            .collect();
        scripts.sort();
        assert!(scripts.len() >= 3, "{scripts:?}");
        for script in &scripts {
            let out = Command::new("bash").arg("-n").arg(script).output()?;
            assert!(
                out.status.success(),
                "{}: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        match Command::new("shellcheck")
            .arg("-x")
            .args(&scripts)
            .current_dir(&dir)
            .output()
        {
            Ok(out) => assert!(
                out.status.success(),
                "shellcheck:\n{}",
                String::from_utf8_lossy(&out.stdout)
            ),
            Err(e) => eprintln!("shellcheck not run ({e})"),
        }
        Ok(())
    }
}
