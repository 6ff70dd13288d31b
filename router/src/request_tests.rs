//! Unit tests of request parsing.

use super::*;
use serde_json::json;

fn parse(v: Value) -> Result<ChatRequest, ApiError> {
    parse_chat(
        &Bytes::from(serde_json::to_vec(&v).unwrap()),
        &Limits::default(),
    )
}

fn msg(e: ApiError) -> (u16, String) {
    (e.status().as_u16(), e.to_string())
}

#[test]
fn parses_text_images_tools_and_extensions() {
    let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG fake");
    let r = parse(json!({
        "model": "switchyard/p", "stream": true,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
            ]}
        ],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "switchyard": {"tolerance": 0.5, "models": ["a"], "mode": "recommend"},
        "nim-llm-router": {"policy": "p"}
    }))
    .unwrap();
    assert_eq!(r.model.as_deref(), Some("switchyard/p"));
    assert!(r.stream && r.has_tools);
    assert_eq!(r.conversation.input.images.len(), 1);
    assert_eq!(
        r.conversation.input.images[0].bytes.as_ref(),
        b"\x89PNG fake"
    );
    assert_eq!(
        r.conversation.input.images[0].media_type.as_deref(),
        Some("image/png")
    );
    assert_eq!(r.conversation.image_urls, vec!["https://x/y.png"]);
    assert!(r.conversation.input.has_images);
    assert_eq!(r.conversation.input.last_user_text(), "what is this?");
    assert_eq!(r.conversation.est_tokens, (8 + 13_u64).div_ceil(4));
    assert_eq!(r.ext.tolerance, Some(0.5));
    assert_eq!(r.ext.mode, Some(Mode::Recommend));
    assert!(r.nim.is_some());
    let up: Value = serde_json::from_slice(&r.upstream_body("org/m").unwrap()).unwrap();
    assert_eq!(up["model"], "org/m");
    assert!(up.get("switchyard").is_none() && up.get("nim-llm-router").is_none());
    assert_eq!(up["stream"], true);
    assert_eq!(up["tools"][0]["function"]["name"], "f");
    assert_eq!(up["messages"][1]["content"][0]["text"], "what is this?");
}

#[test]
fn upstream_bodies_are_the_client_bytes_unless_something_changes() {
    let text = r#"{ "model" : "org/m", "messages": [{"role": "user", "content": "h\u00e9"}], "temperature": 0.10 }"#;
    let r = parse_chat(&Bytes::from(text), &Limits::default()).unwrap();
    assert_eq!(r.conversation.input.last_user_text(), "hé");
    // Same model, no extension: the very bytes the client sent.
    assert_eq!(r.upstream_body("org/m").unwrap(), text.as_bytes());
    // Another model: same members in the same order, values as sent, the model replaced.
    assert_eq!(
        r.upstream_body("other \"m\"").unwrap(),
        r#"{"model":"other \"m\"","messages":[{"role": "user", "content": "h\u00e9"}],"temperature":0.10}"#
            .as_bytes()
    );
    // No model in the request (a single policy serves it): added at the end; extensions go.
    let r = parse(
        json!({"messages": [{"role": "user", "content": "x"}], "switchyard": {"mode": "proxy"}}),
    )
    .unwrap();
    let up: Value = serde_json::from_slice(&r.upstream_body("m").unwrap()).unwrap();
    assert_eq!(
        up,
        json!({"messages": [{"role": "user", "content": "x"}], "model": "m"})
    );
    // Repeated keys: the last one counts, as for JSON parsers; the model appears once.
    let r = parse_chat(
        &Bytes::from_static(
            br#"{"model": 1, "model": "a", "messages": [{"role": "user", "content": "x"}]}"#,
        ),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(r.model.as_deref(), Some("a"));
    assert_eq!(
        r.upstream_body("b").unwrap(),
        br#"{"model":"b","messages":[{"role": "user", "content": "x"}]}"#.as_slice()
    );
}

#[test]
fn rejects_bad_input_naming_the_field() {
    let cases = [
        (json!([1]), 400, "must be a JSON object"),
        (json!({}), 400, "messages is required"),
        (json!({"messages": "hi"}), 400, "messages must be an array"),
        (json!({"messages": []}), 400, "must not be empty"),
        (
            json!({"messages": [{"content": "x"}]}),
            400,
            "messages[0].role is required",
        ),
        (
            json!({"messages": [{"role": "boss", "content": "x"}]}),
            400,
            "not a chat role",
        ),
        (
            json!({"messages": [{"role": "user", "content": ""}]}),
            400,
            "messages[0].content is empty",
        ),
        (
            json!({"messages": [{"role": "user", "content": 3}]}),
            400,
            "messages[0].content must be",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "audio"}]}]}),
            400,
            "\"audio\" is not a supported",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]}]}),
            400,
            "not valid base64",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]}),
            400,
            "must be a data: URL",
        ),
        (
            json!({"model": 5, "messages": [{"role": "user", "content": "x"}]}),
            400,
            "model must be a string",
        ),
        (
            json!({"stream": "yes", "messages": [{"role": "user", "content": "x"}]}),
            400,
            "stream must be a boolean",
        ),
        (
            json!({"switchyard": {"tolerance": 2}, "messages": [{"role": "user", "content": "x"}]}),
            422,
            "switchyard.tolerance is 2",
        ),
        (
            json!({"switchyard": {"colour": 2}, "messages": [{"role": "user", "content": "x"}]}),
            400,
            "switchyard.colour",
        ),
        (
            json!({"switchyard": {"mode": "both"}, "messages": [{"role": "user", "content": "x"}]}),
            422,
            "switchyard.mode",
        ),
        (
            json!({"messages": [{"role": null, "content": "x"}]}),
            400,
            "messages[0].role must be a string, not null",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}, "hi"]}),
            400,
            "messages[1] must be an object with role and content, not a string",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]}),
            400,
            "messages[0].content[0].text must be a string, not a number",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": [1]}]}]}),
            400,
            "messages[0].content[0].image_url must be an object with url, not an array",
        ),
        (
            json!({"tools": {}, "messages": [{"role": "user", "content": "x"}]}),
            400,
            "tools must be an array, not an object",
        ),
        // The first problem in a fixed order (model, stream, messages, tools), whatever the
        // order of the members.
        (
            json!({"tools": 1, "messages": 2, "stream": 3, "model": 4}),
            400,
            "model must be a string, not a number",
        ),
    ];
    for (body, status, needle) in cases {
        let (s, m) = msg(parse(body.clone()).unwrap_err());
        assert_eq!(s, status, "{body}: {m}");
        assert!(m.contains(needle), "{body}: {m:?} lacks {needle:?}");
    }
    let (s, m) =
        msg(parse_chat(&Bytes::from_static(b"{not json"), &Limits::default()).unwrap_err());
    assert_eq!(s, 400);
    assert!(m.contains("not valid JSON"), "{m}");
    let (s, _) = msg(parse_chat(&Bytes::new(), &Limits::default()).unwrap_err());
    assert_eq!(s, 400);
}

