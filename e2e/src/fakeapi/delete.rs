//! Deletion with the real server's semantics: preconditions, finalizers (a delete sets
//! `deletionTimestamp`; the object goes when the last finalizer is cleared), ownerReference
//! garbage collection in the background style (synchronous here) or orphaning, and
//! namespace deletion removing the namespace's objects.

use serde_json::{Value, json};

use super::meta::{finalizers, meta, meta_str, now, owner_uids, remove_owner};
use super::resources::ResourceInfo;
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{EventType, ObjectKey, Store};
use super::write::set_meta;

/// What the garbage collector does with dependents of a deleted object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Propagation {
    /// Delete dependents (`Foreground` is treated the same; the owner goes first).
    #[default]
    Background,
    /// Remove the owner reference from dependents and keep them.
    Orphan,
}

/// Options of a delete.
#[derive(Clone, Debug, Default)]
pub(crate) struct DeleteOptions {
    pub propagation: Propagation,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

impl Store {
    /// Deletes an object (or marks it for deletion when it has finalizers).
    pub fn delete(
        &mut self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let key = ObjectKey::new(info, namespace, name);
        let old = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(info, name))?;
        if let Some(uid) = &opts.precondition_uid
            && meta_str(&old, "uid") != Some(uid.as_str())
        {
            let what = format!(
                "UID in precondition: {uid}, UID in object meta: {}",
                meta_str(&old, "uid").unwrap_or_default()
            );
            return Err(ApiError::precondition_failed(info, name, &what));
        }
        if let Some(rv) = &opts.precondition_rv
            && meta_str(&old, "resourceVersion") != Some(rv.as_str())
        {
            let what = format!(
                "ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta_str(&old, "resourceVersion").unwrap_or_default()
            );
            return Err(ApiError::precondition_failed(info, name, &what));
        }
        if opts.dry_run {
            return Ok(old);
        }
        Ok(self.delete_key(&key, old, opts.propagation == Propagation::Orphan))
    }

    /// Deletes every object of a resource in a namespace (or everywhere) that matches.
    pub fn delete_collection(
        &mut self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        opts: &DeleteOptions,
    ) -> Vec<Value> {
        let matching = self.list(info, namespace, labels, fields);
        if opts.dry_run {
            return matching.into_iter().map(|(_, o)| o).collect();
        }
        let orphan = opts.propagation == Propagation::Orphan;
        matching
            .into_iter()
            .filter_map(|(key, _)| {
                let current = self.objects.get(&key).cloned()?;
                Some(self.delete_key(&key, current, orphan))
            })
            .collect()
    }

    fn delete_key(&mut self, key: &ObjectKey, old: Value, orphan: bool) -> Value {
        if !finalizers(&old).is_empty() {
            if meta(&old).is_some_and(|m| m.contains_key("deletionTimestamp")) {
                return old;
            }
            let mut new = old.clone();
            set_meta(&mut new, "deletionTimestamp", now());
            set_meta(&mut new, "deletionGracePeriodSeconds", json!(0));
            let rv = self.next_rv();
            set_meta(&mut new, "resourceVersion", json!(rv.to_string()));
            self.objects.insert(key.clone(), new.clone());
            self.emit(EventType::Modified, key, new.clone(), Some(old));
            if orphan && let Some(uid) = meta_str(&new, "uid") {
                let uid = uid.to_owned();
                self.orphan_dependents(&uid);
            }
            return new;
        }
        self.objects.remove(key);
        let rv = self.next_rv();
        let mut gone = old;
        set_meta(&mut gone, "resourceVersion", json!(rv.to_string()));
        self.emit(EventType::Deleted, key, gone.clone(), None);
        self.after_removal(key, &gone, orphan);
        gone
    }

    /// What follows an object's removal: its dependents, and a namespace's contents.
    pub(super) fn after_removal(&mut self, key: &ObjectKey, gone: &Value, orphan: bool) {
        if let Some(uid) = meta_str(gone, "uid") {
            let uid = uid.to_owned();
            if orphan {
                self.orphan_dependents(&uid);
            } else {
                self.collect_garbage(&uid);
            }
        }
        if key.group.is_empty() && key.resource == "namespaces" {
            let inside: Vec<ObjectKey> = self
                .objects
                .keys()
                .filter(|k| k.namespace == key.name)
                .cloned()
                .collect();
            for k in inside {
                if let Some(o) = self.objects.get(&k).cloned() {
                    self.delete_key(&k, o, false);
                }
            }
        }
    }

    fn dependents(&self, owner_uid: &str) -> Vec<ObjectKey> {
        self.objects
            .iter()
            .filter(|(_, o)| owner_uids(o).iter().any(|u| u == owner_uid))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Background garbage collection: dependents with no other living owner are deleted
    /// (recursively); others lose the dangling owner reference.
    fn collect_garbage(&mut self, owner_uid: &str) {
        for key in self.dependents(owner_uid) {
            let Some(obj) = self.objects.get(&key).cloned() else {
                continue;
            };
            let other_owner_alive = owner_uids(&obj)
                .iter()
                .any(|u| u != owner_uid && self.uid_exists(u));
            if other_owner_alive {
                self.drop_owner(&key, obj, owner_uid);
            } else {
                self.delete_key(&key, obj, false);
            }
        }
    }

    fn orphan_dependents(&mut self, owner_uid: &str) {
        for key in self.dependents(owner_uid) {
            if let Some(obj) = self.objects.get(&key).cloned() {
                self.drop_owner(&key, obj, owner_uid);
            }
        }
    }

    fn drop_owner(&mut self, key: &ObjectKey, old: Value, owner_uid: &str) {
        let mut new = old.clone();
        if remove_owner(&mut new, owner_uid) {
            let rv = self.next_rv();
            set_meta(&mut new, "resourceVersion", json!(rv.to_string()));
            self.objects.insert(key.clone(), new.clone());
            self.emit(EventType::Modified, key, new, Some(old));
        }
    }
}
