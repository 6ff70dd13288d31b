//! Reverse references kept up to date from the watch streams: which policies mention an
//! endpoint, which Secrets an endpoint or policy needs. The mappers that turn a changed
//! ModelEndpoint or Secret into the policies to reconcile are lookups here, O(referencing
//! policies), never a scan of every policy.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use switchyard_crds::{ModelEndpoint, RoutingPolicy};

use crate::lenient::Lenient;
use crate::validate::referenced_endpoints;

/// `(namespace, name)` of an object.
pub type Key = (String, String);

fn key_of<K: ResourceExt>(obj: &K) -> Key {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

/// What one policy references.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct PolicyRefs {
    endpoints: BTreeSet<String>,
    auth_secret: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    policies: HashMap<Key, PolicyRefs>,
    /// `(ns, endpoint)` → policy names.
    by_endpoint: HashMap<Key, BTreeSet<String>>,
    /// `(ns, secret)` → policy names using it for client auth.
    by_auth_secret: HashMap<Key, BTreeSet<String>>,
    /// `(ns, endpoint)` → (secret, fingerprint of what policies see of the endpoint).
    endpoints: HashMap<Key, (Option<String>, u64)>,
    /// `(ns, secret)` → endpoint names using it as API key.
    by_secret: HashMap<Key, BTreeSet<String>>,
    policy_relist: Option<HashSet<Key>>,
    endpoint_relist: Option<HashSet<Key>>,
}

fn unlink(map: &mut HashMap<Key, BTreeSet<String>>, key: Key, name: &str) {
    if let Some(set) = map.get_mut(&key) {
        set.remove(name);
        if set.is_empty() {
            map.remove(&key);
        }
    }
}

impl Inner {
    fn set_policy(&mut self, key: Key, refs: Option<PolicyRefs>) {
        let (ns, name) = key.clone();
        if let Some(old) = self.policies.remove(&key) {
            for ep in old.endpoints {
                unlink(&mut self.by_endpoint, (ns.clone(), ep), &name);
            }
            if let Some(s) = old.auth_secret {
                unlink(&mut self.by_auth_secret, (ns.clone(), s), &name);
            }
        }
        if let Some(refs) = refs {
            for ep in &refs.endpoints {
                self.by_endpoint
                    .entry((ns.clone(), ep.clone()))
                    .or_default()
                    .insert(name.clone());
            }
            if let Some(s) = &refs.auth_secret {
                self.by_auth_secret
                    .entry((ns.clone(), s.clone()))
                    .or_default()
                    .insert(name.clone());
            }
            self.policies.insert(key, refs);
        }
    }

    /// Records an endpoint; returns whether what policies see of it changed.
    fn set_endpoint(&mut self, key: Key, value: Option<(Option<String>, u64)>) -> bool {
        let (ns, name) = key.clone();
        let old = match value.clone() {
            Some(v) => self.endpoints.insert(key, v),
            None => self.endpoints.remove(&key),
        };
        if old == value {
            return false;
        }
        if let Some(s) = old.and_then(|(s, _)| s) {
            unlink(&mut self.by_secret, (ns.clone(), s), &name);
        }
        if let Some(s) = value.and_then(|(s, _)| s) {
            self.by_secret.entry((ns, s)).or_default().insert(name);
        }
        true
    }
}

/// The reverse-reference index shared by the policy controller's mappers.
#[derive(Debug, Default)]
pub struct RefIndex {
    inner: Mutex<Inner>,
}

/// What policies see of an endpoint: its spec and whether it is reachable. Status-only
/// updates such as a new probe time leave it unchanged and trigger nothing.
pub fn endpoint_fingerprint(ep: &ModelEndpoint) -> u64 {
    let mut h = DefaultHasher::new();
    serde_json::to_string(&ep.spec)
        .unwrap_or_default()
        .hash(&mut h);
    let reachable = ep
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Reachable"))
        .map(|c| c.status.as_str());
    reachable.hash(&mut h);
    h.finish()
}

impl RefIndex {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than losing the index, so recover the guard.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records (or replaces) what a policy references.
    pub fn upsert_policy(&self, policy: &RoutingPolicy) {
        let refs = PolicyRefs {
            endpoints: referenced_endpoints(&policy.spec),
            auth_secret: policy
                .spec
                .auth
                .as_ref()
                .map(|a| a.api_keys_secret_ref.name.clone()),
        };
        self.lock().set_policy(key_of(policy), Some(refs));
    }

