//! An HTTP client for routers, strict about what counts as an answer: a plain reply is
//! complete when it is a 200 chat completion with content and a `finish_reason`; a streamed
//! one when its chunks carry content, a `finish_reason`, and end with `data: [DONE]`, with no
//! error event. Also runs the official `openai` Python client.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use super::HarnessError;

/// The model name that selects policy `policy`.
pub fn policy_model(policy: &str) -> String {
    format!("switchyard/{policy}")
}

/// A user message.
pub fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

/// A user message with text and an image (a tiny PNG as a data URL).
pub fn user_with_image(text: &str) -> Value {
    json!([{"role": "user", "content": [
        {"type": "text", "text": text},
        {"type": "image_url", "image_url": {"url": TINY_PNG}},
    ]}])
}

/// A 1x1 PNG as a data URL.
pub const TINY_PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==";

/// A non-streamed answer.
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `x-switchyard-model` (the upstream model that answered).
    pub model: String,
    /// `x-switchyard-route`.
    pub route: String,
    /// The assistant's content (empty when there is none).
    pub content: String,
    /// The parsed body (`Null` when not JSON).
    pub body: Value,
    /// How long it took.
    pub took: Duration,
}

impl Reply {
    /// A 200 chat completion with content and a finish reason.
    pub fn is_complete(&self) -> bool {
        self.status == 200
            && !self.content.is_empty()
            && self.body["object"] == "chat.completion"
            && self.body["choices"][0]["finish_reason"].is_string()
    }
}

/// A streamed answer.
#[derive(Clone, Debug, Default)]
pub struct Streamed {
    /// HTTP status.
    pub status: u16,
    /// `x-switchyard-model`.
    pub model: String,
    /// Content pieces in order.
    pub pieces: Vec<String>,
    /// A chunk carried a `finish_reason`.
    pub finished: bool,
    /// `data: [DONE]` arrived.
    pub done: bool,
    /// The message of an error event, if one arrived.
    pub error: Option<String>,
    /// The transport failed (connection closed without a clean end), with why.
    pub broken: Option<String>,
    /// Events after `[DONE]` or after an error event (there must be none).
    pub trailing: usize,
    /// The body when the status was not 200.
    pub error_body: Value,
    /// How long it took.
    pub took: Duration,
}

impl Streamed {
    /// The content, joined.
    pub fn content(&self) -> String {
        self.pieces.concat()
    }

    /// Exactly one complete answer: content, a finish reason, `[DONE]`, nothing after it,
    /// no error event, no broken transport.
    pub fn is_complete(&self) -> bool {
        self.status == 200
            && !self.pieces.is_empty()
            && self.finished
            && self.done
            && self.error.is_none()
            && self.broken.is_none()
            && self.trailing == 0
    }
}

/// A client for one router.
#[derive(Clone, Debug)]
pub struct RouterClient {
    base: String,
    http: reqwest::Client,
}

