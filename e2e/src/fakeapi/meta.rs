//! Small helpers over JSON objects: reading and writing `metadata` fields, timestamps,
//! and the "spec-ish" part of an object that decides whether `generation` moves.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{Timestamp, Unit};
use serde_json::{Map, Value};

/// The current time as Kubernetes serialises `metav1.Time` (whole seconds, UTC).
pub fn now() -> Value {
    let ts = Timestamp::now()
        .round(Unit::Second)
        .unwrap_or_else(|_| Timestamp::now());
    serde_json::to_value(Time(ts)).unwrap_or(Value::Null)
}

/// `metadata` of an object, if it is an object.
pub fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

/// `metadata` of an object, created when missing; `None` when the object is not a JSON
/// object.
pub fn meta_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let entry = obj
        .as_object_mut()?
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut()
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj)?.get(field)?.as_str().filter(|s| !s.is_empty())
}

/// Sets (`Some`) or removes (`None`) a top-level field.
pub fn set_or_remove(obj: &mut Value, field: &str, value: Option<Value>) {
    if let Value::Object(m) = obj {
        match value {
            Some(v) => {
                m.insert(field.to_owned(), v);
            }
            None => {
                m.remove(field);
            }
        }
    }
}

/// `metadata.finalizers`.
pub fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The `uid`s in `metadata.ownerReferences`.
pub fn owner_uids(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Removes owner references with this uid; `true` when one was removed.
pub fn remove_owner(obj: &mut Value, uid: &str) -> bool {
    let Some(m) = meta_mut(obj) else {
        return false;
    };
    let Some(Value::Array(refs)) = m.get_mut("ownerReferences") else {
        return false;
    };
    let before = refs.len();
    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
    let removed = refs.len() != before;
    if refs.is_empty() {
        m.remove("ownerReferences");
    }
    removed
}

/// `metadata.generation` (0 when absent).
pub fn generation(obj: &Value) -> i64 {
    meta(obj)
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// The part of an object whose change bumps `generation`: everything but `apiVersion`,
/// `kind`, `metadata` and `status`.
pub fn spec_part(obj: &Value) -> Value {
    match obj {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Metadata fields only the server sets; client-sent values are replaced.
pub const SERVER_FIELDS: &[&str] = &[
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Metadata fields the fake never stores.
pub const DROPPED_FIELDS: &[&str] = &["managedFields", "selfLink"];

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_are_whole_seconds_utc() {
        let s = now();
        let s = s.as_str().unwrap();
        assert_eq!(s.len(), "2026-01-01T00:00:00Z".len(), "{s}");
        assert!(s.ends_with('Z'));
    }

    #[test]
    fn owner_references_can_be_removed() {
        let mut o = json!({"metadata": {"ownerReferences": [{"uid": "a"}, {"uid": "b"}]}});
        assert_eq!(owner_uids(&o), ["a", "b"]);
        assert!(remove_owner(&mut o, "a"));
        assert!(!remove_owner(&mut o, "a"));
        assert!(remove_owner(&mut o, "b"));
        assert!(meta(&o).unwrap().get("ownerReferences").is_none());
    }

    #[test]
    fn spec_part_ignores_metadata_and_status() {
        let a = json!({"kind": "X", "metadata": {"labels": {"a": "1"}}, "spec": {"x": 1}, "status": {"y": 1}});
        let b = json!({"kind": "X", "metadata": {}, "spec": {"x": 1}, "status": {"y": 2}});
        assert_eq!(spec_part(&a), spec_part(&b));
        assert_eq!(spec_part(&a), json!({"spec": {"x": 1}}));
    }
}
