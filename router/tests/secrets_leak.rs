//! Planted keys never leak: the real binary serves at debug log level with recognisable
//! upstream and client keys, answers successes, streams, upstream failures (including an
//! upstream that quotes the key it was sent), refused keys and every informational endpoint;
//! then every byte it wrote (logs, response bodies and headers, /metrics, decisions) and the
//! output of `validate` and `route` is searched for the keys.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_router::testing::{Behavior, FakeUpstream, endpoint_yaml};

const UPSTREAM_A: &str = "sk-CANARY-upstream-a-6b1f0e93d2";
const UPSTREAM_ECHO: &str = "sk-CANARY-upstream-echo-3c7d81";
const UPSTREAM_DEAD: &str = "sk-CANARY-upstream-dead-95ae42";
const CLIENT: &str = "sk-CANARY-client-0d4c9a17";
const GLOBAL: &str = "sk-CANARY-global-e8b2f5";
const WRONG: &str = "sk-CANARY-wrong-client-71aa";
const ALL: [&str; 6] = [
    UPSTREAM_A,
    UPSTREAM_ECHO,
    UPSTREAM_DEAD,
    CLIENT,
    GLOBAL,
    WRONG,
];

/// Kills the router if the test fails before stopping it.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchyard-router"));
    c.env("RUST_LOG", "debug").env_remove("NVIDIA_API_KEY");
    c
}

fn manifests(a: &FakeUpstream, echo: &FakeUpstream) -> String {
    let mut y = String::new();
    y.push_str(&endpoint_yaml(
        "a",
        "org/a",
        &a.base_url(),
        "apiKeySecretRef: {name: keys, key: A_KEY}",
    ));
    y.push_str(&endpoint_yaml(
        "echo",
        "org/echo",
        &echo.base_url(),
        "apiKeySecretRef: {name: keys, key: ECHO_KEY}",
    ));
    y.push_str(&endpoint_yaml(
        "dead",
        "org/dead",
        "http://127.0.0.1:1/v1",
        "apiKeySecretRef: {name: keys, key: DEAD_KEY}, timeouts: {connect: 500ms}",
    ));
    y.push_str(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: keys}}\n\
         stringData: {{A_KEY: {UPSTREAM_A}, ECHO_KEY: {UPSTREAM_ECHO}, DEAD_KEY: {UPSTREAM_DEAD}}}\n\
         ---\napiVersion: v1\nkind: Secret\nmetadata: {{name: client-keys}}\n\
         stringData: {{keys: {CLIENT}}}\n---\n"
    ));
    y.push_str(
        "apiVersion: switchyard.dev/v1alpha1\nkind: RoutingPolicy\nmetadata: {name: p}\n\
         spec:\n  strategy: intent\n  auth: {apiKeysSecretRef: {name: client-keys, key: keys}}\n\
         \x20 intent:\n    defaultRoute: chat\n    routes:\n\
         \x20     - {name: chat, description: small talk, endpoints: [a, echo]}\n\
         \x20     - {name: broken, description: never works, endpoints: [dead]}\n",
    );
    y
}

