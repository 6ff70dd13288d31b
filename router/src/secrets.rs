//! API keys of the endpoints. They live apart from the routing config so that a rotated key
//! (a changed Secret in the cluster, an edited file) is swapped in on its own, without
//! rebuilding classifiers. Values are never logged or shown in errors.
//!
//! Lookup order: the Secret values given (the `-f` files, or the Secrets watched in the
//! cluster), then, when enabled (standalone mode), the environment variable named by the
//! reference's `key` (for `apiKeySecretRef: {name: nvidia-api-key, key: NVIDIA_API_KEY}` that
//! is `NVIDIA_API_KEY`).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use switchyard_crds::SecretKeyRef;

/// Secret values by `(namespace, secret name, key)`.
#[derive(Clone, Default)]
pub struct SecretStore {
    values: HashMap<(String, String, String), String>,
    env_fallback: bool,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: values never reach logs.
        f.debug_struct("SecretStore")
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .field("env_fallback", &self.env_fallback)
            .finish()
    }
}

/// Where a missing key should come from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingKey {
    /// Secret name.
    pub secret: String,
    /// Key in the secret.
    pub key: String,
    /// How to provide it.
    pub hint: String,
}

impl SecretStore {
    /// A store with the given values; `env_fallback` also consults environment variables.
    pub fn new(values: HashMap<(String, String, String), String>, env_fallback: bool) -> Self {
        Self {
            values,
            env_fallback,
        }
    }

    /// Empty store, optionally falling back to the environment.
    pub fn empty(env_fallback: bool) -> Self {
        Self::new(HashMap::new(), env_fallback)
    }

    /// Sets one value.
    pub fn insert(&mut self, namespace: &str, name: &str, key: &str, value: String) {
        self.values.insert(
            (namespace.to_owned(), name.to_owned(), key.to_owned()),
            value,
        );
    }

    /// Removes every key of one secret.
    pub fn remove_secret(&mut self, namespace: &str, name: &str) {
        self.values
            .retain(|(ns, n, _), _| !(ns == namespace && n == name));
    }

    /// Looks up a reference in `namespace`.
    pub fn get(&self, namespace: &str, r: &SecretKeyRef) -> Result<String, MissingKey> {
        let k = (namespace.to_owned(), r.name.clone(), r.key.clone());
        if let Some(v) = self.values.get(&k) {
            return Ok(v.trim().to_owned());
        }
        if self.env_fallback {
            if let Ok(v) = std::env::var(&r.key)
                && !v.trim().is_empty()
            {
                return Ok(v.trim().to_owned());
            }
            return Err(MissingKey {
                secret: r.name.clone(),
                key: r.key.clone(),
                hint: format!(
                    ": give the Secret in the -f files or set the environment variable {}",
                    r.key
                ),
            });
        }
        Err(MissingKey {
            secret: r.name.clone(),
            key: r.key.clone(),
            hint: format!(" in namespace {namespace:?}"),
        })
    }
}

/// Replaces every occurrence of `secret` in `text` with `[redacted]`: upstreams sometimes
/// echo the key they were sent in their error messages, which the router relays and logs.
/// Values shorter than 4 characters are left alone (they would mangle any message and are
/// no secret anyway).
pub fn redact(text: &str, secret: &str) -> String {
    if secret.len() < 4 || !text.contains(secret) {
        return text.to_owned();
    }
    text.replace(secret, "[redacted]")
}

/// Shared, atomically swappable secret store.
pub type SecretsHandle = Arc<ArcSwap<SecretStore>>;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_hints() {
        let mut s = SecretStore::empty(false);
        s.insert("ai", "k", "API", " v1\n".into());
        let r = SecretKeyRef {
            name: "k".into(),
            key: "API".into(),
        };
        assert_eq!(s.get("ai", &r).unwrap(), "v1");
        let miss = s.get("other", &r).unwrap_err();
        assert!(miss.hint.contains("other"));
        s.remove_secret("ai", "k");
        assert!(s.get("ai", &r).is_err());
        let env = SecretStore::empty(true);
        let r = SecretKeyRef {
            name: "k".into(),
            key: "SWITCHYARD_TEST_SURELY_UNSET_KEY".into(),
        };
        let miss = env.get("ai", &r).unwrap_err();
        assert!(miss.hint.contains("SWITCHYARD_TEST_SURELY_UNSET_KEY"));
        assert!(!format!("{s:?}").contains("v1"));
    }

    #[test]
    fn redacts_echoed_keys() {
        assert_eq!(
            redact(
                "Incorrect API key provided: sk-12345 (sk-12345)",
                "sk-12345"
            ),
            "Incorrect API key provided: [redacted] ([redacted])"
        );
        assert_eq!(redact("no key here", "sk-12345"), "no key here");
        assert_eq!(redact("a b", "a"), "a b");
    }
}
