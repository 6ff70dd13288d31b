//! The router Service, PodDisruptionBudget and HorizontalPodAutoscaler.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec,
    MetricIdentifier, MetricSpec, MetricTarget, PodsMetricSource, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use switchyard_crds::RoutingPolicy;

use super::{METRICS_PORT, child_meta};
use crate::error::Result;
use crate::names;

/// Default HPA CPU target in percent.
pub const DEFAULT_CPU_TARGET: i32 = 70;
/// Name of the per-pod in-flight metric the HPA may scale on.
pub const INFLIGHT_METRIC: &str = "switchyard_inflight_requests";

/// The ClusterIP Service: port 80 → `http`, 9090 → `metrics`.
pub fn service(policy: &RoutingPolicy) -> Result<Service> {
    let name = policy.name_any();
    let port = |name: &str, port: i32| ServicePort {
        name: Some(name.to_owned()),
        port,
        target_port: Some(IntOrString::String(name.to_owned())),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    };
    Ok(Service {
        metadata: child_meta(policy, names::router(&name))?,
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(names::selector_labels(&name)),
            ports: Some(vec![port("http", 80), port("metrics", METRICS_PORT)]),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

/// The fewest replicas the policy runs: `replicas`, or the autoscaler's minimum.
pub fn min_replicas(policy: &RoutingPolicy) -> i32 {
    let router = &policy.spec.router;
    match &router.autoscaling {
        Some(a) => a.min_replicas.unwrap_or(1),
        None => router.replicas,
    }
}

/// A PDB allowing one pod down at a time, when at least two run.
pub fn pdb(policy: &RoutingPolicy) -> Result<Option<PodDisruptionBudget>> {
    if min_replicas(policy) <= 1 {
        return Ok(None);
    }
    let name = policy.name_any();
    Ok(Some(PodDisruptionBudget {
        metadata: child_meta(policy, names::router(&name))?,
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(names::selector_labels(&name)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }))
}

/// An autoscaling/v2 HPA on CPU (and in-flight requests when asked), when autoscaling is set.
pub fn hpa(policy: &RoutingPolicy) -> Result<Option<HorizontalPodAutoscaler>> {
    let Some(a) = &policy.spec.router.autoscaling else {
        return Ok(None);
    };
    let name = policy.name_any();
    let mut metrics = vec![MetricSpec {
        type_: "Resource".to_owned(),
        resource: Some(ResourceMetricSource {
            name: "cpu".to_owned(),
            target: MetricTarget {
                type_: "Utilization".to_owned(),
                average_utilization: Some(a.target_cpu_utilization.unwrap_or(DEFAULT_CPU_TARGET)),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    }];
    if let Some(inflight) = a.target_inflight_requests {
        metrics.push(MetricSpec {
            type_: "Pods".to_owned(),
            pods: Some(PodsMetricSource {
                metric: MetricIdentifier {
                    name: INFLIGHT_METRIC.to_owned(),
                    ..MetricIdentifier::default()
                },
                target: MetricTarget {
                    type_: "AverageValue".to_owned(),
                    average_value: Some(Quantity(inflight.to_string())),
                    ..MetricTarget::default()
                },
            }),
            ..MetricSpec::default()
        });
    }
    Ok(Some(HorizontalPodAutoscaler {
        metadata: child_meta(policy, names::router(&name))?,
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: "Deployment".to_owned(),
                name: names::router(&name),
            },
            min_replicas: Some(a.min_replicas.unwrap_or(1)),
            max_replicas: a.max_replicas,
            metrics: Some(metrics),
            ..HorizontalPodAutoscalerSpec::default()
        }),
        status: None,
    }))
}
