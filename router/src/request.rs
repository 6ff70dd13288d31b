//! Parsing and validating incoming chat requests: the OpenAI chat-completions body, the
//! `switchyard` and NVIDIA `nim-llm-router` body extensions, and the message/image limits
//! (count, bytes, and pixels as announced by the image header).
//! Every problem becomes an [`ApiError`] naming the offending field.
//!
//! Prompt tokens are estimated as characters / 4 (rounded up) over all text parts: close
//! enough for context-window filtering, and free.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
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
    /// The body as received.
    pub bytes: Bytes,
    /// The body has an extension member, which must not go upstream.
    has_extension: bool,
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

/// Parses and validates `messages` given as a JSON value.
pub fn parse_messages(
    v: Option<&Value>,
    field: &str,
    limits: &Limits,
) -> Result<Conversation, ApiError> {
    let slot = match v {
        None => Slot::Absent,
        Some(v) => Slot::<Messages<'_>>::deserialize(v)
            .map_err(|e| ApiError::BadRequest(format!("{field} is not valid: {e}")))?,
    };
    conversation(slot, field, limits)
}

/// Validates the messages of a request and gathers what classifiers see.
fn conversation(
    slot: Slot<Messages<'_>>,
    field: &str,
    limits: &Limits,
) -> Result<Conversation, ApiError> {
    let msgs = match slot {
        Slot::Absent | Slot::Null => {
            return Err(ApiError::BadRequest(format!(
                "{field} is required: a non-empty array of chat messages"
            )));
        }
        Slot::Value(Messages(m)) => m,
        Slot::Wrong(k) => return Err(wrong_kind(field, "an array of chat messages", k)),
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
    for (i, msg) in msgs.into_iter().enumerate() {
        // Field names are only formatted for an error.
        let f = || format!("{field}[{i}]");
        let m = match msg {
            Slot::Value(m) => m,
            other => {
                return Err(wrong_kind(
                    &f(),
                    "an object with role and content",
                    other.kind(),
                ));
            }
        };
        let role = match m.role {
            Slot::Value(Text(r)) => match ROLES.iter().find(|known| **known == r) {
                Some(known) => *known,
                None => {
                    return Err(ApiError::BadRequest(format!(
                        "{}.role {r:?} is not a chat role: use one of {}",
                        f(),
                        ROLES.join(", ")
                    )));
                }
            },
            Slot::Absent => return Err(ApiError::BadRequest(format!("{}.role is required", f()))),
            other => {
                return Err(wrong_kind(
                    &format!("{}.role", f()),
                    "a string",
                    other.kind(),
                ));
            }
        };
        let needs_content = matches!(role, "user" | "system" | "developer");
        let mut text = String::new();
        match m.content {
            Slot::Absent | Slot::Null if needs_content => {
                return Err(ApiError::BadRequest(format!(
                    "{}.content is required for a {role} message",
                    f()
                )));
            }
            Slot::Absent | Slot::Null => {}
            Slot::Value(Content::Text(s)) => {
                if needs_content && s.trim().is_empty() {
                    return Err(ApiError::BadRequest(format!("{}.content is empty", f())));
                }
                text.push_str(&s);
            }
            Slot::Value(Content::Parts(parts)) => {
                if needs_content && parts.is_empty() {
                    return Err(ApiError::BadRequest(format!("{}.content is empty", f())));
                }
                for (j, part) in parts.into_iter().enumerate() {
                    let pf = || format!("{}.content[{j}]", f());
                    parse_part(part, &pf, limits, &mut text, &mut conv, &mut images)?;
                }
            }
            Slot::Wrong(k) => {
                return Err(wrong_kind(
                    &format!("{}.content", f()),
                    "a string or an array of content parts",
                    k,
                ));
            }
        }
        chars += text.chars().count();
        conv.input.turns.push(Turn {
            role: role.to_owned(),
            text,
        });
    }
    conv.input.has_images = images > 0;
    conv.est_tokens = (chars as u64).div_ceil(4);
    Ok(conv)
}

fn parse_part(
    part: Slot<Part<'_>>,
    f: &dyn Fn() -> String,
    limits: &Limits,
    text: &mut String,
    conv: &mut Conversation,
    images: &mut usize,
) -> Result<(), ApiError> {
    let p = match part {
        Slot::Value(p) => p,
        other => return Err(wrong_kind(&f(), "an object with a type", other.kind())),
    };
    let ty = match p.kind {
        Slot::Value(Text(t)) => t,
        Slot::Absent => return Err(ApiError::BadRequest(format!("{}.type is required", f()))),
        other => {
            return Err(wrong_kind(
                &format!("{}.type", f()),
                "a string",
                other.kind(),
            ));
        }
    };
    match ty.as_ref() {
        "text" => match p.text {
            Slot::Value(Text(s)) => {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&s);
                Ok(())
            }
            Slot::Absent => Err(ApiError::BadRequest(format!("{}.text is required", f()))),
            other => Err(wrong_kind(
                &format!("{}.text", f()),
                "a string",
                other.kind(),
            )),
        },
        "image_url" => {
            let url = match p.image_url {
                Slot::Value(ImageUrl::Object(url)) => match url {
                    Slot::Value(Text(u)) => u,
                    Slot::Absent => {
                        return Err(ApiError::BadRequest(format!(
                            "{}.image_url.url is required",
                            f()
                        )));
                    }
                    other => {
                        return Err(wrong_kind(
                            &format!("{}.image_url.url", f()),
                            "a string",
                            other.kind(),
                        ));
                    }
                },
                Slot::Value(ImageUrl::Plain(u)) => u,
                Slot::Absent => {
                    return Err(ApiError::BadRequest(format!(
                        "{}.image_url is required",
                        f()
                    )));
                }
                other => {
                    return Err(wrong_kind(
                        &format!("{}.image_url", f()),
                        "an object with url",
                        other.kind(),
                    ));
                }
            };
            *images += 1;
            if *images > limits.max_images as usize {
                return Err(ApiError::TooLarge(format!(
                    "the request has more than {} images, the limit",
                    limits.max_images
                )));
            }
            let uf = format!("{}.image_url.url", f());
            if url.starts_with("data:") {
                let image = decode_data_url(&url, &uf, limits.max_image_bytes)?;
                check_image_pixels(&image.bytes, &uf, limits.max_image_pixels)?;
                conv.input.images.push(image);
            } else if url.starts_with("http://") || url.starts_with("https://") {
                conv.image_urls.push(url.into_owned());
            } else {
                return Err(ApiError::BadRequest(format!(
                    "{uf} must be a data: URL (data:image/png;base64,...) or an http(s) URL"
                )));
            }
            Ok(())
        }
        t => Err(ApiError::BadRequest(format!(
            "{}.type {t:?} is not a supported content part type: use \"text\" or \"image_url\"",
            f()
        ))),
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

/// Refuses an image whose header announces more than `max_pixels` pixels (width × height),
/// reading the header only. Whatever this cannot read (another format, a damaged header)
/// passes: nothing here decodes it, and whoever does applies its own limits.
pub fn check_image_pixels(bytes: &[u8], field: &str, max_pixels: u64) -> Result<(), ApiError> {
    let Ok(reader) = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format()
    else {
        return Ok(());
    };
    if reader.format().is_none() {
        return Ok(());
    }
    match reader.into_dimensions() {
        Ok((w, h)) if u64::from(w) * u64::from(h) > max_pixels => Err(ApiError::TooLarge(format!(
            "{field} is a {w}×{h} image; the limit is {max_pixels} pixels"
        ))),
        _ => Ok(()),
    }
}

/// Parses a chat-completions body in one pass that keeps only what the router reads, borrowing
/// strings from the body where they have no escapes; the body itself is kept as received
/// ([`ChatRequest::upstream_body`]). Building a `serde_json::Value` of the body instead cost
/// several times as much CPU as the rest of a pass-through request's handling.
pub fn parse_chat(bytes: &Bytes, limits: &Limits) -> Result<ChatRequest, ApiError> {
    // JSON is UTF-8. The one-pass parse skips members it does not read without validating
    // them, and the body may go upstream as received: check the whole of it first (found by
    // the `chat_request` fuzz target; costs well under a microsecond per KiB).
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(ApiError::BadRequest(format!(
            "request body is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        )));
    }
    let body: ChatBody<'_> = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(bytes)
            .map_err(|e| ApiError::BadRequest(format!("request body is not valid JSON: {e}")))?,
        // Not an object: the same errors as for every other endpoint.
        _ => {
            return Err(parse_object(bytes).err().unwrap_or_else(|| {
                ApiError::BadRequest("request body must be a JSON object".into())
            }));
        }
    };
    let model = match body.model {
        Slot::Absent | Slot::Null => None,
        Slot::Value(Text(m)) => Some(m.into_owned()).filter(|m| !m.is_empty()),
        Slot::Wrong(k) => return Err(wrong_kind("model", "a string", k)),
    };
    let stream = match body.stream {
        Slot::Absent | Slot::Null => false,
        Slot::Value(Flag(b)) => b,
        Slot::Wrong(k) => return Err(wrong_kind("stream", "a boolean", k)),
    };
    let conversation = conversation(body.messages, "messages", limits)?;
    let mut has_tools = false;
    for (key, slot) in [("tools", body.tools), ("functions", body.functions)] {
        match slot {
            Slot::Absent | Slot::Null => {}
            Slot::Value(NonEmpty(any)) => has_tools |= any,
            Slot::Wrong(k) => return Err(wrong_kind(key, "an array", k)),
        }
    }
    let ext = parse_ext(body.switchyard.as_ref())?;
    Ok(ChatRequest {
        model,
        stream,
        conversation,
        has_tools,
        ext,
        has_extension: body.switchyard.is_some() || body.nim.is_some(),
        nim: body.nim,
        bytes: bytes.clone(),
    })
}

impl ChatRequest {
    /// The body to send to an endpoint serving `model`: the client's bytes unchanged when they
    /// already name `model` and carry no extension; otherwise the same members in the same
    /// order, with `model` set (added at the end if absent) and both extensions removed.
    pub fn upstream_body(&self, model: &str) -> Result<Bytes, ApiError> {
        if !self.has_extension && self.model.as_deref() == Some(model) {
            return Ok(self.bytes.clone());
        }
        let members: Members<'_> = serde_json::from_slice(&self.bytes)
            .map_err(|e| ApiError::BadRequest(format!("request body is not valid JSON: {e}")))?;
        let mut out = Vec::with_capacity(self.bytes.len() + model.len() + 12);
        let mut wrote_model = false;
        let encode =
            |e: serde_json::Error| ApiError::Internal(format!("cannot encode request: {e}"));
        out.push(b'{');
        for (key, value) in &members.0 {
            let value = match key.as_ref() {
                "switchyard" | "nim-llm-router" => continue,
                "model" if wrote_model => continue,
                "model" => {
                    wrote_model = true;
                    None
                }
                _ => Some(value),
            };
            if out.len() > 1 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, key.as_ref()).map_err(encode)?;
            out.push(b':');
            match value {
                Some(v) => out.extend_from_slice(v.get().as_bytes()),
                None => serde_json::to_writer(&mut out, model).map_err(encode)?,
            }
        }
        if !wrote_model {
            if out.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(b"\"model\":");
            serde_json::to_writer(&mut out, model).map_err(encode)?;
        }
        out.push(b'}');
        Ok(Bytes::from(out))
    }
}

fn wrong_kind(field: &str, expected: &str, got: Kind) -> ApiError {
    ApiError::BadRequest(format!("{field} must be {expected}, not {}", got.name()))
}

// ---- The one-pass reading of a body ----
//
// Every member the router reads is a `Slot`: absent, null, the expected shape, or the type it
// had instead (for the error message). Nothing fails while reading but the JSON syntax, so the
// checks above report problems in a fixed order whatever the order of the members. A repeated
// key counts once, with its last value, as in JSON parsers.

/// A JSON value's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool => "a boolean",
            Self::Number => "a number",
            Self::String => "a string",
            Self::Array => "an array",
            Self::Object => "an object",
        }
    }
}

