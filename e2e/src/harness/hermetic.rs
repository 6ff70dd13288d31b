//! The hermetic setup: the fake API server, one or more real `switchyard-operator` processes
//! talking to it over HTTP, and the fake [`Kubelet`] running real `switchyard-router`
//! processes for the Deployments the operator writes. Everything listens on 127.0.0.1;
//! process logs go to a temporary directory, removed when the run ends well and kept (and
//! their tails printed) when it fails or `SWITCHYARD_E2E_KEEP_LOGS=1`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::bins::{Binaries, binaries, models_dir};
use super::kubelet::{Kubelet, KubeletConfig};
use super::process::{Proc, free_addr};
use super::{Cluster, HarnessError, RouterPod, poll_until};
use crate::fakeapi::{FakeApiOptions, FakeApiServer};

/// How long the operator may take to start and sync its caches.
const OPERATOR_READY: Duration = Duration::from_secs(60);

/// How the hermetic setup is started.
#[derive(Clone, Debug)]
pub struct HermeticOptions {
    /// Name of the run (log directory prefix), e.g. the test name.
    pub name: String,
    /// Namespace of the scenario's objects (the operator watches only it).
    pub namespace: String,
    /// Check Switchyard CRs against their schema on write, like a real API server does.
    pub validate_crs: bool,
    /// Operator processes to run.
    pub operators: usize,
    /// Run the operators with `--leader-elect` (needed when more than one runs).
    pub leader_elect: bool,
    /// `RUST_LOG` of the operators and routers.
    pub rust_log: String,
}

impl HermeticOptions {
    /// The defaults for a run called `name`: namespace `e2e`, CR validation on, one operator
    /// without leader election.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            namespace: "e2e".to_owned(),
            validate_crs: true,
            operators: 1,
            leader_elect: false,
            rust_log: std::env::var("SWITCHYARD_E2E_LOG")
                .unwrap_or_else(|_| "info,kube=warn,ort=warn".to_owned()),
        }
    }
}

/// One operator process.
struct Operator {
    proc: Proc,
    metrics: SocketAddr,
    identity: String,
}

/// An operator process as tests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorInfo {
    /// Its identity (`POD_NAME`, the Lease holder name).
    pub identity: String,
    /// Process id.
    pub pid: u32,
    /// `http://127.0.0.1:port` of `/metrics`, `/healthz`, `/readyz`.
    pub url: String,
}

/// The running hermetic setup. Dropping it stops every process and the fake API server.
pub struct Hermetic {
    // Field order is drop order: processes first, the API server last.
    operators: Mutex<Vec<Operator>>,
    kubelet: Kubelet,
    server: Arc<FakeApiServer>,
    client: kube::Client,
    bins: Binaries,
    options: HermeticOptions,
    kubeconfig: PathBuf,
    log_dir: PathBuf,
    next_operator: Mutex<usize>,
    http: reqwest::Client,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fresh log directory under the system temp dir (removed by [`Hermetic`]'s drop unless the
/// run failed).
fn log_dir(name: &str) -> Result<PathBuf, HarnessError> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("switchyard-e2e-{name}-"))
        .tempdir()
        .map_err(|e| HarnessError::Io("creating the log directory".into(), e))?;
    Ok(dir.keep())
}

impl Hermetic {
    /// Builds (if needed) and starts everything; returns once the operators are up and
    /// watching.
    pub async fn start(options: HermeticOptions) -> Result<Self, HarnessError> {
        super::install_crypto_provider();
        super::init_test_logging();
        let models = models_dir();
        if !models.is_dir() {
            return Err(HarnessError::Other(format!(
                "no models directory at {}: run scripts/setup.sh and `source .tools/env.sh` \
                 (SWITCHYARD_MODELS, ORT_DYLIB_PATH, SWITCHYARD_PYTHON)",
                models.display()
            )));
        }
        let bins = tokio::task::spawn_blocking(binaries)
            .await
            .map_err(|e| HarnessError::Other(format!("building binaries: {e}")))??;
        let server = Arc::new(
            FakeApiServer::start_with(FakeApiOptions {
                validate_crs: options.validate_crs,
                ..FakeApiOptions::default()
            })
            .await?,
        );
        let log_dir = log_dir(&options.name)?;
        let kubeconfig = log_dir.join("kubeconfig");
        std::fs::write(&kubeconfig, server.kubeconfig_yaml(&options.namespace))
            .map_err(|e| HarnessError::Io(format!("writing {}", kubeconfig.display()), e))?;
        let kubelet = Kubelet::start(
            Arc::clone(&server),
            KubeletConfig {
                router: bins.router.clone(),
                kubeconfig: kubeconfig.clone(),
                models,
                log_dir: log_dir.clone(),
                rust_log: options.rust_log.clone(),
            },
        );
        let client = server.client()?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()?;
        let me = Self {
            operators: Mutex::new(Vec::new()),
            kubelet,
            server,
            client,
            bins,
            options,
            kubeconfig,
            log_dir,
            next_operator: Mutex::new(0),
            http,
        };
        for _ in 0..me.options.operators.max(1) {
            me.start_operator().await?;
        }
        Ok(me)
    }

