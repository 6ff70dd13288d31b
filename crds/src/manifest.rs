//! Reading the YAML users `kubectl apply`: multi-document files or directories holding
//! `ModelEndpoint`, `RoutingPolicy` and `Secret` objects. Used by the router's standalone
//! mode (`serve -f`, `validate -f`, `route -f`) and by tests.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::endpoint::ModelEndpoint;
use crate::policy::RoutingPolicy;

/// API group/version of Switchyard objects.
pub const API_VERSION: &str = "switchyard.dev/v1alpha1";

/// Objects read from manifests.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    /// Routing policies, in file order.
    pub policies: Vec<RoutingPolicy>,
    /// Model endpoints, in file order.
    pub endpoints: Vec<ModelEndpoint>,
    /// Secrets, in file order.
    pub secrets: Vec<Secret>,
    /// Documents of other kinds that were skipped (`file: Kind name`).
    pub skipped: Vec<String>,
}

impl Manifests {
    /// Value of `key` in Secret `name` of `namespace`, decoded, from `data` or `stringData`.
    pub fn secret_value(&self, namespace: &str, name: &str, key: &str) -> Option<String> {
        let secret = self.secrets.iter().find(|s| {
            s.metadata.name.as_deref() == Some(name)
                && s.metadata.namespace.as_deref().unwrap_or("default") == namespace
        })?;
        if let Some(v) = secret.string_data.as_ref().and_then(|d| d.get(key)) {
            return Some(v.clone());
        }
        let bytes = secret.data.as_ref().and_then(|d| d.get(key))?;
        String::from_utf8(bytes.0.clone()).ok()
    }

    /// All secret values as `(namespace, name, key) -> value`.
    pub fn secret_map(&self) -> BTreeMap<(String, String, String), String> {
        let mut out = BTreeMap::new();
        for s in &self.secrets {
            let ns = s
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into());
            let name = s.metadata.name.clone().unwrap_or_default();
            for (k, v) in s.data.iter().flatten() {
                if let Ok(v) = String::from_utf8(v.0.clone()) {
                    out.insert((ns.clone(), name.clone(), k.clone()), v);
                }
            }
            for (k, v) in s.string_data.iter().flatten() {
                out.insert((ns.clone(), name.clone(), k.clone()), v.clone());
            }
        }
        out
    }
}

