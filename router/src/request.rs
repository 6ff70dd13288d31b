//! Parsing and validating incoming chat requests: the OpenAI chat-completions body, the
//! `switchyard` and NVIDIA `nim-llm-router` body extensions, and the message/image limits.
//! Every problem becomes an [`ApiError`] naming the offending field.
//!
//! Prompt tokens are estimated as characters / 4 (rounded up) over all text parts: close
//! enough for context-window filtering, and free.

use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value};
use switchyard_crds::config::Limits;
use switchyard_crds::policy::Mode;

use crate::classify::{ClassifyInput, ImageData, Turn};
use crate::error::ApiError;

/// The `switchyard` body extension.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SwitchyardExt {
    /// Policy to route with.
    pub policy: Option<String>,
    /// Auto tolerance override (0..1).
    pub tolerance: Option<f64>,
    /// Allow-list of endpoint names or model ids.
    pub models: Option<Vec<String>>,
    /// Proxy or recommend.
    pub mode: Option<Mode>,
}

/// A parsed conversation.
#[derive(Clone, Debug, Default)]
pub struct Conversation {
    /// Turns and decoded images, as classifiers see them.
    pub input: ClassifyInput,
    /// http(s) image URLs (not fetched yet).
    pub image_urls: Vec<String>,
    /// Estimated prompt tokens.
    pub est_tokens: u64,
}

/// A validated chat-completions request.
#[derive(Clone, Debug)]
pub struct ChatRequest {
    /// The body with both extensions removed, ready to forward (after setting `model`).
    pub body: Map<String, Value>,
    /// The `model` field.
    pub model: Option<String>,
    /// `stream: true`.
    pub stream: bool,
    /// The conversation.
    pub conversation: Conversation,
    /// The request declares tools or functions.
    pub has_tools: bool,
    /// The `switchyard` extension.
    pub ext: SwitchyardExt,
    /// The raw `nim-llm-router` extension, validated by its handler.
    pub nim: Option<Value>,
    /// The body as received, when it can be forwarded unchanged (no extension was removed).
    pub raw: Option<Bytes>,
}

/// Parses a JSON object body.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "request body is empty: expected a JSON object".into(),
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ApiError::BadRequest(format!(
            "request body must be a JSON object, not {}",
            type_name(&other)
        ))),
        Err(e) => Err(ApiError::BadRequest(format!(
            "request body is not valid JSON: {e}"
        ))),
    }
}

/// Name of a JSON value's type for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong(field: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::BadRequest(format!(
        "{field} must be {expected}, not {}",
        type_name(got)
    ))
}

/// Optional string field (`null` counts as absent).
pub fn opt_str(m: &Map<String, Value>, key: &str, field: &str) -> Result<Option<String>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong(field, "a string", other)),
    }
}

/// Optional number in 0..=1.
pub fn opt_unit(m: &Map<String, Value>, key: &str, field: &str) -> Result<Option<f64>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if (0.0..=1.0).contains(&v) => Ok(Some(v)),
            _ => Err(ApiError::Unprocessable(format!(
                "{field} is {n}: must be between 0 and 1"
            ))),
        },
        Some(other) => Err(wrong(field, "a number between 0 and 1", other)),
    }
}

