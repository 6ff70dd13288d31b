//! Operator scale benchmark against the fake API server (issue [5/9] performance targets):
//!
//! 1. cold start: N policies referencing M endpoints exist before the operator starts; time until
//!    every policy has its router ConfigMap and Deployment and a status for its generation;
//! 2. propagation: edit one endpoint referenced by K policies; time until all K router
//!    ConfigMaps carry the new URL;
//! 3. the operator's peak RSS (VmHWM) over the run.
//!
//! ```sh
//! cargo build --release -p switchyard-operator
//! cargo run --release -p switchyard-e2e --example operator_scale -- \
//!     [--operator PATH] [--policies 500] [--endpoints 1000] [--shared 5]
//! ```
//! `bench/operator/run.sh` does both and writes the table into docs/benchmarks-operator.md.
//! Every policy references two endpoints of its own (while they last) plus one of `--shared`
//! endpoints, so each shared endpoint is referenced by `policies / shared` policies.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{Value, json};
use switchyard_crds::policy::RoutingPolicy;
use switchyard_e2e::fakeapi::FakeApiServer;

const NS: &str = "scale";

struct Opts {
    operator: PathBuf,
    policies: usize,
    endpoints: usize,
    shared: usize,
}

fn parse() -> anyhow::Result<Opts> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let mut o = Opts {
        operator: target.join("release/switchyard-operator"),
        policies: 500,
        endpoints: 1000,
        shared: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--operator" => o.operator = PathBuf::from(val()?),
            "--policies" => o.policies = val()?.parse()?,
            "--endpoints" => o.endpoints = val()?.parse()?,
            "--shared" => o.shared = val()?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    if o.shared == 0 || o.shared > o.endpoints {
        bail!("--shared must be between 1 and --endpoints");
    }
    Ok(o)
}

fn endpoint(name: &str, url: &str) -> Value {
    json!({
        "apiVersion": "switchyard.dev/v1alpha1",
        "kind": "ModelEndpoint",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "model": format!("org/{name}"),
            "baseURL": url,
            "healthCheck": {"enabled": false},
        }
    })
}

fn policy(name: &str, endpoints: &[String]) -> Value {
    json!({
        "apiVersion": "switchyard.dev/v1alpha1",
        "kind": "RoutingPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "strategy": "intent",
            "intent": {
                "defaultRoute": "general",
                "routes": [{
                    "name": "general",
                    "description": "Everything.",
                    "examples": ["Hello there."],
                    "endpoints": endpoints,
                }]
            }
        }
    })
}

fn rss_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Polls `done` every 50 ms until it holds or `limit` passes; returns the elapsed time.
async fn until(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    loop {
        if done()? {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            bail!("{what}: not done after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = parse()?;
    if !o.operator.is_file() {
        bail!(
            "no operator binary at {} (cargo build --release -p switchyard-operator)",
            o.operator.display()
        );
    }
    let server = FakeApiServer::start().await?;
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig)?;

    let shared: Vec<String> = (0..o.shared).map(|i| format!("shared-{i}")).collect();
    for name in &shared {
        server.create_json(endpoint(name, "http://shared.invalid/v1"))?;
    }
    let own = o.endpoints - o.shared;
    for i in 0..own {
        server.create_json(endpoint(&format!("ep-{i}"), "http://own.invalid/v1"))?;
    }
    for p in 0..o.policies {
        let mut refs: Vec<String> = [2 * p, 2 * p + 1]
            .into_iter()
            .filter(|&i| i < own)
            .map(|i| format!("ep-{i}"))
            .collect();
        refs.push(shared[p % o.shared].clone());
        server.create_json(policy(&format!("p-{p}"), &refs))?;
    }
    eprintln!(
        "created {} endpoints and {} policies; starting the operator",
        o.endpoints, o.policies
    );

    let start = Instant::now();
    let child = Command::new(&o.operator)
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "warn")
        .args(["--namespace", NS, "--metrics-listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the operator")?;
    let pid = child.id();
    let _child = Killed(child);

    let n = o.policies;
    let cold = until("cold start", Duration::from_secs(600), || {
        let configs = server
            .list::<ConfigMap>(Some(NS))?
            .iter()
            .filter(|c| {
                c.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.ends_with("-router-config"))
            })
            .count();
        if configs < n || server.list::<Deployment>(Some(NS))?.len() < n {
            return Ok(false);
        }
        let settled = server
            .list::<RoutingPolicy>(Some(NS))?
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.observed_generation)
                    .is_some_and(|g| Some(g) == p.metadata.generation)
            })
            .count();
        Ok(settled == n)
    })
    .await?;
    let cold_total = start.elapsed();
    let rss_after_cold = rss_kib(pid, "VmRSS:").unwrap_or(0);

    // Propagation: one shared endpoint's URL changes.
    let target = &shared[0];
    let referencing: Vec<String> = (0..n)
        .filter(|p| p % o.shared == 0)
        .map(|p| format!("p-{p}-router-config"))
        .collect();
    let new_url = "http://moved.invalid/v2";
    server.merge_patch::<switchyard_crds::endpoint::ModelEndpoint>(
        Some(NS),
        target,
        &json!({"spec": {"baseURL": new_url}}),
        false,
    )?;
    let propagate = until("propagation", Duration::from_secs(120), || {
        let configs = server.list::<ConfigMap>(Some(NS))?;
        let updated = configs
            .iter()
            .filter(|c| {
                c.metadata
                    .name
                    .as_ref()
                    .is_some_and(|n| referencing.contains(n))
            })
            .filter(|c| {
                c.data
                    .as_ref()
                    .is_some_and(|d| d.values().any(|v| v.contains(new_url)))
            })
            .count();
        Ok(updated == referencing.len())
    })
    .await?;
    let peak = rss_kib(pid, "VmHWM:").unwrap_or(0);

    println!("| measurement | value | target |");
    println!("|---|---:|---|");
    println!(
        "| cold start: {n} policies, {} endpoints converged | {:.1} s (operator start to last status: {:.1} s) | ≤ 60 s |",
        o.endpoints,
        cold.as_secs_f64(),
        cold_total.as_secs_f64()
    );
    println!(
        "| endpoint edit reaches the {} policies referencing it | {:.2} s | ≤ 5 s |",
        referencing.len(),
        propagate.as_secs_f64()
    );
    println!(
        "| operator RSS after cold start / peak (VmHWM) | {:.0} MiB / {:.0} MiB | ≤ 100 MB |",
        rss_after_cold as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    let c = server.counters();
    println!(
        "| API writes during the run (changes / no-op writes) | {} / {} | |",
        c.total_changes(),
        c.noop_writes("configmaps") + c.noop_writes("deployments")
    );
    Ok(())
}