/// Waits until the log file names the listening address.
fn wait_addr(log: &Path, child: &mut std::process::Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line)
                && v["message"] == "serving"
            {
                return v["addr"].as_str().unwrap().to_owned();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the router did not start:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Status line, headers and body of a response, as one text.
async fn dump(resp: reqwest::Response) -> String {
    let mut out = format!("{:?}\n", resp.status());
    for (k, v) in resp.headers() {
        out.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
    }
    out.push_str(&resp.text().await.unwrap_or_default());
    out
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_clean(what: &str, text: &str) {
    for k in ALL {
        assert!(!text.contains(k), "{what} contains the key {k}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_keys_appear_in_no_output() {
    let a = FakeUpstream::start("a").await.unwrap();
    let echo = FakeUpstream::start("echo").await.unwrap();
    echo.set(Behavior::EchoKey(401));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(config.join("router.yaml"), manifests(&a, &echo)).unwrap();
    let keys = dir.path().join("api-keys");
    std::fs::write(&keys, format!("{GLOBAL}\n")).unwrap();
    let log = dir.path().join("router.log");
    let mut child = Reap(
        bin()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "-f",
            ])
            .arg(&config)
            .arg("--api-keys-file")
            .arg(&keys)
            .stdout(std::fs::File::create(dir.path().join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let addr = wait_addr(&log, &mut child.0);
    let url = format!("http://{addr}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let mut seen = String::new();
    let chat = |model: &str, stream: bool| {
        json!({"model": model, "stream": stream,
               "messages": [{"role": "user", "content": "hello there"}]})
    };
    let post = |body: Value, key: &str| {
        http.post(format!("{url}/v1/chat/completions"))
            .bearer_auth(key)
            .json(&body)
    };

    let ok = post(chat("switchyard/p", false), CLIENT)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    seen.push_str(&dump(ok).await);
    let streamed = post(chat("switchyard/p", true), CLIENT)
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 200);
    seen.push_str(&dump(streamed).await);
    // The planted key is really used: the upstream received it.
    assert_eq!(
        a.requests()[0].headers["authorization"],
        format!("Bearer {UPSTREAM_A}").as_str()
    );

    // An upstream that quotes the key it got: relayed as 502, with the key redacted.
    let echoed = post(chat("org/echo", false), GLOBAL).send().await.unwrap();
    assert_eq!(echoed.status(), 502);
    let text = dump(echoed).await;
    assert!(text.contains("[redacted]"), "{text}");
    seen.push_str(&text);
    assert!(echo.hits() >= 1);
    // Connection refused, with a key that was never sent anywhere.
    let dead = post(chat("org/dead", false), GLOBAL).send().await.unwrap();
    assert_eq!(dead.status(), 502);
    seen.push_str(&dump(dead).await);
    // A wrong client key, as Bearer and as api-key.
    let wrong = post(chat("switchyard/p", false), WRONG)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    seen.push_str(&dump(wrong).await);
    let wrong = http
        .post(format!("{url}/v1/route"))
        .header("api-key", WRONG)
        .json(&json!({"prompt": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    seen.push_str(&dump(wrong).await);
    // Decisions and everything informational.
    let decision = http
        .post(format!("{url}/v1/route"))
        .bearer_auth(CLIENT)
        .json(&json!({"prompt": "hello there"}))
        .send()
        .await
        .unwrap();
    assert_eq!(decision.status(), 200);
    seen.push_str(&dump(decision).await);
    for path in [
        "/v1/models",
        "/readyz",
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/ui",
    ] {
        let r = http
            .get(format!("{url}{path}"))
            .bearer_auth(GLOBAL)
            .send()
            .await
            .unwrap();
        seen.push_str(&dump(r).await);
    }
    assert!(
        seen.contains("switchyard_requests_total"),
        "metrics were read"
    );

    let term = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let logs = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(dir.path().join("stdout.log")).unwrap();
    assert!(logs.contains("\"level\":\"DEBUG\""), "debug logging was on");
    assert!(
        logs.contains("upstream attempt failed"),
        "failures were logged"
    );
    assert_clean("the router's logs", &logs);
    assert_clean("the responses", &seen);

    // The offline commands, on the same files and on a broken copy.
    let validate = run(bin().args(["validate", "-f"]).arg(&config));
    assert!(validate.contains("ok"), "{validate}");
    assert_clean("validate", &validate);
    let route = run(bin()
        .args(["route", "--prompt", "hello there", "-f"])
        .arg(&config));
    assert!(route.contains("selected_model"), "{route}");
    assert_clean("route", &route);
    let broken = manifests(&a, &echo).replace("DEAD_KEY:", "DEAD_KEY: [1], X:")
        + "---\napiVersion: switchyard.dev/v1alpha1\nkind: ModelEndpoint\nmetadata: {name: z}\n\
           spec: {model: m, baseURL: nope, apiKeySecretRef: {name: missing, key: K}}\n";
    std::fs::write(config.join("router.yaml"), broken).unwrap();
    let validate = run(bin().args(["validate", "-f"]).arg(&config));
    assert!(!validate.contains("ok:"), "{validate}");
    assert_clean("validate of a broken file", &validate);
    // Refused at start (bounded by `timeout` in case it were not).
    let serve_broken = run(Command::new("timeout")
        .arg("30")
        .arg(env!("CARGO_BIN_EXE_switchyard-router"))
        .env("RUST_LOG", "debug")
        .args(["serve", "--listen", "127.0.0.1:0", "--no-watch", "-f"])
        .arg(&config));
    assert!(
        serve_broken.contains("ERROR") || serve_broken.contains("rror"),
        "{serve_broken}"
    );
    assert_clean("serve refusing a broken file", &serve_broken);
}
