//! Reading the values of v1 fields: `${VAR}` references, API keys, base URLs, and the
//! Kubernetes-safe names derived from v1 names.

use std::collections::BTreeMap;

use super::{ImportError, invalid};

/// How an `api_key` value is carried over.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum KeySource {
    /// No key (absent or empty): an unauthenticated, usually in-cluster, server.
    None,
    /// `${VAR}`: a Secret the user creates, named after the variable.
    Env(String),
    /// A literal key: written into a Secret in the output.
    Literal(String),
}

/// Replaces `${VAR}` references from `env`, naming the field of a missing variable.
pub(super) fn substitute(
    value: &str,
    field: &str,
    env: &BTreeMap<String, String>,
) -> Result<String, ImportError> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(invalid(field, format!("unterminated ${{ in {value:?}")));
        };
        let var = &after[..end];
        match env.get(var) {
            Some(v) => out.push_str(v),
            None => {
                return Err(invalid(
                    field,
                    format!(
                        "refers to ${{{var}}}, which is not set; set it when importing or write \
                         the value into the config"
                    ),
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

pub(super) fn key_source(value: Option<&str>, field: &str) -> Result<KeySource, ImportError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(KeySource::None);
    };
    if let Some(var) = v.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        let valid = var
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(invalid(
                field,
                format!("{v:?} is not a ${{VAR}} reference with a valid variable name"),
            ));
        }
        return Ok(KeySource::Env(var.to_owned()));
    }
    if v.contains("${") {
        return Err(invalid(
            field,
            "mixes text and ${VAR}; write the key as exactly `${VAR}`",
        ));
    }
    Ok(KeySource::Literal(v.to_owned()))
}

/// v1 appends the request path (`/v1/chat/completions`) to `api_base`; Switchyard's
/// `baseURL` includes the version segment.
pub(super) fn base_url(api_base: &str, field: &str) -> Result<String, ImportError> {
    let trimmed = api_base.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.contains(char::is_whitespace) => {}
        _ => {
            return Err(invalid(
                field,
                format!(
                    "{api_base:?} is not an http(s) URL such as https://integrate.api.nvidia.com"
                ),
            ));
        }
    }
    Ok(if trimmed.ends_with("/v1") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/v1")
    })
}

pub(super) fn provider_of(base_url: &str) -> &'static str {
    let host = base_url
        .split("://")
        .nth(1)
        .and_then(|r| r.split(['/', ':']).next())
        .unwrap_or("");
    if host == "integrate.api.nvidia.com" {
        "nvidia"
    } else if host == "api.openai.com" {
        "openai"
    } else {
        "openai-compatible"
    }
}

/// Lowercase DNS-style name: letters, digits, '-' and '.', starting and ending alphanumeric.
/// Dots only where `dots` (DNS subdomains; labels such as Service names take none).
pub(super) fn dns_name(raw: &str, max: usize, fallback: &str, dots: bool) -> String {
    let mut out = String::new();
    for c in raw.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() || (dots && c == '.') {
            c
        } else {
            '-'
        };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    out.truncate(max);
    let out = out.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if out.is_empty() {
        fallback.to_owned()
    } else {
        out.to_owned()
    }
}

/// Route name in the style of the examples: `Closed QA` → `closed_qa`.
pub(super) fn route_name(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.truncate(60);
    let out = out.trim_end_matches('_');
    if out.is_empty() {
        "route".to_owned()
    } else {
        out.to_owned()
    }
}

/// `base`, or `base-2`, `base-3`, … whichever is not taken.
pub(super) fn unique(base: String, taken: impl Fn(&str) -> bool) -> String {
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}-{i}"))
        .find(|c| !taken(c))
        .unwrap_or(base)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kubernetes_names() {
        assert_eq!(dns_name("task_router", 56, "", false), "task-router");
        assert_eq!(dns_name("Llama-3.1_70B", 63, "x", true), "llama-3.1-70b");
        assert_eq!(dns_name("a.b", 63, "x", false), "a-b");
        assert_eq!(dns_name("NVIDIA_API_KEY", 253, "x", true), "nvidia-api-key");
        assert_eq!(dns_name("__", 63, "x", true), "x");
        assert_eq!(route_name("Closed QA"), "closed_qa");
        assert_eq!(route_name("No-Label-Reason"), "no_label_reason");
    }

    #[test]
    fn base_urls_gain_the_version_segment() {
        assert_eq!(
            base_url("https://integrate.api.nvidia.com", "f").unwrap_or_default(),
            "https://integrate.api.nvidia.com/v1"
        );
        assert_eq!(
            base_url("http://nim:8000/v1/", "f").unwrap_or_default(),
            "http://nim:8000/v1"
        );
        assert!(base_url("integrate.api.nvidia.com", "f").is_err());
    }

    #[test]
    fn keys_are_references_or_literals() {
        assert_eq!(
            key_source(Some("${NVIDIA_API_KEY}"), "f").ok(),
            Some(KeySource::Env("NVIDIA_API_KEY".into()))
        );
        assert_eq!(key_source(Some(""), "f").ok(), Some(KeySource::None));
        assert_eq!(
            key_source(Some("nvapi-123"), "f").ok(),
            Some(KeySource::Literal("nvapi-123".into()))
        );
        assert!(key_source(Some("Bearer ${X}"), "f").is_err());
        assert!(key_source(Some("${1X}"), "f").is_err());
    }

    #[test]
    fn substitutes_known_variables_only() {
        let mut env = BTreeMap::new();
        env.insert("HOST".to_owned(), "nim.ai".to_owned());
        assert_eq!(
            substitute("http://${HOST}:8000", "f", &env).ok().as_deref(),
            Some("http://nim.ai:8000")
        );
        let err = substitute("http://${NOPE}", "policies[0].url", &env)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("policies[0].url: refers to ${NOPE}"),
            "{err}"
        );
    }
}
