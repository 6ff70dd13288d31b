//! Failures as the real API server reports them: a `Status` object (`kind: Status`) with the
//! HTTP code, a machine-readable `reason`, a message worded like the real one, and `details`
//! naming the object. kube-rs parses these bodies into `kube::Error::Api`.

use serde_json::{Value, json};

use super::resources::ResourceInfo;

/// An API failure, rendered as a Kubernetes `Status` body with the same HTTP code.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{reason} ({code}): {message}")]
pub struct ApiError {
    /// HTTP status code (404, 409, ...).
    pub code: u16,
    /// `Status.reason` (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, ...).
    pub reason: String,
    /// Human-readable message, worded as the real server words it.
    pub message: String,
    /// `Status.details`, when the failure is about one object.
    pub details: Option<Value>,
}

/// One field-level cause of an `Invalid` (422) failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// Dotted field path (`spec.routes[0].name`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The `reason` the real server uses for an HTTP code, for failures injected by tests.
pub fn reason_for_code(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

fn details(info: &ResourceInfo, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": info.plural});
    if !info.group.is_empty() {
        d["group"] = json!(info.group);
    }
    d
}

impl ApiError {
    /// A failure with the given code and message and the usual reason for that code.
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason_for_code(code).to_owned(),
            message: message.into(),
            details: None,
        }
    }

    /// `404 NotFound` for one object: `configmaps "x" not found`.
    pub fn not_found(info: &ResourceInfo, name: &str) -> Self {
        Self {
            details: Some(details(info, name)),
            ..Self::new(404, format!("{} \"{name}\" not found", info.qualified()))
        }
    }

    /// `404 NotFound` for a path the server does not serve.
    pub fn no_such_path() -> Self {
        Self::new(404, "the server could not find the requested resource")
    }

    /// `409 AlreadyExists`: `configmaps "x" already exists`.
    pub fn already_exists(info: &ResourceInfo, name: &str) -> Self {
        Self {
            reason: "AlreadyExists".into(),
            details: Some(details(info, name)),
            ..Self::new(
                409,
                format!("{} \"{name}\" already exists", info.qualified()),
            )
        }
    }

    /// `409 Conflict` for a stale `resourceVersion` (optimistic concurrency).
    pub fn conflict(info: &ResourceInfo, name: &str) -> Self {
        Self {
            details: Some(details(info, name)),
            ..Self::new(
                409,
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                     please apply your changes to the latest version and try again",
                    info.qualified()
                ),
            )
        }
    }

    /// `409 Conflict` for a failed delete precondition.
    pub fn precondition_failed(info: &ResourceInfo, name: &str, what: &str) -> Self {
        Self {
            details: Some(details(info, name)),
            ..Self::new(
                409,
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: {what}",
                    info.qualified()
                ),
            )
        }
    }

    /// `422 Invalid` with field causes, like a failed OpenAPI or CEL validation.
    pub fn invalid(info: &ResourceInfo, name: &str, causes: &[Cause]) -> Self {
        let listed: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let kind_group = if info.group.is_empty() {
            info.kind.clone()
        } else {
            format!("{}.{}", info.kind, info.group)
        };
        let message = match listed.as_slice() {
            [one] => format!("{kind_group} \"{name}\" is invalid: {one}"),
            many => format!("{kind_group} \"{name}\" is invalid: [{}]", many.join(", ")),
        };
        let mut d = json!({
            "name": name,
            "kind": info.kind,
            "causes": causes.iter().map(|c| json!({
                "reason": "FieldValueInvalid", "message": c.message, "field": c.field,
            })).collect::<Vec<_>>(),
        });
        if !info.group.is_empty() {
            d["group"] = json!(info.group);
        }
        Self {
            details: Some(d),
            ..Self::new(422, message)
        }
    }

    /// `400 BadRequest` with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// `405 MethodNotAllowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "the server does not allow this method on the requested resource",
        )
    }

    /// `410 Expired`: the requested resourceVersion is older than the kept history.
    pub fn expired(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// The `Status` body the real server sends.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::fakeapi::resources::ResourceTable;

    #[test]
    fn not_found_matches_the_real_wording() {
        let table = ResourceTable::builtin();
        let cm = table.find("", "v1", "configmaps").unwrap();
        let s = ApiError::not_found(cm, "x").to_status();
        assert_eq!(s["message"], "configmaps \"x\" not found");
        assert_eq!(s["details"], json!({"name": "x", "kind": "configmaps"}));
        let dep = table.find("apps", "v1", "deployments").unwrap();
        let s = ApiError::already_exists(dep, "d").to_status();
        assert_eq!(s["message"], "deployments.apps \"d\" already exists");
        assert_eq!(s["details"]["group"], "apps");
        assert_eq!(s["code"], 409);
    }

    #[test]
    fn invalid_lists_every_cause() {
        let table = ResourceTable::builtin();
        let rp = table
            .find("switchyard.dev", "v1alpha1", "routingpolicies")
            .unwrap();
        let causes = [
            Cause {
                field: "spec.a".into(),
                message: "bad".into(),
            },
            Cause {
                field: "spec.b".into(),
                message: "worse".into(),
            },
        ];
        let e = ApiError::invalid(rp, "p", &causes);
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "RoutingPolicy.switchyard.dev \"p\" is invalid: [spec.a: bad, spec.b: worse]"
        );
        assert_eq!(e.details.unwrap()["causes"][1]["field"], "spec.b");
    }
}
