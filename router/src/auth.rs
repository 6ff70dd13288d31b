//! Client authentication with static API keys.
//!
//! Keys come from two places: a policy's `auth.apiKeysSecretRef` (a Secret key holding one
//! key per line, read through the same [`SecretStore`] as the endpoints' keys, so a rotated
//! Secret or an edited `-f` file applies without a restart), and the process-wide
//! `--api-keys-file` (also one per line, watched). Clients send `Authorization: Bearer <key>`
//! or, as Azure OpenAI clients do, `api-key: <key>`.
//!
//! Who needs a key:
//! - a request for policy P: when P has `auth` or global keys exist; P's keys and the global
//!   keys are accepted;
//! - a request for a concrete model id (manual routing): when global keys exist or a policy
//!   with `auth` uses one of the endpoints serving that model (so a model id cannot bypass a
//!   policy's keys); those policies' keys and the global keys are accepted;
//! - `GET /v1/models`, and every API request before its body is read: when the whole surface
//!   is protected ([`AuthTable::protects_everything`]), any accepted key;
//! - `/healthz`, `/health`, `/readyz`, `/metrics` and the static `/ui` files: never.
//!
//! Only SHA-256 digests of keys are kept here, and a presented key is compared with every
//! accepted digest in constant time (`subtle`), so neither timing nor a memory dump of this
//! table reveals a key. Keys and key digests are never logged or shown in errors.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::HeaderMap;
use notify::{RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchyard_crds::RouterConfig;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::ApiError;
use crate::secrets::SecretStore;
use crate::state::AppState;

/// A set of accepted keys, as SHA-256 digests.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySet({} keys)", self.digests.len())
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl KeySet {
    /// Parses one key per line; blank lines and lines starting with `#` are skipped,
    /// surrounding whitespace is trimmed.
    pub fn parse(text: &str) -> Self {
        let mut digests: Vec<[u8; 32]> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(digest)
            .collect();
        digests.sort_unstable();
        digests.dedup();
        Self { digests }
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether the set holds no key (then nothing is accepted).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `key` is one of the keys. Every digest is compared, in constant time each.
    pub fn contains(&self, key: &str) -> bool {
        let d = digest(key);
        let mut found = subtle::Choice::from(0u8);
        for k in &self.digests {
            found |= k.ct_eq(&d);
        }
        bool::from(found)
    }
}

/// Reads a keys file (one key per line).
pub fn read_keys_file(path: &Path) -> Result<KeySet, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the API keys file {}: {e}", path.display()))?;
    let keys = KeySet::parse(&text);
    if keys.is_empty() {
        return Err(format!(
            "the API keys file {} holds no key (one per line expected)",
            path.display()
        ));
    }
    Ok(keys)
}

/// Who may call what, derived from the served config, the secrets and the global keys.
/// Rebuilt whenever one of them changes.
#[derive(Clone, Debug, Default)]
pub struct AuthTable {
    global: Option<KeySet>,
    /// Policies with `auth`, with their keys (empty when the Secret is missing: fail closed).
    policies: HashMap<String, KeySet>,
    /// Endpoint name → policies with `auth` that use it.
    endpoint_policies: HashMap<String, BTreeSet<String>>,
    /// Every accepted key of any kind.
    any: KeySet,
    everything: bool,
    problems: Vec<String>,
    config_hash: Option<String>,
}

/// The key a request presents.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION) {
        let v = v.to_str().ok()?.trim();
        let (scheme, rest) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim())
            .filter(|k| !k.is_empty());
    }
    headers
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

fn missing() -> ApiError {
    ApiError::Unauthorized(
        "this router requires an API key: send it as `Authorization: Bearer <key>` (or in an \
         `api-key` header)"
            .into(),
    )
}

fn invalid(what: &str) -> ApiError {
    ApiError::Unauthorized(format!("the API key is not valid {what}"))
}

