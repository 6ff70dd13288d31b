//! Building and writing the objects scenarios apply, the way a user would: server-side apply
//! with one field manager (`kubectl apply --server-side`), merge patches for edits, deletes.
//! Builders take the spec as JSON so that scenarios read like the YAML a user writes.

use std::fmt::Debug;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::{ByteString, NamespaceResourceScope};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use switchyard_crds::{ModelEndpoint, RoutingPolicy};

use super::{Cluster, HarnessError};

/// Field manager of everything the scenarios apply.
pub const FIELD_MANAGER: &str = "switchyard-e2e";

/// A namespaced object type the helpers work with.
pub trait Namespaced:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Serialize
    + DeserializeOwned
    + Clone
    + Debug
{
}
impl<K> Namespaced for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug
{
}

/// The typed API of `K` in the cluster's namespace.
pub fn api<K: Namespaced>(cluster: &impl Cluster) -> Api<K> {
    Api::namespaced(cluster.client(), cluster.namespace())
}

/// A `ModelEndpoint` named `name` for `model` at `base_url`; `extra` is merged into the spec
/// (e.g. `json!({"timeouts": {"firstByte": "1s"}})`).
pub fn endpoint(name: &str, model: &str, base_url: &str, extra: Value) -> ModelEndpoint {
    let mut spec = json!({"model": model, "baseURL": base_url});
    merge(&mut spec, extra);
    from_json(json!({
        "apiVersion": "switchyard.dev/v1alpha1", "kind": "ModelEndpoint",
        "metadata": {"name": name}, "spec": spec,
    }))
}

/// A `RoutingPolicy` named `name` with this spec.
pub fn policy(name: &str, spec: Value) -> RoutingPolicy {
    from_json(json!({
        "apiVersion": "switchyard.dev/v1alpha1", "kind": "RoutingPolicy",
        "metadata": {"name": name}, "spec": spec,
    }))
}

/// An Opaque Secret with these string values (in `data`, which every API server stores as
/// given; `stringData` would need the server's conversion).
pub fn secret(name: &str, values: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(
            values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

fn from_json<K: DeserializeOwned>(v: Value) -> K {
    // The builders above produce objects of the right shape by construction; a failure here
    // is a bug in the builder call (a malformed `extra`), reported with the offending value.
    match serde_json::from_value(v.clone()) {
        Ok(k) => k,
        Err(e) => panic!("test object does not decode ({e}): {v}"),
    }
}

/// Deep-merges `patch` into `base` (objects merged key by key, anything else replaced).
pub fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

/// Server-side applies `obj` in the cluster's namespace (create or update).
pub async fn apply<K: Namespaced>(cluster: &impl Cluster, obj: &K) -> Result<K, HarnessError> {
    let name = obj.name_any();
    let mut value = serde_json::to_value(obj)?;
    // Apply bodies carry no server-owned metadata.
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("namespace");
        meta.remove("resourceVersion");
        meta.remove("uid");
        meta.remove("creationTimestamp");
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    Ok(api::<K>(cluster)
        .patch(&name, &params, &Patch::Apply(value))
        .await?)
}

/// JSON merge patch of `name` (an edit).
pub async fn merge_patch<K: Namespaced>(
    cluster: &impl Cluster,
    name: &str,
    patch: Value,
) -> Result<K, HarnessError> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    Ok(api::<K>(cluster)
        .patch(name, &params, &Patch::Merge(patch))
        .await?)
}

/// Deletes `name` (background propagation, as kubectl does); a missing object is fine.
pub async fn delete<K: Namespaced>(cluster: &impl Cluster, name: &str) -> Result<(), HarnessError> {
    match api::<K>(cluster)
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The object, if it exists.
pub async fn get<K: Namespaced>(
    cluster: &impl Cluster,
    name: &str,
) -> Result<Option<K>, HarnessError> {
    Ok(api::<K>(cluster).get_opt(name).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_produce_typed_objects() {
        let e = endpoint(
            "a",
            "org/a",
            "http://x/v1",
            json!({"timeouts": {"firstByte": "1s"}}),
        );
        assert_eq!(e.spec.model, "org/a");
        assert_eq!(
            e.spec.timeouts.first_byte.as_ref().map(|d| d.0.clone()),
            Some("1s".to_owned())
        );
        let s = secret("k", &[("A", "v")]);
        assert_eq!(s.data.unwrap_or_default()["A"].0, b"v".to_vec());
        let mut v = json!({"a": {"b": 1, "c": 2}});
        merge(&mut v, json!({"a": {"c": 3}, "d": 4}));
        assert_eq!(v, json!({"a": {"b": 1, "c": 3}, "d": 4}));
    }
}
