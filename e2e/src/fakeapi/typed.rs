//! Direct, typed access to the store for tests: seed objects, read what the operator wrote,
//! play the part of kubelet or another controller (status updates) — all without HTTP, with
//! the same semantics (resourceVersion, events, garbage collection) as API requests.

use std::time::Duration;

use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::delete::DeleteOptions;
use super::lock;
use super::patch::PatchBody;
use super::resources::ResourceInfo;
use super::selector::{FieldSelector, LabelSelector};
use super::server::{FakeApiError, FakeApiServer};
use super::store::{ObjectKey, Store};
use super::write::Target;

/// A Kubernetes object type the typed helpers work with.
pub trait Object: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone {}
impl<K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone> Object for K {}

fn info_of<K: Object>(store: &Store) -> Result<ResourceInfo, FakeApiError> {
    let (g, v, p) = (K::group(&()), K::version(&()), K::plural(&()));
    store
        .resources
        .find(&g, &v, &p)
        .cloned()
        .ok_or_else(|| FakeApiError::UnknownResource(format!("{p}.{g}/{v}")))
}

fn decode<K: Object>(v: Value) -> Result<K, FakeApiError> {
    Ok(serde_json::from_value(v)?)
}

impl FakeApiServer {
    /// Creates an object (namespace from its metadata, `default` if unset).
    pub fn create<K: Object>(&self, obj: &K) -> Result<K, FakeApiError> {
        let body = serde_json::to_value(obj)?;
        let mut store = lock(&self.shared.store);
        let info = info_of::<K>(&store)?;
        let ns = obj.meta().namespace.clone();
        decode(store.create(&info, ns.as_deref(), body, false)?)
    }

    /// One object, if it exists.
    pub fn get<K: Object>(
        &self,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<K>, FakeApiError> {
        let store = lock(&self.shared.store);
        let info = info_of::<K>(&store)?;
        store
            .get(&ObjectKey::new(&info, namespace, name))
            .cloned()
            .map(decode)
            .transpose()
    }

    /// All objects of a type in a namespace (`None`: all namespaces), by namespace and name.
    pub fn list<K: Object>(&self, namespace: Option<&str>) -> Result<Vec<K>, FakeApiError> {
        let store = lock(&self.shared.store);
        let info = info_of::<K>(&store)?;
        store
            .list(
                &info,
                namespace,
                &LabelSelector::default(),
                &FieldSelector::default(),
            )
            .into_iter()
            .map(|(_, o)| decode(o))
            .collect()
    }

    /// Replaces an object (PUT semantics: a set `resourceVersion` must be current).
    pub fn replace<K: Object>(&self, obj: &K) -> Result<K, FakeApiError> {
        self.put(obj, Target::Main)
    }

    /// Replaces an object's status (PUT on `/status`).
    pub fn replace_status<K: Object>(&self, obj: &K) -> Result<K, FakeApiError> {
        self.put(obj, Target::Status)
    }

    fn put<K: Object>(&self, obj: &K, target: Target) -> Result<K, FakeApiError> {
        let body = serde_json::to_value(obj)?;
        let mut store = lock(&self.shared.store);
        let info = info_of::<K>(&store)?;
        let name = obj.meta().name.clone().unwrap_or_default();
        let ns = obj.meta().namespace.clone();
        decode(store.update(&info, ns.as_deref(), &name, body, target, false)?)
    }

    /// Merge-patches an object (`Some(status-only)` with `status = true`).
    pub fn merge_patch<K: Object>(
        &self,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
        status: bool,
    ) -> Result<K, FakeApiError> {
        let target = if status { Target::Status } else { Target::Main };
        let mut store = lock(&self.shared.store);
        let info = info_of::<K>(&store)?;
        let w = store.patch(
            &info,
            namespace,
            name,
            &PatchBody::Merge(patch.clone()),
            target,
            false,
        )?;
        decode(w.object)
    }

    /// Server-side-applies an object: creates it, or merges it into the live one.
    pub fn apply<K: Object>(&self, obj: &K) -> Result<K, FakeApiError> {
        let config = serde_json::to_value(obj)?;
        let mut store = lock(&self.shared.store);
        let info = info_of::<K>(&store)?;
        let name = obj.meta().name.clone().unwrap_or_default();
        let ns = obj.meta().namespace.clone();
        let w = store.patch(
            &info,
            ns.as_deref(),
            &name,
            &PatchBody::Apply { config },
            Target::Main,
            false,
        )?;
        decode(w.object)
    }

    /// Deletes an object (background propagation); returns its last state.
    pub fn delete<K: Object>(
        &self,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<K, FakeApiError> {
        let mut store = lock(&self.shared.store);
        let info = info_of::<K>(&store)?;
        decode(store.delete(&info, namespace, name, &DeleteOptions::default())?)
    }

    /// Waits until `condition` holds for the object (`None` while it does not exist),
    /// re-checking on every change in the store. Returns the object as it was then.
    pub async fn wait_for<K: Object>(
        &self,
        namespace: Option<&str>,
        name: &str,
        timeout: Duration,
        condition: impl Fn(Option<&K>) -> bool,
    ) -> Result<Option<K>, FakeApiError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = lock(&self.shared.store).receiver();
        loop {
            let current = self.get::<K>(namespace, name)?;
            if condition(current.as_ref()) {
                return Ok(current);
            }
            // Any message (or lag, or close) means "look again".
            if tokio::time::timeout_at(deadline, rx.recv()).await.is_err() {
                return Err(FakeApiError::Timeout(timeout));
            }
        }
    }

    /// Waits until `condition` holds for the list of a type in a namespace (or all).
    pub async fn wait_for_list<K: Object>(
        &self,
        namespace: Option<&str>,
        timeout: Duration,
        condition: impl Fn(&[K]) -> bool,
    ) -> Result<Vec<K>, FakeApiError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = lock(&self.shared.store).receiver();
        loop {
            let current = self.list::<K>(namespace)?;
            if condition(&current) {
                return Ok(current);
            }
            if tokio::time::timeout_at(deadline, rx.recv()).await.is_err() {
                return Err(FakeApiError::Timeout(timeout));
            }
        }
    }

    /// One object as JSON, by API version, plural and name.
    pub fn get_json(
        &self,
        api_version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let store = lock(&self.shared.store);
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let info = store.resources.find(group, version, plural)?;
        store.get(&ObjectKey::new(info, namespace, name)).cloned()
    }

    /// Creates an object given as JSON (its `apiVersion` and `kind` pick the resource).
    pub fn create_json(&self, obj: Value) -> Result<Value, FakeApiError> {
        let mut store = lock(&self.shared.store);
        let av = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        let info = store
            .resources
            .find_kind(av, kind)
            .cloned()
            .ok_or_else(|| FakeApiError::UnknownResource(format!("{kind}.{av}")))?;
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(store.create(&info, ns.as_deref(), obj, false)?)
    }
}