/// A member as read.
#[derive(Default)]
enum Slot<T> {
    #[default]
    Absent,
    Null,
    Value(T),
    Wrong(Kind),
}

impl<T> Slot<T> {
    /// The type of what was there (for an error about it).
    fn kind(&self) -> Kind {
        match self {
            Self::Wrong(k) => *k,
            // Absent members are reported as required before this is asked.
            Self::Absent | Self::Null => Kind::Null,
            Self::Value(_) => Kind::Object,
        }
    }
}

/// The JSON shapes a slot accepts; any other shape is skipped and recorded as its kind.
trait Shape<'de>: Sized {
    fn from_str(_: Cow<'de, str>) -> Option<Self> {
        None
    }
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl<'de, T: Shape<'de>> Deserialize<'de> for Slot<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        fn slot<T>(v: Option<T>, k: Kind) -> Slot<T> {
            v.map_or(Slot::Wrong(k), Slot::Value)
        }
        impl<'de, T: Shape<'de>> Visitor<'de> for V<T> {
            type Value = Slot<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Slot<T>, E> {
                Ok(Slot::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Slot<T>, E> {
                Ok(Slot::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Slot<T>, E> {
                Ok(slot(T::from_bool(v), Kind::Bool))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Slot<T>, E> {
                Ok(Slot::Wrong(Kind::Number))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Slot<T>, E> {
                Ok(Slot::Wrong(Kind::Number))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Slot<T>, E> {
                Ok(Slot::Wrong(Kind::Number))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Slot<T>, E> {
                Ok(slot(T::from_str(Cow::Borrowed(v)), Kind::String))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Slot<T>, E> {
                Ok(slot(T::from_str(Cow::Owned(v.to_owned())), Kind::String))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Slot<T>, E> {
                Ok(slot(T::from_str(Cow::Owned(v)), Kind::String))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Slot<T>, A::Error> {
                Ok(slot(T::from_seq(seq)?, Kind::Array))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Slot<T>, A::Error> {
                Ok(slot(T::from_map(map)?, Kind::Object))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A key of a JSON object, borrowed from the body unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A string.
struct Text<'a>(Cow<'a, str>);

impl<'de> Shape<'de> for Text<'de> {
    fn from_str(s: Cow<'de, str>) -> Option<Self> {
        Some(Self(s))
    }
}

/// A boolean.
struct Flag(bool);

impl Shape<'_> for Flag {
    fn from_bool(b: bool) -> Option<Self> {
        Some(Self(b))
    }
}

/// An array, of which only whether it has elements matters.
struct NonEmpty(bool);

impl<'de> Shape<'de> for NonEmpty {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut any = false;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            any = true;
        }
        Ok(Some(Self(any)))
    }
}

/// `messages`.
struct Messages<'a>(Vec<Slot<Message<'a>>>);

impl<'de> Shape<'de> for Messages<'de> {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(m) = seq.next_element()? {
            out.push(m);
        }
        Ok(Some(Self(out)))
    }
}

/// A chat message: what the router reads of it.
struct Message<'a> {
    role: Slot<Text<'a>>,
    content: Slot<Content<'a>>,
}

impl<'de> Shape<'de> for Message<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut m = Message {
            role: Slot::Absent,
            content: Slot::Absent,
        };
        while let Some(Key(k)) = map.next_key()? {
            match k.as_ref() {
                "role" => m.role = map.next_value()?,
                "content" => m.content = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(m))
    }
}

/// A message's content.
enum Content<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<Slot<Part<'a>>>),
}

impl<'de> Shape<'de> for Content<'de> {
    fn from_str(s: Cow<'de, str>) -> Option<Self> {
        Some(Self::Text(s))
    }
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(2));
        while let Some(p) = seq.next_element()? {
            out.push(p);
        }
        Ok(Some(Self::Parts(out)))
    }
}

