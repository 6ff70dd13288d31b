//! The properties the fuzz targets check (`fuzz/fuzz_targets/`), as plain functions of the
//! input bytes: each panics when a property fails. The cargo-fuzz targets call them with
//! generated inputs; this module's tests replay the committed seed corpus (`fuzz/corpus/`)
//! through them on every `cargo test`, without the instrumented build. Behind the `testing`
//! feature.

use std::path::Path;

use bytes::Bytes;
use switchyard_crds::RouterConfig;
use switchyard_crds::config::Limits;
use switchyard_crds::manifest::{Manifests, parse_into};
use switchyard_crds::resolve::{ResolveOptions, resolve_all};
use switchyard_inference::{ImageLimits, decode_image};

use crate::request::{check_image_pixels, decode_data_url, parse_chat};
use crate::upstream::stream::scan_usage;

/// A chat-completions body → the validated request and the body sent upstream. Whatever is
/// accepted respects the limits and re-encodes into JSON naming the endpoint's model without
/// extensions; every refusal is a 4xx OpenAI-shaped error.
pub fn chat_request(data: &[u8]) {
    let limits = Limits {
        max_messages: 64,
        max_images: 4,
        max_image_bytes: 64 * 1024,
        max_image_pixels: 1 << 16,
        ..Limits::default()
    };
    match parse_chat(&Bytes::copy_from_slice(data), &limits) {
        Ok(req) => {
            assert!(req.conversation.input.turns.len() <= 64);
            assert!(req.conversation.input.images.len() + req.conversation.image_urls.len() <= 4);
            for img in &req.conversation.input.images {
                assert!(!img.bytes.is_empty() && img.bytes.len() <= 64 * 1024);
            }
            let up = match req.upstream_body("fuzz/model") {
                Ok(b) => b,
                Err(e) => panic!("an accepted request does not re-encode: {e}"),
            };
            let v: serde_json::Value = match serde_json::from_slice(&up) {
                Ok(v) => v,
                Err(e) => panic!("the upstream body is not JSON: {e}"),
            };
            assert_eq!(v["model"], "fuzz/model");
            assert!(v.get("switchyard").is_none() && v.get("nim-llm-router").is_none());
        }
        Err(e) => {
            assert!(e.status().is_client_error(), "{e}");
            let body = e.body();
            assert!(body["error"]["message"].is_string() && body["error"]["code"].is_string());
        }
    }
}

const MAX_IMAGE_BYTES: u64 = 256 * 1024;
const MAX_PIXELS: u64 = 1 << 16;

/// Image content parts: the input as the tail of a `data:` URL, then as an image file for the
/// header-only pixel check and for decoding with byte and pixel limits.
pub fn content_parts(data: &[u8]) {
    let url = format!("data:{}", String::from_utf8_lossy(data));
    if let Ok(img) = decode_data_url(&url, "url", MAX_IMAGE_BYTES) {
        assert!(!img.bytes.is_empty() && img.bytes.len() as u64 <= MAX_IMAGE_BYTES);
        let _ = check_image_pixels(&img.bytes, "url", MAX_PIXELS);
    }
    let _ = check_image_pixels(data, "raw", MAX_PIXELS);
    let limits = ImageLimits {
        max_bytes: MAX_IMAGE_BYTES,
        max_pixels: MAX_PIXELS,
    };
    if let Ok(rgb) = decode_image(data, &limits) {
        assert!(u64::from(rgb.width()) * u64::from(rgb.height()) <= MAX_PIXELS);
    }
}

/// The relay's `usage` scan of an upstream body: the first byte picks SSE (high bit) and the
/// chunk size; the answer must not depend on how the body was cut into chunks.
pub fn sse_usage(data: &[u8]) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let sse = first & 0x80 != 0;
    let size = usize::from(first & 0x3f) + 1;
    assert_eq!(scan_usage(body.chunks(size), sse), scan_usage([body], sse));
}

/// CR YAML → resolved config, as `serve -f` and the operator do it, and the RouterConfig YAML
/// itself. A config that resolves survives a YAML round trip unchanged.
pub fn config_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut m = Manifests::default();
    let mut errors = Vec::new();
    parse_into(Path::new("fuzz.yaml"), text, &mut m, &mut errors);
    for e in &errors {
        let _ = e.to_string();
    }
    let res = resolve_all(&m.policies, &m.endpoints, &ResolveOptions::default());
    if let Some(config) = res.config {
        let yaml = match config.to_yaml() {
            Ok(y) => y,
            Err(e) => panic!("a resolved config does not serialize: {e}"),
        };
        match RouterConfig::from_yaml(&yaml) {
            Ok(back) => assert_eq!(back, config, "YAML round trip changed the config:\n{yaml}"),
            Err(e) => panic!("a resolved config's YAML does not parse: {e}\n{yaml}"),
        }
        let _ = config.hash();
    }
    if let Ok(config) = RouterConfig::from_yaml(text) {
        let _ = config.hash();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Every committed seed (and regression input) of `target` through `check`.
    fn replay(target: &str, check: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            if let Err(e) = std::panic::catch_unwind(|| check(&data)) {
                panic!("{}: {e:?}", path.display());
            }
            n += 1;
        }
        assert!(n >= 3, "{}: only {n} seeds", dir.display());
    }

    #[test]
    fn chat_request_corpus() {
        replay("chat_request", chat_request);
    }

    #[test]
    fn content_parts_corpus() {
        replay("content_parts", content_parts);
    }

    #[test]
    fn sse_usage_corpus() {
        replay("sse_usage", sse_usage);
    }

    #[test]
    fn config_yaml_corpus() {
        replay("config_yaml", config_yaml);
    }
}