    /// Forgets a policy.
    pub fn remove_policy(&self, namespace: &str, name: &str) {
        self.lock()
            .set_policy((namespace.to_owned(), name.to_owned()), None);
    }

    /// Records an endpoint; returns whether what policies see of it changed.
    pub fn upsert_endpoint(&self, ep: &ModelEndpoint) -> bool {
        let secret = ep.spec.api_key_secret_ref.as_ref().map(|r| r.name.clone());
        self.lock()
            .set_endpoint(key_of(ep), Some((secret, endpoint_fingerprint(ep))))
    }

    /// Forgets an endpoint; returns whether it was known.
    pub fn remove_endpoint(&self, namespace: &str, name: &str) -> bool {
        self.lock()
            .set_endpoint((namespace.to_owned(), name.to_owned()), None)
    }

    /// Policies (same namespace) that reference an endpoint.
    pub fn policies_for_endpoint(
        &self,
        namespace: &str,
        name: &str,
    ) -> Vec<ObjectRef<RoutingPolicy>> {
        let inner = self.lock();
        inner
            .by_endpoint
            .get(&(namespace.to_owned(), name.to_owned()))
            .into_iter()
            .flatten()
            .map(|p| ObjectRef::new(p).within(namespace))
            .collect()
    }

    /// Policies (same namespace) that need a Secret: for client auth, or through an endpoint
    /// whose API key it holds.
    pub fn policies_for_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Vec<ObjectRef<RoutingPolicy>> {
        let inner = self.lock();
        let key = (namespace.to_owned(), name.to_owned());
        let mut out: BTreeSet<&String> = inner
            .by_auth_secret
            .get(&key)
            .into_iter()
            .flatten()
            .collect();
        for ep in inner.by_secret.get(&key).into_iter().flatten() {
            out.extend(
                inner
                    .by_endpoint
                    .get(&(namespace.to_owned(), ep.clone()))
                    .into_iter()
                    .flatten(),
            );
        }
        out.into_iter()
            .map(|p| ObjectRef::new(p).within(namespace))
            .collect()
    }

    /// Updates the index from one policy watch event (relists included).
    pub fn observe_policy(&self, event: &watcher::Event<RoutingPolicy>) {
        self.observe_watched_policy(&wrap(event));
    }

    /// Updates the index from one policy watch event of the lenient watch. A policy that did
    /// not decode references nothing the operator can know about.
    pub fn observe_watched_policy(&self, event: &watcher::Event<Lenient<RoutingPolicy>>) {
        let upsert = |p: &Lenient<RoutingPolicy>| match p {
            Lenient::Parsed(p) => self.upsert_policy(p),
            Lenient::Unreadable(_) => {
                let (ns, name) = key_of(p);
                self.remove_policy(&ns, &name);
            }
        };
        match event {
            watcher::Event::Apply(p) => upsert(p),
            watcher::Event::Delete(p) => {
                let (ns, name) = key_of(p);
                self.remove_policy(&ns, &name);
            }
            watcher::Event::Init => self.lock().policy_relist = Some(HashSet::new()),
            watcher::Event::InitApply(p) => {
                upsert(p);
                if let Some(seen) = self.lock().policy_relist.as_mut() {
                    seen.insert(key_of(p));
                }
            }
            watcher::Event::InitDone => {
                let mut inner = self.lock();
                if let Some(seen) = inner.policy_relist.take() {
                    let gone: Vec<Key> = inner
                        .policies
                        .keys()
                        .filter(|k| !seen.contains(*k))
                        .cloned()
                        .collect();
                    for k in gone {
                        inner.set_policy(k, None);
                    }
                }
            }
        }
    }

    /// Updates the index from one endpoint watch event and returns the endpoints whose
    /// change policies must see (deleted ones included, as name-only objects when a relist
    /// found them gone).
    pub fn observe_endpoint(&self, event: &watcher::Event<ModelEndpoint>) -> Vec<ModelEndpoint> {
        self.observe_watched_endpoint(&wrap(event))
            .into_iter()
            .filter_map(|e| match e {
                Lenient::Parsed(e) => Some(e),
                Lenient::Unreadable(_) => None,
            })
            .collect()
    }

