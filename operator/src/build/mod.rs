//! Build: a policy and its validated config → every child object, complete, so that
//! server-side apply of the result is idempotent. Pure functions only.

mod deployment;
mod rbac;
mod scaling;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use switchyard_crds::RoutingPolicy;
use switchyard_crds::config::{CONFIG_MAP_KEY, RouterConfig};

pub use deployment::{
    CONTAINER, GPU_PRODUCT_LABEL, GPU_TAINT, HTTP_PORT, METRICS_PORT, MODELS_DIR, RUN_AS,
    deployment, resources, router_container,
};
pub use rbac::{role, role_binding, service_account};
pub use scaling::{hpa, min_replicas, pdb, service};

use crate::error::{Error, Result};
use crate::names;

/// Annotation on the config ConfigMap with the hash of the config it holds.
pub const CONFIG_HASH_ANNOTATION: &str = "switchyard.dev/config-hash";

/// Settings of the operator that shape what it builds.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Router image when the policy does not name one.
    pub default_image: String,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            default_image: crate::DEFAULT_ROUTER_IMAGE.to_owned(),
        }
    }
}

/// Every child of one policy, in apply order.
#[derive(Clone, Debug, PartialEq)]
pub struct Children {
    /// `<policy>-router-config`: the resolved config under `router.yaml`.
    pub config_map: ConfigMap,
    /// `<policy>-router-status`: created empty; routers write one key per pod.
    pub status_map: ConfigMap,
    /// The routers' identity.
    pub service_account: ServiceAccount,
    /// What the routers may read and write.
    pub role: Role,
    /// Binds the Role to the ServiceAccount.
    pub role_binding: RoleBinding,
    /// The router pods.
    pub deployment: Deployment,
    /// The in-cluster endpoint applications call.
    pub service: Service,
    /// Present when more than one replica runs.
    pub pdb: Option<PodDisruptionBudget>,
    /// Present when autoscaling is set.
    pub hpa: Option<HorizontalPodAutoscaler>,
}

impl Children {
    /// Renders the children as a multi-document YAML stream (for goldens and debugging).
    pub fn to_yaml(&self) -> Result<String> {
        let mut docs = vec![
            yaml_doc(&self.config_map)?,
            yaml_doc(&self.status_map)?,
            yaml_doc(&self.service_account)?,
            yaml_doc(&self.role)?,
            yaml_doc(&self.role_binding)?,
            yaml_doc(&self.deployment)?,
            yaml_doc(&self.service)?,
        ];
        if let Some(pdb) = &self.pdb {
            docs.push(yaml_doc(pdb)?);
        }
        if let Some(hpa) = &self.hpa {
            docs.push(yaml_doc(hpa)?);
        }
        Ok(docs.join("---\n"))
    }
}

fn yaml_doc<T: Serialize>(obj: &T) -> Result<String> {
    serde_saphyr::to_string(obj).map_err(Error::RenderConfig)
}

/// Metadata of a child: name, namespace, the standard labels and the controller owner
/// reference to the policy.
pub fn child_meta(policy: &RoutingPolicy, name: String) -> Result<ObjectMeta> {
    let owner = policy
        .controller_owner_ref(&())
        .ok_or(Error::MissingField {
            kind: "RoutingPolicy",
            field: "metadata.uid",
        })?;
    Ok(ObjectMeta {
        name: Some(name),
        namespace: policy.namespace(),
        labels: Some(names::labels(&policy.name_any())),
        owner_references: Some(vec![owner]),
        ..ObjectMeta::default()
    })
}

/// The ConfigMap holding the resolved router config.
pub fn config_map(policy: &RoutingPolicy, config: &RouterConfig) -> Result<ConfigMap> {
    let yaml = config.to_yaml().map_err(Error::RenderConfig)?;
    let mut metadata = child_meta(policy, names::config_map(&policy.name_any()))?;
    metadata.annotations = Some(BTreeMap::from([(
        CONFIG_HASH_ANNOTATION.to_owned(),
        config.hash(),
    )]));
    Ok(ConfigMap {
        metadata,
        data: Some(BTreeMap::from([(CONFIG_MAP_KEY.to_owned(), yaml)])),
        ..ConfigMap::default()
    })
}

/// The routers' status ConfigMap. It carries no `data`, so the operator's apply never owns
/// (or removes) the keys the routers write.
pub fn status_map(policy: &RoutingPolicy) -> Result<ConfigMap> {
    Ok(ConfigMap {
        metadata: child_meta(policy, names::status_map(&policy.name_any()))?,
        ..ConfigMap::default()
    })
}

/// Builds every child of a policy from its validated config.
pub fn build(
    policy: &RoutingPolicy,
    config: &RouterConfig,
    secrets: &BTreeSet<String>,
    opts: &BuildOptions,
) -> Result<Children> {
    Ok(Children {
        config_map: config_map(policy, config)?,
        status_map: status_map(policy)?,
        service_account: service_account(policy)?,
        role: role(policy, secrets)?,
        role_binding: role_binding(policy)?,
        deployment: deployment(policy, opts)?,
        service: service(policy)?,
        pdb: pdb(policy)?,
        hpa: hpa(policy)?,
    })
}
