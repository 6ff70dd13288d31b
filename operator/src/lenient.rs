//! Watching custom resources without letting one unreadable object stall the rest.
//!
//! kube-rs decodes a whole list response at once: one object that does not deserialize into
//! the operator's types (written under a newer or older CRD, or through an API server that
//! skipped validation) fails the list, and the watcher retries the same list for ever, so
//! every other object waits too. [`Lenient`] decodes each object on its own: readable ones
//! become [`Lenient::Parsed`], the others keep their metadata and the decoding error, and the
//! controllers report them in status instead of failing the watch.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Longest decoding error kept (it lands in a condition message).
pub const MAX_ERROR: usize = 512;

/// An object of type `K` as the API server sent it: decoded, or kept as metadata plus the
/// reason it could not be.
#[derive(Clone, Debug, PartialEq)]
pub enum Lenient<K> {
    /// The object decoded into `K`.
    Parsed(K),
    /// The object did not decode; see [`Unreadable`] (boxed: rare, and larger than most `K`).
    Unreadable(Box<Unreadable>),
}

/// What is known of an object that did not decode.
#[derive(Clone, Debug, PartialEq)]
pub struct Unreadable {
    /// Its metadata (name, namespace, uid, generation, ...).
    pub metadata: ObjectMeta,
    /// Why it did not decode, naming the field (`spec.strategy: unknown variant ...`).
    pub error: String,
    /// Its `status`, as sent, so that an unchanged status is not written again.
    pub status: Option<Value>,
}

impl<K> Lenient<K> {
    /// The decoded object, if it decoded.
    pub fn parsed(&self) -> Option<&K> {
        match self {
            Self::Parsed(k) => Some(k),
            Self::Unreadable(_) => None,
        }
    }
}

impl<K: Resource> Resource for Lenient<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }

    fn api_version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::api_version(dt)
    }

    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        match self {
            Self::Parsed(k) => k.meta(),
            Self::Unreadable(u) => &u.metadata,
        }
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Self::Parsed(k) => k.meta_mut(),
            Self::Unreadable(u) => &mut u.metadata,
        }
    }
}

impl<'de, K: DeserializeOwned> Deserialize<'de> for Lenient<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(Self::from_value(&value))
    }
}

impl<K: DeserializeOwned> Lenient<K> {
    /// Decodes one object. Only metadata that is itself malformed (which an API server never
    /// sends) leaves the metadata empty.
    pub fn from_value(value: &Value) -> Self {
        match serde_path_to_error::deserialize::<_, K>(value) {
            Ok(k) => Self::Parsed(k),
            Err(e) => Self::Unreadable(Box::new(Unreadable {
                metadata: value
                    .get("metadata")
                    .and_then(|m| ObjectMeta::deserialize(m).ok())
                    .unwrap_or_default(),
                error: describe(&e),
                status: value.get("status").cloned(),
            })),
        }
    }
}

fn describe(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let mut message = if path.is_empty() || path == "." {
        e.inner().to_string()
    } else {
        format!("{path}: {}", e.inner())
    };
    if message.len() > MAX_ERROR {
        let mut cut = MAX_ERROR - 3;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("...");
    }
    message
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}: {}",
            self.metadata.namespace.as_deref().unwrap_or_default(),
            self.metadata.name.as_deref().unwrap_or_default(),
            self.error
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use kube::ResourceExt;
    use serde_json::json;
    use switchyard_crds::RoutingPolicy;

    fn good(name: &str) -> Value {
        json!({"apiVersion": "switchyard.dev/v1alpha1", "kind": "RoutingPolicy",
               "metadata": {"name": name, "namespace": "ai", "generation": 2},
               "spec": {"strategy": "intent", "intent": {"routes": [
                   {"name": "a", "endpoints": ["m"]}]}}})
    }

    #[test]
    fn a_list_with_one_bad_object_still_decodes_the_others() {
        let mut bad = good("bad");
        bad["spec"]["strategy"] = json!("telepathy");
        bad["status"] = json!({"observedGeneration": 1});
        let mut wrong_type = good("wrong-type");
        wrong_type["spec"]["intent"]["routes"] = json!("everything");
        let list = json!([good("a"), bad, wrong_type, good("b")]);
        let items: Vec<Lenient<RoutingPolicy>> = serde_json::from_value(list).unwrap();
        let names: Vec<String> = items.iter().map(ResourceExt::name_any).collect();
        assert_eq!(names, ["a", "bad", "wrong-type", "b"]);
        assert!(items[0].parsed().is_some());
        assert!(items[3].parsed().is_some());
        let Lenient::Unreadable(u) = &items[1] else {
            panic!("expected unreadable: {:?}", items[1]);
        };
        assert!(
            u.error.starts_with("spec.strategy: unknown variant"),
            "{}",
            u.error
        );
        assert_eq!(u.metadata.generation, Some(2));
        assert_eq!(u.status, Some(json!({"observedGeneration": 1})));
        let Lenient::Unreadable(u) = &items[2] else {
            panic!("expected unreadable");
        };
        assert!(
            u.error.starts_with("spec.intent.routes: invalid type"),
            "{}",
            u.error
        );
    }

    #[test]
    fn errors_are_bounded_and_resources_delegate() {
        let mut bad = good("bad");
        bad["spec"]["strategy"] = json!("x".repeat(100_000));
        let l: Lenient<RoutingPolicy> = serde_json::from_value(bad).unwrap();
        let Lenient::Unreadable(u) = &l else {
            panic!("expected unreadable");
        };
        assert!(u.error.len() <= MAX_ERROR, "{}", u.error.len());
        assert_eq!(Lenient::<RoutingPolicy>::plural(&()), "routingpolicies");
        assert_eq!(
            Lenient::<RoutingPolicy>::api_version(&()),
            "switchyard.dev/v1alpha1"
        );
        assert_eq!(l.namespace().as_deref(), Some("ai"));
    }
}