impl AuthTable {
    /// Builds the table. A policy whose keys Secret is missing accepts only global keys, and
    /// the problem is reported on `/readyz`.
    pub fn build(config: &RouterConfig, secrets: &SecretStore, global: Option<KeySet>) -> Self {
        let mut policies = HashMap::new();
        let mut endpoint_policies: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut problems = Vec::new();
        let mut any: Vec<[u8; 32]> = global.iter().flat_map(|g| g.digests.clone()).collect();
        for p in &config.policies {
            let Some(r) = &p.auth else { continue };
            let keys = match secrets.get(&p.namespace, r) {
                Ok(text) => {
                    let k = KeySet::parse(&text);
                    if k.is_empty() {
                        problems.push(format!(
                            "policy {:?}: client API keys Secret {:?} key {:?} holds no key; \
                             only global keys are accepted",
                            p.name, r.name, r.key
                        ));
                    }
                    k
                }
                Err(miss) => {
                    problems.push(format!(
                        "policy {:?}: client API keys Secret {:?} key {:?} is not available{}; \
                         only global keys are accepted",
                        p.name, miss.secret, miss.key, miss.hint
                    ));
                    KeySet::default()
                }
            };
            any.extend(keys.digests.iter().copied());
            for ep in p.endpoint_names() {
                endpoint_policies
                    .entry(ep.to_owned())
                    .or_default()
                    .insert(p.name.clone());
            }
            policies.insert(p.name.clone(), keys);
        }
        any.sort_unstable();
        any.dedup();
        let everything = global.is_some()
            || (!config.policies.is_empty()
                && config.policies.iter().all(|p| p.auth.is_some())
                && config
                    .endpoints
                    .iter()
                    .all(|e| endpoint_policies.contains_key(&e.name)));
        Self {
            global,
            policies,
            endpoint_policies,
            any: KeySet { digests: any },
            everything,
            problems,
            config_hash: None,
        }
    }

    /// Records the hash of the config the table was built for.
    pub fn with_hash(mut self, hash: &str) -> Self {
        self.config_hash = Some(hash.to_owned());
        self
    }

    /// The hash of the config the table was built for.
    pub fn config_hash(&self) -> Option<&str> {
        self.config_hash.as_deref()
    }

    /// Whether every API request needs a key (global keys are set, or every policy has `auth`
    /// and every endpoint belongs to one of them).
    pub fn protects_everything(&self) -> bool {
        self.everything
    }

    /// Whether any authentication is configured.
    pub fn enabled(&self) -> bool {
        self.global.is_some() || !self.policies.is_empty()
    }

    /// Problems worth reporting on `/readyz` (missing or empty key Secrets).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    fn check<'a>(
        &self,
        headers: &HeaderMap,
        sets: impl Iterator<Item = &'a KeySet>,
        what: &str,
    ) -> Result<(), ApiError> {
        let Some(key) = presented_key(headers) else {
            return Err(missing());
        };
        let mut ok = self.global.as_ref().is_some_and(|g| g.contains(key));
        for s in sets {
            // No early exit: the time taken does not depend on which set matched.
            ok |= s.contains(key);
        }
        if ok { Ok(()) } else { Err(invalid(what)) }
    }

    /// Checks a request for policy `policy`.
    pub fn authorize_policy(&self, headers: &HeaderMap, policy: &str) -> Result<(), ApiError> {
        let own = self.policies.get(policy);
        if self.global.is_none() && own.is_none() {
            return Ok(());
        }
        self.check(headers, own.into_iter(), &format!("for policy {policy:?}"))
    }

    /// Checks a request sent straight to `endpoints` (manual routing by model id).
    pub fn authorize_endpoints<'a>(
        &self,
        headers: &HeaderMap,
        endpoints: impl Iterator<Item = &'a str>,
    ) -> Result<(), ApiError> {
        let owners: BTreeSet<&String> = endpoints
            .filter_map(|e| self.endpoint_policies.get(e))
            .flatten()
            .collect();
        if self.global.is_none() && owners.is_empty() {
            return Ok(());
        }
        let sets = owners.into_iter().filter_map(|p| self.policies.get(p));
        self.check(headers, sets, "for this model")
    }

    /// Checks a request that must carry some accepted key when the whole surface is
    /// protected (`GET /v1/models`, and every API request before its body is read).
    pub fn authorize_any(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if !self.everything {
            return Ok(());
        }
        self.check(headers, std::iter::once(&self.any), "for this router")
    }
}

