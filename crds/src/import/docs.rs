//! The objects an import writes, as serializable structs in the field order users read
//! (`apiVersion`, `kind`, `metadata`, `spec`), with only the fields an import sets, and the
//! commented multi-document YAML they are printed as.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::{ImportError, ImportOptions};
use crate::common::{ModelSource, SecretKeyRef};
use crate::policy::ModelVolume;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Meta {
    pub(super) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) namespace: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SecretDoc {
    pub(super) api_version: &'static str,
    pub(super) kind: &'static str,
    pub(super) metadata: Meta,
    #[serde(rename = "type")]
    pub(super) kind_of_secret: &'static str,
    pub(super) string_data: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EndpointDoc {
    pub(super) api_version: &'static str,
    pub(super) kind: &'static str,
    pub(super) metadata: Meta,
    pub(super) spec: EndpointSpecOut,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EndpointSpecOut {
    pub(super) model: String,
    pub(super) provider: &'static str,
    #[serde(rename = "baseURL")]
    pub(super) base_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) api_key_secret_ref: Option<SecretKeyRef>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PolicyDoc {
    pub(super) api_version: &'static str,
    pub(super) kind: &'static str,
    pub(super) metadata: Meta,
    pub(super) spec: PolicySpecOut,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PolicySpecOut {
    pub(super) strategy: &'static str,
    pub(super) intent: IntentOut,
    pub(super) router: RouterOut,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IntentOut {
    pub(super) classifier: ClassifierOut,
    pub(super) routes: Vec<RouteOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClassifierOut {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) model: ModelSource,
    pub(super) labels: Vec<String>,
    pub(super) confidence_floor: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RouteOut {
    pub(super) name: String,
    pub(super) description: String,
    pub(super) endpoints: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) labels: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RouterOut {
    pub(super) model_volumes: Vec<ModelVolume>,
}

/// One document of the output with the comment lines printed above it.
pub(super) struct Doc {
    pub(super) comments: Vec<String>,
    pub(super) yaml: String,
    pub(super) value: Value,
}

/// Serializes one object both as YAML (for the file) and as JSON (for `objects`).
pub(super) fn doc<T: Serialize>(comments: Vec<String>, object: &T) -> Result<Doc, ImportError> {
    Ok(Doc {
        comments,
        yaml: serde_saphyr::to_string(object).map_err(ImportError::Serialize)?,
        value: serde_json::to_value(object).map_err(ImportError::Json)?,
    })
}

/// Metadata with the options' namespace.
pub(super) fn meta(
    name: &str,
    opts: &ImportOptions,
    annotations: BTreeMap<String, String>,
) -> Meta {
    Meta {
        name: name.to_owned(),
        namespace: opts.namespace.clone(),
        annotations,
    }
}

/// The output file: a header listing the steps left to the user, then each document with its
/// comment lines.
pub(super) fn render(notes: &[String], docs: &[Doc]) -> String {
    let mut yaml = String::from(
        "# Imported from an NVIDIA LLM Router v1 config.yaml by \
         `switchyard-router import nvidia-v1`.\n# Before applying:\n",
    );
    for n in notes {
        yaml.push_str(&format!("#   - {n}\n"));
    }
    for d in docs {
        yaml.push_str("---\n");
        for c in &d.comments {
            yaml.push_str(&format!("# {c}\n"));
        }
        yaml.push_str(&d.yaml);
        if !d.yaml.ends_with('\n') {
            yaml.push('\n');
        }
    }
    yaml
}
