//! Offline validation of custom-resource objects against the generated CRD schemas: the
//! OpenAPI checks (types, enums, ranges, lengths, required and unknown fields) and the CEL
//! `x-kubernetes-validations` rules, i.e. what `kubectl apply --validate=strict` gets from a
//! real API server. Used by `switchyard-router validate` and by the example tests.

use std::sync::OnceLock;

use kube::core::cel::Validator;
use serde_json::{Map, Value};

use crate::crds;

/// One schema violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Dotted path of the offending field (`spec.auto.tolerance`); empty for the root.
    pub field: String,
    /// What the schema says.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

struct Compiled {
    kind: String,
    openapi: Value,
    validator: jsonschema::Validator,
}

fn compiled() -> &'static [Compiled] {
    static CELL: OnceLock<Vec<Compiled>> = OnceLock::new();
    CELL.get_or_init(|| {
        crds()
            .into_iter()
            .filter_map(|(_, crd)| {
                let version = crd.spec.versions.into_iter().next()?;
                let openapi = serde_json::to_value(version.schema?.open_api_v3_schema?).ok()?;
                let mut json_schema = to_json_schema(&openapi);
                // The API server itself checks the envelope; accept it here.
                if let Some(Value::Object(props)) = json_schema.get_mut("properties") {
                    props.insert("apiVersion".into(), serde_json::json!({"type": "string"}));
                    props.insert("kind".into(), serde_json::json!({"type": "string"}));
                    props.insert("metadata".into(), serde_json::json!({"type": "object"}));
                }
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft4)
                    .build(&json_schema)
                    .ok()?;
                Some(Compiled {
                    kind: crd.spec.names.kind,
                    openapi,
                    validator,
                })
            })
            .collect()
    })
}

/// Rewrites an OpenAPI v3 (Kubernetes structural) schema into plain JSON Schema:
/// `nullable` becomes a `null` type, and objects with declared properties reject unknown
/// ones unless `x-kubernetes-preserve-unknown-fields` says otherwise (the API server's
/// strict field validation).
fn to_json_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out: Map<String, Value> = m
                .iter()
                .filter(|(k, _)| !k.starts_with("x-kubernetes-") && *k != "nullable")
                .map(|(k, v)| (k.clone(), to_json_schema(v)))
                .collect();
            // `properties` is a map of names, not a schema: recurse into its values only.
            if let Some(Value::Object(props)) = m.get("properties") {
                let props: Map<String, Value> = props
                    .iter()
                    .map(|(k, v)| (k.clone(), to_json_schema(v)))
                    .collect();
                out.insert("properties".into(), Value::Object(props));
            }
            if m.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(t)) = m.get("type")
            {
                out.insert("type".into(), serde_json::json!([t, "null"]));
            }
            let preserve =
                m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if m.contains_key("properties") && !m.contains_key("additionalProperties") && !preserve
            {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            if m.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
                out.insert("type".into(), serde_json::json!(["integer", "string"]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

/// Longest violation message reported.
const MAX_MESSAGE: usize = 512;

fn truncate(message: &mut String) {
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE - 3;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("...");
    }
}

/// Converts a JSON pointer (`/spec/routes/0/name`) into a dotted path (`spec.routes[0].name`).
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').filter(|s| !s.is_empty()) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// Validates one object (as JSON) of kind `ModelEndpoint` or `RoutingPolicy`. `None` when the
/// kind is not one of Switchyard's.
pub fn validate_object(object: &Value) -> Option<Vec<Violation>> {
    let (c, mut out) = structural(object)?;
    // CEL rules assume a structurally valid object; only run them on one.
    if out.is_empty()
        && let Err(errs) = Validator::new().validate(&c.openapi, object, None)
    {
        out.extend(errs.into_vec().into_iter().map(|e| Violation {
            field: e.field_path.trim_start_matches('.').to_owned(),
            message: e.message,
        }));
    }
    Some(out)
}

/// The OpenAPI part of [`validate_object`] alone (types, enums, ranges, lengths, required
/// and unknown fields), without the CEL rules: cheap enough to run on every reconcile.
pub fn validate_structure(object: &Value) -> Option<Vec<Violation>> {
    structural(object).map(|(_, v)| v)
}

fn structural(object: &Value) -> Option<(&'static Compiled, Vec<Violation>)> {
    let kind = object.get("kind")?.as_str()?;
    let c = compiled().iter().find(|c| c.kind == kind)?;
    let out: Vec<Violation> = c
        .validator
        .iter_errors(object)
        .map(|e| {
            let field = dotted(e.instance_path().as_str());
            let mut message = e.to_string();
            // A hostile value (a megabyte string, thousands of items) would be quoted whole;
            // name it instead, and never report more than `MAX_MESSAGE` bytes.
            if message.len() > MAX_MESSAGE {
                message = e.masked_with("the value").to_string();
            }
            truncate(&mut message);
            if message.contains("Additional properties are not allowed") {
                message = message.replace(
                    "Additional properties are not allowed",
                    "unknown field (not in the schema)",
                );
            }
            Violation { field, message }
        })
        .collect();
    Some((c, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn endpoint(spec: Value) -> Value {
        json!({"apiVersion": "switchyard.dev/v1alpha1", "kind": "ModelEndpoint",
               "metadata": {"name": "e"}, "spec": spec})
    }

    #[test]
    fn accepts_a_minimal_endpoint() {
        let v = validate_object(&endpoint(
            json!({"model": "m", "baseURL": "http://x:8000/v1"}),
        ));
        assert_eq!(v, Some(vec![]));
    }

    #[test]
    fn rejects_unknown_fields_wrong_types_and_enums() {
        let v = validate_object(&endpoint(json!({
            "model": "m", "baseURL": "http://x/v1", "colour": "blue",
            "provider": "anthropic", "limits": {"maxConcurrency": "ten"}
        })))
        .unwrap_or_default();
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert!(fields.contains(&"spec"), "{v:?}");
        assert!(fields.contains(&"spec.provider"), "{v:?}");
        assert!(fields.contains(&"spec.limits.maxConcurrency"), "{v:?}");
        assert!(v.iter().any(|v| v.message.contains("colour")), "{v:?}");
    }

    #[test]
    fn runs_cel_rules() {
        let v = validate_object(&endpoint(json!({
            "model": "m", "baseURL": "https://x.openai.azure.com", "provider": "azure-openai"
        })))
        .unwrap_or_default();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("azure-openai needs spec.azure"),
            "{v:?}"
        );
    }

    #[test]
    fn ignores_other_kinds() {
        assert_eq!(validate_object(&json!({"kind": "ConfigMap"})), None);
    }

    #[test]
    fn dotted_paths() {
        assert_eq!(
            dotted("/spec/intent/routes/0/name"),
            "spec.intent.routes[0].name"
        );
        assert_eq!(dotted(""), "");
    }
}
