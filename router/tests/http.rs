//! HTTP API tests: `app(state)` driven with `oneshot` against fake upstreams on port 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Fakes, Harness, chat};
use switchyard_router::testing::Behavior;

#[tokio::test]
async fn proxies_with_headers_key_and_rewritten_model() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let mut body = chat("hello there, tell me a joke");
    body["switchyard"] = json!({"tolerance": 0.5});
    let r = h
        .call_raw(
            "POST",
            "/v1/chat/completions",
            Some(body.to_string().into_bytes()),
            &[("authorization", "Bearer client-secret")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["choices"][0]["message"]["content"], "Hello from a!");
    assert_eq!(
        r.json["model"], "org/model-a",
        "the upstream's model is kept"
    );
    assert_eq!(r.header("x-switchyard-policy"), "p");
    assert_eq!(r.header("x-switchyard-model"), "org/model-a");
    assert_eq!(r.header("x-switchyard-route"), "chat");
    assert!(r.header("x-switchyard-decision-ms").parse::<f64>().is_ok());
    let sent = &f.a.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.body["model"], "org/model-a");
    assert!(sent.body.get("switchyard").is_none());
    assert_eq!(sent.headers["authorization"], "Bearer sk-a");
    let m = h.state.metrics().encode();
    assert!(
        m.contains(
            r#"switchyard_requests_total{policy="p",route="chat",model="a",status="2xx"} 1"#
        ),
        "{m}"
    );
    assert!(
        m.contains(r#"switchyard_tokens_total{endpoint="a",kind="completion"} 3"#),
        "{m}"
    );
}

#[tokio::test]
async fn passes_a_concrete_model_through() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let r = h
        .call(
            "POST",
            "/v1/chat/completions",
            Some(json!({"model": "org/model-b", "messages": [{"role": "user", "content": "x"}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-switchyard-route"), "manual");
    assert_eq!(r.header("x-switchyard-model"), "org/model-b");
    assert_eq!(f.b.hits(), 1);
    assert_eq!(f.a.hits(), 0);
}

#[tokio::test]
async fn bad_input_gets_openai_shaped_errors() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("  limits: {maxBodyBytes: 2048}\n", "")).await;
    let r = h
        .call_raw("POST", "/v1/chat/completions", Some(b"{nope".to_vec()), &[])
        .await;
    r.assert_error(400, "not valid JSON");
    let r = h
        .call(
            "POST",
            "/v1/chat/completions",
            Some(json!({"model": "switchyard/p"})),
        )
        .await;
    r.assert_error(400, "messages is required");
    let big = json!({"model": "switchyard/p", "messages": [{"role": "user", "content": "x".repeat(4096)}]});
    let r = h.call("POST", "/v1/chat/completions", Some(big)).await;
    r.assert_error(413, "2048");
    let mut body = chat("hi");
    body["model"] = json!("switchyard/nope");
    let r = h.call("POST", "/v1/chat/completions", Some(body)).await;
    r.assert_error(404, "policy \"nope\" does not exist");
    body = chat("hi");
    body["model"] = json!("gpt-17");
    let r = h.call("POST", "/v1/chat/completions", Some(body)).await;
    r.assert_error(404, "gpt-17");
    let r = h.call("POST", "/v2/nothing/here", Some(chat("hi"))).await;
    r.assert_error(404, "no route");
    let r = h.call("GET", "/v1/chat/completions", None).await;
    assert_eq!(r.status, 405);
    let bad_image = json!({"model": "switchyard/p", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,!!!"}}]}]});
    let r = h
        .call("POST", "/v1/chat/completions", Some(bad_image))
        .await;
    r.assert_error(400, "not valid base64");
    assert_eq!(
        f.a.hits() + f.b.hits() + f.vl.hits(),
        0,
        "nothing reached an upstream"
    );
}

#[tokio::test]
async fn images_go_to_the_vision_route() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let body = json!({"model": "switchyard/p", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "hello there"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]});
    let r = h.call("POST", "/v1/chat/completions", Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-switchyard-route"), "image");
    assert_eq!(f.vl.hits(), 1);
    let sent = &f.vl.requests()[0].body;
    assert_eq!(
        sent["messages"][0]["content"][1]["image_url"]["url"], "data:image/png;base64,iVBORw0KGgo=",
        "the image is forwarded unchanged"
    );
}

#[tokio::test]
async fn falls_back_on_server_errors_rate_limits_resets_and_timeouts() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "timeouts: {firstByte: 300ms}")).await;
    for (behavior, reason) in [
        (Behavior::Status(503, "overloaded".into()), "server_error"),
        (Behavior::Status(429, "slow down".into()), "rate_limited"),
        (Behavior::Reset, "connect_error"),
        (Behavior::SlowFirstByte(Duration::from_secs(5)), "timeout"),
    ] {
        f.a.set(behavior.clone());
        let r = h
            .call("POST", "/v1/chat/completions", Some(chat("hello there")))
            .await;
        assert_eq!(r.status, 200, "{behavior:?}: {}", r.text);
        assert_eq!(
            r.json["choices"][0]["message"]["content"], "Hello from b!",
            "{behavior:?}"
        );
        assert_eq!(r.header("x-switchyard-model"), "org/model-b");
        let m = h.state.metrics().encode();
        assert!(
            m.contains(&format!(
                r#"switchyard_fallbacks_total{{policy="p",reason="{reason}"}} 1"#
            )),
            "{behavior:?}: {m}"
        );
    }
}

