//! TLS with a private CA generated here: https upstreams trusted through `--upstream-ca-bundle`
//! (and refused without it), and TLS on the router's own listener (`--tls-cert/--tls-key`),
//! in-process and through the binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::{Value, json};
use support::Harness;
use switchyard_router::RuntimeOptions;
use switchyard_router::server::serve_with;
use switchyard_router::testing::{FakeUpstream, endpoint_yaml};
use switchyard_router::tls::server_config;
use tempfile::TempDir;

/// A CA and a server certificate for 127.0.0.1/localhost, as PEM files.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Switchyard test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let leaf =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), leaf_cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn server(&self) -> Arc<rustls::ServerConfig> {
        server_config(&self.path("cert.pem"), &self.path("key.pem")).unwrap()
    }

    /// A client trusting only this CA.
    fn client(&self) -> reqwest::Client {
        let tls = switchyard_router::upstream::tls_config(Some(&self.path("ca.pem"))).unwrap();
        reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .build()
            .unwrap()
    }
}

fn config(upstream: &FakeUpstream) -> String {
    endpoint_yaml("secure", "org/secure", &upstream.base_url(), "")
}

fn body() -> Value {
    json!({"model": "org/secure", "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn https_upstreams_are_trusted_through_the_ca_bundle_only() {
    let pki = Pki::new();
    let up = FakeUpstream::start_tls("secure", pki.server())
        .await
        .unwrap();
    assert!(up.base_url().starts_with("https://127.0.0.1:"));

    let trusting = RuntimeOptions {
        upstream_ca_bundle: Some(pki.path("ca.pem")),
        ..RuntimeOptions::default()
    };
    let h = Harness::with_options(&config(&up), trusting).await;
    let r = h.call("POST", "/v1/chat/completions", Some(body())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Hello from secure!"), "{}", r.text);

    // System roots alone do not know the private CA: a connect error, nothing served.
    let hits = up.hits();
    let h = Harness::new(&config(&up)).await;
    let r = h.call("POST", "/v1/chat/completions", Some(body())).await;
    r.assert_error(502, "certificate");
    assert_eq!(r.json["error"]["code"], "upstream_connect_error");
    assert_eq!(
        up.hits(),
        hits,
        "no request got through an untrusted connection"
    );
}

#[test]
fn unusable_ca_bundles_are_clear_errors() {
    let pki = Pki::new();
    let tls = switchyard_router::upstream::tls_config;
    let e = tls(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    let e = tls(Some(&pki.path("key.pem"))).unwrap_err();
    assert!(e.to_string().contains("no PEM certificate"), "{e}");
    let e = server_config(&pki.path("cert.pem"), &pki.path("ca.pem")).unwrap_err();
    assert!(e.to_string().contains("private key"), "{e}");
    let e = server_config(&pki.path("key.pem"), &pki.path("key.pem")).unwrap_err();
    assert!(e.to_string().contains("no PEM certificate"), "{e}");
}

#[tokio::test]
async fn the_listener_speaks_tls_and_survives_silent_clients() {
    let pki = Pki::new();
    let up = FakeUpstream::start("plain").await.unwrap();
    let h = Harness::new(&endpoint_yaml("plain", "org/plain", &up.base_url(), "")).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(
        h.state.clone(),
        listener,
        None,
        Some(pki.server()),
        Duration::from_secs(5),
        async move {
            let _ = rx.await;
        },
    ));
    // A client that connects and never starts a handshake holds up nobody.
    let _silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let client = pki.client();
    let url = format!("https://127.0.0.1:{}", addr.port());
    let r = client
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "org/plain", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "ALPN offers h2");
    assert!(r.text().await.unwrap().contains("Hello from plain!"));
    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", addr.port()))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    // A client that does not trust the CA fails the handshake.
    let untrusting = reqwest::Client::builder()
        .tls_backend_preconfigured(
            (*switchyard_router::upstream::tls_config(None).unwrap()).clone(),
        )
        .build()
        .unwrap();
    let e = untrusting
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("UnknownIssuer"), "{e:?}");
    tx.send(()).unwrap();
    let done = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
}

struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_takes_the_tls_flags() {
    let pki = Pki::new();
    let up = FakeUpstream::start_tls("secure", pki.server())
        .await
        .unwrap();
    let file = pki.path("router.yaml");
    std::fs::write(&file, config(&up)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard-router"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "-f",
        ])
        .arg(&file)
        .arg("--tls-cert")
        .arg(pki.path("cert.pem"))
        .arg("--tls-key")
        .arg(pki.path("key.pem"))
        .env("SWITCHYARD_UPSTREAM_CA_BUNDLE", pki.path("ca.pem"))
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _child = Reap(child);
    let addr = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["message"] == "serving"
            {
                assert_eq!(v["tls"], true, "{line}");
                return v["addr"].as_str().map(str::to_owned);
            }
            if Instant::now() > deadline {
                break;
            }
        }
        None
    })
    .await
    .unwrap()
    .expect("the router did not log its address");
    let port = addr.rsplit(':').next().unwrap();
    let r = pki
        .client()
        .post(format!("https://localhost:{port}/v1/chat/completions"))
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Hello from secure!"));
}
