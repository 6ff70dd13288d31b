//! The production classifiers through the HTTP API: the built-in MiniLM encoder behind the
//! quickstart's intent routes, and the built-in auto head behind `auto-minilm.yaml`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine as _;
use serde_json::{Value, json};
use support::{Harness, repo_file};

fn route_body(policy: &str, text: &str) -> Value {
    json!({"policy": policy, "messages": [{"role": "user", "content": text}]})
}

fn png_1x1() -> String {
    let mut bytes = Vec::new();
    let img = image::RgbImage::from_pixel(4, 4, image::Rgb([200, 30, 30]));
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .unwrap();
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[tokio::test]
async fn quickstart_routes_requests_by_meaning() {
    let h = Harness::with_models(&repo_file("manifests/examples/quickstart.yaml")).await;
    // Paraphrases of the routes' examples, not the examples themselves.
    for (prompt, route) in [
        (
            "Could you write me a Go function that reverses a linked list?",
            "code",
        ),
        ("Hey there! Hope your day is going well :)", "chit_chat"),
        (
            "Prove that the square root of 2 is irrational.",
            "hard_question",
        ),
        (
            "Please give me a short summary of the following article: ...",
            "summarization",
        ),
    ] {
        let r = h
            .call("POST", "/v1/route", Some(route_body("quickstart", prompt)))
            .await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.text);
        assert_eq!(r.json["intent"], route, "{prompt:?}: {}", r.text);
        assert_eq!(r.json["classifier"], "embedding", "{}", r.text);
    }
}

#[tokio::test]
async fn images_go_to_the_vision_route_and_bad_images_are_client_errors() {
    let h = Harness::with_models(&repo_file("manifests/examples/quickstart.yaml")).await;
    let body = |url: &str| {
        json!({"policy": "quickstart", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": url}}
        ]}]})
    };
    let r = h.call("POST", "/v1/route", Some(body(&png_1x1()))).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    assert_eq!(r.json["intent"], "image_understanding");
    assert_eq!(r.json["endpoint"], "nemotron-nano-12b-vl");
    // An image alone, without text, still routes by structure.
    let only_image = json!({"policy": "quickstart", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": png_1x1()}}
    ]}]});
    let r = h.call("POST", "/v1/route", Some(only_image)).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    assert_eq!(r.json["intent"], "image_understanding");
}

#[tokio::test]
async fn the_builtin_head_scores_both_candidates() {
    let h = Harness::with_models(&repo_file("manifests/examples/auto-minilm.yaml")).await;
    let prompt = "Let f(x) = x^3 - 6x^2 + 9x + 1. Find all local extrema and classify them.";
    let r = h
        .call("POST", "/v1/route", Some(route_body("learned", prompt)))
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let candidates = r.json["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 2);
    for c in candidates {
        let p = c["score"].as_f64().unwrap();
        assert!(p > 0.0 && p < 1.0, "{c}");
        let t = c["threshold"].as_f64().unwrap();
        assert!(t > 0.0 && t < 1.0, "{c}");
        assert!(c["reason"].as_str().unwrap().contains("p "), "{c}");
    }
    // Tolerance 1 accepts every candidate: the cheapest wins.
    let mut cheap = route_body("learned", prompt);
    cheap["tolerance"] = json!(1.0);
    let r = h.call("POST", "/v1/route", Some(cheap)).await;
    assert_eq!(r.json["endpoint"], "llama-8b", "{}", r.text);
    // An allow-list of the strong model alone forces it.
    let mut strong = route_body("learned", prompt);
    strong["models"] = json!(["llama-70b"]);
    let r = h.call("POST", "/v1/route", Some(strong)).await;
    assert_eq!(r.json["endpoint"], "llama-70b", "{}", r.text);
}

#[tokio::test]
async fn the_ui_is_served_with_its_assets() {
    let h = Harness::with_models(&repo_file("manifests/examples/quickstart.yaml")).await;
    let r = h.call("GET", "/ui", None).await;
    assert_eq!(r.status.as_u16(), 200);
    assert!(r.header("content-type").starts_with("text/html"));
    assert!(
        r.header("content-security-policy")
            .contains("default-src 'self'")
    );
    let r = h.call("GET", "/ui/app.js", None).await;
    assert_eq!(r.status.as_u16(), 200);
    assert!(r.header("content-type").starts_with("text/javascript"));
    let r = h.call("GET", "/ui/nope.js", None).await;
    r.assert_error(404, "nope.js");
}