/// Optional array of non-empty strings.
pub fn opt_str_list(
    m: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                other => Err(wrong(&format!("{field}[{i}]"), "a non-empty string", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(wrong(field, "an array of strings", other)),
    }
}

/// Parses the `switchyard` extension.
pub fn parse_ext(v: Option<&Value>) -> Result<SwitchyardExt, ApiError> {
    let m = match v {
        None | Some(Value::Null) => return Ok(SwitchyardExt::default()),
        Some(Value::Object(m)) => m,
        Some(other) => return Err(wrong("switchyard", "an object", other)),
    };
    if let Some(k) = m
        .keys()
        .find(|k| !["policy", "tolerance", "models", "mode"].contains(&k.as_str()))
    {
        return Err(ApiError::BadRequest(format!(
            "switchyard.{k} is not a known field: use policy, tolerance, models or mode"
        )));
    }
    let mode = match opt_str(m, "mode", "switchyard.mode")?.as_deref() {
        None => None,
        Some("proxy") => Some(Mode::Proxy),
        Some("recommend") => Some(Mode::Recommend),
        Some(other) => {
            return Err(ApiError::Unprocessable(format!(
                "switchyard.mode is {other:?}: must be \"proxy\" or \"recommend\""
            )));
        }
    };
    Ok(SwitchyardExt {
        policy: opt_str(m, "policy", "switchyard.policy")?,
        tolerance: opt_unit(m, "tolerance", "switchyard.tolerance")?,
        models: opt_str_list(m, "models", "switchyard.models")?,
        mode,
    })
}

const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Parses and validates `messages`.
pub fn parse_messages(
    v: Option<&Value>,
    field: &str,
    limits: &Limits,
) -> Result<Conversation, ApiError> {
    let msgs = match v {
        None | Some(Value::Null) => {
            return Err(ApiError::BadRequest(format!(
                "{field} is required: a non-empty array of chat messages"
            )));
        }
        Some(Value::Array(a)) => a,
        Some(other) => return Err(wrong(field, "an array of chat messages", other)),
    };
    if msgs.is_empty() {
        return Err(ApiError::BadRequest(format!("{field} must not be empty")));
    }
    if msgs.len() > limits.max_messages as usize {
        return Err(ApiError::TooLarge(format!(
            "{field} has {} messages; the limit is {}",
            msgs.len(),
            limits.max_messages
        )));
    }
    let mut conv = Conversation::default();
    let mut chars = 0usize;
    let mut images = 0usize;
    for (i, msg) in msgs.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let Value::Object(m) = msg else {
            return Err(wrong(&f, "an object with role and content", msg));
        };
        let role = match m.get("role") {
            Some(Value::String(r)) if ROLES.contains(&r.as_str()) => r.clone(),
            Some(Value::String(r)) => {
                return Err(ApiError::BadRequest(format!(
                    "{f}.role {r:?} is not a chat role: use one of {}",
                    ROLES.join(", ")
                )));
            }
            Some(other) => return Err(wrong(&format!("{f}.role"), "a string", other)),
            None => return Err(ApiError::BadRequest(format!("{f}.role is required"))),
        };
        let needs_content = matches!(role.as_str(), "user" | "system" | "developer");
        let mut text = String::new();
        match m.get("content") {
            None | Some(Value::Null) if needs_content => {
                return Err(ApiError::BadRequest(format!(
                    "{f}.content is required for a {role} message"
                )));
            }
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                if needs_content && s.trim().is_empty() {
                    return Err(ApiError::BadRequest(format!("{f}.content is empty")));
                }
                text.push_str(s);
            }
            Some(Value::Array(parts)) => {
                if needs_content && parts.is_empty() {
                    return Err(ApiError::BadRequest(format!("{f}.content is empty")));
                }
                for (j, part) in parts.iter().enumerate() {
                    let pf = format!("{f}.content[{j}]");
                    parse_part(part, &pf, limits, &mut text, &mut conv, &mut images)?;
                }
            }
            Some(other) => {
                return Err(wrong(
                    &format!("{f}.content"),
                    "a string or an array of content parts",
                    other,
                ));
            }
        }
        chars += text.chars().count();
        conv.input.turns.push(Turn { role, text });
    }
    conv.input.has_images = images > 0;
    conv.est_tokens = (chars as u64).div_ceil(4);
    Ok(conv)
}

