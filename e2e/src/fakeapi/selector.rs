//! Label and field selectors as they arrive in `labelSelector` / `fieldSelector` query
//! parameters. Labels: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`.
//! Fields: `path=v`, `path==v`, `path!=v` on any dotted path (`metadata.name`,
//! `metadata.namespace`, `involvedObject.name`, ...); the real server accepts only a
//! per-kind set of field paths, the fake accepts all.

use serde_json::Value;

use super::status::ApiError;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    reqs: Vec<Requirement>,
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(key: &str, rest: &str, sel: &str) -> Result<(String, Vec<String>), ApiError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| ApiError::bad_request(format!("unable to parse requirement: {sel}")))?;
    let values = inner
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    Ok((key.trim().to_owned(), values))
}

fn parse_requirement(part: &str) -> Result<Requirement, ApiError> {
    if let Some(k) = part.strip_prefix('!') {
        return Ok(Requirement::NotExists(k.trim().to_owned()));
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement::NotEq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = part.split_once("==") {
        return Ok(Requirement::Eq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = part.split_once('=') {
        return Ok(Requirement::Eq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, rest)) = part.split_once(" notin ") {
        let (k, vs) = parse_set(k, rest, part)?;
        return Ok(Requirement::NotIn(k, vs));
    }
    if let Some((k, rest)) = part.split_once(" in ") {
        let (k, vs) = parse_set(k, rest, part)?;
        return Ok(Requirement::In(k, vs));
    }
    let key = part.trim();
    if key.is_empty() || key.contains(char::is_whitespace) || key.contains('(') {
        return Err(ApiError::bad_request(format!(
            "unable to parse requirement: {part}"
        )));
    }
    Ok(Requirement::Exists(key.to_owned()))
}

impl LabelSelector {
    /// Parses a selector string; `400 BadRequest` when it cannot be parsed.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let reqs = split_top_level(s)
            .into_iter()
            .map(parse_requirement)
            .collect::<Result<_, _>>()?;
        Ok(Self { reqs })
    }

    /// Whether an object (its `metadata.labels`) matches.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|r| match r {
            Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEq(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses a selector string; `400 BadRequest` when it cannot be parsed.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let reqs = split_top_level(s)
            .into_iter()
            .map(|part| {
                let (path, eq, value) = if let Some((p, v)) = part.split_once("!=") {
                    (p, false, v)
                } else if let Some((p, v)) = part.split_once("==") {
                    (p, true, v)
                } else if let Some((p, v)) = part.split_once('=') {
                    (p, true, v)
                } else {
                    return Err(ApiError::bad_request(format!(
                        "invalid selector: '{part}'; can't understand '{part}'"
                    )));
                };
                Ok((path.trim().to_owned(), eq, value.trim().to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { reqs })
    }

    /// Whether an object matches; a missing field compares as the empty string.
    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|(path, eq, want)| {
            let mut cur = Some(obj);
            for seg in path.split('.') {
                cur = cur.and_then(|c| c.get(seg));
            }
            let have = match cur {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            (have == *want) == *eq
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn equality_and_set_based_label_selectors() {
        let o = obj(json!({"app": "router", "tier": "gpu"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&o);
        assert!(m(""));
        assert!(m("app=router"));
        assert!(m("app==router,tier"));
        assert!(!m("app!=router"));
        assert!(m("tier in (cpu, gpu)"));
        assert!(!m("tier notin (gpu)"));
        assert!(m("zone notin (a)"));
        assert!(m("!zone"));
        assert!(!m("!app"));
        assert!(!m("app=router,zone"));
        assert!(LabelSelector::parse("tier in cpu").is_err());
        assert!(LabelSelector::parse("a b").is_err());
    }

    #[test]
    fn field_selectors_on_metadata_and_other_paths() {
        let o = obj(json!({}));
        let m = |s: &str| FieldSelector::parse(s).unwrap().matches(&o);
        assert!(m("metadata.name=a"));
        assert!(m("metadata.name=a,metadata.namespace==ns"));
        assert!(!m("metadata.namespace!=ns"));
        assert!(m("spec.nodeName="));
        assert!(FieldSelector::parse("metadata.name").is_err());
    }
}
