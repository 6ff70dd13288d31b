//! Drives the router with the official `openai` Python package: chat, streaming chat, an image
//! message, an unknown policy, and a stream that fails mid-way. Python is `$SWITCHYARD_PYTHON`,
//! else `<repo>/.venv/bin/python`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use support::{Fakes, Harness};
use switchyard_router::testing::{Behavior, FakeUpstream, RunningRouter, endpoint_yaml};

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("SWITCHYARD_PYTHON")
        && !p.is_empty()
    {
        return PathBuf::from(p);
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = repo.join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with the openai package: set SWITCHYARD_PYTHON or run scripts/setup.sh \
         (expected {})",
        venv.display()
    );
    venv
}

const SCRIPT: &str = r#"
import base64, json, sys
import openai
from openai import OpenAI

c = OpenAI(base_url=sys.argv[1] + "/v1", api_key="client-key", max_retries=0)
out = {}
raw = c.chat.completions.with_raw_response.create(
    model="switchyard/p", messages=[{"role": "user", "content": "hello there"}])
r = raw.parse()
out["chat"] = r.choices[0].message.content
out["chat_model"] = r.model
out["chat_route"] = raw.headers.get("x-switchyard-route")
s = c.chat.completions.create(
    model="switchyard/p", messages=[{"role": "user", "content": "write python code"}],
    stream=True, stream_options={"include_usage": True})
pieces, usage = [], None
for ch in s:
    if ch.choices and ch.choices[0].delta.content:
        pieces.append(ch.choices[0].delta.content)
    if ch.usage:
        usage = ch.usage.completion_tokens
out["stream"] = pieces
out["stream_usage"] = usage
png = base64.b64encode(b"\x89PNG\r\n\x1a\n fake").decode()
img = c.chat.completions.create(model="switchyard/p", messages=[{"role": "user", "content": [
    {"type": "text", "text": "what is in this picture?"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64," + png}}]}])
out["image"] = img.choices[0].message.content
try:
    c.chat.completions.create(model="switchyard/nope", messages=[{"role": "user", "content": "x"}])
except openai.NotFoundError as e:
    out["not_found"] = e.status_code
try:
    broken = c.chat.completions.create(
        model="org/model-d", messages=[{"role": "user", "content": "x"}], stream=True)
    got = [ch.choices[0].delta.content for ch in broken if ch.choices]
    out["broken"] = "no error raised: " + repr(got)
except openai.APIError as e:
    out["broken"] = "error: " + str(e.message)
print(json.dumps(out))
"#;

#[tokio::test]
async fn the_openai_python_client_works_against_the_router() {
    let f = Fakes::start().await;
    let d = FakeUpstream::start("d").await.unwrap();
    d.set(Behavior::DropAfter(2));
    // Spaced chunks, so the first ones really leave the upstream before it fails.
    d.set_chunk_delay(std::time::Duration::from_millis(50));
    let mut yaml = f.yaml("", "");
    yaml.push_str("---\n");
    yaml.push_str(&endpoint_yaml("d", "org/model-d", &d.base_url(), ""));
    let h = Harness::new(&yaml).await;
    let router = RunningRouter::start(h.state.clone()).await.unwrap();
    let out = tokio::process::Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .arg(router.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python failed:\n{stdout}\n{stderr}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["chat"], "Hello from a!", "{v}");
    assert_eq!(v["chat_model"], "org/model-a");
    assert_eq!(v["chat_route"], "chat");
    assert_eq!(
        v["stream"],
        serde_json::json!(["Hello", " from ", "b!"]),
        "{v}"
    );
    assert_eq!(v["stream_usage"], 3);
    assert_eq!(v["image"], "Hello from vl!");
    assert_eq!(v["not_found"], 404);
    let broken = v["broken"].as_str().unwrap();
    assert!(
        broken.starts_with("error: ") && broken.contains("mid-response"),
        "{broken}"
    );
    assert_eq!(
        f.vl.requests()[0].body["messages"][0]["content"][1]["type"],
        "image_url"
    );
}