/// A manifest that could not be read, located as precisely as possible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    /// File it is in.
    pub file: PathBuf,
    /// 1-based document index within the file, when known.
    pub document: Option<usize>,
    /// `Kind namespace/name`, when known.
    pub object: Option<String>,
    /// Field path, when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(d) = self.document {
            write!(f, " (document {d})")?;
        }
        if let Some(o) = &self.object {
            write!(f, ": {o}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Lists the YAML files a path stands for: the file itself, or the `.yaml`/`.yml`/`.json`
/// files of a directory (recursively, sorted).
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ManifestError> {
    let mut out = Vec::new();
    for p in paths {
        collect(p, &mut out)?;
    }
    Ok(out)
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let err = |message: String| ManifestError {
        file: p.to_owned(),
        document: None,
        object: None,
        field: None,
        message,
    };
    let meta = std::fs::metadata(p).map_err(|e| err(format!("cannot read: {e}")))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| err(format!("cannot list directory: {e}")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            let is_manifest = e.is_dir()
                || matches!(
                    e.extension().and_then(|x| x.to_str()),
                    Some("yaml" | "yml" | "json")
                );
            if is_manifest {
                collect(&e, out)?;
            }
        }
    } else {
        out.push(p.to_owned());
    }
    Ok(())
}

/// Reads every object in the given files and directories. All errors are collected, so that
/// one run reports every problem.
pub fn load(paths: &[PathBuf]) -> Result<Manifests, Vec<ManifestError>> {
    let files = expand_paths(paths).map_err(|e| vec![e])?;
    let mut manifests = Manifests::default();
    let mut errors = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => parse_into(&file, &text, &mut manifests, &mut errors),
            Err(e) => errors.push(ManifestError {
                file: file.clone(),
                document: None,
                object: None,
                field: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(errors)
    }
}

/// Parses the YAML text of one file into `manifests`, appending problems to `errors`.
pub fn parse_into(
    file: &Path,
    text: &str,
    manifests: &mut Manifests,
    errors: &mut Vec<ManifestError>,
) {
    let docs: Vec<Value> = match serde_saphyr::from_multiple(text) {
        Ok(d) => d,
        Err(e) => {
            errors.push(ManifestError {
                file: file.to_owned(),
                document: None,
                object: None,
                field: None,
                message: format!("not valid YAML: {e}"),
            });
            return;
        }
    };
    for (i, doc) in docs.into_iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        let err = |object: Option<String>, field: Option<String>, message: String| ManifestError {
            file: file.to_owned(),
            document: Some(i + 1),
            object,
            field,
            message,
        };
        let Some(kind) = doc.get("kind").and_then(Value::as_str).map(str::to_owned) else {
            errors.push(err(
                None,
                Some("kind".into()),
                "missing: every object needs a kind".into(),
            ));
            continue;
        };
        let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let namespace = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_owned();
        let object = Some(format!("{kind} {namespace}/{name}"));
        if name.is_empty() {
            errors.push(err(object, Some("metadata.name".into()), "missing".into()));
            continue;
        }
        match (kind.as_str(), api_version) {
            ("ModelEndpoint", API_VERSION) => match decode::<ModelEndpoint>(doc) {
                Ok(o) => manifests.endpoints.push(o),
                Err((field, msg)) => errors.push(err(object, field, msg)),
            },
            ("RoutingPolicy", API_VERSION) => match decode::<RoutingPolicy>(doc) {
                Ok(o) => manifests.policies.push(o),
                Err((field, msg)) => errors.push(err(object, field, msg)),
            },
            ("Secret", "v1") => match decode::<Secret>(doc) {
                Ok(o) => manifests.secrets.push(o),
                Err((field, msg)) => errors.push(err(object, field, msg)),
            },
            ("ModelEndpoint" | "RoutingPolicy", other) => errors.push(err(
                object,
                Some("apiVersion".into()),
                format!("{other:?} is not supported; use {API_VERSION}"),
            )),
            _ => manifests
                .skipped
                .push(format!("{}: {kind} {name}", file.display())),
        }
    }
}

/// Deserializes with the failing field's path in the error.
fn decode<T: DeserializeOwned>(doc: Value) -> Result<T, (Option<String>, String)> {
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        (field, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Manifests, Vec<ManifestError>) {
        let mut m = Manifests::default();
        let mut e = Vec::new();
        parse_into(Path::new("t.yaml"), text, &mut m, &mut e);
        (m, e)
    }

    #[test]
    fn reads_multi_document_files() {
        let (m, e) = parse(
            "apiVersion: switchyard.dev/v1alpha1\nkind: ModelEndpoint\nmetadata: {name: a}\n\
             spec: {model: m, baseURL: 'http://x/v1'}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ai}\n\
             stringData: {k: plain}\ndata: {b: aGVsbG8=}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(m.endpoints.len(), 1);
        assert_eq!(m.secret_value("ai", "s", "k").as_deref(), Some("plain"));
        assert_eq!(m.secret_value("ai", "s", "b").as_deref(), Some("hello"));
        assert_eq!(m.secret_value("default", "s", "k"), None);
        assert_eq!(m.skipped.len(), 1);
    }

    #[test]
    fn names_the_field_of_a_type_error() {
        let (_, e) = parse(
            "apiVersion: switchyard.dev/v1alpha1\nkind: ModelEndpoint\nmetadata: {name: a}\n\
             spec: {model: m, baseURL: 'http://x/v1', limits: {maxConcurrency: lots}}\n",
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field.as_deref(), Some("spec.limits.maxConcurrency"));
        assert_eq!(e[0].object.as_deref(), Some("ModelEndpoint default/a"));
        assert_eq!(e[0].document, Some(1));
    }

    #[test]
    fn rejects_unknown_fields() {
        let (_, e) = parse(
            "apiVersion: switchyard.dev/v1alpha1\nkind: ModelEndpoint\nmetadata: {name: a}\n\
             spec: {model: m, baseURL: 'http://x/v1', colour: blue}\n",
        );
        assert_eq!(e.len(), 1);
        assert!(
            e[0].message.contains("unknown field `colour`"),
            "{}",
            e[0].message
        );
    }

    #[test]
    fn reports_yaml_syntax_errors_and_missing_kind() {
        let (_, e) = parse("a: [1, 2\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].message.starts_with("not valid YAML"));
        let (_, e) = parse("metadata: {name: x}\n");
        assert_eq!(e[0].field.as_deref(), Some("kind"));
    }

    #[test]
    fn rejects_wrong_api_version() {
        let (_, e) = parse(
            "apiVersion: switchyard.dev/v1\nkind: RoutingPolicy\nmetadata: {name: a}\nspec: {}\n",
        );
        assert_eq!(e[0].field.as_deref(), Some("apiVersion"));
    }
}
