//! Whole-file validation of manifests, as `switchyard-router validate -f` reports it: YAML and
//! type errors, schema and CEL violations (what the API server would reject), and resolution
//! problems (what the operator would report), each naming file, object and field.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::manifest::{self, Manifests};
use crate::resolve::{ResolveOptions, resolve_all};
use crate::schema::validate_object;

/// One problem found in the manifests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// `file (document N): Kind namespace/name`, as precise as known.
    pub location: String,
    /// Dotted field path, when known.
    pub field: Option<String>,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {}: {}", self.location, field, self.message),
            None => write!(f, "{}: {}", self.location, self.message),
        }
    }
}

/// Outcome of checking a set of files.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every problem; empty when the manifests are valid.
    pub findings: Vec<Finding>,
    /// The objects read (possibly partial when there were findings).
    pub manifests: Manifests,
}

impl Report {
    /// One-line summary of what was read.
    pub fn summary(&self) -> String {
        format!(
            "{} RoutingPolicy, {} ModelEndpoint, {} Secret{}",
            self.manifests.policies.len(),
            self.manifests.endpoints.len(),
            self.manifests.secrets.len(),
            if self.manifests.skipped.is_empty() {
                String::new()
            } else {
                format!(" ({} other objects ignored)", self.manifests.skipped.len())
            }
        )
    }
}

/// Checks every object in the given files and directories, resolving as standalone mode does.
pub fn check_paths(paths: &[PathBuf]) -> Report {
    check_paths_with(paths, &ResolveOptions::default())
}

/// Checks every object, resolving model references with `opts` (in-cluster resolution accepts
/// model volumes).
pub fn check_paths_with(paths: &[PathBuf], opts: &ResolveOptions) -> Report {
    let mut report = Report::default();
    let files = match manifest::expand_paths(paths) {
        Ok(f) => f,
        Err(e) => {
            report.findings.push(Finding {
                location: e.file.display().to_string(),
                field: None,
                message: e.message,
            });
            return report;
        }
    };
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(text) => check_text(file, &text, &mut report),
            Err(e) => report.findings.push(Finding {
                location: file.display().to_string(),
                field: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    let resolution = resolve_all(
        &report.manifests.policies,
        &report.manifests.endpoints,
        opts,
    );
    for p in resolution.problems {
        let finding = Finding {
            location: p.object,
            field: Some(p.field),
            message: p.message,
        };
        if !report.findings.contains(&finding) {
            report.findings.push(finding);
        }
    }
    report
}

/// Checks the text of one file, adding its objects and findings to `report`.
pub fn check_text(file: &Path, text: &str, report: &mut Report) {
    let mut errors = Vec::new();
    manifest::parse_into(file, text, &mut report.manifests, &mut errors);
    for e in errors {
        let mut location = format!("{}", e.file.display());
        if let Some(d) = e.document {
            location.push_str(&format!(" (document {d})"));
        }
        if let Some(o) = &e.object {
            location.push_str(&format!(": {o}"));
        }
        report.findings.push(Finding {
            location,
            field: e.field,
            message: e.message,
        });
    }
    // Schema and CEL checks need the raw documents.
    let Ok(docs) = serde_saphyr::from_multiple::<Value>(text) else {
        return;
    };
    for (i, doc) in docs.iter().enumerate() {
        let Some(violations) = validate_object(doc) else {
            continue;
        };
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ns = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        for v in violations {
            report.findings.push(Finding {
                location: format!(
                    "{} (document {}): {kind} {ns}/{name}",
                    file.display(),
                    i + 1
                ),
                field: (!v.field.is_empty()).then_some(v.field),
                message: v.message,
            });
        }
    }
}
