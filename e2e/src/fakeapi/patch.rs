//! PATCH bodies by content type. Merge patch (RFC 7386) and JSON patch (RFC 6902) are
//! exact. Strategic merge patch is treated as a merge patch after dropping `$`-directives
//! (`$patch`, `$setElementOrder/...`, `$retainKeys`): lists are replaced, not merged by key.
//! Server-side apply is emulated as create-or-merge: the applied configuration is merged
//! into the live object like a merge patch (maps merged, lists replaced wholesale); field
//! ownership, conflicts between managers and removal of fields a manager stops applying
//! are NOT emulated.

use serde_json::Value;

use super::status::ApiError;

/// A parsed PATCH body.
#[derive(Clone, Debug)]
pub(crate) enum PatchBody {
    /// `application/merge-patch+json`, and strategic merge patches.
    Merge(Value),
    /// `application/json-patch+json`.
    Json(json_patch::Patch),
    /// `application/apply-patch+yaml` (server-side apply).
    Apply {
        /// The applied configuration.
        config: Value,
    },
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => {
            a.retain(|item| {
                item.as_object()
                    .is_none_or(|o| !(o.len() == 1 && o.contains_key("$patch")))
            });
            a.iter_mut().for_each(strip_directives);
        }
        _ => {}
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

impl PatchBody {
    /// Parses a body by its `Content-Type`. Apply needs a `fieldManager`.
    pub fn parse(
        content_type: &str,
        body: &[u8],
        field_manager: Option<&str>,
    ) -> Result<Self, ApiError> {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/merge-patch+json" => Ok(Self::Merge(parse_json(body)?)),
            "application/strategic-merge-patch+json" => {
                let mut v = parse_json(body)?;
                strip_directives(&mut v);
                Ok(Self::Merge(v))
            }
            "application/json-patch+json" => serde_json::from_slice(body)
                .map(Self::Json)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}"))),
            "application/apply-patch+yaml" => {
                if field_manager.is_none_or(str::is_empty) {
                    return Err(ApiError::bad_request(
                        "PATCH request with apply-patch must include a fieldManager",
                    ));
                }
                let config = match serde_json::from_slice(body) {
                    Ok(v) => v,
                    Err(_) => {
                        let text = std::str::from_utf8(body).map_err(|e| {
                            ApiError::bad_request(format!("error decoding YAML: {e}"))
                        })?;
                        serde_saphyr::from_str::<Value>(text).map_err(|e| {
                            ApiError::bad_request(format!("error decoding YAML: {e}"))
                        })?
                    }
                };
                if !config.is_object() {
                    return Err(ApiError::bad_request(
                        "the applied configuration must be an object",
                    ));
                }
                Ok(Self::Apply { config })
            }
            _ => Err(ApiError::new(
                415,
                format!(
                    "the body of the request was in an unknown format ({media}) - accepted media \
                     types include: application/json-patch+json, application/merge-patch+json, \
                     application/apply-patch+yaml"
                ),
            )),
        }
    }

    /// The live object with the patch applied.
    pub fn apply_to(&self, live: &Value) -> Result<Value, ApiError> {
        let mut doc = live.clone();
        match self {
            Self::Merge(p) | Self::Apply { config: p } => {
                if !p.is_object() {
                    return Err(ApiError::bad_request("a merge patch must be a JSON object"));
                }
                json_patch::merge(&mut doc, p);
            }
            Self::Json(p) => {
                json_patch::patch(&mut doc, p).map_err(|e| {
                    ApiError::new(
                        422,
                        format!(
                            "the server rejected our request due to an error in our request: {e}"
                        ),
                    )
                })?;
            }
        }
        Ok(doc)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live() -> Value {
        json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v", "old": "o"}, "list": [1, 2]})
    }

    #[test]
    fn merge_patch_merges_maps_and_replaces_lists() {
        let p = PatchBody::parse(
            "application/merge-patch+json",
            br#"{"data": {"old": null, "n": "1"}, "list": [3]}"#,
            None,
        )
        .unwrap();
        let out = p.apply_to(&live()).unwrap();
        assert_eq!(out["data"], json!({"k": "v", "n": "1"}));
        assert_eq!(out["list"], json!([3]));
    }

    #[test]
    fn strategic_merge_drops_directives() {
        let p = PatchBody::parse(
            "application/strategic-merge-patch+json; charset=utf-8",
            br#"{"$setElementOrder/list": [1], "metadata": {"labels": {"y": "2", "$patch": "merge"}}}"#,
            None,
        )
        .unwrap();
        let out = p.apply_to(&live()).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"x": "1", "y": "2"}));
        assert!(out.get("$setElementOrder/list").is_none());
    }

    #[test]
    fn json_patch_applies_and_reports_failed_tests() {
        let p = PatchBody::parse(
            "application/json-patch+json",
            br#"[{"op": "replace", "path": "/data/k", "value": "w"}]"#,
            None,
        )
        .unwrap();
        assert_eq!(p.apply_to(&live()).unwrap()["data"]["k"], "w");
        let p = PatchBody::parse(
            "application/json-patch+json",
            br#"[{"op": "test", "path": "/data/k", "value": "nope"}]"#,
            None,
        )
        .unwrap();
        assert_eq!(p.apply_to(&live()).unwrap_err().code, 422);
    }

    #[test]
    fn apply_needs_a_field_manager_and_accepts_yaml() {
        let yaml = b"metadata:\n  name: a\ndata:\n  k: applied\n";
        let err = PatchBody::parse("application/apply-patch+yaml", yaml, None).unwrap_err();
        assert_eq!(err.code, 400);
        let p = PatchBody::parse("application/apply-patch+yaml", yaml, Some("m")).unwrap();
        let out = p.apply_to(&live()).unwrap();
        assert_eq!(out["data"], json!({"k": "applied", "old": "o"}));
        let err = PatchBody::parse("text/plain", b"{}", None).unwrap_err();
        assert_eq!(err.code, 415);
    }
}
