//! The object store: generic JSON objects keyed by (group, resource, namespace, name), the
//! global `resourceVersion` counter, a bounded history of change events for watches that
//! resume from a resourceVersion, and the broadcast channel live watches listen on. All of
//! it sits behind one mutex in [`super::server::Shared`]; nothing here awaits. Writes
//! (create, update, patch, delete, garbage collection) are in `write.rs`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::resources::{ResourceInfo, ResourceTable};
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;

/// Where an object lives. `namespace` is empty for cluster-scoped objects. One version is
/// served per resource, so the version is not part of the key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// API group (empty for core).
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Object name.
    pub name: String,
}

impl ObjectKey {
    /// The key of `name` in `namespace` of a resource.
    pub fn new(info: &ResourceInfo, namespace: Option<&str>, name: &str) -> Self {
        Self {
            group: info.group.clone(),
            resource: info.plural.clone(),
            namespace: if info.namespaced {
                namespace.unwrap_or_default().to_owned()
            } else {
                String::new()
            },
            name: name.to_owned(),
        }
    }
}

/// Kind of a change event, as watch streams name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// An object appeared (or, for a filtered watch, started matching).
    Added,
    /// An object changed.
    Modified,
    /// An object went away (or, for a filtered watch, stopped matching).
    Deleted,
}

impl EventType {
    /// `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change, kept in the history and sent to live watches.
#[derive(Debug)]
pub(crate) struct StoredEvent {
    pub rv: u64,
    pub key: ObjectKey,
    pub etype: EventType,
    pub object: Value,
    /// The object before a modification, so filtered watches can turn "stopped matching"
    /// into DELETED and "started matching" into ADDED, as the real watch cache does.
    pub prev: Option<Value>,
}

/// What live watches receive.
#[derive(Clone, Debug)]
pub(crate) enum WatchMsg {
    Event(Arc<StoredEvent>),
    /// Every open watch ends with a `410 Expired` error event (see `expire_watches`).
    Expire,
}

/// A page of a list.
pub(crate) struct ListPage {
    pub items: Vec<Value>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
}

/// Where a new watch starts: the events it must replay first and the channel for the rest.
pub(crate) struct Subscription {
    pub backlog: Vec<Arc<StoredEvent>>,
    pub start_rv: u64,
    pub rx: broadcast::Receiver<WatchMsg>,
}

/// The store (see the module docs).
pub(crate) struct Store {
    pub resources: ResourceTable,
    pub(super) objects: BTreeMap<ObjectKey, Value>,
    rv: u64,
    seq: u64,
    tag: u32,
    history: VecDeque<Arc<StoredEvent>>,
    history_limit: usize,
    compacted_rv: u64,
    tx: broadcast::Sender<WatchMsg>,
    pub validate_crs: bool,
    pub event_counts: HashMap<(String, EventType), u64>,
    pub noop_writes: HashMap<String, u64>,
}

impl Store {
    pub fn new(history_limit: usize, channel_capacity: usize, validate_crs: bool) -> Self {
        let tag = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ std::process::id())
            .unwrap_or_default();
        Self {
            resources: ResourceTable::builtin(),
            objects: BTreeMap::new(),
            rv: 1,
            seq: 0,
            tag,
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted_rv: 1,
            tx: broadcast::channel(channel_capacity.max(16)).0,
            validate_crs,
            event_counts: HashMap::new(),
            noop_writes: HashMap::new(),
        }
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub(super) fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// A fresh uid, unique within this server (and, very likely, across servers).
    pub(super) fn next_uid(&mut self) -> String {
        self.seq += 1;
        format!("{:08x}-fa4e-4000-8000-{:012x}", self.tag, self.seq)
    }

    /// A `generateName` suffix: five characters from the alphabet the real server uses.
    pub(super) fn next_suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        self.seq += 1;
        let mut n = self.seq;
        (0..5)
            .map(|_| {
                let c = ALPHABET[(n % 27) as usize] as char;
                n /= 27;
                c
            })
            .collect()
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Whether any stored object has this uid.
    pub(super) fn uid_exists(&self, uid: &str) -> bool {
        self.objects
            .values()
            .any(|o| super::meta::meta_str(o, "uid") == Some(uid))
    }

