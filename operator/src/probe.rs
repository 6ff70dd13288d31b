//! Health probes of upstream model APIs: `GET baseURL + path` with the endpoint's key.

use std::time::{Duration, Instant};

/// Outcome of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    /// Whether the upstream answered 2xx.
    pub ok: bool,
    /// Condition reason (bounded set): `Reachable`, `HTTPError`, `Timeout`, `ConnectError`,
    /// `SecretNotFound`.
    pub reason: &'static str,
    /// What happened, for the condition message.
    pub message: String,
    /// Time to the response headers.
    pub latency_ms: i64,
}

/// Client used for probes. Redirects are not followed: a probe checks the configured URL.
pub fn http_client() -> reqwest::Client {
    crate::run::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// How the key is sent: `Authorization: Bearer <key>`, or Azure's `api-key: <key>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer`.
    Bearer(String),
    /// Azure OpenAI's `api-key` header.
    AzureKey(String),
}

/// Probes `url` once.
pub async fn probe(
    http: &reqwest::Client,
    url: &str,
    credential: Option<&Credential>,
    timeout: Duration,
) -> ProbeResult {
    let mut req = http.get(url).timeout(timeout);
    match credential {
        Some(Credential::Bearer(k)) => req = req.bearer_auth(k),
        Some(Credential::AzureKey(k)) => req = req.header("api-key", k),
        None => {}
    }
    let start = Instant::now();
    let res = req.send().await;
    let latency_ms = i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX);
    match res {
        Ok(r) if r.status().is_success() => ProbeResult {
            ok: true,
            reason: "Reachable",
            message: format!("GET {url} answered {}", r.status().as_u16()),
            latency_ms,
        },
        Ok(r) => ProbeResult {
            ok: false,
            reason: "HTTPError",
            message: format!("GET {url} answered {}", r.status()),
            latency_ms,
        },
        Err(e) if e.is_timeout() => ProbeResult {
            ok: false,
            reason: "Timeout",
            message: format!("GET {url}: no answer within {} ms", timeout.as_millis()),
            latency_ms,
        },
        Err(e) => ProbeResult {
            ok: false,
            reason: "ConnectError",
            message: format!("GET {url}: {}", error_chain(&e)),
            latency_ms,
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    async fn serve(app: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn reachable_with_bearer_key() {
        let app = axum::Router::new().route(
            "/v1/models",
            axum::routing::get(|h: HeaderMap| async move {
                if h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer k1") {
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::UNAUTHORIZED
                }
            }),
        );
        let base = serve(app).await;
        let http = http_client();
        let url = format!("{base}/v1/models");
        let ok = probe(
            &http,
            &url,
            Some(&Credential::Bearer("k1".into())),
            Duration::from_secs(5),
        )
        .await;
        assert!(ok.ok, "{ok:?}");
        assert_eq!(ok.reason, "Reachable");
        let bad = probe(
            &http,
            &url,
            Some(&Credential::Bearer("nope".into())),
            Duration::from_secs(5),
        )
        .await;
        assert!(!bad.ok);
        assert_eq!(bad.reason, "HTTPError");
        assert!(bad.message.contains("401"), "{}", bad.message);
    }

    #[tokio::test]
    async fn connect_error_and_timeout() {
        // A port that was just free: nothing listens there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let http = http_client();
        let r = probe(
            &http,
            &format!("http://{addr}/x"),
            None,
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(r.reason, "ConnectError", "{r:?}");

        let app = axum::Router::new().route(
            "/slow",
            axum::routing::get(|| async {
                std::future::pending::<()>().await;
                "never"
            }),
        );
        let base = serve(app).await;
        let r = probe(
            &http,
            &format!("{base}/slow"),
            None,
            Duration::from_millis(200),
        )
        .await;
        assert_eq!(r.reason, "Timeout", "{r:?}");
    }
}
