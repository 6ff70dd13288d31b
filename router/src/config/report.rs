//! In-cluster status report: after every config it starts serving, a router pod writes what
//! it serves into its policy's status ConfigMap (`<policy>-router-status`, created by the
//! operator), under its own pod name: the config hash, the inference device and anything
//! degraded. The operator reads these to decide `Ready` (routers serve the current hash) and
//! `Degraded` (e.g. CUDA requested but inference on CPU). Each pod server-side-applies only
//! its own key, with its own field manager, so pods never overwrite each other.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::api::degraded_reasons;
use crate::state::{AppState, Snapshot};

/// Where to report.
#[derive(Clone, Debug)]
pub struct Reporter {
    /// Status ConfigMap name.
    pub configmap: String,
    /// Its namespace.
    pub namespace: String,
    /// This pod's name (the data key).
    pub pod: String,
}

impl Reporter {
    /// The status ConfigMap of a config ConfigMap: `<x>-config` → `<x>-status`.
    pub fn status_configmap(config_configmap: &str) -> String {
        let base = config_configmap
            .strip_suffix("-config")
            .unwrap_or(config_configmap);
        format!("{base}-status")
    }

    /// The report for `snap`, as stored in the ConfigMap.
    pub fn body(state: &AppState, snap: &Snapshot) -> serde_json::Value {
        let device = snap
            .policies
            .values()
            .find_map(|p| p.classifier.device())
            .unwrap_or("none");
        json!({
            "configHash": snap.hash,
            "device": device,
            "degraded": degraded_reasons(state, snap),
            "updated": k8s_openapi::jiff::Timestamp::now().to_string(),
        })
    }

    /// Writes the report; failures are logged (the router serves regardless).
    pub async fn send(&self, client: kube::Client, state: &AppState, snap: &Snapshot) {
        let api: Api<ConfigMap> = Api::namespaced(client, &self.namespace);
        let value = Self::body(state, snap).to_string();
        let patch = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": self.configmap},
            "data": {self.pod.clone(): value},
        });
        let manager: String = format!("switchyard-router.{}", self.pod)
            .chars()
            .take(128)
            .collect();
        let params = PatchParams::apply(&manager).force();
        match api
            .patch(&self.configmap, &params, &Patch::Apply(&patch))
            .await
        {
            Ok(_) => {
                tracing::debug!(configmap = %self.configmap, hash = %snap.hash, "status reported")
            }
            Err(e) => tracing::warn!(
                configmap = %self.configmap,
                error = %e,
                "could not report status to the operator"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_the_status_configmap() {
        assert_eq!(
            Reporter::status_configmap("p-router-config"),
            "p-router-status"
        );
        assert_eq!(Reporter::status_configmap("custom"), "custom-status");
    }
}