fn parse_part(
    part: &Value,
    f: &str,
    limits: &Limits,
    text: &mut String,
    conv: &mut Conversation,
    images: &mut usize,
) -> Result<(), ApiError> {
    let Value::Object(p) = part else {
        return Err(wrong(f, "an object with a type", part));
    };
    match p.get("type") {
        Some(Value::String(t)) if t == "text" => match p.get("text") {
            Some(Value::String(s)) => {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(s);
                Ok(())
            }
            Some(other) => Err(wrong(&format!("{f}.text"), "a string", other)),
            None => Err(ApiError::BadRequest(format!("{f}.text is required"))),
        },
        Some(Value::String(t)) if t == "image_url" => {
            let url = match p.get("image_url") {
                Some(Value::Object(o)) => match o.get("url") {
                    Some(Value::String(u)) => u,
                    Some(other) => {
                        return Err(wrong(&format!("{f}.image_url.url"), "a string", other));
                    }
                    None => {
                        return Err(ApiError::BadRequest(format!(
                            "{f}.image_url.url is required"
                        )));
                    }
                },
                Some(Value::String(u)) => u,
                Some(other) => {
                    return Err(wrong(
                        &format!("{f}.image_url"),
                        "an object with url",
                        other,
                    ));
                }
                None => return Err(ApiError::BadRequest(format!("{f}.image_url is required"))),
            };
            *images += 1;
            if *images > limits.max_images as usize {
                return Err(ApiError::TooLarge(format!(
                    "the request has more than {} images, the limit",
                    limits.max_images
                )));
            }
            let uf = format!("{f}.image_url.url");
            if url.starts_with("data:") {
                conv.input
                    .images
                    .push(decode_data_url(url, &uf, limits.max_image_bytes)?);
            } else if url.starts_with("http://") || url.starts_with("https://") {
                conv.image_urls.push(url.clone());
            } else {
                return Err(ApiError::BadRequest(format!(
                    "{uf} must be a data: URL (data:image/png;base64,...) or an http(s) URL"
                )));
            }
            Ok(())
        }
        Some(Value::String(t)) => Err(ApiError::BadRequest(format!(
            "{f}.type {t:?} is not a supported content part type: use \"text\" or \"image_url\""
        ))),
        Some(other) => Err(wrong(&format!("{f}.type"), "a string", other)),
        None => Err(ApiError::BadRequest(format!("{f}.type is required"))),
    }
}

/// Decodes a base64 `data:` URL, enforcing the size limit before decoding.
pub fn decode_data_url(url: &str, field: &str, max_bytes: u64) -> Result<ImageData, ApiError> {
    let rest = &url["data:".len().min(url.len())..];
    let Some((meta, data)) = rest.split_once(',') else {
        return Err(ApiError::BadRequest(format!(
            "{field} is not a valid data URL (no comma before the data)"
        )));
    };
    let Some(media) = meta.strip_suffix(";base64") else {
        return Err(ApiError::BadRequest(format!(
            "{field} must be base64-encoded (data:image/...;base64,...)"
        )));
    };
    let approx = (data.len() as u64) / 4 * 3;
    if approx > max_bytes.saturating_add(3) {
        return Err(ApiError::TooLarge(format!(
            "{field} holds an image of about {approx} bytes; the limit is {max_bytes}"
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| ApiError::BadRequest(format!("{field} is not valid base64: {e}")))?;
    if bytes.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "{field} holds an empty image"
        )));
    }
    if bytes.len() as u64 > max_bytes {
        return Err(ApiError::TooLarge(format!(
            "{field} holds an image of {} bytes; the limit is {max_bytes}",
            bytes.len()
        )));
    }
    Ok(ImageData {
        bytes: Bytes::from(bytes),
        media_type: (!media.is_empty()).then(|| media.to_owned()),
    })
}

/// Parses a chat-completions body.
pub fn parse_chat(bytes: &Bytes, limits: &Limits) -> Result<ChatRequest, ApiError> {
    let mut body = parse_object(bytes)?;
    let model = opt_str(&body, "model", "model")?.filter(|m| !m.is_empty());
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(wrong("stream", "a boolean", other)),
    };
    let conversation = parse_messages(body.get("messages"), "messages", limits)?;
    let mut has_tools = false;
    for key in ["tools", "functions"] {
        match body.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => has_tools |= !a.is_empty(),
            Some(other) => return Err(wrong(key, "an array", other)),
        }
    }
    let ext = parse_ext(body.get("switchyard"))?;
    let had_ext = body.remove("switchyard").is_some();
    let nim = body.remove("nim-llm-router");
    let raw = (!had_ext && nim.is_none()).then(|| bytes.clone());
    Ok(ChatRequest {
        body,
        model,
        stream,
        conversation,
        has_tools,
        ext,
        nim,
        raw,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "request_tests.rs"]
mod tests;