#[tokio::test]
async fn reports_upstream_failures_with_status_and_message() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "timeouts: {firstByte: 300ms}")).await;
    f.a.set(Behavior::Status(500, "kaput".into()));
    f.b.set(Behavior::Status(502, "bad gateway upstream".into()));
    let r = h
        .call("POST", "/v1/chat/completions", Some(chat("hello there")))
        .await;
    r.assert_error(502, "bad gateway upstream");
    assert_eq!(r.json["error"]["upstream_status"], 502);
    f.a.set(Behavior::Hang);
    f.b.set(Behavior::Hang);
    let y = f.yaml("", "timeouts: {firstByte: 200ms}").replace(
        "cost: {inputPerMillionTokens: 1, outputPerMillionTokens: 1}",
        "timeouts: {firstByte: 200ms}",
    );
    let h = Harness::new(&y).await;
    let r = h
        .call("POST", "/v1/chat/completions", Some(chat("hello there")))
        .await;
    r.assert_error(504, "firstByte");
    f.a.set(Behavior::Status(400, "unknown parameter foo".into()));
    let r = h
        .call("POST", "/v1/chat/completions", Some(chat("hello there")))
        .await;
    assert_eq!(
        r.status, 400,
        "client mistakes reported by the upstream pass through"
    );
    assert_eq!(r.json["error"]["message"], "unknown parameter foo");
}

#[tokio::test]
async fn no_fallback_for_triggers_not_listed() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("  fallback: {maxAttempts: 3, on: [timeout]}\n", "")).await;
    f.a.set(Behavior::Status(503, "down".into()));
    let r = h
        .call("POST", "/v1/chat/completions", Some(chat("hello there")))
        .await;
    r.assert_error(502, "down");
    assert_eq!(f.b.hits(), 0);
    let h = Harness::new(&f.yaml("  fallback: {maxAttempts: 1}\n", "")).await;
    let r = h
        .call("POST", "/v1/chat/completions", Some(chat("hello there")))
        .await;
    assert_eq!(r.status, 502);
    assert_eq!(f.b.hits(), 0, "maxAttempts 1");
}

#[tokio::test]
async fn a_missing_api_key_is_a_clear_503() {
    let f = Fakes::start().await;
    let y = f
        .yaml("", "")
        .replace("stringData: {A_KEY: sk-a}", "stringData: {OTHER: x}")
        .replace("key: A_KEY", "key: SWITCHYARD_TEST_UNSET_KEY_42");
    let h = Harness::new(&y).await;
    let body = json!({"model": "org/model-a", "messages": [{"role": "user", "content": "x"}]});
    let r = h.call("POST", "/v1/chat/completions", Some(body)).await;
    r.assert_error(503, "SWITCHYARD_TEST_UNSET_KEY_42");
    assert_eq!(r.json["error"]["code"], "missing_api_key");
    assert_eq!(f.a.hits(), 0, "no unauthenticated call upstream");
    let ready = h.call("GET", "/readyz", None).await;
    assert_eq!(ready.status, 200);
    let degraded = ready.json["degraded"].to_string();
    assert!(
        degraded.contains("SWITCHYARD_TEST_UNSET_KEY_42"),
        "{degraded}"
    );
}

