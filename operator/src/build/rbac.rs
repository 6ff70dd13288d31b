//! The routers' ServiceAccount, Role and RoleBinding: read their own config ConfigMap and the
//! Secrets their endpoints reference, write their own status ConfigMap, nothing else.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::ResourceExt;
use switchyard_crds::RoutingPolicy;

use super::child_meta;
use crate::error::Result;
use crate::names;

/// The routers' ServiceAccount.
pub fn service_account(policy: &RoutingPolicy) -> Result<ServiceAccount> {
    Ok(ServiceAccount {
        metadata: child_meta(policy, names::router(&policy.name_any()))?,
        ..ServiceAccount::default()
    })
}

fn rule(resource: &str, names: Vec<String>, verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec![resource.to_owned()]),
        resource_names: Some(names),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    }
}

/// The routers' Role. The Secret rule is left out when no Secret is referenced: an empty
/// `resourceNames` would grant every Secret of the namespace.
pub fn role(policy: &RoutingPolicy, secrets: &BTreeSet<String>) -> Result<Role> {
    let name = policy.name_any();
    let mut rules = vec![
        rule(
            "configmaps",
            vec![names::config_map(&name)],
            &["get", "list", "watch"],
        ),
        rule(
            "configmaps",
            vec![names::status_map(&name)],
            &["get", "patch"],
        ),
    ];
    if !secrets.is_empty() {
        rules.push(rule(
            "secrets",
            secrets.iter().cloned().collect(),
            &["get", "list", "watch"],
        ));
    }
    Ok(Role {
        metadata: child_meta(policy, names::router(&name))?,
        rules: Some(rules),
    })
}

/// Binds the Role to the ServiceAccount.
pub fn role_binding(policy: &RoutingPolicy) -> Result<RoleBinding> {
    let name = names::router(&policy.name_any());
    Ok(RoleBinding {
        metadata: child_meta(policy, name.clone())?,
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "Role".to_owned(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name,
            namespace: policy.namespace(),
            ..Subject::default()
        }]),
    })
}
