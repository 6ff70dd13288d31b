//! The router Deployment: image, replicas, resources, GPU scheduling, placement, probes,
//! restricted pod security and model volumes. The pod template depends only on how pods run,
//! never on the routing config (routers hot-reload that through the API).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HTTPGetAction, ImageVolumeSource, ObjectFieldSelector, PersistentVolumeClaimVolumeSource,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    SecurityContext, Toleration, TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use switchyard_crds::RoutingPolicy;
use switchyard_crds::resolve::MODEL_VOLUME_ROOT;

use super::{BuildOptions, child_meta};
use crate::error::Result;
use crate::names;
use crate::validate::TMP_VOLUME;

/// Name of the router container.
pub const CONTAINER: &str = "router";
/// Port of the OpenAI-compatible API (and health endpoints).
pub const HTTP_PORT: i32 = 8080;
/// Port of the Prometheus metrics.
pub const METRICS_PORT: i32 = 9090;
/// Directory of the built-in models in the router image.
pub const MODELS_DIR: &str = "/models";
/// Non-root UID/GID the router runs as (the distroless `nonroot` user).
pub const RUN_AS: i64 = 65532;
/// Node label carrying the GPU product (NVIDIA GPU feature discovery).
pub const GPU_PRODUCT_LABEL: &str = "nvidia.com/gpu.product";
/// Taint key of GPU nodes tolerated by GPU pods.
pub const GPU_TAINT: &str = "nvidia.com/gpu";

/// The router Deployment of a policy.
pub fn deployment(policy: &RoutingPolicy, opts: &BuildOptions) -> Result<Deployment> {
    let name = policy.name_any();
    let router = &policy.spec.router;
    let gpu = router.gpu.as_ref();

    let mut node_selector = router.node_selector.clone();
    if let Some(product) = gpu.and_then(|g| g.product.as_ref()) {
        node_selector.insert(GPU_PRODUCT_LABEL.to_owned(), product.clone());
    }
    let mut tolerations = router.tolerations.clone();
    if gpu.is_some()
        && !tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some(GPU_TAINT))
    {
        tolerations.push(Toleration {
            key: Some(GPU_TAINT.to_owned()),
            operator: Some("Exists".to_owned()),
            effect: Some("NoSchedule".to_owned()),
            ..Toleration::default()
        });
    }

    let mut volumes = vec![Volume {
        name: TMP_VOLUME.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }];
    for v in &router.model_volumes {
        volumes.push(Volume {
            name: v.name.clone(),
            persistent_volume_claim: v.persistent_volume_claim.as_ref().map(|claim| {
                PersistentVolumeClaimVolumeSource {
                    claim_name: claim.clone(),
                    read_only: Some(true),
                }
            }),
            image: v.image.as_ref().map(|reference| ImageVolumeSource {
                reference: Some(reference.clone()),
                pull_policy: Some("IfNotPresent".to_owned()),
            }),
            ..Volume::default()
        });
    }

    let pod = PodSpec {
        service_account_name: Some(names::router(&name)),
        automount_service_account_token: Some(true),
        containers: vec![router_container(policy, opts)],
        volumes: Some(volumes),
        runtime_class_name: gpu.and_then(|g| g.runtime_class_name.clone()),
        node_selector: (!node_selector.is_empty()).then_some(node_selector),
        tolerations: (!tolerations.is_empty()).then_some(tolerations),
        affinity: router.affinity.clone(),
        topology_spread_constraints: Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".to_owned(),
            when_unsatisfiable: "ScheduleAnyway".to_owned(),
            label_selector: Some(LabelSelector {
                match_labels: Some(names::selector_labels(&name)),
                ..LabelSelector::default()
            }),
            ..TopologySpreadConstraint::default()
        }]),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            fs_group: Some(RUN_AS),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        termination_grace_period_seconds: Some(30),
        ..PodSpec::default()
    };

    Ok(Deployment {
        metadata: child_meta(policy, names::router(&name))?,
        spec: Some(DeploymentSpec {
            // Under an HPA the replica count belongs to the HPA: leave it out of the apply.
            replicas: router.autoscaling.is_none().then_some(router.replicas),
            revision_history_limit: Some(5),
            selector: LabelSelector {
                match_labels: Some(names::selector_labels(&name)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(names::labels(&name)),
                    annotations: Some(BTreeMap::from([(
                        "kubectl.kubernetes.io/default-container".to_owned(),
                        CONTAINER.to_owned(),
                    )])),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    })
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_owned(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn http_probe(path: &str, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

/// Resources of the router container: the spec's (or modest defaults), plus the GPU limit.
pub fn resources(policy: &RoutingPolicy) -> ResourceRequirements {
    let router = &policy.spec.router;
    let mut res = router
        .resources
        .clone()
        .unwrap_or_else(|| ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity("500m".to_owned())),
                ("memory".to_owned(), Quantity("512Mi".to_owned())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_owned(),
                Quantity("2Gi".to_owned()),
            )])),
            ..ResourceRequirements::default()
        });
    if let Some(gpu) = &router.gpu {
        // Extended resources are set as limits; the request defaults to the limit.
        res.limits
            .get_or_insert_with(BTreeMap::new)
            .insert(gpu.resource_name.clone(), Quantity(gpu.count.to_string()));
        if let Some(requests) = res.requests.as_mut() {
            requests.remove(&gpu.resource_name);
        }
    }
    res
}

/// The router container.
pub fn router_container(policy: &RoutingPolicy, opts: &BuildOptions) -> Container {
    let name = policy.name_any();
    let router = &policy.spec.router;
    let mut mounts = vec![VolumeMount {
        name: TMP_VOLUME.to_owned(),
        mount_path: "/tmp".to_owned(),
        ..VolumeMount::default()
    }];
    mounts.extend(router.model_volumes.iter().map(|v| VolumeMount {
        name: v.name.clone(),
        mount_path: format!("{MODEL_VOLUME_ROOT}/{}", v.name),
        read_only: Some(true),
        ..VolumeMount::default()
    }));
    let args = [
        "serve",
        "--kube-configmap",
        &names::config_map(&name),
        "--listen",
        &format!("0.0.0.0:{HTTP_PORT}"),
        "--metrics-listen",
        &format!("0.0.0.0:{METRICS_PORT}"),
        "--models",
        MODELS_DIR,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    Container {
        name: CONTAINER.to_owned(),
        image: Some(
            router
                .image
                .clone()
                .unwrap_or_else(|| opts.default_image.clone()),
        ),
        args: Some(args),
        env: Some(vec![
            field_env("POD_NAMESPACE", "metadata.namespace"),
            field_env("POD_NAME", "metadata.name"),
        ]),
        ports: Some(vec![
            ContainerPort {
                name: Some("http".to_owned()),
                container_port: HTTP_PORT,
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some("metrics".to_owned()),
                container_port: METRICS_PORT,
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            },
        ]),
        readiness_probe: Some(http_probe("/readyz", 5)),
        liveness_probe: Some(Probe {
            initial_delay_seconds: Some(10),
            ..http_probe("/healthz", 10)
        }),
        resources: Some(resources(policy)),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}
