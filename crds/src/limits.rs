//! Size limits that the CRD schemas put on fields whose types come from Kubernetes itself
//! (affinity, tolerations, resources, node selectors, status conditions): upstream leaves
//! most of their strings, lists and maps unbounded. Bounding them lets the API server refuse a
//! hostile object at admission instead of the operator meeting it, and keeps the estimated
//! cost of CEL rules low. Switchyard's own fields carry explicit `length`/`range` attributes
//! next to their definitions instead.

use schemars::Schema;
use serde_json::{Map, Value};

/// Most items of any list inside an embedded Kubernetes type (e.g. node-affinity terms,
/// match expressions, the values of one expression).
pub const EMBEDDED_MAX_ITEMS: u64 = 64;
/// Longest string inside an embedded Kubernetes type. Label keys are at most 317 characters
/// and label values 63, so every meaningful value fits.
pub const EMBEDDED_MAX_LENGTH: u64 = 1024;
/// Most entries of any map inside an embedded Kubernetes type (e.g. `matchLabels`,
/// resource `limits`), and of `spec.router.nodeSelector`.
pub const EMBEDDED_MAX_PROPERTIES: u64 = 64;

/// Most status conditions (the operator writes three).
pub const CONDITIONS_MAX_ITEMS: u64 = 16;

/// Schema transform: adds `maxItems`, `maxLength` and `maxProperties` to every list, string
/// and map of the subtree that lacks one (existing, tighter bounds are kept). Enumerations
/// and formatted strings (dates) are already bounded and left alone.
pub fn bound_embedded(schema: &mut Schema) {
    if let Some(map) = schema.as_object_mut() {
        bound_node(map);
    }
}

fn bound_node(node: &mut Map<String, Value>) {
    let ty = node.get("type").and_then(Value::as_str).map(str::to_owned);
    match ty.as_deref() {
        Some("string") if !node.contains_key("enum") && !node.contains_key("format") => {
            node.entry("maxLength")
                .or_insert(EMBEDDED_MAX_LENGTH.into());
        }
        Some("array") => {
            node.entry("maxItems").or_insert(EMBEDDED_MAX_ITEMS.into());
        }
        Some("object")
            if node
                .get("additionalProperties")
                .is_some_and(Value::is_object) =>
        {
            node.entry("maxProperties")
                .or_insert(EMBEDDED_MAX_PROPERTIES.into());
        }
        _ => {}
    }
    for key in ["items", "additionalProperties"] {
        if let Some(Value::Object(child)) = node.get_mut(key) {
            bound_node(child);
        }
    }
    if let Some(Value::Object(props)) = node.get_mut("properties") {
        for child in props.values_mut() {
            if let Value::Object(child) = child {
                bound_node(child);
            }
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(list)) = node.get_mut(key) {
            for child in list {
                if let Value::Object(child) = child {
                    bound_node(child);
                }
            }
        }
    }
}

/// Schema transform for a `conditions` list of `metav1.Condition`: the limits Kubernetes
/// declares for that type (type 316 characters, reason 1024, message 32768, status one of
/// `True`, `False`, `Unknown`) and at most [`CONDITIONS_MAX_ITEMS`] entries.
pub fn bound_conditions(schema: &mut Schema) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    map.insert("maxItems".into(), CONDITIONS_MAX_ITEMS.into());
    let Some(Value::Object(props)) = map
        .get_mut("items")
        .and_then(|i| i.as_object_mut())
        .and_then(|i| i.get_mut("properties"))
    else {
        return;
    };
    for (field, max) in [("type", 316u64), ("reason", 1024), ("message", 32768)] {
        if let Some(Value::Object(p)) = props.get_mut(field) {
            p.insert("maxLength".into(), max.into());
        }
    }
    if let Some(Value::Object(p)) = props.get_mut("status") {
        p.insert(
            "enum".into(),
            Value::Array(vec!["True".into(), "False".into(), "Unknown".into()]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bounds_what_is_unbounded_and_keeps_tighter_bounds() {
        let mut s: Schema = serde_json::from_value(json!({
            "type": "object",
            "properties": {
                "names": {"type": "array", "maxItems": 3, "items": {"type": "string"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "when": {"type": "string", "format": "date-time"},
                "terms": {"type": "array", "items": {"type": "object", "properties": {
                    "key": {"type": "string", "maxLength": 10}}}}
            }
        }))
        .unwrap_or_else(|_| Schema::default());
        bound_embedded(&mut s);
        let v = s.as_value();
        assert_eq!(v.pointer("/properties/names/maxItems"), Some(&json!(3)));
        assert_eq!(
            v.pointer("/properties/names/items/maxLength"),
            Some(&json!(EMBEDDED_MAX_LENGTH))
        );
        assert_eq!(
            v.pointer("/properties/labels/maxProperties"),
            Some(&json!(EMBEDDED_MAX_PROPERTIES))
        );
        assert_eq!(
            v.pointer("/properties/labels/additionalProperties/maxLength"),
            Some(&json!(EMBEDDED_MAX_LENGTH))
        );
        assert_eq!(v.pointer("/properties/mode/maxLength"), None);
        assert_eq!(v.pointer("/properties/when/maxLength"), None);
        assert_eq!(
            v.pointer("/properties/terms/maxItems"),
            Some(&json!(EMBEDDED_MAX_ITEMS))
        );
        assert_eq!(
            v.pointer("/properties/terms/items/properties/key/maxLength"),
            Some(&json!(10))
        );
    }
}
