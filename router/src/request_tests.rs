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
    assert!(!r.body.contains_key("switchyard") && !r.body.contains_key("nim-llm-router"));
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
fn assistant_messages_may_have_no_content() {
    let r = parse(json!({"messages": [
        {"role": "user", "content": "call f"},
        {"role": "assistant", "content": null, "tool_calls": []},
        {"role": "tool", "content": "", "tool_call_id": "1"}]}));
    assert!(r.is_ok());
}
