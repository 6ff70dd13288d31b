//! Writes with the real server's semantics: create (uid, timestamps, generation 1,
//! `AlreadyExists`), replace and patch (resourceVersion precondition → `Conflict`,
//! server-owned metadata kept, status subresource isolation, generation bumped only on
//! spec-ish changes, no-op writes leave the object and resourceVersion alone and emit no
//! event). Deletion and garbage collection are in `delete.rs`.

use serde_json::{Value, json};

use super::meta::{
    DROPPED_FIELDS, SERVER_FIELDS, finalizers, generation, meta, meta_mut, meta_str, now,
    set_or_remove, spec_part,
};
use super::patch::PatchBody;
use super::resources::ResourceInfo;
use super::status::{ApiError, Cause};
use super::store::{EventType, ObjectKey, Store};

/// Which part of an object a write addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The object (its `.status` is left alone when the resource has a status subresource).
    Main,
    /// The `status` subresource: only `.status` changes.
    Status,
}

/// The result of a patch: the object and whether an apply created it.
pub(crate) struct Written {
    pub object: Value,
    pub created: bool,
}

fn check_body(info: &ResourceInfo, body: &Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was in an unknown format - accepted media types include: \
             application/json, application/yaml",
        ));
    }
    if let Some(av) = body.get("apiVersion").and_then(Value::as_str)
        && av != info.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            info.api_version()
        )));
    }
    if let Some(kind) = body.get("kind").and_then(Value::as_str)
        && kind != info.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            info.kind
        )));
    }
    Ok(())
}

fn set_type(obj: &mut Value, info: &ResourceInfo) {
    set_or_remove(obj, "apiVersion", Some(json!(info.api_version())));
    set_or_remove(obj, "kind", Some(json!(info.kind)));
}

pub(super) fn set_meta(obj: &mut Value, field: &str, value: Value) {
    if let Some(m) = meta_mut(obj) {
        m.insert(field.to_owned(), value);
    }
}