    /// The fake API server.
    pub fn server(&self) -> &FakeApiServer {
        &self.server
    }

    /// The fake kubelet.
    pub fn kubelet(&self) -> &Kubelet {
        &self.kubelet
    }

    /// Where the process logs are.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// The operator processes running now, oldest first.
    pub fn operators(&self) -> Vec<OperatorInfo> {
        lock(&self.operators)
            .iter()
            .map(|o| OperatorInfo {
                identity: o.identity.clone(),
                pid: o.proc.pid(),
                url: format!("http://{}", o.metrics),
            })
            .collect()
    }

    /// Starts one more operator process and waits until it is ready (caches synced, or
    /// standing by for the lease when electing).
    pub async fn start_operator(&self) -> Result<OperatorInfo, HarnessError> {
        let identity = {
            let mut n = lock(&self.next_operator);
            *n += 1;
            format!("switchyard-operator-{}", *n)
        };
        let metrics = free_addr()?;
        let mut cmd = Command::new(&self.bins.operator);
        cmd.arg("--namespace")
            .arg(&self.options.namespace)
            .arg("--metrics-listen")
            .arg(metrics.to_string())
            .arg("--router-image")
            .arg("switchyard-router:e2e")
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", &self.options.rust_log)
            .env("POD_NAME", &identity)
            .env("POD_NAMESPACE", &self.options.namespace);
        if self.options.leader_elect {
            cmd.arg("--leader-elect");
        }
        let log = self.log_dir.join(format!("{identity}.log"));
        let mut proc = Proc::spawn(&identity, cmd, &log)?;
        let url = format!("http://{metrics}/readyz");
        let ready = poll_until(OPERATOR_READY, &format!("{identity} ready"), || {
            let exited = proc.exited();
            let req = self.http.get(&url).send();
            async move {
                if let Some(how) = exited {
                    return Err(HarnessError::Other(format!("operator exited: {how}")));
                }
                Ok(matches!(req.await, Ok(r) if r.status().is_success()).then_some(()))
            }
        })
        .await;
        if let Err(e) = ready {
            let tail = proc.tail(30);
            return Err(HarnessError::Other(format!("{e}\n{identity} log:\n{tail}")));
        }
        let info = OperatorInfo {
            identity: identity.clone(),
            pid: proc.pid(),
            url: format!("http://{metrics}"),
        };
        lock(&self.operators).push(Operator {
            proc,
            metrics,
            identity,
        });
        Ok(info)
    }

    /// Stops the operator `identity`: SIGTERM and up to 10 s to exit when `graceful` (a
    /// leader releases its Lease), else SIGKILL at once.
    pub async fn stop_operator(&self, identity: &str, graceful: bool) -> Result<(), HarnessError> {
        let op = {
            let mut ops = lock(&self.operators);
            let i = ops
                .iter()
                .position(|o| o.identity == identity)
                .ok_or_else(|| HarnessError::Other(format!("no operator {identity}")))?;
            ops.remove(i)
        };
        let mut proc = op.proc;
        if graceful {
            proc.terminate(Duration::from_secs(10)).await;
        } else {
            proc.kill();
        }
        Ok(())
    }

    /// The Prometheus text of an operator's `/metrics`.
    pub async fn operator_metrics(&self, identity: &str) -> Result<String, HarnessError> {
        let url = self
            .operators()
            .into_iter()
            .find(|o| o.identity == identity)
            .map(|o| format!("{}/metrics", o.url))
            .ok_or_else(|| HarnessError::Other(format!("no operator {identity}")))?;
        Ok(self.http.get(url).send().await?.text().await?)
    }
}