#[test]
fn enforces_message_and_image_limits() {
    let limits = Limits {
        max_messages: 2,
        max_images: 1,
        max_image_bytes: 8,
        ..Limits::default()
    };
    let three = json!({"messages": [
        {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"}]});
    let e = parse_chat(&Bytes::from(serde_json::to_vec(&three).unwrap()), &limits).unwrap_err();
    assert_eq!(e.status().as_u16(), 413);
    let img = |n: usize| {
        let data = base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
        json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{data}")}})
    };
    let two_images = json!({"messages": [{"role": "user", "content": [img(1), img(1)]}]});
    let e = parse_chat(
        &Bytes::from(serde_json::to_vec(&two_images).unwrap()),
        &limits,
    )
    .unwrap_err();
    assert_eq!(e.status().as_u16(), 413);
    assert!(e.to_string().contains("more than 1 images"));
    let big = json!({"messages": [{"role": "user", "content": [img(30)]}]});
    let e = parse_chat(&Bytes::from(serde_json::to_vec(&big).unwrap()), &limits).unwrap_err();
    assert_eq!(e.status().as_u16(), 413);
    let ok = json!({"messages": [{"role": "user", "content": [img(8)]}]});
    assert!(parse_chat(&Bytes::from(serde_json::to_vec(&ok).unwrap()), &limits).is_ok());
}

#[test]
fn reads_only_what_it_needs_of_messages_and_tools() {
    let r = parse(json!({
        "messages": [{"role": "user", "name": "ann", "content": [
            {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "b\u{e9}"}
        ]}, {"role": "assistant", "content": null, "tool_calls": [{"id": "1"}]}],
        "tools": [], "functions": null, "temperature": 0.2, "metadata": {"k": [1, {"x": null}]}
    }))
    .unwrap();
    assert!(!r.has_tools, "empty tool lists declare no tool");
    assert_eq!(r.conversation.input.turns.len(), 2);
    assert_eq!(r.conversation.input.turns[0].text, "a\nbé");
    assert_eq!(r.conversation.input.turns[1].role, "assistant");
    // A repeated member counts with its last value.
    let r = parse_chat(
        &Bytes::from_static(
            br#"{"messages": 1, "messages": [{"role": "user", "content": "x"}], "tools": [1]}"#,
        ),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(r.conversation.input.last_user_text(), "x");
    assert!(r.has_tools);
}

#[test]
fn assistant_messages_may_have_no_content() {
    let r = parse(json!({"messages": [
        {"role": "user", "content": "call f"},
        {"role": "assistant", "content": null, "tool_calls": []},
        {"role": "tool", "content": "", "tool_call_id": "1"}]}));
    assert!(r.is_ok());
}

#[test]
fn fuzz_regression_invalid_utf8_in_members_the_router_does_not_read() {
    // fuzz/artifacts/chat_request/crash-ccd5b275... (minimised): invalid UTF-8 inside `tools`
    // was accepted by parse_chat, then refused when the body was re-encoded for the upstream
    // (or forwarded as is when it already named the model).
    let mut body =
        br#"{"model": "org/a", "tools": [{"type": "function", "function": {"nam"#.to_vec();
    body.extend_from_slice(&[0xff; 8]);
    body.extend_from_slice(br#"e": "f"}}], "messages": [{"role": "user", "content": "x"}]}"#);
    let e = parse_chat(&Bytes::from(body), &Limits::default()).unwrap_err();
    assert_eq!(e.status().as_u16(), 400);
    assert!(e.to_string().contains("UTF-8"), "{e}");
}