impl Store {
    /// Creates an object; `namespace` (from the URL) wins over an empty body namespace.
    pub fn create(
        &mut self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        body: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        check_body(info, &body)?;
        let mut obj = body;
        set_type(&mut obj, info);
        let name = match (meta_str(&obj, "name"), meta_str(&obj, "generateName")) {
            (Some(n), _) => n.to_owned(),
            (None, Some(prefix)) => {
                let prefix = prefix.to_owned();
                format!("{prefix}{}", self.next_suffix())
            }
            (None, None) => {
                return Err(ApiError::invalid(
                    info,
                    "",
                    &[Cause {
                        field: "metadata.name".into(),
                        message: "Required value: name or generateName is required".into(),
                    }],
                ));
            }
        };
        let body_ns = meta_str(&obj, "namespace").map(str::to_owned);
        let ns = if info.namespaced {
            if let (Some(url), Some(body)) = (namespace, body_ns.as_deref())
                && url != body
            {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on \
                     the request",
                ));
            }
            Some(
                namespace
                    .map(str::to_owned)
                    .or(body_ns)
                    .unwrap_or_else(|| "default".to_owned()),
            )
        } else {
            None
        };
        let key = ObjectKey::new(info, ns.as_deref(), &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(info, &name));
        }
        let uid = self.next_uid();
        let m = meta_mut(&mut obj).ok_or_else(|| ApiError::bad_request("object expected"))?;
        for f in SERVER_FIELDS
            .iter()
            .chain(DROPPED_FIELDS)
            .chain(&["resourceVersion"])
        {
            m.remove(*f);
        }
        m.insert("name".into(), json!(name));
        match &ns {
            Some(ns) => m.insert("namespace".into(), json!(ns)),
            None => m.remove("namespace"),
        };
        m.insert("uid".into(), json!(uid));
        m.insert("creationTimestamp".into(), now());
        m.insert("generation".into(), json!(1));
        if info.status_subresource {
            let status = (info.group.is_empty() && info.plural == "namespaces")
                .then(|| json!({"phase": "Active"}));
            set_or_remove(&mut obj, "status", status);
        }
        self.validate(info, &obj, &name)?;
        if dry_run {
            return Ok(obj);
        }
        let rv = self.next_rv();
        set_meta(&mut obj, "resourceVersion", json!(rv.to_string()));
        self.objects.insert(key.clone(), obj.clone());
        self.emit(EventType::Added, &key, obj.clone(), None);
        self.after_write(&key, &obj);
        Ok(obj)
    }

    /// Replaces an object (PUT), or its status.
    pub fn update(
        &mut self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        body: Value,
        target: Target,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        check_body(info, &body)?;
        let key = ObjectKey::new(info, namespace, name);
        let old = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(info, name))?;
        self.commit(info, &key, old, body, target, dry_run)
    }

    /// Patches an object or its status; an apply of a missing object creates it.
    pub fn patch(
        &mut self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        patch: &PatchBody,
        target: Target,
        dry_run: bool,
    ) -> Result<Written, ApiError> {
        let key = ObjectKey::new(info, namespace, name);
        let Some(old) = self.objects.get(&key).cloned() else {
            if let (PatchBody::Apply { config, .. }, Target::Main) = (patch, target) {
                let mut body = config.clone();
                check_body(info, &body)?;
                if let Some(n) = meta_str(&body, "name")
                    && n != name
                {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({n}) does not match the name on the URL ({name})"
                    )));
                }
                set_meta(&mut body, "name", json!(name));
                let object = self.create(info, namespace, body, dry_run)?;
                return Ok(Written {
                    object,
                    created: true,
                });
            }
            return Err(ApiError::not_found(info, name));
        };
        if let PatchBody::Apply { config, .. } = patch {
            check_body(info, config)?;
        }
        let candidate = patch.apply_to(&old)?;
        let object = self.commit(info, &key, old, candidate, target, dry_run)?;
        Ok(Written {
            object,
            created: false,
        })
    }

    /// Turns a client's version of an object into the stored one and stores it, unless
    /// nothing changed.
    fn commit(
        &mut self,
        info: &ResourceInfo,
        key: &ObjectKey,
        old: Value,
        candidate: Value,
        target: Target,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let name = key.name.as_str();
        let old_rv = meta_str(&old, "resourceVersion")
            .unwrap_or_default()
            .to_owned();
        if meta_str(&candidate, "resourceVersion").is_some_and(|rv| rv != old_rv) {
            return Err(ApiError::conflict(info, name));
        }
        if let Some(n) = meta_str(&candidate, "name")
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        if info.namespaced
            && meta_str(&candidate, "namespace").is_some_and(|ns| ns != key.namespace)
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the \
                 request",
            ));
        }
        let mut new = match target {
            Target::Status => {
                let mut n = old.clone();
                set_or_remove(&mut n, "status", candidate.get("status").cloned());
                n
            }
            Target::Main => {
                let mut n = candidate;
                set_type(&mut n, info);
                let old_meta = meta(&old).cloned().unwrap_or_default();
                let m = meta_mut(&mut n).ok_or_else(|| ApiError::bad_request("object expected"))?;
                for f in SERVER_FIELDS {
                    match old_meta.get(*f) {
                        Some(v) => m.insert((*f).to_owned(), v.clone()),
                        None => m.remove(*f),
                    };
                }
                for f in DROPPED_FIELDS {
                    m.remove(*f);
                }
                m.insert("name".into(), json!(name));
                if info.namespaced {
                    m.insert("namespace".into(), json!(key.namespace));
                } else {
                    m.remove("namespace");
                }
                if info.status_subresource {
                    set_or_remove(&mut n, "status", old.get("status").cloned());
                }
                n
            }
        };
        set_meta(&mut new, "resourceVersion", json!(old_rv));
        if meta(&old).is_some_and(|m| m.contains_key("deletionTimestamp")) {
            let before = finalizers(&old);
            if finalizers(&new).iter().any(|f| !before.contains(f)) {
                return Err(ApiError::invalid(
                    info,
                    name,
                    &[Cause {
                        field: "metadata.finalizers".into(),
                        message:
                            "Forbidden: no new finalizers can be added if the object is being \
                              deleted"
                                .into(),
                    }],
                ));
            }
        }
        self.validate(info, &new, name)?;
        if new == old {
            *self.noop_writes.entry(info.plural.clone()).or_default() += 1;
            return Ok(old);
        }
        if target == Target::Main && spec_part(&new) != spec_part(&old) {
            set_meta(&mut new, "generation", json!(generation(&old) + 1));
        }
        if dry_run {
            return Ok(new);
        }
        let rv = self.next_rv();
        set_meta(&mut new, "resourceVersion", json!(rv.to_string()));
        let deleting = meta(&new).is_some_and(|m| m.contains_key("deletionTimestamp"));
        if deleting && finalizers(&new).is_empty() {
            self.objects.remove(key);
            self.emit(EventType::Deleted, key, new.clone(), Some(old));
            self.after_removal(key, &new, false);
        } else {
            self.objects.insert(key.clone(), new.clone());
            self.emit(EventType::Modified, key, new.clone(), Some(old));
            self.after_write(key, &new);
        }
        Ok(new)
    }

    /// Side effects of storing an object: a CustomResourceDefinition starts being served.
    fn after_write(&mut self, key: &ObjectKey, obj: &Value) {
        if key.group == "apiextensions.k8s.io"
            && key.resource == "customresourcedefinitions"
            && let Some(info) = ResourceInfo::from_crd(obj)
        {
            self.resources.register(info);
        }
    }

    /// The optional OpenAPI + CEL validation of Switchyard custom resources.
    fn validate(&self, info: &ResourceInfo, obj: &Value, name: &str) -> Result<(), ApiError> {
        if !self.validate_crs || info.group != switchyard_crds::GROUP {
            return Ok(());
        }
        match switchyard_crds::schema::validate_object(obj) {
            Some(violations) if !violations.is_empty() => {
                let causes: Vec<Cause> = violations
                    .into_iter()
                    .map(|v| Cause {
                        field: v.field,
                        message: format!("Invalid value: {}", v.message),
                    })
                    .collect();
                Err(ApiError::invalid(info, name, &causes))
            }
            _ => Ok(()),
        }
    }
}