/// A content part.
struct Part<'a> {
    kind: Slot<Text<'a>>,
    text: Slot<Text<'a>>,
    image_url: Slot<ImageUrl<'a>>,
}

impl<'de> Shape<'de> for Part<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut p = Part {
            kind: Slot::Absent,
            text: Slot::Absent,
            image_url: Slot::Absent,
        };
        while let Some(Key(k)) = map.next_key()? {
            match k.as_ref() {
                "type" => p.kind = map.next_value()?,
                "text" => p.text = map.next_value()?,
                "image_url" => p.image_url = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(p))
    }
}

/// A part's `image_url`: `{"url": ...}`, or the URL itself.
enum ImageUrl<'a> {
    Object(Slot<Text<'a>>),
    Plain(Cow<'a, str>),
}

impl<'de> Shape<'de> for ImageUrl<'de> {
    fn from_str(s: Cow<'de, str>) -> Option<Self> {
        Some(Self::Plain(s))
    }
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut url = Slot::Absent;
        while let Some(Key(k)) = map.next_key()? {
            if k == "url" {
                url = map.next_value()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Some(Self::Object(url)))
    }
}

/// A chat-completions body: what the router reads of it.
struct ChatBody<'a> {
    model: Slot<Text<'a>>,
    stream: Slot<Flag>,
    messages: Slot<Messages<'a>>,
    tools: Slot<NonEmpty>,
    functions: Slot<NonEmpty>,
    switchyard: Option<Value>,
    nim: Option<Value>,
}

impl<'de> Deserialize<'de> for ChatBody<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ChatBody<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ChatBody<'de>, A::Error> {
                let mut b = ChatBody {
                    model: Slot::Absent,
                    stream: Slot::Absent,
                    messages: Slot::Absent,
                    tools: Slot::Absent,
                    functions: Slot::Absent,
                    switchyard: None,
                    nim: None,
                };
                while let Some(Key(k)) = map.next_key()? {
                    match k.as_ref() {
                        "model" => b.model = map.next_value()?,
                        "stream" => b.stream = map.next_value()?,
                        "messages" => b.messages = map.next_value()?,
                        "tools" => b.tools = map.next_value()?,
                        "functions" => b.functions = map.next_value()?,
                        "switchyard" => b.switchyard = Some(map.next_value()?),
                        "nim-llm-router" => b.nim = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(b)
            }
        }
        d.deserialize_map(V)
    }
}

/// The members of a top-level object, in order, each value as its raw JSON (to re-encode a
/// body without parsing its values).
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Key(k)) = map.next_key()? {
                    out.push((k, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "request_tests.rs"]
mod tests;
