//! In-cluster config: the router reads its resolved config from a ConfigMap (key
//! `router.yaml`) and the API keys from the Secrets its endpoints reference, through the
//! Kubernetes API. Both are watched (one watch per object, with a `metadata.name` field
//! selector: no list of all Secrets) and feed the same atomic swap as file reloads, so an
//! edited policy or a rotated key serves within about a second, without a restart. Secret
//! values are never logged.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use switchyard_crds::RouterConfig;
use switchyard_crds::config::CONFIG_MAP_KEY;
use tokio::task::JoinHandle;

use crate::secrets::SecretStore;
use crate::state::{AppState, ReloadError};

/// Where the router's config lives in the cluster.
#[derive(Clone, Debug)]
pub struct KubeSource {
    /// ConfigMap name.
    pub configmap: String,
    /// Namespace of the ConfigMap.
    pub namespace: String,
    /// Where to report what this pod serves (needs the pod name); `None` disables reports.
    pub reporter: Option<super::report::Reporter>,
}

/// `(namespace, secret name)`.
type SecretId = (String, String);

/// Shared secret values and the watches that keep them current.
struct SecretWatches {
    client: kube::Client,
    state: AppState,
    values: Arc<Mutex<SecretStore>>,
    tasks: HashMap<SecretId, JoinHandle<()>>,
}

impl SecretWatches {
    /// Watches exactly `wanted`, stopping watches that are no longer needed.
    fn sync(&mut self, wanted: BTreeSet<SecretId>) {
        let stale: Vec<SecretId> = self
            .tasks
            .keys()
            .filter(|k| !wanted.contains(*k))
            .cloned()
            .collect();
        for id in stale {
            if let Some(t) = self.tasks.remove(&id) {
                t.abort();
            }
            let mut store = lock(&self.values);
            store.remove_secret(&id.0, &id.1);
            self.state.set_secrets(store.clone());
        }
        for id in wanted {
            if self.tasks.contains_key(&id) {
                continue;
            }
            let task = tokio::spawn(watch_secret(
                self.client.clone(),
                id.clone(),
                Arc::clone(&self.values),
                self.state.clone(),
            ));
            self.tasks.insert(id, task);
        }
    }
}

impl Drop for SecretWatches {
    fn drop(&mut self) {
        for t in self.tasks.values() {
            t.abort();
        }
    }
}

fn lock(m: &Mutex<SecretStore>) -> std::sync::MutexGuard<'_, SecretStore> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Secrets a config references: endpoint API keys and policies' client keys.
pub fn referenced_secrets(config: &RouterConfig) -> BTreeSet<SecretId> {
    let mut out = BTreeSet::new();
    for e in &config.endpoints {
        if let Some(r) = &e.api_key {
            out.insert((e.namespace.clone(), r.name.clone()));
        }
    }
    for p in &config.policies {
        if let Some(r) = &p.auth {
            out.insert((p.namespace.clone(), r.name.clone()));
        }
    }
    out
}

/// Applies one Secret's current values to the store.
fn apply_secret(store: &mut SecretStore, namespace: &str, secret: &Secret) {
    let name = secret.metadata.name.clone().unwrap_or_default();
    store.remove_secret(namespace, &name);
    for (k, v) in secret.data.iter().flatten() {
        if let Ok(v) = String::from_utf8(v.0.clone()) {
            store.insert(namespace, &name, k, v);
        }
    }
    for (k, v) in secret.string_data.iter().flatten() {
        store.insert(namespace, &name, k, v.clone());
    }
}

async fn watch_secret(
    client: kube::Client,
    (namespace, name): SecretId,
    values: Arc<Mutex<SecretStore>>,
    state: AppState,
) {
    let api: Api<Secret> = Api::namespaced(client, &namespace);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher::watcher(api, cfg).default_backoff().boxed();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Apply(s) | Event::InitApply(s)) => {
                let mut store = lock(&values);
                apply_secret(&mut store, &namespace, &s);
                state.set_secrets(store.clone());
                tracing::info!(namespace = %namespace, secret = %name, "API key Secret updated");
            }
            Ok(Event::Delete(_)) => {
                let mut store = lock(&values);
                store.remove_secret(&namespace, &name);
                state.set_secrets(store.clone());
                tracing::warn!(namespace = %namespace, secret = %name, "API key Secret deleted");
            }
            Ok(Event::Init | Event::InitDone) => {}
            Err(e) => tracing::warn!(secret = %name, error = %e, "Secret watch error; retrying"),
        }
    }
}

/// Parses the ConfigMap's `router.yaml`.
pub fn config_from_configmap(cm: &ConfigMap) -> Result<RouterConfig, ReloadError> {
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(CONFIG_MAP_KEY))
        .ok_or_else(|| ReloadError::Source(format!("ConfigMap has no key {CONFIG_MAP_KEY:?}")))?;
    RouterConfig::from_yaml(text)
        .map_err(|e| ReloadError::Source(format!("{CONFIG_MAP_KEY} is not a RouterConfig: {e}")))
}

/// Watches the ConfigMap (and the Secrets each config references) until the stream ends.
pub async fn run(state: AppState, client: kube::Client, source: KubeSource) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &source.namespace);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={}", source.configmap));
    let mut secrets = SecretWatches {
        client,
        state: state.clone(),
        values: Arc::new(Mutex::new(SecretStore::empty(false))),
        tasks: HashMap::new(),
    };
    let mut stream = watcher::watcher(api, cfg).default_backoff().boxed();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Apply(cm) | Event::InitApply(cm)) => {
                let config = match config_from_configmap(&cm) {
                    Ok(c) => c,
                    Err(e) => {
                        state.reject(&e);
                        continue;
                    }
                };
                // Watch the new config's Secrets first so keys are there when it serves.
                secrets.sync(referenced_secrets(&config));
                if let Ok(snap) = state.load(config, Vec::new()).await {
                    tracing::info!(configmap = %source.configmap, hash = %snap.hash, "ConfigMap applied");
                    if let Some(r) = &source.reporter {
                        r.send(secrets.client.clone(), &state, &snap).await;
                    }
                }
            }
            Ok(Event::Delete(_)) => tracing::warn!(
                configmap = %source.configmap,
                "ConfigMap deleted; the last config keeps serving"
            ),
            Ok(Event::Init | Event::InitDone) => {}
            Err(e) => tracing::warn!(error = %e, "ConfigMap watch error; retrying"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    #[test]
    fn applies_secret_data_and_string_data() {
        let mut store = SecretStore::empty(false);
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("k".into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                "A".to_owned(),
                ByteString(b"one".to_vec()),
            )])),
            string_data: Some(BTreeMap::from([("B".to_owned(), "two".to_owned())])),
            ..Default::default()
        };
        apply_secret(&mut store, "ai", &secret);
        let r = |key: &str| switchyard_crds::SecretKeyRef {
            name: "k".into(),
            key: key.into(),
        };
        assert_eq!(store.get("ai", &r("A")).unwrap(), "one");
        assert_eq!(store.get("ai", &r("B")).unwrap(), "two");
    }

    #[test]
    fn reads_the_config_key() {
        let yaml = RouterConfig::empty().to_yaml().unwrap();
        let cm = ConfigMap {
            data: Some(BTreeMap::from([(CONFIG_MAP_KEY.to_owned(), yaml)])),
            ..Default::default()
        };
        assert_eq!(config_from_configmap(&cm).unwrap(), RouterConfig::empty());
        let e = config_from_configmap(&ConfigMap::default()).unwrap_err();
        assert!(e.to_string().contains(CONFIG_MAP_KEY));
    }
}
