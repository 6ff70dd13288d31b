//! Apply: server-side apply of every child with one field manager and `force`, garbage
//! collection of labelled children no longer wanted, and status writes only on change.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchyard_crds::RoutingPolicy;

use crate::MANAGER;
use crate::error::{Error, Result, is_not_found};
use crate::names;

/// Server-side applies one namespaced object and returns what the server holds afterwards.
pub async fn apply<K>(client: &Client, obj: &K) -> Result<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let name = obj.name_any();
    let ns = obj.namespace().ok_or(Error::MissingField {
        kind: "child",
        field: "metadata.namespace",
    })?;
    let api: Api<K> = Api::namespaced(client.clone(), &ns);
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
    .map_err(|e| Error::kube("apply", kind_name::<K>(), &name, e))
}

fn kind_name<K: Resource<DynamicType = ()>>() -> &'static str {
    // `K::kind(&())` is a Cow over a static string for static types; keep it bounded.
    match K::kind(&()).as_ref() {
        "ConfigMap" => "ConfigMap",
        "Deployment" => "Deployment",
        "Service" => "Service",
        "ServiceAccount" => "ServiceAccount",
        "Role" => "Role",
        "RoleBinding" => "RoleBinding",
        "PodDisruptionBudget" => "PodDisruptionBudget",
        "HorizontalPodAutoscaler" => "HorizontalPodAutoscaler",
        "RoutingPolicy" => "RoutingPolicy",
        "ModelEndpoint" => "ModelEndpoint",
        "Secret" => "Secret",
        _ => "object",
    }
}

/// True when `obj` is a child of `policy` by label and controller owner reference.
pub fn is_child_of<K: Resource>(obj: &K, policy: &RoutingPolicy) -> bool {
    let labelled = obj.labels().get(names::POLICY_LABEL) == Some(&policy.name_any())
        && obj
            .labels()
            .get(names::MANAGED_BY_LABEL)
            .map(String::as_str)
            == Some(MANAGER);
    let owned = obj
        .owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == policy.metadata.uid.as_ref());
    obj.meta().namespace == policy.metadata.namespace && labelled && owned
}

/// Deletes every cached child of `policy` of kind `K` except the one named `keep`.
/// Returns the names deleted. An object already gone counts as deleted.
pub async fn collect_garbage<K>(
    client: &Client,
    cache: &Store<K>,
    policy: &RoutingPolicy,
    keep: Option<&str>,
) -> Result<Vec<String>>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned,
{
    let ns = policy.namespace().unwrap_or_default();
    let doomed: Vec<String> = cache
        .state()
        .iter()
        .filter(|o| is_child_of(o.as_ref(), policy) && Some(o.name_any().as_str()) != keep)
        .map(|o| o.name_any())
        .collect();
    let api: Api<K> = Api::namespaced(client.clone(), &ns);
    for name in &doomed {
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(Error::kube("delete", kind_name::<K>(), name, e)),
        }
    }
    Ok(doomed)
}

/// The JSON merge patch that replaces a status with `status`: fields `status` leaves out are
/// set to `null` so that they are removed rather than kept.
pub fn status_merge_patch<S: Serialize>(status: &S, fields: &[&str]) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(status).map_err(|source| Error::Serialize {
        what: "status",
        source,
    })?;
    if let Some(map) = value.as_object_mut() {
        for f in fields {
            map.entry((*f).to_owned())
                .or_insert(serde_json::Value::Null);
        }
    }
    Ok(serde_json::json!({ "status": value }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::fixtures::policy;
    use serde_json::json;

    #[test]
    fn status_patch_clears_fields_left_out() {
        let status = switchyard_crds::RoutingPolicyStatus {
            observed_generation: Some(2),
            ..Default::default()
        };
        let patch = status_merge_patch(&status, &["observedGeneration", "configHash", "endpoints"])
            .unwrap();
        assert_eq!(
            patch,
            json!({"status": {"observedGeneration": 2, "configHash": null, "endpoints": null}})
        );
    }

    #[test]
    fn only_labelled_children_owned_by_this_policy_count() {
        let p = policy("qs", "replicas: 3");
        let mine = crate::build::pdb(&p).unwrap().unwrap();
        assert!(is_child_of(&mine, &p));
        let mut other_owner = mine.clone();
        other_owner.metadata.owner_references.as_mut().unwrap()[0].uid = "someone-else".into();
        assert!(!is_child_of(&other_owner, &p), "same labels, other owner");
        let mut unlabelled = mine.clone();
        unlabelled.metadata.labels = None;
        assert!(
            !is_child_of(&unlabelled, &p),
            "owned but not labelled by us"
        );
        let mut elsewhere = mine;
        elsewhere.metadata.namespace = Some("other".into());
        assert!(!is_child_of(&elsewhere, &p));
    }
}
