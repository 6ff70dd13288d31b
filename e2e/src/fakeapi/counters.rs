//! Request and event counters, so tests can assert "the controller settled and stopped
//! writing" (no hot loop) from numbers rather than logs.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::lock;
use super::store::EventType;

/// API verb of a request, as RBAC names them (apply is a `Patch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH of any type, server-side apply included.
    Patch,
    /// DELETE of one object.
    Delete,
    /// DELETE of a collection.
    DeleteCollection,
}

/// A copy of the counters at one moment. Resources are named by plural (`configmaps`),
/// with `/status` appended for the status subresource (`routingpolicies/status`). The core
/// and `events.k8s.io` Events share the name `events`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Requests served (faulted ones included), by verb and resource.
    pub requests: BTreeMap<(Verb, String), u64>,
    /// Change events the store produced (what wakes watchers), by resource and type.
    pub events: BTreeMap<(String, EventType), u64>,
    /// Writes that changed nothing (no resourceVersion bump, no event), by resource.
    pub noop_writes: BTreeMap<String, u64>,
    /// Watch lines (events, bookmarks, errors) sent to clients, by resource.
    pub watch_lines: BTreeMap<String, u64>,
    /// Requests that an injected fault answered or delayed.
    pub faults_triggered: u64,
    /// Watches open now, by resource.
    pub open_watches: BTreeMap<String, u64>,
}

impl CounterSnapshot {
    /// Requests of one verb on one resource.
    pub fn requests(&self, verb: Verb, resource: &str) -> u64 {
        self.requests
            .get(&(verb, resource.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// All write requests (create, update, patch, delete) on one resource.
    pub fn write_requests(&self, resource: &str) -> u64 {
        [
            Verb::Create,
            Verb::Update,
            Verb::Patch,
            Verb::Delete,
            Verb::DeleteCollection,
        ]
        .into_iter()
        .map(|v| self.requests(v, resource))
        .sum()
    }

    /// Change events of one type on one resource (plural, no `/status`).
    pub fn events(&self, resource: &str, etype: EventType) -> u64 {
        self.events
            .get(&(resource.to_owned(), etype))
            .copied()
            .unwrap_or(0)
    }

    /// All change events on one resource: the number of real changes.
    pub fn changes(&self, resource: &str) -> u64 {
        self.events
            .iter()
            .filter(|((r, _), _)| r == resource)
            .map(|(_, n)| n)
            .sum()
    }

    /// All change events on all resources.
    pub fn total_changes(&self) -> u64 {
        self.events.values().sum()
    }

    /// Watches open now on one resource.
    pub fn open_watches(&self, resource: &str) -> u64 {
        self.open_watches.get(resource).copied().unwrap_or(0)
    }

    /// No-op writes on one resource.
    pub fn noop_writes(&self, resource: &str) -> u64 {
        self.noop_writes.get(resource).copied().unwrap_or(0)
    }
}

/// Counters the HTTP layer updates (store-side counts live in the store).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: Mutex<BTreeMap<(Verb, String), u64>>,
    watch_lines: Mutex<BTreeMap<String, u64>>,
    open_watches: Mutex<BTreeMap<String, u64>>,
}

/// Counts one open watch until dropped.
pub(crate) struct OpenWatch {
    counters: std::sync::Arc<Counters>,
    resource: String,
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        let mut open = lock(&self.counters.open_watches);
        if let Some(n) = open.get_mut(&self.resource) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Counters {
    pub fn request(&self, verb: Verb, resource: &str) {
        *lock(&self.requests)
            .entry((verb, resource.to_owned()))
            .or_default() += 1;
    }

    pub fn watch_line(&self, resource: &str) {
        *lock(&self.watch_lines)
            .entry(resource.to_owned())
            .or_default() += 1;
    }

    /// Registers an open watch; it counts until the returned guard is dropped.
    pub fn open_watch(self: &std::sync::Arc<Self>, resource: &str) -> OpenWatch {
        *lock(&self.open_watches)
            .entry(resource.to_owned())
            .or_default() += 1;
        OpenWatch {
            counters: self.clone(),
            resource: resource.to_owned(),
        }
    }

    pub fn open_watches(&self) -> BTreeMap<String, u64> {
        lock(&self.open_watches).clone()
    }

    pub fn requests(&self) -> BTreeMap<(Verb, String), u64> {
        lock(&self.requests).clone()
    }

    pub fn watch_lines(&self) -> BTreeMap<String, u64> {
        lock(&self.watch_lines).clone()
    }
}