#[tokio::test]
async fn recommendation_endpoints_need_no_upstream() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let r = h
        .call(
            "POST",
            "/v1/route",
            Some(json!({"prompt": "write a rust function"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["selected_model"], "org/model-b");
    assert_eq!(r.json["endpoint"], "b");
    assert_eq!(r.json["policy"], "p");
    assert_eq!(r.json["strategy"], "intent");
    assert_eq!(r.json["intent"], "code");
    assert_eq!(r.json["candidates"][1]["endpoint"], "a");
    assert!(r.json["decision_ms"].is_number());
    let r = h
        .call("POST", "/p/chat/completions", Some(chat("hello there")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["choices"][0]["message"]["content"], "org/model-a");
    assert_eq!(r.json["model"], "p");
    assert_eq!(r.json["usage"]["total_tokens"], 0);
    let r = h
        .call(
            "POST",
            "/route",
            Some(json!({"question": "write python code", "models": ["org/model-a"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["selected_model"], "org/model-a");
    assert_eq!(r.json["model_names"], json!(["org/model-a"]));
    assert!(r.json["metadata"]["route_ms"].is_number());
    let r = h
        .call(
            "POST",
            "/route",
            Some(json!({"question": "x", "model": "org/model-b"})),
        )
        .await;
    assert_eq!(r.json["selected_model"], "org/model-b");
    let mut body = chat("hello there");
    body["switchyard"] = json!({"mode": "recommend"});
    let r = h.call("POST", "/v1/chat/completions", Some(body)).await;
    assert_eq!(r.json["choices"][0]["message"]["content"], "org/model-a");
    let r = h
        .call("POST", "/nope/chat/completions", Some(chat("x")))
        .await;
    r.assert_error(404, "nope");
    let r = h
        .call(
            "POST",
            "/v1/route",
            Some(json!({"prompt": "x", "tolerance": 3})),
        )
        .await;
    r.assert_error(422, "tolerance");
    assert_eq!(f.a.hits() + f.b.hits() + f.vl.hits(), 0);
    // Every answered decision is counted under the endpoint it chose: /v1/route, /route (not
    // its bypass), /p/chat/completions and recommend mode alike; refused ones are not.
    let metrics = h.call("GET", "/metrics", None).await.text;
    let count = |model: &str| -> u64 {
        metrics
            .lines()
            .filter(|l| l.starts_with("switchyard_requests_total{policy=\"p\","))
            .filter(|l| l.contains(&format!("model=\"{model}\",status=\"2xx\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    assert!(
        metrics.contains(
            r#"switchyard_requests_total{policy="p",route="code",model="b",status="2xx"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"switchyard_requests_total{policy="p",route="code",model="a",status="2xx"} 1"#
        ),
        "{metrics}"
    );
    assert_eq!(count("a"), 3, "{metrics}");
    assert_eq!(count("b"), 1, "{metrics}");
    assert!(!metrics.contains("status=\"4xx\""), "{metrics}");
}

#[tokio::test]
async fn nvidia_v1_extension() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let body = json!({"model": "", "messages": [{"role": "user", "content": "write python code"}],
                      "nim-llm-router": {"policy": "p", "routing_strategy": "triton", "threshold": 0.2}});
    let r = h.call("POST", "/v1/chat/completions", Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-chosen-classifier"), "code");
    assert!(f.b.requests()[0].body.get("nim-llm-router").is_none());
    let body = json!({"messages": [{"role": "user", "content": "x"}],
                      "nim-llm-router": {"policy": "p", "routing_strategy": "manual", "model": "a"}});
    let r = h.call("POST", "/v1/chat/completions", Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(f.a.hits(), 1);
    let body = json!({"messages": [{"role": "user", "content": "x"}], "nim-llm-router": {}});
    let r = h.call("POST", "/v1/chat/completions", Some(body)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["error"]["status"], 400);
    let body =
        json!({"messages": [{"role": "user", "content": "x"}], "nim-llm-router": {"policy": "zz"}});
    let r = h.call("POST", "/v1/chat/completions", Some(body)).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json["error"]["status"], 404);
    let body = json!({"messages": "bad", "nim-llm-router": {"policy": "p"}});
    let r = h.call("POST", "/v1/chat/completions", Some(body)).await;
    assert_eq!(r.json["error"]["status"], 400, "{}", r.text);
}

#[tokio::test]
async fn models_health_and_readiness() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let r = h.call("GET", "/v1/models", None).await;
    let ids: Vec<&str> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["switchyard/p", "org/model-a", "org/model-b", "org/model-vl"]
    );
    assert_eq!(h.call("GET", "/healthz", None).await.status, 200);
    assert_eq!(h.call("GET", "/health", None).await.json["status"], "OK");
    let r = h.call("GET", "/readyz", None).await;
    assert_eq!(r.json["ready"], true);
    assert!(r.json["degraded"].to_string().contains("placeholder"));
    let r = h.call("GET", "/metrics", None).await;
    assert!(r.text.contains("switchyard_config_reloads_total"));
    let empty = switchyard_router::AppState::new(
        switchyard_router::RuntimeOptions::default(),
        switchyard_router::secrets::SecretStore::empty(false),
    )
    .unwrap();
    let not_ready = Harness {
        state: empty,
        dir: tempfile::tempdir().unwrap(),
        file: "x".into(),
    };
    let r = not_ready.call("GET", "/readyz", None).await;
    assert_eq!(r.status, 503);
    let r = not_ready
        .call("POST", "/v1/chat/completions", Some(chat("hi")))
        .await;
    r.assert_error(503, "no config");
}

#[tokio::test]
async fn open_circuits_are_skipped_then_probed() {
    let f = Fakes::start().await;
    let h = Harness::with_breaker(
        &f.yaml("", ""),
        switchyard_router::upstream::breaker::BreakerSettings {
            failure_threshold: 2,
            cooldown: Duration::from_secs(3600),
        },
    )
    .await;
    f.a.set(Behavior::Status(500, "down".into()));
    for _ in 0..2 {
        let r = h
            .call("POST", "/v1/chat/completions", Some(chat("hello there")))
            .await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(f.a.hits(), 2);
    let r = h
        .call("POST", "/v1/chat/completions", Some(chat("hello there")))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(f.a.hits(), 2, "open circuit: a is skipped");
    let m = h.state.metrics().encode();
    assert!(
        m.contains(r#"switchyard_circuit_state{endpoint="a"} 1"#),
        "{m}"
    );
    let r = h
        .call("POST", "/v1/route", Some(json!({"prompt": "hello there"})))
        .await;
    assert_eq!(r.json["endpoint"], "b");
    let reason = r.json["candidates"][1]["reason"].as_str().unwrap_or("");
    assert!(reason.contains("circuit open"), "{}", r.text);
    // With b gone too, the open endpoint is used rather than nothing.
    f.b.set(Behavior::Status(500, "down".into()));
    f.a.set(Behavior::Reply);
    let allow = json!({"model": "switchyard/p", "switchyard": {"models": ["a"]},
                       "messages": [{"role": "user", "content": "hello there"}]});
    let r = h.call("POST", "/v1/chat/completions", Some(allow)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(f.a.hits(), 3);
}

#[tokio::test]
async fn endpoint_and_global_limits() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "limits: {maxConcurrency: 1}")).await;
    f.a.set(Behavior::SlowFirstByte(Duration::from_millis(400)));
    let (r1, r2) = tokio::join!(
        h.call("POST", "/v1/chat/completions", Some(chat("hello there"))),
        async {
            assert!(support::wait_for(Duration::from_secs(5), || async { f.a.hits() == 1 }).await);
            h.call("POST", "/v1/chat/completions", Some(chat("hello there")))
                .await
        }
    );
    assert_eq!(r1.header("x-switchyard-model"), "org/model-a");
    assert_eq!(
        r2.header("x-switchyard-model"),
        "org/model-b",
        "a is at maxConcurrency"
    );
    let h = Harness::new(&f.yaml("  limits: {maxInflight: 1}\n", "")).await;
    f.a.set(Behavior::Hang);
    let state = h.state.clone();
    let hung = tokio::spawn(async move {
        let h2 = Harness {
            state,
            dir: tempfile::tempdir().unwrap(),
            file: "x".into(),
        };
        h2.call("POST", "/v1/chat/completions", Some(chat("hello there")))
            .await
            .status
    });
    assert!(support::wait_for(Duration::from_secs(5), || async { f.a.hits() == 2 }).await);
    let r = h
        .call("POST", "/v1/chat/completions", Some(chat("hello there")))
        .await;
    r.assert_error(429, "in flight");
    assert_eq!(r.header("retry-after"), "1");
    hung.abort();
}

#[tokio::test]
async fn llm_classifier_names_the_route() {
    let f = Fakes::start().await;
    let judge = switchyard_router::testing::FakeUpstream::start("judge")
        .await
        .unwrap();
    judge.set(Behavior::Say(r#"{"route": "code"}"#.into()));
    let mut y = f.yaml("", "");
    y.push_str("---\n");
    y.push_str(&switchyard_router::testing::endpoint_yaml(
        "judge",
        "qwen",
        &judge.base_url(),
        "",
    ));
    let y = y.replace(
        "classifier: {type: embedding, confidenceFloor: 0.2}",
        "classifier: {type: llm, endpointRef: judge, timeout: 300ms}",
    );
    let h = Harness::new(&y).await;
    let r = h
        .call("POST", "/v1/route", Some(json!({"prompt": "hello there"})))
        .await;
    assert_eq!(r.json["intent"], "code", "{}", r.text);
    assert_eq!(r.json["classifier"], "llm");
    let asked = &judge.requests()[0].body;
    assert_eq!(asked["temperature"], 0.3);
    assert_eq!(asked["max_tokens"], 32);
    assert!(
        asked["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("- code: writing python")
    );
    assert_eq!(asked["messages"][1]["content"], "hello there");
    judge.set(Behavior::Say("no idea".into()));
    let r = h
        .call("POST", "/v1/route", Some(json!({"prompt": "hello there"})))
        .await;
    assert_eq!(r.json["intent"], "chat", "unparsable: default route");
    assert_eq!(r.json["note"], "classifier_failed");
    judge.set(Behavior::Hang);
    let r = h
        .call("POST", "/v1/route", Some(json!({"prompt": "hello"})))
        .await;
    assert_eq!(r.json["intent"], "chat", "timeout: default route");
    let m = h.state.metrics().encode();
    assert!(
        m.contains(r#"switchyard_classifier_failures_total{policy="p",reason="unparsable"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"switchyard_classifier_failures_total{policy="p",reason="timeout"} 1"#),
        "{m}"
    );
}

#[tokio::test]
async fn v1_route_validates_its_body() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let r = h.call("POST", "/v1/route", Some(json!({}))).await;
    r.assert_error(400, "messages");
    let r = h
        .call(
            "POST",
            "/v1/route",
            Some(json!({"prompt": "x", "policy": "q"})),
        )
        .await;
    r.assert_error(404, "q");
    let r = h
        .call("POST", "/v1/route", Some(json!({"prompt": 7})))
        .await;
    r.assert_error(400, "prompt must be a string");
    let r = h
        .call("POST", "/v1/route", Some(Value::String("x".into())))
        .await;
    r.assert_error(400, "JSON object");
}

#[tokio::test]
async fn azure_endpoints_use_the_deployment_url_and_api_key_header() {
    let az = switchyard_router::testing::FakeUpstream::start("azure")
        .await
        .unwrap();
    let base = format!("http://{}", az.addr());
    let y = format!(
        "{}apiVersion: v1\nkind: Secret\nmetadata: {{name: az}}\nstringData: {{KEY: az-key}}\n",
        switchyard_router::testing::endpoint_yaml(
            "gpt",
            "gpt-4o",
            &base,
            "provider: azure-openai, azure: {deployment: prod-4o, apiVersion: 2024-10-21}, \
             apiKeySecretRef: {name: az, key: KEY}",
        )
    );
    let h = Harness::new(&y).await;
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]});
    let r = h
        .call_raw(
            "POST",
            "/v1/chat/completions",
            Some(body.to_string().into_bytes()),
            &[("authorization", "Bearer mine")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sent = &az.requests()[0];
    assert_eq!(
        sent.path,
        "/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(sent.headers["api-key"], "az-key");
    assert!(
        sent.headers.get("authorization").is_none(),
        "client auth not forwarded"
    );
}

#[tokio::test]
async fn image_urls_are_fetched_with_size_and_time_limits() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml("", "")).await;
    let http = h.state.http().clone();
    let url = format!("{}/image.png", f.b.base_url());
    let limits = switchyard_crds::config::Limits::default();
    let img = switchyard_router::routing::fetch_image(&http, &url, &limits)
        .await
        .unwrap();
    assert!(!img.bytes.is_empty());
    assert_eq!(img.media_type.as_deref(), Some("application/json"));
    let small = switchyard_crds::config::Limits {
        max_image_bytes: 10,
        ..limits.clone()
    };
    let e = switchyard_router::routing::fetch_image(&http, &url, &small)
        .await
        .unwrap_err();
    assert_eq!(e.status().as_u16(), 413);
    f.b.set(Behavior::Status(404, "gone".into()));
    let e = switchyard_router::routing::fetch_image(&http, &url, &limits)
        .await
        .unwrap_err();
    assert_eq!(e.status().as_u16(), 400);
    assert!(e.to_string().contains("404"), "{e}");
}
