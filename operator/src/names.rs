//! Names and labels of the objects the operator creates for a policy. These names are part
//! of the contract with the router (it watches `<policy>-router-config` and writes
//! `<policy>-router-status`), so they live in one place.

use std::collections::BTreeMap;

/// Label `app.kubernetes.io/name` value of everything the operator creates.
pub const APP_NAME: &str = "switchyard-router";
/// Label key naming the policy a child belongs to.
pub const POLICY_LABEL: &str = "switchyard.dev/policy";
/// Label key of the managing tool.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Label selector matching every child the operator manages.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=switchyard-operator";
/// Label selector matching router pods of every policy.
pub const ROUTER_POD_SELECTOR: &str = "app.kubernetes.io/name=switchyard-router";
/// Longest policy name whose children all have valid names (`<policy>-router` is a Service
/// name: a DNS-1035 label of at most 63 characters).
pub const MAX_POLICY_NAME: usize = 63 - "-router".len();

/// Name of the Deployment, Service, ServiceAccount, Role, RoleBinding, PDB and HPA.
pub fn router(policy: &str) -> String {
    format!("{policy}-router")
}

/// Name of the ConfigMap holding the resolved router config.
pub fn config_map(policy: &str) -> String {
    format!("{policy}-router-config")
}

/// Name of the ConfigMap the routers report their state into.
pub fn status_map(policy: &str) -> String {
    format!("{policy}-router-status")
}

/// In-cluster OpenAI base URL of a policy's router Service.
pub fn service_url(policy: &str, namespace: &str) -> String {
    format!("http://{}.{namespace}.svc.cluster.local/v1", router(policy))
}

/// Labels that select a policy's router pods (immutable once a Deployment exists).
pub fn selector_labels(policy: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), APP_NAME.to_owned()),
        ("app.kubernetes.io/instance".to_owned(), policy.to_owned()),
    ])
}

/// Labels of every child of a policy (and of its router pods).
pub fn labels(policy: &str) -> BTreeMap<String, String> {
    let mut labels = selector_labels(policy);
    labels.insert(MANAGED_BY_LABEL.to_owned(), crate::MANAGER.to_owned());
    labels.insert(
        "app.kubernetes.io/component".to_owned(),
        "router".to_owned(),
    );
    labels.insert(POLICY_LABEL.to_owned(), policy.to_owned());
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_router_contract() {
        assert_eq!(router("qs"), "qs-router");
        assert_eq!(config_map("qs"), "qs-router-config");
        assert_eq!(status_map("qs"), "qs-router-status");
        assert_eq!(
            service_url("qs", "ai"),
            "http://qs-router.ai.svc.cluster.local/v1"
        );
        assert_eq!(router(&"a".repeat(MAX_POLICY_NAME)).len(), 63);
    }

    #[test]
    fn labels_include_selector_and_policy() {
        let l = labels("qs");
        for (k, v) in selector_labels("qs") {
            assert_eq!(l.get(&k), Some(&v));
        }
        assert_eq!(l.get(POLICY_LABEL).map(String::as_str), Some("qs"));
        assert_eq!(
            l.get(MANAGED_BY_LABEL).map(String::as_str),
            Some("switchyard-operator")
        );
    }
}