    /// [`RefIndex::observe_endpoint`] for the lenient watch. An endpoint that did not decode
    /// needs no Secret; a change of its decoding error counts as a change.
    pub fn observe_watched_endpoint(
        &self,
        event: &watcher::Event<Lenient<ModelEndpoint>>,
    ) -> Vec<Lenient<ModelEndpoint>> {
        let upsert = |ep: &Lenient<ModelEndpoint>| match ep {
            Lenient::Parsed(ep) => self.upsert_endpoint(ep),
            Lenient::Unreadable(u) => {
                let mut h = DefaultHasher::new();
                u.error.hash(&mut h);
                self.lock()
                    .set_endpoint(key_of(ep), Some((None, h.finish())))
            }
        };
        match event {
            watcher::Event::Apply(ep) => {
                if upsert(ep) {
                    vec![ep.clone()]
                } else {
                    Vec::new()
                }
            }
            watcher::Event::Delete(ep) => {
                let (ns, name) = key_of(ep);
                self.remove_endpoint(&ns, &name);
                vec![ep.clone()]
            }
            watcher::Event::Init => {
                self.lock().endpoint_relist = Some(HashSet::new());
                Vec::new()
            }
            watcher::Event::InitApply(ep) => {
                let changed = upsert(ep);
                if let Some(seen) = self.lock().endpoint_relist.as_mut() {
                    seen.insert(key_of(ep));
                }
                if changed {
                    vec![ep.clone()]
                } else {
                    Vec::new()
                }
            }
            watcher::Event::InitDone => {
                let mut inner = self.lock();
                let Some(seen) = inner.endpoint_relist.take() else {
                    return Vec::new();
                };
                let gone: Vec<Key> = inner
                    .endpoints
                    .keys()
                    .filter(|k| !seen.contains(*k))
                    .cloned()
                    .collect();
                gone.into_iter()
                    .map(|k| {
                        inner.set_endpoint(k.clone(), None);
                        Lenient::Parsed(name_only(k))
                    })
                    .collect()
            }
        }
    }
}