    /// All objects of a resource (in one namespace, or all), in key order, filtered.
    pub fn list(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Vec<(ObjectKey, Value)> {
        self.objects
            .iter()
            .filter(|(k, _)| k.group == info.group && k.resource == info.plural)
            .filter(|(k, _)| namespace.is_none_or(|ns| k.namespace == ns))
            .filter(|(_, o)| labels.matches(o) && fields.matches(o))
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect()
    }

    /// One page of a list. The continue token carries the first page's resourceVersion,
    /// which every page reports, so a watch from it replays anything that changed while
    /// the pages were read.
    pub fn list_page(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> Result<ListPage, ApiError> {
        let mut rv = self.rv;
        let mut after: Option<(String, String)> = None;
        if let Some(token) = continue_token.filter(|t| !t.is_empty()) {
            let mut parts = token.splitn(3, '/');
            let (Some(r), Some(ns), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(ApiError::bad_request("invalid continue token"));
            };
            let r: u64 = r
                .parse()
                .map_err(|_| ApiError::bad_request("invalid continue token"))?;
            if r < self.compacted_rv {
                let mut e = ApiError::expired(r, self.compacted_rv);
                e.message = "The provided continue parameter is too old to display a consistent \
                             list result. You can start a new list without the continue parameter."
                    .into();
                return Err(e);
            }
            rv = r;
            after = Some((ns.to_owned(), name.to_owned()));
        }
        let mut items: Vec<(ObjectKey, Value)> = self
            .list(info, namespace, labels, fields)
            .into_iter()
            .filter(|(k, _)| {
                after
                    .as_ref()
                    .is_none_or(|(ns, name)| (&k.namespace, &k.name) > (ns, name))
            })
            .collect();
        let mut continue_token = None;
        if let Some(limit) = limit.filter(|l| *l > 0)
            && items.len() > limit
        {
            items.truncate(limit);
            if let Some((k, _)) = items.last() {
                continue_token = Some(format!("{rv}/{}/{}", k.namespace, k.name));
            }
        }
        Ok(ListPage {
            items: items.into_iter().map(|(_, o)| o).collect(),
            resource_version: rv,
            continue_token,
        })
    }

    /// Starts a watch. `from = None` (or `Some(0)`) means "now, with the current objects
    /// replayed as ADDED"; `Some(n)` replays the history after `n`, or fails with `410
    /// Expired` when that history is gone.
    pub fn subscribe(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        from: Option<u64>,
    ) -> Result<Subscription, ApiError> {
        let rx = self.tx.subscribe();
        let backlog = match from.filter(|rv| *rv != 0) {
            None => self
                .list(
                    info,
                    namespace,
                    &LabelSelector::default(),
                    &FieldSelector::default(),
                )
                .into_iter()
                .map(|(key, object)| {
                    Arc::new(StoredEvent {
                        rv: self.rv,
                        key,
                        etype: EventType::Added,
                        object,
                        prev: None,
                    })
                })
                .collect(),
            Some(rv) if rv < self.compacted_rv => {
                return Err(ApiError::expired(rv, self.compacted_rv));
            }
            Some(rv) => self.history.iter().filter(|e| e.rv > rv).cloned().collect(),
        };
        Ok(Subscription {
            backlog,
            start_rv: self.rv,
            rx,
        })
    }

    /// Records a change: history, counters, live watches.
    pub(super) fn emit(
        &mut self,
        etype: EventType,
        key: &ObjectKey,
        object: Value,
        prev: Option<Value>,
    ) {
        *self
            .event_counts
            .entry((key.resource.clone(), etype))
            .or_default() += 1;
        let event = Arc::new(StoredEvent {
            rv: self.rv,
            key: key.clone(),
            etype,
            object,
            prev,
        });
        self.history.push_back(event.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(WatchMsg::Event(event));
    }

    /// A receiver that sees every change (for waiting on conditions).
    pub fn receiver(&self) -> broadcast::Receiver<WatchMsg> {
        self.tx.subscribe()
    }

    /// Forgets all history: watches and continue tokens from older resourceVersions now
    /// get `410 Expired` (what etcd compaction does to a real server).
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted_rv = self.rv;
    }

    /// Ends every open watch with a `410 Expired` error event.
    pub fn expire_watches(&self) {
        let _ = self.tx.send(WatchMsg::Expire);
    }

    /// A list response body.
    pub fn list_body(info: &ResourceInfo, page: ListPage) -> Value {
        let mut metadata = json!({"resourceVersion": page.resource_version.to_string()});
        if let Some(c) = page.continue_token {
            metadata["continue"] = json!(c);
        }
        json!({
            "kind": info.list_kind(),
            "apiVersion": info.api_version(),
            "metadata": metadata,
            "items": page.items,
        })
    }
}
