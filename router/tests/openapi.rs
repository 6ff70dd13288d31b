//! The OpenAPI document: served at `/openapi.json`, identical to the committed
//! `docs/reference/openapi.json`, listing every route `app()` mounts, and describing what the
//! router really answers (responses validated against the documented schemas).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::{Fakes, Harness, chat, repo_file};
use switchyard_router::api::openapi;

/// Validates `instance` against the component schema `name` of `doc`.
fn assert_valid(doc: &Value, name: &str, instance: &Value) {
    assert!(
        doc["components"]["schemas"].get(name).is_some(),
        "no component schema {name}"
    );
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} does not describe {instance:#}: {errors:#?}"
    );
}

/// `(method, path)` of every `.route("<path>", <method>(...))` in the router's `api/mod.rs`.
fn mounted_routes() -> BTreeSet<(String, String)> {
    let src = repo_file("router/src/api/mod.rs");
    let mut out = BTreeSet::new();
    for piece in src.split(".route(").skip(1) {
        let piece = piece.trim_start();
        let Some(piece) = piece.strip_prefix('"') else {
            panic!("a route whose path is not a string literal: .route({piece:.40}");
        };
        let (path, rest) = piece.split_once('"').unwrap();
        let rest = rest.trim_start_matches([',', ' ', '\n']);
        let method = rest.split('(').next().unwrap().trim().to_owned();
        assert!(
            ["get", "post", "put", "patch", "delete"].contains(&method.as_str()),
            "cannot read the method of route {path:?}: {rest:.40}"
        );
        out.insert((method, path.to_owned()));
    }
    assert!(out.len() >= 10, "found too few routes: {out:?}");
    out
}

fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.clone(), path.clone()));
        }
    }
    out
}

#[tokio::test]
async fn served_document_is_the_committed_one() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let r = h.call("GET", "/openapi.json", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.json["openapi"], "3.1.0");
    assert_eq!(r.json, openapi::document());
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/reference/openapi.json"
    );
    let committed = std::fs::read_to_string(file).unwrap_or_default();
    if committed != openapi::document_pretty() {
        if std::env::var_os("SWITCHYARD_BLESS").is_some() {
            std::fs::write(file, openapi::document_pretty()).unwrap();
        } else {
            panic!(
                "docs/reference/openapi.json is stale: run `cargo run -p switchyard-docgen` \
                 (or SWITCHYARD_BLESS=1 cargo test -p switchyard-router --test openapi) and \
                 commit it"
            );
        }
    }
}