/// Sum of every sample of metric `name` (any labels) in Prometheus text; 0 when absent.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    metric_sum_where(text, name, "")
}

/// Sum of the samples of metric `name` whose labels contain `label` (e.g.
/// `controller="RoutingPolicy"`); 0 when there are none.
pub fn metric_sum_where(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, labels) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.contains(label)).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

impl Drop for Hermetic {
    fn drop(&mut self) {
        // Stop the processes first (they write into the directory), then keep the logs of a
        // failed run (the test is panicking) or when asked to.
        lock(&self.operators).clear();
        let keep = std::thread::panicking()
            || std::env::var("SWITCHYARD_E2E_KEEP_LOGS").is_ok_and(|v| v == "1");
        if keep {
            eprintln!("logs kept in {}", self.log_dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.log_dir);
        }
    }
}

impl Cluster for Hermetic {
    fn client(&self) -> kube::Client {
        self.client.clone()
    }

    fn namespace(&self) -> &str {
        &self.options.namespace
    }

    fn fake(&self) -> Option<&FakeApiServer> {
        Some(&self.server)
    }

    fn hermetic(&self) -> Option<&Hermetic> {
        Some(self)
    }

    async fn router_url(&self, policy: &str) -> Result<String, HarnessError> {
        let deployment = format!("{policy}-router");
        self.kubelet
            .pods(&self.options.namespace, &deployment)
            .into_iter()
            .find(|p| p.ready)
            .map(|p| p.url)
            .ok_or_else(|| HarnessError::Other(format!("no ready router pod of {policy:?}")))
    }

    async fn router_pods(&self, policy: &str) -> Result<Vec<RouterPod>, HarnessError> {
        let deployment = format!("{policy}-router");
        Ok(self
            .kubelet
            .pods(&self.options.namespace, &deployment)
            .into_iter()
            .map(|p| RouterPod {
                name: p.name,
                instance: format!("pid {}", p.pid),
                restarts: p.restarts,
                ready: p.ready,
            })
            .collect())
    }

    async fn upstream_url(&self, addr: SocketAddr) -> Result<String, HarnessError> {
        Ok(format!("http://{addr}/v1"))
    }

    async fn restart_operator(&self) -> Result<(), HarnessError> {
        for op in self.operators() {
            self.stop_operator(&op.identity, false).await?;
        }
        for _ in 0..self.options.operators.max(1) {
            self.start_operator().await?;
        }
        Ok(())
    }

    async fn operator_identities(&self) -> Result<Vec<String>, HarnessError> {
        Ok(self.operators().into_iter().map(|o| o.identity).collect())
    }

    async fn terminate_operator(&self, identity: &str) -> Result<(), HarnessError> {
        self.stop_operator(identity, true).await
    }

    fn lease_namespace(&self) -> String {
        self.options.namespace.clone()
    }

    async fn diagnostics(&self) -> String {
        let mut out = format!("logs in {}\n", self.log_dir.display());
        let events = self
            .server
            .list::<k8s_openapi::api::events::v1::Event>(None)
            .unwrap_or_default();
        out.push_str("--- Events ---\n");
        for e in events {
            let regarding = e.regarding.unwrap_or_default();
            out.push_str(&format!(
                "{} {}/{} {} (x{}): {}\n",
                e.type_.unwrap_or_default(),
                regarding.kind.unwrap_or_default(),
                regarding.name.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.series.map_or(1, |s| s.count),
                e.note.unwrap_or_default()
            ));
        }
        let mut logs: Vec<PathBuf> = std::fs::read_dir(&self.log_dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        logs.retain(|p| p.extension().is_some_and(|e| e == "log"));
        logs.sort();
        for log in logs {
            let name = log.file_name().unwrap_or_default().to_string_lossy();
            out.push_str(&format!(
                "--- {name} (last 40 lines) ---\n{}\n",
                super::process::tail(&log, 40)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_metric_samples() {
        let text = "# HELP x_total X\n# TYPE x_total counter\n\
                    x_total{controller=\"A\",result=\"success\"} 2\n\
                    x_total{controller=\"B\",result=\"success\"} 3\n\
                    x_total_other 7\ny 1\n";
        assert_eq!(metric_sum(text, "x_total"), 5.0);
        assert_eq!(metric_sum_where(text, "x_total", "controller=\"B\""), 3.0);
        assert_eq!(metric_sum(text, "y"), 1.0);
        assert_eq!(metric_sum(text, "z"), 0.0);
    }
}
