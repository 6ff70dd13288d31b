//! The GPU variant of scenario 1: a policy that asks for a GPU gets a router Deployment that
//! requests one (limit, toleration) and serves; the router reports the device it runs
//! inference on, and the policy says so. With a GPU (a real GPU cluster,
//! `SWITCHYARD_E2E_GPU=1`) inference runs on CUDA and nothing is degraded; without one (CI)
//! the router falls back to the CPU, keeps serving, and `Degraded` is `True` with reason
//! `CudaFallback`.

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{Value, json};
use support::{CHAT, Fixture, POLICY, READY};
use switchyard_e2e::harness::client::{RouterClient, user};
use switchyard_e2e::harness::objects::get;
use switchyard_e2e::harness::observe::{policy_condition, wait_policy, wait_ready};
use switchyard_e2e::harness::{Cluster, HarnessError};

/// Whether the cluster has a schedulable NVIDIA GPU (real clusters: `SWITCHYARD_E2E_GPU=1`).
fn gpu_expected(c: &impl Cluster) -> bool {
    c.hermetic().is_none() && std::env::var("SWITCHYARD_E2E_GPU").is_ok_and(|v| v == "1")
}

async fn gpu_policy(c: &impl Cluster) -> Result<(), HarnessError> {
    if c.hermetic().is_none() && !gpu_expected(c) {
        eprintln!("skipped: set SWITCHYARD_E2E_GPU=1 on a cluster with NVIDIA GPU nodes");
        return Ok(());
    }
    let f = Fixture::deploy(c, json!({"router": {"gpu": {"count": 1}}})).await?;
    let p = wait_ready(c, POLICY, READY).await?;
    let hash = p.status.clone().and_then(|s| s.config_hash).unwrap();

    // The Deployment asks for the GPU.
    let d = get::<Deployment>(c, "p-router").await?.unwrap();
    let pod = d.spec.unwrap().template.spec.unwrap();
    let container = &pod.containers[0];
    let limits = container.resources.clone().unwrap().limits.unwrap();
    assert_eq!(
        limits.get("nvidia.com/gpu").map(|q| q.0.as_str()),
        Some("1")
    );
    assert!(
        pod.tolerations
            .unwrap_or_default()
            .iter()
            .any(|t| t.key.as_deref() == Some("nvidia.com/gpu")),
        "GPU taint tolerated"
    );

    // What the router reports, and what the policy makes of it.
    let status_map = get::<ConfigMap>(c, "p-router-status").await?.unwrap();
    let reports: Vec<Value> = status_map
        .data
        .unwrap_or_default()
        .values()
        .filter_map(|v| serde_json::from_str(v).ok())
        .filter(|r: &Value| r["configHash"] == hash.as_str())
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let device = reports[0]["device"].as_str().unwrap_or_default().to_owned();
    if gpu_expected(c) {
        assert_eq!(device, "cuda", "{reports:?}");
    }
    let p = wait_policy(c, POLICY, READY, "Degraded reflects the device", |p| {
        policy_condition(p, "Degraded").is_some_and(|d| {
            (device == "cuda" && d.status == "False")
                || (device == "cpu" && d.status == "True" && d.reason == "CudaFallback")
        })
    })
    .await?;
    if device == "cpu" {
        let d = policy_condition(&p, "Degraded").unwrap();
        assert!(
            d.message
                .contains("runs inference on CPU although a GPU was requested"),
            "{d:?}"
        );
    }
    // Either way it serves.
    let router = RouterClient::new(&c.router_url(POLICY).await?)?;
    let r = router.chat(POLICY, user(CHAT)).await?;
    assert!(r.is_complete() && r.content == "Hello from a!", "{r:?}");
    eprintln!("router inference device: {device}");
    drop(f);
    Ok(())
}

scenario!(gpu_policy_hermetic, gpu_policy_real_cluster, gpu_policy);