impl RouterClient {
    /// A client for the router at `base` (`http://host:port`).
    pub fn new(base: &str) -> Result<Self, HarnessError> {
        super::install_crypto_provider();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST /v1/chat/completions`, not streamed.
    pub async fn chat(&self, policy: &str, messages: Value) -> Result<Reply, HarnessError> {
        let start = Instant::now();
        let body = json!({"model": policy_model(policy), "messages": messages});
        let r = self
            .http
            .post(format!("{}/v1/chat/completions", self.base))
            .json(&body)
            .send()
            .await?;
        let status = r.status().as_u16();
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (model, route) = (header("x-switchyard-model"), header("x-switchyard-route"));
        let text = r.text().await?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let content = body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok(Reply {
            status,
            model,
            route,
            content,
            body,
            took: start.elapsed(),
        })
    }

    /// `POST /v1/chat/completions` with `stream: true`, read to the end.
    pub async fn chat_stream(
        &self,
        policy: &str,
        messages: Value,
    ) -> Result<Streamed, HarnessError> {
        let start = Instant::now();
        let body = json!({"model": policy_model(policy), "messages": messages, "stream": true});
        let r = self
            .http
            .post(format!("{}/v1/chat/completions", self.base))
            .json(&body)
            .send()
            .await?;
        let mut out = Streamed {
            status: r.status().as_u16(),
            model: r
                .headers()
                .get("x-switchyard-model")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            ..Streamed::default()
        };
        if out.status != 200 {
            out.error_body = serde_json::from_str(&r.text().await?).unwrap_or(Value::Null);
            out.took = start.elapsed();
            return Ok(out);
        }
        let mut buf = Vec::new();
        let mut body = r.bytes_stream();
        loop {
            match body.next().await {
                Some(Ok(bytes)) => {
                    buf.extend_from_slice(&bytes);
                    while let Some(end) = find_event_end(&buf) {
                        let event: Vec<u8> = buf.drain(..end).collect();
                        handle_event(&String::from_utf8_lossy(&event), &mut out);
                    }
                }
                Some(Err(e)) => {
                    out.broken = Some(super::error_chain(&e));
                    break;
                }
                None => break,
            }
        }
        if !buf.iter().all(u8::is_ascii_whitespace) {
            handle_event(&String::from_utf8_lossy(&buf), &mut out);
        }
        out.took = start.elapsed();
        Ok(out)
    }

    /// `POST /v1/route`: the routing decision for `text` (no upstream call).
    pub async fn route(&self, policy: &str, text: &str) -> Result<Value, HarnessError> {
        let body = json!({"policy": policy, "messages": user(text)});
        let r = self
            .http
            .post(format!("{}/v1/route", self.base))
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await?;
        if !status.is_success() {
            return Err(HarnessError::Http(format!(
                "/v1/route answered {status}: {v}"
            )));
        }
        Ok(v)
    }

    /// `GET /readyz` (any status) as JSON.
    pub async fn readyz(&self) -> Result<Value, HarnessError> {
        let r = self
            .http
            .get(format!("{}/readyz", self.base))
            .send()
            .await?;
        Ok(r.json().await?)
    }
}

/// End (exclusive, including the blank line) of the first complete SSE event in `buf`.
fn find_event_end(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2)
}

/// Applies one SSE event to `out`.
fn handle_event(event: &str, out: &mut Streamed) {
    let data: Vec<&str> = event
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .collect();
    if data.is_empty() {
        return; // comments / keep-alives
    }
    let data = data.join("\n");
    if out.done || out.error.is_some() {
        out.trailing += 1;
        return;
    }
    if data == "[DONE]" {
        out.done = true;
        return;
    }
    let v: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
    if let Some(err) = v.get("error") {
        out.error = Some(
            err["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| err.to_string()),
        );
        return;
    }
    for choice in v["choices"].as_array().into_iter().flatten() {
        if let Some(piece) = choice["delta"]["content"].as_str()
            && !piece.is_empty()
        {
            out.pieces.push(piece.to_owned());
        }
        if choice["finish_reason"].is_string() {
            out.finished = true;
        }
    }
}

/// The Python with the `openai` package: `$SWITCHYARD_PYTHON`, else `<repo>/.venv/bin/python`.
pub fn python() -> PathBuf {
    super::bins::python()
}

/// Runs a Python script with `args`, expecting one JSON document on stdout.
pub async fn run_python(script: &str, args: &[&str]) -> Result<Value, HarnessError> {
    let py = python();
    let out = tokio::process::Command::new(&py)
        .arg("-c")
        .arg(script)
        .args(args)
        .env("NO_PROXY", "*")
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| HarnessError::Io(format!("running {}", py.display()), e))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(HarnessError::Other(format!(
            "python failed ({}):\n{stdout}\n{stderr}",
            out.status
        )));
    }
    serde_json::from_str(stdout.trim()).map_err(|e| {
        HarnessError::Other(format!("python printed no JSON ({e}):\n{stdout}\n{stderr}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(stream: &str) -> Streamed {
        let mut out = Streamed {
            status: 200,
            ..Streamed::default()
        };
        let mut buf = stream.as_bytes().to_vec();
        while let Some(end) = find_event_end(&buf) {
            let ev: Vec<u8> = buf.drain(..end).collect();
            handle_event(&String::from_utf8_lossy(&ev), &mut out);
        }
        out
    }

    #[test]
    fn a_clean_stream_is_complete() {
        let s = parse(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
             : keep-alive\n\n\
             data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}]}\n\n\
             data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
             data: [DONE]\n\n",
        );
        assert!(s.is_complete(), "{s:?}");
        assert_eq!(s.content(), "Hello");
    }

    #[test]
    fn an_error_event_or_a_missing_done_is_not_complete() {
        let s = parse(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
             data: {\"error\":{\"message\":\"the upstream a failed mid-response\"}}\n\n",
        );
        assert!(!s.is_complete());
        assert_eq!(
            s.error.as_deref(),
            Some("the upstream a failed mid-response")
        );
        let s = parse(
            "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}\n\n",
        );
        assert!(!s.is_complete() && !s.done);
        let s = parse(
            "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}\n\n\
             data: [DONE]\n\ndata: [DONE]\n\n",
        );
        assert_eq!(s.trailing, 1);
        assert!(!s.is_complete());
    }
}