/// Keeps the keys file watched; dropping it stops watching.
pub struct KeysWatch {
    _watcher: notify::RecommendedWatcher,
    task: JoinHandle<()>,
}

impl Drop for KeysWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How long to wait for more file events before re-reading the keys file.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// Watches the keys file's directory (Kubernetes Secret volumes swap a symlinked directory,
/// so the file's own path sees no event) and re-reads the file on every change. A file that
/// became unreadable or empty keeps the previous keys, with an error log.
pub fn watch_keys_file(state: AppState, path: PathBuf) -> Result<KeysWatch, notify::Error> {
    let abs = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
    let dir = abs
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) if !ev.kind.is_access() => {
                let _ = tx.send(());
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "API keys file watch error"),
        })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            tokio::time::sleep(DEBOUNCE).await;
            while rx.try_recv().is_ok() {}
            match read_keys_file(&abs) {
                Ok(keys) => {
                    if state.set_client_keys(Some(keys)) {
                        tracing::info!(file = %abs.display(), "API keys file reloaded");
                    }
                }
                Err(e) => tracing::error!(
                    error = %e,
                    "API keys file change rejected; the previous keys stay in force"
                ),
            }
        }
    });
    Ok(KeysWatch {
        _watcher: watcher,
        task,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    #[test]
    fn parses_keys_one_per_line() {
        let k = KeySet::parse("# comment\n  sk-one \n\nsk-two\nsk-one\n");
        assert_eq!(k.len(), 2);
        assert!(k.contains("sk-one") && k.contains("sk-two"));
        assert!(!k.contains("sk-three") && !k.contains("") && !k.contains("# comment"));
        assert!(!format!("{k:?}").contains("sk-"));
    }

    #[test]
    fn reads_bearer_and_api_key_headers() {
        assert_eq!(
            presented_key(&headers("authorization", "Bearer sk-x")),
            Some("sk-x")
        );
        assert_eq!(
            presented_key(&headers("authorization", "bearer   sk-x ")),
            Some("sk-x")
        );
        assert_eq!(presented_key(&headers("authorization", "Basic abc")), None);
        assert_eq!(presented_key(&headers("authorization", "Bearer ")), None);
        assert_eq!(presented_key(&headers("api-key", "sk-y")), Some("sk-y"));
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }

    #[test]
    fn global_keys_protect_everything() {
        let t = AuthTable::build(
            &RouterConfig::empty(),
            &SecretStore::empty(false),
            Some(KeySet::parse("g")),
        );
        assert!(t.protects_everything());
        assert!(t.authorize_any(&headers("api-key", "g")).is_ok());
        let e = t
            .authorize_any(&headers("api-key", "sk-wrong-1234"))
            .unwrap_err();
        assert_eq!(e.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(e.body()["error"]["code"], "invalid_api_key");
        assert!(!e.body().to_string().contains("sk-wrong-1234"));
        let e = t.authorize_policy(&HeaderMap::new(), "p").unwrap_err();
        assert!(e.to_string().contains("Bearer"), "{e}");
        let none = AuthTable::build(&RouterConfig::empty(), &SecretStore::empty(false), None);
        assert!(!none.enabled() && !none.protects_everything());
        assert!(none.authorize_any(&HeaderMap::new()).is_ok());
        assert!(none.authorize_policy(&HeaderMap::new(), "p").is_ok());
    }
}
