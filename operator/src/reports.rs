//! What the routers report about themselves in `<policy>-router-status`: one key per pod, its
//! value JSON `{"configHash", "device", "degraded": [...], "updated"}`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde::{Deserialize, Serialize};

/// One router pod's report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouterReport {
    /// `RouterConfig::hash()` of the config the pod serves.
    pub config_hash: String,
    /// Execution provider in use: `cpu` or `cuda`.
    #[serde(default)]
    pub device: String,
    /// Why the pod runs degraded (e.g. why CUDA is unavailable); empty when it is not.
    #[serde(default)]
    pub degraded: Vec<String>,
    /// When the pod wrote the report (RFC 3339).
    #[serde(default)]
    pub updated: Option<String>,
}

/// Reports by pod name, and the keys that did not parse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reports {
    /// Parsed reports by pod name.
    pub by_pod: BTreeMap<String, RouterReport>,
    /// Keys whose value is not a report (ignored, logged).
    pub malformed: Vec<String>,
}

/// Parses the reports in a status ConfigMap.
pub fn parse(cm: &ConfigMap) -> Reports {
    let mut out = Reports::default();
    for (pod, value) in cm.data.iter().flatten() {
        match serde_json::from_str::<RouterReport>(value) {
            Ok(r) => {
                out.by_pod.insert(pod.clone(), r);
            }
            Err(_) => out.malformed.push(pod.clone()),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_reports_and_flags_malformed_keys() {
        let cm = ConfigMap {
            data: Some(BTreeMap::from([
                (
                    "p-1".to_owned(),
                    r#"{"configHash":"abc","device":"cpu","degraded":["CUDA unavailable: no libcuda"],"updated":"2026-01-01T00:00:00Z"}"#.to_owned(),
                ),
                ("p-2".to_owned(), r#"{"configHash":"abc"}"#.to_owned()),
                ("junk".to_owned(), "not json".to_owned()),
            ])),
            ..ConfigMap::default()
        };
        let r = parse(&cm);
        assert_eq!(r.by_pod.len(), 2);
        assert_eq!(r.by_pod["p-1"].degraded.len(), 1);
        assert_eq!(r.by_pod["p-2"].device, "");
        assert_eq!(r.malformed, vec!["junk".to_owned()]);
    }
}
