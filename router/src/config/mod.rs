//! Where the served config comes from, and keeping it current:
//! - `-f` files or directories of CR YAML (`ModelEndpoint`, `RoutingPolicy`, `Secret`),
//!   resolved with the same code the operator uses;
//! - `--config`: the resolved `RouterConfig` YAML the operator writes;
//! - neither: the embedded quickstart (`manifests/examples/quickstart.yaml`);
//! - in a cluster: a ConfigMap and the Secrets it references ([`kube`]).
//!
//! Files are watched ([`watch`]); every change is parsed and validated in full and swapped in
//! atomically, or rejected while the old config keeps serving.
//!
//! API keys referenced by endpoints but not given as Secrets in the files are read from the
//! environment variable named by the reference's `key` (standalone modes only).

pub mod kube;
pub mod report;
pub mod watch;

use std::path::{Path, PathBuf};

use switchyard_crds::RouterConfig;
use switchyard_crds::manifest::{self, Manifests};
use switchyard_crds::resolve::{ResolveOptions, Severity, resolve_all};

use crate::secrets::SecretStore;
use crate::state::{AppState, ReloadError};

/// The quickstart served when no config is given.
pub const EMBEDDED_QUICKSTART: &str = include_str!("../../../manifests/examples/quickstart.yaml");

/// Name under which the embedded quickstart appears in messages.
pub const EMBEDDED_NAME: &str = "<embedded quickstart.yaml>";

/// A standalone config source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// CR YAML files or directories (`-f`).
    Files(Vec<PathBuf>),
    /// A resolved `RouterConfig` file (`--config`).
    Resolved(PathBuf),
    /// The embedded quickstart.
    Embedded,
}

impl Source {
    /// The paths to watch for changes.
    pub fn paths(&self) -> Vec<PathBuf> {
        match self {
            Self::Files(p) => p.clone(),
            Self::Resolved(p) => vec![p.clone()],
            Self::Embedded => Vec::new(),
        }
    }
}

/// A config ready to be served, with its API keys.
#[derive(Debug)]
pub struct Loaded {
    /// The resolved config.
    pub config: RouterConfig,
    /// API keys from the files (plus the environment fallback).
    pub secrets: SecretStore,
    /// Degradations found while resolving.
    pub degraded: Vec<String>,
}

/// Resolves manifests into a config. Errors list every problem, one per line.
pub fn from_manifests(m: &Manifests) -> Result<Loaded, ReloadError> {
    if m.policies.is_empty() && m.endpoints.is_empty() {
        return Err(ReloadError::Source(
            "no RoutingPolicy or ModelEndpoint objects found".into(),
        ));
    }
    let res = resolve_all(&m.policies, &m.endpoints, &ResolveOptions::default());
    let degraded: Vec<String> = res
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Degraded)
        .map(ToString::to_string)
        .collect();
    let Some(config) = res.config else {
        let errors: Vec<String> = res
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        return Err(ReloadError::Source(errors.join("\n")));
    };
    let values = m.secret_map().into_iter().collect();
    Ok(Loaded {
        config,
        secrets: SecretStore::new(values, true),
        degraded,
    })
}

fn manifest_errors(errors: Vec<manifest::ManifestError>) -> ReloadError {
    ReloadError::Source(
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Parses the embedded quickstart.
pub fn embedded() -> Result<Loaded, ReloadError> {
    let mut m = Manifests::default();
    let mut errors = Vec::new();
    manifest::parse_into(
        Path::new(EMBEDDED_NAME),
        EMBEDDED_QUICKSTART,
        &mut m,
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(manifest_errors(errors));
    }
    from_manifests(&m)
}

/// Reads and resolves a source.
pub fn load(source: &Source) -> Result<Loaded, ReloadError> {
    match source {
        Source::Embedded => embedded(),
        Source::Files(paths) => {
            let m = manifest::load(paths).map_err(manifest_errors)?;
            from_manifests(&m)
        }
        Source::Resolved(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ReloadError::Source(format!("{}: cannot read: {e}", path.display()))
            })?;
            let config = RouterConfig::from_yaml(&text).map_err(|e| {
                ReloadError::Source(format!("{}: not a RouterConfig: {e}", path.display()))
            })?;
            Ok(Loaded {
                config,
                secrets: SecretStore::empty(true),
                degraded: Vec::new(),
            })
        }
    }
}

/// Loads `source` and swaps it in; on failure the old config keeps serving and the error
/// metric counts it.
pub async fn reload(state: &AppState, source: &Source) -> Result<(), ReloadError> {
    let loaded = match load(source) {
        Ok(l) => l,
        Err(e) => {
            state.reject(&e);
            return Err(e);
        }
    };
    state.load(loaded.config, loaded.degraded).await?;
    state.set_secrets(loaded.secrets);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_quickstart_resolves() {
        let l = embedded().unwrap();
        assert_eq!(l.config.policies.len(), 1);
        assert_eq!(l.config.policies[0].name, "quickstart");
        assert!(l.config.endpoints.len() >= 5);
        assert!(l.degraded.is_empty(), "{:?}", l.degraded);
    }

    #[test]
    fn reports_resolution_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.yaml");
        std::fs::write(
            &f,
            "apiVersion: switchyard.dev/v1alpha1\nkind: RoutingPolicy\nmetadata: {name: p}\n\
             spec: {strategy: intent}\n",
        )
        .unwrap();
        let e = load(&Source::Files(vec![f])).unwrap_err().to_string();
        assert!(e.contains("spec.intent"), "{e}");
        let e = load(&Source::Resolved(dir.path().join("missing.yaml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read"), "{e}");
    }
}