/// The same event with its object wrapped as decoded.
fn wrap<K: Clone>(event: &watcher::Event<K>) -> watcher::Event<Lenient<K>> {
    match event {
        watcher::Event::Apply(o) => watcher::Event::Apply(Lenient::Parsed(o.clone())),
        watcher::Event::Delete(o) => watcher::Event::Delete(Lenient::Parsed(o.clone())),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(o) => watcher::Event::InitApply(Lenient::Parsed(o.clone())),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

fn name_only((namespace, name): Key) -> ModelEndpoint {
    let mut ep = ModelEndpoint::new(
        &name,
        switchyard_crds::ModelEndpointSpec {
            model: String::new(),
            provider: Default::default(),
            base_url: String::new(),
            api_key_secret_ref: None,
            azure: None,
            capabilities: Default::default(),
            cost: Default::default(),
            limits: Default::default(),
            timeouts: Default::default(),
            health_check: None,
        },
    );
    ep.metadata.namespace = Some(namespace);
    ep
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::fixtures::{endpoint, policy};

    fn names(refs: Vec<ObjectRef<RoutingPolicy>>) -> Vec<String> {
        let mut v: Vec<String> = refs
            .into_iter()
            .map(|r| format!("{}/{}", r.namespace.unwrap_or_default(), r.name))
            .collect();
        v.sort();
        v
    }

    fn in_ns(mut p: RoutingPolicy, ns: &str) -> RoutingPolicy {
        p.metadata.namespace = Some(ns.to_owned());
        p
    }

    #[test]
    fn endpoint_edit_maps_to_exactly_the_referencing_policies() {
        let idx = RefIndex::default();
        // p1, p2 reference "big" and "small"; p3 only references other endpoints; p4 is in
        // another namespace.
        idx.upsert_policy(&policy("p1", ""));
        idx.upsert_policy(&policy("p2", ""));
        let mut p3 = policy("p3", "");
        for r in &mut p3.spec.intent.as_mut().unwrap().routes {
            r.endpoints = vec!["elsewhere".to_owned()];
        }
        idx.upsert_policy(&p3);
        idx.upsert_policy(&in_ns(policy("p4", ""), "other"));

        assert_eq!(
            names(idx.policies_for_endpoint("ai", "big")),
            ["ai/p1", "ai/p2"]
        );
        assert_eq!(
            names(idx.policies_for_endpoint("ai", "elsewhere")),
            ["ai/p3"]
        );
        assert_eq!(
            names(idx.policies_for_endpoint("other", "big")),
            ["other/p4"]
        );
        assert!(idx.policies_for_endpoint("ai", "unknown").is_empty());

        // p2 stops referencing "big"; p1 is deleted.
        let mut p2 = policy("p2", "");
        for r in &mut p2.spec.intent.as_mut().unwrap().routes {
            r.endpoints = vec!["small".to_owned()];
        }
        idx.upsert_policy(&p2);
        idx.observe_policy(&watcher::Event::Delete(policy("p1", "")));
        assert!(idx.policies_for_endpoint("ai", "big").is_empty());
        assert_eq!(names(idx.policies_for_endpoint("ai", "small")), ["ai/p2"]);
    }

    #[test]
    fn every_reference_kind_is_indexed() {
        let idx = RefIndex::default();
        let p: RoutingPolicy = serde_saphyr::from_str(
            r#"
apiVersion: switchyard.dev/v1alpha1
kind: RoutingPolicy
metadata: {name: a, namespace: ai}
spec:
  strategy: auto
  intent:
    classifier: {type: llm, endpointRef: judge}
    routes: [{name: r, description: d, endpoints: [routed]}]
  auto:
    candidates: [{endpoint: cand}]
    visionEndpoint: eyes
  auth: {apiKeysSecretRef: {name: clients, key: k}}
"#,
        )
        .unwrap();
        idx.upsert_policy(&p);
        for ep in ["judge", "routed", "cand", "eyes"] {
            assert_eq!(names(idx.policies_for_endpoint("ai", ep)), ["ai/a"], "{ep}");
        }
        assert_eq!(names(idx.policies_for_secret("ai", "clients")), ["ai/a"]);
    }

    #[test]
    fn secret_maps_through_endpoints_to_policies() {
        let idx = RefIndex::default();
        idx.upsert_policy(&policy("p1", ""));
        assert!(idx.upsert_endpoint(&endpoint("big", Some("keys"))));
        assert_eq!(names(idx.policies_for_secret("ai", "keys")), ["ai/p1"]);
        assert!(idx.policies_for_secret("ai", "unrelated").is_empty());
        // The endpoint switches to another Secret.
        assert!(idx.upsert_endpoint(&endpoint("big", Some("keys2"))));
        assert!(idx.policies_for_secret("ai", "keys").is_empty());
        assert_eq!(names(idx.policies_for_secret("ai", "keys2")), ["ai/p1"]);
    }

    #[test]
    fn status_only_endpoint_updates_trigger_nothing() {
        let idx = RefIndex::default();
        let ep = endpoint("big", None);
        assert_eq!(
            idx.observe_endpoint(&watcher::Event::Apply(ep.clone()))
                .len(),
            1
        );
        let mut probed = ep.clone();
        probed.status = Some(switchyard_crds::ModelEndpointStatus {
            last_probe_latency_ms: Some(12),
            ..Default::default()
        });
        assert!(
            idx.observe_endpoint(&watcher::Event::Apply(probed.clone()))
                .is_empty()
        );
        let mut edited = probed.clone();
        edited.spec.model = "m/other".to_owned();
        assert_eq!(
            idx.observe_endpoint(&watcher::Event::Apply(edited)).len(),
            1
        );
    }

    #[test]
    fn relist_forgets_what_disappeared() {
        let idx = RefIndex::default();
        idx.observe_endpoint(&watcher::Event::Apply(endpoint("big", None)));
        idx.observe_endpoint(&watcher::Event::Apply(endpoint("small", None)));
        idx.observe_policy(&watcher::Event::Apply(policy("p1", "")));
        idx.observe_policy(&watcher::Event::Apply(policy("p2", "")));
        // A relist (after a watch gap) sees only "small" and p2.
        idx.observe_endpoint(&watcher::Event::Init);
        assert!(
            idx.observe_endpoint(&watcher::Event::InitApply(endpoint("small", None)))
                .is_empty()
        );
        let gone = idx.observe_endpoint(&watcher::Event::InitDone);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].name_any(), "big");
        idx.observe_policy(&watcher::Event::Init);
        idx.observe_policy(&watcher::Event::InitApply(policy("p2", "")));
        idx.observe_policy(&watcher::Event::InitDone);
        assert_eq!(names(idx.policies_for_endpoint("ai", "big")), ["ai/p2"]);
    }
}
