//! The resource table: which kinds the fake serves, under which plural names and API
//! groups, whether they are namespaced and whether they have a `status` subresource.
//! Built-in Kubernetes kinds the operator and router touch are listed here; custom
//! resources come from CustomResourceDefinitions (Switchyard's at start, and any CRD a
//! client creates later).

use serde_json::Value;

/// One served resource (one group/version/plural).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group; empty for the core group.
    pub group: String,
    /// API version within the group (`v1`, `v1alpha1`).
    pub version: String,
    /// Plural name used in URLs (`configmaps`).
    pub plural: String,
    /// Singular name (`configmap`), for discovery.
    pub singular: String,
    /// Kind (`ConfigMap`).
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Whether `.../status` is a separate subresource (main-resource writes then ignore
    /// `.status`, and status writes touch only `.status`).
    pub status_subresource: bool,
    /// Short names for discovery (`cm`).
    pub short_names: Vec<String>,
}

impl ResourceInfo {
    /// A resource description.
    pub fn new(
        group: &str,
        version: &str,
        plural: &str,
        kind: &str,
        namespaced: bool,
        status_subresource: bool,
        short_names: &[&str],
    ) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            plural: plural.to_owned(),
            singular: kind.to_ascii_lowercase(),
            kind: kind.to_owned(),
            namespaced,
            status_subresource,
            short_names: short_names.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// `apiVersion` of the objects (`v1`, `apps/v1`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` as the real server names a resource in messages (`deployments.apps`).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Kind of the list (`ConfigMapList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The resources a CustomResourceDefinition (as JSON) declares: its first served
    /// version (the fake serves one version per resource and does no conversion).
    pub fn from_crd(crd: &Value) -> Option<Self> {
        let spec = crd.get("spec")?;
        let group = spec.get("group")?.as_str()?;
        let names = spec.get("names")?;
        let plural = names.get("plural")?.as_str()?;
        let kind = names.get("kind")?.as_str()?;
        let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
        let versions = spec.get("versions")?.as_array()?;
        let version = versions
            .iter()
            .find(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))?;
        let status = version
            .get("subresources")
            .and_then(|s| s.get("status"))
            .is_some();
        let short: Vec<&str> = names
            .get("shortNames")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut info = Self::new(
            group,
            version.get("name")?.as_str()?,
            plural,
            kind,
            namespaced,
            status,
            &short,
        );
        if let Some(s) = names.get("singular").and_then(Value::as_str) {
            info.singular = s.to_owned();
        }
        Some(info)
    }
}

/// All served resources.
#[derive(Clone, Debug, Default)]
pub struct ResourceTable {
    entries: Vec<ResourceInfo>,
}

impl ResourceTable {
    /// The built-in kinds plus Switchyard's CRDs.
    pub fn builtin() -> Self {
        let r = ResourceInfo::new;
        let rbac = "rbac.authorization.k8s.io";
        let mut entries = vec![
            r("", "v1", "configmaps", "ConfigMap", true, false, &["cm"]),
            r("", "v1", "secrets", "Secret", true, false, &[]),
            r("", "v1", "services", "Service", true, true, &["svc"]),
            r(
                "",
                "v1",
                "serviceaccounts",
                "ServiceAccount",
                true,
                false,
                &["sa"],
            ),
            r("", "v1", "pods", "Pod", true, true, &["po"]),
            r("", "v1", "events", "Event", true, false, &["ev"]),
            r("", "v1", "namespaces", "Namespace", false, true, &["ns"]),
            r(
                "apps",
                "v1",
                "deployments",
                "Deployment",
                true,
                true,
                &["deploy"],
            ),
            r(
                "policy",
                "v1",
                "poddisruptionbudgets",
                "PodDisruptionBudget",
                true,
                true,
                &["pdb"],
            ),
            r(
                "autoscaling",
                "v2",
                "horizontalpodautoscalers",
                "HorizontalPodAutoscaler",
                true,
                true,
                &["hpa"],
            ),
            r(rbac, "v1", "roles", "Role", true, false, &[]),
            r(rbac, "v1", "rolebindings", "RoleBinding", true, false, &[]),
            r(rbac, "v1", "clusterroles", "ClusterRole", false, false, &[]),
            r(
                rbac,
                "v1",
                "clusterrolebindings",
                "ClusterRoleBinding",
                false,
                false,
                &[],
            ),
            r(
                "coordination.k8s.io",
                "v1",
                "leases",
                "Lease",
                true,
                false,
                &[],
            ),
            r(
                "events.k8s.io",
                "v1",
                "events",
                "Event",
                true,
                false,
                &["ev"],
            ),
            r(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                false,
                true,
                &["crd", "crds"],
            ),
        ];
        for (_, crd) in switchyard_crds::crds() {
            if let Some(info) = serde_json::to_value(&crd)
                .ok()
                .as_ref()
                .and_then(ResourceInfo::from_crd)
            {
                entries.push(info);
            }
        }
        Self { entries }
    }

    /// The resource served at `group/version/plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceInfo> {
        self.entries
            .iter()
            .find(|e| e.group == group && e.version == version && e.plural == plural)
    }

    /// The resource of objects with this `apiVersion` and `kind`.
    pub fn find_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceInfo> {
        self.entries
            .iter()
            .find(|e| e.kind == kind && e.api_version() == api_version)
    }

    /// Adds a resource, replacing one with the same group and plural.
    pub fn register(&mut self, info: ResourceInfo) {
        self.entries
            .retain(|e| !(e.group == info.group && e.plural == info.plural));
        self.entries.push(info);
    }

    /// All resources, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &ResourceInfo> {
        self.entries.iter()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn switchyard_crds_come_from_their_definitions() {
        let t = ResourceTable::builtin();
        let rp = t
            .find("switchyard.dev", "v1alpha1", "routingpolicies")
            .unwrap();
        assert_eq!(rp.kind, "RoutingPolicy");
        assert!(rp.namespaced && rp.status_subresource);
        assert!(rp.short_names.contains(&"rp".to_owned()));
        let me = t
            .find_kind("switchyard.dev/v1alpha1", "ModelEndpoint")
            .unwrap();
        assert_eq!(me.plural, "modelendpoints");
        assert_eq!(me.qualified(), "modelendpoints.switchyard.dev");
    }

    #[test]
    fn register_replaces_a_resource() {
        let mut t = ResourceTable::builtin();
        let n = t.iter().count();
        t.register(ResourceInfo::new(
            "",
            "v1",
            "configmaps",
            "ConfigMap",
            true,
            true,
            &[],
        ));
        assert_eq!(t.iter().count(), n);
        assert!(t.find("", "v1", "configmaps").unwrap().status_subresource);
    }
}