#[tokio::test]
async fn every_mounted_route_is_documented_and_every_documented_route_answers() {
    let doc = openapi::document();
    let documented = documented_routes(&doc);
    let mounted = mounted_routes();
    let missing: Vec<_> = mounted.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "mounted but not documented: {missing:?}"
    );

    // Every documented operation is really served: not the fallback's 404 "no route" and
    // not 405.
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    for (method, path) in &documented {
        let uri = path.replace("{policy}", "p").replace("{file}", "app.js");
        let body = (method == "post").then(|| chat("hello there"));
        let r = h.call(&method.to_uppercase(), &uri, body).await;
        assert_ne!(r.status.as_u16(), 405, "{method} {uri}: {}", r.text);
        assert!(
            !(r.status.as_u16() == 404 && r.text.contains("no route for")),
            "{method} {uri} is documented but not served"
        );
        // Each documented status includes the one we got.
        let statuses = doc["paths"][path][method]["responses"].as_object().unwrap();
        assert!(
            statuses.contains_key(r.status.as_str()),
            "{method} {uri} answered {} which is not documented ({:?})",
            r.status,
            statuses.keys().collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn responses_match_their_schemas() {
    let doc = openapi::document();
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;

    let r = h
        .call(
            "POST",
            "/v1/route",
            Some(json!({"messages": [{"role": "user", "content": "tell me a joke"}], "policy": "p", "tolerance": 0.2})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_valid(&doc, "RouteDecision", &r.json);

    // An image goes to the vision route; ineligible candidates carry reasons.
    let image = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    let r = h
        .call(
            "POST",
            "/v1/route",
            Some(
                json!({"policy": "switchyard/p", "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": image}},
                ]}]}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_valid(&doc, "RouteDecision", &r.json);

    let r = h
        .call(
            "POST",
            "/route",
            Some(json!({"question": "write a rust function"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_valid(&doc, "ToolkitRouteResponse", &r.json);
    let r = h
        .call("POST", "/route", Some(json!({"model": "org/model-b"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_valid(&doc, "ToolkitRouteResponse", &r.json);

    let r = h
        .call("POST", "/p/chat/completions", Some(chat("hello there")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_valid(&doc, "RecommendationCompletion", &r.json);

    let r = h
        .call("POST", "/v1/chat/completions", Some(chat("hello there")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_valid(&doc, "ChatCompletion", &r.json);

    let r = h.call("GET", "/v1/models", None).await;
    assert_valid(&doc, "ModelList", &r.json);
    for path in ["/healthz", "/health"] {
        let r = h.call("GET", path, None).await;
        assert_valid(&doc, "Liveness", &r.json);
    }
    let r = h.call("GET", "/readyz", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_valid(&doc, "Readiness", &r.json);

    // Errors: OpenAI-shaped, and NVIDIA v1's shape with its extension.
    let r = h
        .call(
            "POST",
            "/v1/route",
            Some(json!({"prompt": "x", "policy": "nope"})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_valid(&doc, "ErrorResponse", &r.json);
    let r = h
        .call(
            "POST",
            "/v1/route",
            Some(json!({"prompt": "x", "policy": "p", "tolerance": 2})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_valid(&doc, "ErrorResponse", &r.json);
    let r = h
        .call(
            "POST",
            "/v1/chat/completions",
            Some(json!({"messages": [{"role": "user", "content": "x"}], "nim-llm-router": {"policy": "nope"}})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_valid(&doc, "NvidiaV1Error", &r.json);
}

#[test]
fn request_schemas_accept_what_the_router_accepts_and_refuse_what_it_refuses() {
    let doc = openapi::document();
    let image = json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}});
    assert_valid(
        &doc,
        "ChatCompletionRequest",
        &json!({
            "model": "switchyard/quickstart",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}],
            "stream": true,
            "temperature": 0.2,
            "switchyard": {"tolerance": 0.3, "mode": "recommend", "models": ["a"]},
        }),
    );
    assert_valid(
        &doc,
        "RouteRequest",
        &json!({"prompt": "hi", "policy": "quickstart"}),
    );
    // Always-present fields that may be null.
    assert_valid(
        &doc,
        "RouteDecision",
        &json!({
            "selected_model": null, "endpoint": null, "policy": "p", "strategy": "auto",
            "route": "auto", "decision_ms": 1.5, "classifier": "mlp",
            "candidates": [{"model": "m", "endpoint": "e", "score": null, "cost": 0.1,
                            "eligible": false, "reason": "no vision capability"}],
        }),
    );
    // The router refuses unknown `switchyard` keys; the schema says so too.
    let schema = json!({
        "$ref": "#/components/schemas/ChatCompletionRequest",
        "components": doc["components"],
    });
    let v = jsonschema::validator_for(&schema).unwrap();
    assert!(!v.is_valid(
        &json!({"messages": [{"role": "user", "content": "x"}], "switchyard": {"nope": 1}})
    ));
    assert!(!v.is_valid(
        &json!({"messages": [{"role": "user", "content": "x"}], "switchyard": {"tolerance": 2}})
    ));
    let route =
        json!({"$ref": "#/components/schemas/RouteRequest", "components": doc["components"]});
    let v = jsonschema::validator_for(&route).unwrap();
    assert!(
        !v.is_valid(&json!({"policy": "p"})),
        "messages or prompt is required"
    );
}
