//! Client authentication: policies' API-key Secrets, the global keys file, which routes need
//! a key, the 401 shape, and hot reload of keys.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Fakes, Harness, Reply, chat, wait_for};
use switchyard_router::auth::{KeySet, watch_keys_file};
use switchyard_router::config::watch;
use switchyard_router::testing::endpoint_yaml;

const AUTH: &str = "  auth: {apiKeysSecretRef: {name: client-keys, key: keys}}\n";

fn keys_secret(keys: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: client-keys}}\n\
         stringData: {{keys: \"{keys}\"}}\n"
    )
}

async fn post(h: &Harness, uri: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
    h.call_raw("POST", uri, Some(body.to_string().into_bytes()), headers)
        .await
}

fn assert_401(r: &Reply, presented: Option<&str>) {
    assert_eq!(r.status.as_u16(), 401, "{}", r.text);
    let e = &r.json["error"];
    assert_eq!(e["type"], "invalid_request_error", "{}", r.text);
    assert_eq!(e["code"], "invalid_api_key", "{}", r.text);
    assert!(
        e["message"].as_str().unwrap().contains("API key"),
        "{}",
        r.text
    );
    assert!(r.header("www-authenticate").starts_with("Bearer"));
    if let Some(k) = presented {
        assert!(
            !r.text.contains(k),
            "the presented key is echoed: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn a_policy_with_auth_needs_one_of_its_keys_everywhere() {
    let f = Fakes::start().await;
    let yaml = f.yaml(AUTH, "") + &keys_secret("sk-client-1\\n# old keys below\\nsk-client-2");
    let h = Harness::new(&yaml).await;
    let body = chat("hello there");

    assert_401(&post(&h, "/v1/chat/completions", &body, &[]).await, None);
    let wrong = [("authorization", "Bearer sk-wrong-key-1")];
    assert_401(
        &post(&h, "/v1/chat/completions", &body, &wrong).await,
        Some("sk-wrong-key-1"),
    );
    let basic = [("authorization", "Basic c2stY2xpZW50LTE=")];
    assert_401(&post(&h, "/v1/chat/completions", &body, &basic).await, None);
    assert_eq!(f.a.hits() + f.b.hits(), 0, "nothing reached an upstream");

    let r = post(
        &h,
        "/v1/chat/completions",
        &body,
        &[("authorization", "Bearer sk-client-1")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The client's key stays with the router; the upstream gets its own.
    let sent = f.a.requests().pop().unwrap();
    assert_eq!(sent.headers["authorization"], "Bearer sk-a");
    let r = post(
        &h,
        "/v1/chat/completions",
        &body,
        &[("api-key", "sk-client-2")],
    )
    .await;
    assert_eq!(r.status, 200, "Azure-style api-key header: {}", r.text);

    // A concrete model id of the policy's endpoints cannot bypass its keys.
    let manual = json!({"model": "org/model-b", "messages": [{"role": "user", "content": "x"}]});
    assert_401(&post(&h, "/v1/chat/completions", &manual, &[]).await, None);
    let ok = [("authorization", "Bearer sk-client-2")];
    assert_eq!(
        post(&h, "/v1/chat/completions", &manual, &ok).await.status,
        200
    );

    // Decision-only endpoints too.
    let route = json!({"policy": "p", "prompt": "hello there"});
    assert_401(&post(&h, "/v1/route", &route, &[]).await, None);
    assert_eq!(post(&h, "/v1/route", &route, &ok).await.status, 200);
    assert_401(&post(&h, "/p/chat/completions", &body, &[]).await, None);
    assert_eq!(
        post(&h, "/p/chat/completions", &body, &ok).await.status,
        200
    );
    assert_401(
        &post(&h, "/route?policy=p", &json!({"question": "hi"}), &[]).await,
        None,
    );
    let nim = json!({"messages": [{"role": "user", "content": "hi"}],
                     "nim-llm-router": {"policy": "p", "routing_strategy": "triton"}});
    assert_401(&post(&h, "/v1/chat/completions", &nim, &[]).await, None);

    // Every endpoint belongs to the protected policy: /v1/models needs a key as well, and
    // an unauthenticated body is refused before it is read (401, not 413).
    assert_401(&h.call("GET", "/v1/models", None).await, None);
    let r = h.call_raw("GET", "/v1/models", None, &ok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let huge = vec![b' '; 64 << 20];
    let r = h
        .call_raw("POST", "/v1/chat/completions", Some(huge), &[])
        .await;
    assert_401(&r, None);

    // Probes and metrics never need a key.
    for path in ["/healthz", "/health", "/readyz", "/metrics"] {
        let r = h.call("GET", path, None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    let metrics = h.call("GET", "/metrics", None).await.text;
    assert!(
        metrics.contains(r#"switchyard_rejected_requests_total{reason="unauthenticated"}"#),
        "{metrics}"
    );
    assert!(!metrics.contains("sk-client"), "{metrics}");
}

#[tokio::test]
async fn open_policies_stay_open_next_to_protected_ones() {
    let f = Fakes::start().await;
    let c = switchyard_router::testing::FakeUpstream::start("c")
        .await
        .unwrap();
    let mut yaml = f.yaml(AUTH, "") + &keys_secret("sk-client-1");
    yaml.push_str("---\n");
    yaml.push_str(&endpoint_yaml("c", "org/model-c", &c.base_url(), ""));
    yaml.push_str(
        "apiVersion: switchyard.dev/v1alpha1\nkind: RoutingPolicy\nmetadata: {name: q}\n\
         spec:\n  strategy: intent\n  intent:\n    routes:\n\
         \x20     - {name: all, description: anything, endpoints: [c]}\n",
    );
    let h = Harness::new(&yaml).await;
    let mut body = chat("hello there");
    body["model"] = json!("switchyard/q");
    // Clients of an open policy often send a placeholder key: it is ignored.
    for headers in [vec![], vec![("authorization", "Bearer sk-placeholder")]] {
        let r = post(&h, "/v1/chat/completions", &body, &headers).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_401(
        &post(&h, "/v1/chat/completions", &chat("hi"), &[]).await,
        None,
    );
    // A key of p is no key for anything else, but q needs none.
    let manual_c = json!({"model": "org/model-c", "messages": [{"role": "user", "content": "x"}]});
    assert_eq!(
        post(&h, "/v1/chat/completions", &manual_c, &[])
            .await
            .status,
        200
    );
    let manual_a = json!({"model": "org/model-a", "messages": [{"role": "user", "content": "x"}]});
    assert_401(
        &post(&h, "/v1/chat/completions", &manual_a, &[]).await,
        None,
    );
    // Checked in the handler (not before the body), a v1 request gets NVIDIA's error shape.
    let nim = json!({"messages": [{"role": "user", "content": "hi"}],
                     "nim-llm-router": {"policy": "p", "routing_strategy": "triton"}});
    let r = post(&h, "/v1/chat/completions", &nim, &[]).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(
        r.json["error"]["status"], 401,
        "NVIDIA v1 shape: {}",
        r.text
    );
    // Not everything is protected, so listing models needs no key.
    assert_eq!(h.call("GET", "/v1/models", None).await.status, 200);
}

#[tokio::test]
async fn a_missing_keys_secret_fails_closed_and_is_reported() {
    let f = Fakes::start().await;
    let h = Harness::new(&f.yaml(AUTH, "")).await;
    for headers in [vec![], vec![("authorization", "Bearer anything")]] {
        let r = post(&h, "/v1/chat/completions", &chat("hi"), &headers).await;
        assert_401(&r, None);
    }
    let ready = h.call("GET", "/readyz", None).await;
    let degraded = ready.json["degraded"].to_string();
    assert!(degraded.contains("client-keys"), "{degraded}");
}

#[tokio::test]
async fn rotated_keys_apply_without_a_restart() {
    let f = Fakes::start().await;
    let base = f.yaml(AUTH, "");
    let h = Harness::new(&(base.clone() + &keys_secret("sk-old-key"))).await;
    let _watch = watch::watch(h.state.clone(), h.source()).unwrap();
    let old = [("authorization", "Bearer sk-old-key")];
    let new = [("authorization", "Bearer sk-new-key")];
    assert_eq!(
        post(&h, "/v1/route", &json!({"prompt": "hi"}), &old)
            .await
            .status,
        200
    );
    std::fs::write(&h.file, base + &keys_secret("sk-new-key")).unwrap();
    let rotated = wait_for(Duration::from_secs(10), || async {
        post(&h, "/v1/route", &json!({"prompt": "hi"}), &new)
            .await
            .status
            == 200
    })
    .await;
    assert!(rotated, "the new key was not accepted");
    assert_401(
        &post(&h, "/v1/route", &json!({"prompt": "hi"}), &old).await,
        None,
    );
}

#[tokio::test]
async fn global_keys_protect_every_policy_and_reload_from_their_file() {
    let f = Fakes::start().await;
    // The policy itself has no auth: the global keys alone protect it.
    let h = Harness::new(&f.yaml("", "")).await;
    assert_eq!(
        post(&h, "/v1/route", &json!({"prompt": "hi"}), &[])
            .await
            .status,
        200
    );
    let file = h.dir.path().join("keys");
    std::fs::write(&file, "sk-global-1\n").unwrap();
    h.state.set_client_keys(Some(
        switchyard_router::auth::read_keys_file(&file).unwrap(),
    ));
    let _watch = watch_keys_file(h.state.clone(), file.clone()).unwrap();
    assert_401(
        &post(&h, "/v1/route", &json!({"prompt": "hi"}), &[]).await,
        None,
    );
    assert_401(&h.call("GET", "/v1/models", None).await, None);
    let g1 = [("authorization", "Bearer sk-global-1")];
    let g2 = [("authorization", "Bearer sk-global-2")];
    assert_eq!(
        post(&h, "/v1/route", &json!({"prompt": "hi"}), &g1)
            .await
            .status,
        200
    );
    let manual = json!({"model": "org/model-b", "messages": [{"role": "user", "content": "x"}]});
    assert_401(&post(&h, "/v1/chat/completions", &manual, &[]).await, None);
    assert_eq!(
        post(&h, "/v1/chat/completions", &manual, &g1).await.status,
        200
    );

    std::fs::write(&file, "sk-global-2\n").unwrap();
    let rotated = wait_for(Duration::from_secs(10), || async {
        post(&h, "/v1/route", &json!({"prompt": "hi"}), &g2)
            .await
            .status
            == 200
    })
    .await;
    assert!(rotated, "the edited keys file was not applied");
    assert_401(
        &post(&h, "/v1/route", &json!({"prompt": "hi"}), &g1).await,
        None,
    );
    // A file without keys is refused (the watcher then keeps the previous keys).
    std::fs::write(h.dir.path().join("empty"), "\n# none\n").unwrap();
    let e = switchyard_router::auth::read_keys_file(&h.dir.path().join("empty")).unwrap_err();
    assert!(e.contains("holds no key"), "{e}");

    h.state.set_client_keys(None);
    assert_eq!(
        post(&h, "/v1/route", &json!({"prompt": "hi"}), &[])
            .await
            .status,
        200
    );
}

#[test]
fn key_sets_compare_whole_keys() {
    let k = KeySet::parse("sk-abc\n");
    assert!(k.contains("sk-abc"));
    for near in ["sk-ab", "sk-abcd", "SK-ABC", " sk-abc", ""] {
        assert!(!k.contains(near), "{near:?}");
    }
}
