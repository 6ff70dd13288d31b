//! Scenario 6: the operator process itself.
//! - Restarted in the middle of its first reconcile, a new operator converges: the policy
//!   becomes Ready with exactly one of each child and one router; a restart in a steady state
//!   changes nothing; edits after the restart are served.
//! - Two operators with leader election: one holds the Lease and works, the other neither
//!   reconciles nor writes; when the leader goes, the other takes over and serves edits.

use crate::support;

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::ResourceExt;
use kube::api::Api;
use serde_json::json;
use support::{CHAT, Fixture, POLICY, READY};
use switchyard_crds::RoutingPolicy;
use switchyard_e2e::fakeapi::{Fault, Verb};
use switchyard_e2e::harness::client::{RouterClient, user};
use switchyard_e2e::harness::objects::{get, merge_patch};
use switchyard_e2e::harness::observe::{children, is_ready, poll_api, wait_policy, wait_ready};
use switchyard_e2e::harness::{
    Cluster, HarnessError, Hermetic, HermeticOptions, metric_sum, metric_sum_where,
};

/// The children every policy gets (no PDB or HPA with one replica and no autoscaling).
const CHILDREN: [&str; 7] = [
    "ConfigMap/p-router-config",
    "ConfigMap/p-router-status",
    "Deployment/p-router",
    "Role/p-router",
    "RoleBinding/p-router",
    "Service/p-router",
    "ServiceAccount/p-router",
];

/// Name of the operators' leader-election Lease (fixed in the operator).
const LEASE: &str = "switchyard-operator";

/// Edits route `special`'s examples and waits until the edit is Ready (served).
async fn edit_and_wait(c: &impl Cluster, examples: &[&str]) -> Result<RoutingPolicy, HarnessError> {
    let mut intent = support::policy_spec()["intent"].clone();
    intent["routes"][2]["examples"] = json!(examples);
    let edited =
        merge_patch::<RoutingPolicy>(c, POLICY, json!({"spec": {"intent": intent}})).await?;
    let generation = edited.metadata.generation;
    wait_policy(c, POLICY, READY, "the edit Ready", |p| {
        is_ready(p) && p.metadata.generation == generation
    })
    .await
}

async fn assert_one_of_each(c: &impl Cluster, p: &RoutingPolicy) -> Result<(), HarnessError> {
    let ch = children(c, POLICY).await?;
    assert_eq!(ch.names(), CHILDREN, "exactly one of each child");
    for (child, owners) in ch.owners() {
        assert_eq!(owners.len(), 1, "{child}: {owners:?}");
        assert_eq!(Some(owners[0].uid.as_str()), p.uid().as_deref(), "{child}");
    }
    let pods = c.router_pods(POLICY).await?;
    assert_eq!(pods.len(), 1, "{pods:?}");
    Ok(())
}

/// Scenario 6a: operator restarts.
async fn operator_restart(c: &impl Cluster) -> Result<(), HarnessError> {
    if let Some(fake) = c.fake() {
        // Stall the operator inside its first reconcile, at the Deployment apply (after the
        // ConfigMaps, RBAC and Service), and restart it there.
        fake.inject(
            Fault::delay(Duration::from_secs(5))
                .on(Verb::Patch, "deployments")
                .times(1),
        );
    }
    let f = Fixture::deploy(c, json!({})).await?;
    if let Some(fake) = c.fake() {
        poll_api(READY, "the operator stalls at the Deployment", || async {
            Ok((fake.counters().faults_triggered >= 1).then_some(()))
        })
        .await?;
        let ch = children(c, POLICY).await?;
        assert!(
            ch.names().contains(&"ConfigMap/p-router-config".to_owned())
                && ch.deployments.is_empty(),
            "mid-way: {:?}",
            ch.names()
        );
    }
    c.restart_operator().await?;
    let p = wait_ready(c, POLICY, READY).await?;
    assert_one_of_each(c, &p).await?;
    let pods = c.router_pods(POLICY).await?;
    if let Some(h) = c.hermetic() {
        assert_eq!(
            h.kubelet().started(),
            1,
            "one router process was ever started"
        );
    }
    let router = RouterClient::new(&c.router_url(POLICY).await?)?;
    let r = router.chat(POLICY, user(CHAT)).await?;
    assert!(r.is_complete() && r.content == "Hello from a!", "{r:?}");

    // A restart in a steady state: the new operator reconciles and changes nothing.
    let rv = get::<RoutingPolicy>(c, POLICY)
        .await?
        .and_then(|p| p.resource_version());
    let before = c.fake().map(|f| f.counters());
    c.restart_operator().await?;
    if let (Some(h), Some(before)) = (c.hermetic(), before) {
        let op = h.operators().remove(0);
        poll_api(READY, "the new operator reconciled the policy", || async {
            let text = h.operator_metrics(&op.identity).await?;
            let n = metric_sum_where(
                &text,
                "switchyard_operator_reconciles_total",
                "controller=\"RoutingPolicy\"",
            );
            Ok((n >= 1.0).then_some(()))
        })
        .await?;
        let after = h.server().counters();
        for resource in [
            "configmaps",
            "deployments",
            "services",
            "serviceaccounts",
            "roles",
            "rolebindings",
            "routingpolicies",
            "modelendpoints",
            "events",
        ] {
            assert_eq!(
                after.changes(resource),
                before.changes(resource),
                "a restart in a steady state changed {resource}"
            );
        }
        assert!(
            after.write_requests("deployments") > before.write_requests("deployments"),
            "the new operator did reconcile (a no-op apply)"
        );
    }
    let p = wait_ready(c, POLICY, READY).await?;
    assert_eq!(p.resource_version(), rv, "the policy did not change");
    assert_one_of_each(c, &p).await?;
    assert_eq!(
        c.router_pods(POLICY).await?,
        pods,
        "the router was not touched"
    );

    // The restarted operator serves edits.
    edit_and_wait(c, &["What is the weather forecast for tomorrow?"]).await?;
    let probe = "Will it rain in Paris tomorrow afternoon?";
    poll_api(READY, "the edit routes the probe", || async {
        Ok((router.route(POLICY, probe).await?["intent"] == "special").then_some(()))
    })
    .await?;
    drop(f);
    Ok(())
}

