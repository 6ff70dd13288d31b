//! Small types shared by both custom resources: secret references, durations,
//! model artefact sources and status conditions.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Standard Kubernetes condition (`metav1.Condition`), reused for both resources.
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// A key inside a `Secret` in the same namespace as the referencing object.
#[derive(
    Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRef {
    /// Name of the Secret, in the namespace of the referencing object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Secret's `data` whose value is used.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A duration written as a string such as `500ms`, `30s`, `5m`, `1h` or `1m30s`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(transparent)]
pub struct DurationString(
    #[schemars(length(min = 2, max = 32), regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))] pub String,
);

impl DurationString {
    /// Parses the string into a [`Duration`]; `None` if it is not of the form `1h2m3s400ms`.
    pub fn parse(&self) -> Option<Duration> {
        parse_duration(&self.0)
    }
}

impl From<&str> for DurationString {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// Parses `1h2m3s400ms`-style durations (units `h`, `m`, `s`, `ms`; at least one part).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let value: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(1), 2)
        } else if rest.starts_with('s') {
            (Duration::from_secs(1), 1)
        } else if rest.starts_with('m') {
            (Duration::from_secs(60), 1)
        } else if rest.starts_with('h') {
            (Duration::from_secs(3600), 1)
        } else {
            return None;
        };
        rest = &rest[len..];
        total = total.checked_add(unit.checked_mul(u32::try_from(value).ok()?)?)?;
    }
    Some(total)
}

/// [`parse_duration`] for command-line flags that need a non-zero duration (a clap value
/// parser): the duration, or a message saying what is wrong.
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "{s:?} is not a positive duration like 500ms, 30s or 5m"
        )),
    }
}

/// Where the router finds a model artefact (an ONNX file and, for text models, its tokenizer).
///
/// Exactly one of `builtin` and `path` is set. Built-in models ship inside the router image
/// (and in `models/` after `scripts/setup.sh`), so the defaults need no configuration. Your own
/// models come from a volume listed in `spec.router.modelVolumes` (a PVC or an OCI image
/// volume), addressed as `volume` + `path`; in standalone mode `path` alone is a local path.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.builtin) != has(self.path)", "message": "set exactly one of builtin or path"},
    {"rule": "!has(self.volume) || has(self.path)", "message": "volume needs path: the file inside the volume"},
    {"rule": "!has(self.tokenizer) || has(self.path)", "message": "tokenizer is only used with path; built-in models carry their own"},
]))]
pub struct ModelSource {
    /// Name of a model shipped with the router, e.g. `minilm-l6-v2-int8` (the default text
    /// encoder) or `clip-vit-b32` (CLIP towers, when exported into the image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9][a-z0-9._-]*$"))]
    pub builtin: Option<String>,
    /// Name of an entry of `spec.router.modelVolumes` holding the files; omit in standalone mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub volume: Option<String>,
    /// Path of the ONNX file, relative to the volume root (or a local path in standalone mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub path: Option<String>,
    /// Path of the model's `tokenizer.json`, relative to the volume root (text models only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub tokenizer: Option<String>,
}

impl ModelSource {
    /// A reference to a model shipped with the router.
    pub fn builtin(name: &str) -> Self {
        Self {
            builtin: Some(name.to_owned()),
            ..Self::default()
        }
    }
}

/// Name of the default text encoder shipped with the router.
pub const DEFAULT_TEXT_ENCODER: &str = "minilm-l6-v2-int8";

/// Name of the default auto-routing head shipped with the router (trained on MMLU for the
/// default text encoder).
pub const DEFAULT_AUTO_HEAD: &str = "auto-head-minilm";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1s500ms"), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in [
            "",
            "s",
            "10",
            "10x",
            "1.5s",
            "-1s",
            "10 s",
            "99999999999999h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?} should not parse");
        }
    }
}