scenario!(
    operator_restart_hermetic,
    operator_restart_real_cluster,
    operator_restart
);

async fn lease_holder(c: &impl Cluster) -> Result<Option<String>, HarnessError> {
    let api: Api<Lease> = Api::namespaced(c.client(), &c.lease_namespace());
    Ok(api
        .get_opt(LEASE)
        .await?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty()))
}

/// `(leader gauge, reconciles, status patches)` of an operator, hermetically.
async fn activity(h: &Hermetic, identity: &str) -> Result<(f64, f64, f64), HarnessError> {
    let text = h.operator_metrics(identity).await?;
    Ok((
        metric_sum(&text, "switchyard_operator_leader"),
        metric_sum(&text, "switchyard_operator_reconciles_total"),
        metric_sum(&text, "switchyard_operator_status_patches_total"),
    ))
}

/// Scenario 6b: two operators, one leader.
async fn leader_election(c: &impl Cluster) -> Result<(), HarnessError> {
    let ops = c.operator_identities().await?;
    if ops.len() < 2 {
        eprintln!(
            "skipped: {} operator replica(s); install the chart with operator.replicas=2",
            ops.len()
        );
        return Ok(());
    }
    let holder = poll_api(READY, "a leader holds the Lease", || async {
        Ok(lease_holder(c).await?.filter(|h| ops.contains(h)))
    })
    .await?;
    let f = Fixture::deploy(c, json!({})).await?;
    wait_ready(c, POLICY, READY).await?;
    if let Some(h) = c.hermetic() {
        for op in &ops {
            let (leader, reconciles, patches) = activity(h, op).await?;
            if *op == holder {
                assert_eq!(leader, 1.0, "{op} leads");
                assert!(reconciles > 0.0 && patches > 0.0, "{op} works");
            } else {
                assert_eq!(leader, 0.0, "{op} stands by");
                assert_eq!(
                    (reconciles, patches),
                    (0.0, 0.0),
                    "{op} stands by but worked"
                );
            }
        }
    }
    assert_eq!(
        lease_holder(c).await?.as_deref(),
        Some(holder.as_str()),
        "no flapping"
    );

    // The leader goes; another takes over and serves edits.
    c.terminate_operator(&holder).await?;
    let next = poll_api(READY, "another operator takes the Lease", || async {
        Ok(lease_holder(c).await?.filter(|h| *h != holder))
    })
    .await?;
    edit_and_wait(c, &["What is the weather forecast for tomorrow?"]).await?;
    if let Some(h) = c.hermetic() {
        let (leader, reconciles, _) = activity(h, &next).await?;
        assert_eq!(leader, 1.0, "{next} leads");
        assert!(reconciles > 0.0, "{next} reconciles");
    }
    let router = RouterClient::new(&c.router_url(POLICY).await?)?;
    let r = router.chat(POLICY, user(CHAT)).await?;
    assert!(r.is_complete() && r.content == "Hello from a!", "{r:?}");
    drop(f);
    eprintln!("leader {holder} handed over to {next}");
    Ok(())
}

scenario!(
    leader_election_hermetic,
    leader_election_real_cluster,
    leader_election,
    |o: HermeticOptions| HermeticOptions {
        operators: 2,
        leader_elect: true,
        ..o
    }
);
