//! Calling upstream model endpoints: HTTP clients, per-endpoint runtime state (circuit
//! breaker, concurrency and rate limits) and the proxy with fallback and SSE passthrough.
//!
//! Endpoint calls go through hyper-util's pooled client over hyper-rustls (rustls with the
//! ring provider and the system's root certificates): connection pooling, HTTP/1.1 and HTTP/2,
//! connect timeouts and streaming bodies at a fraction of reqwest's CPU per request
//! ([`client`]). reqwest remains for endpoints behind an HTTP proxy and for the router's own
//! calls (LLM classifiers, image URLs).

pub mod breaker;
pub mod client;
pub mod endpoint;
pub mod limiter;
pub mod proxy;
pub mod stream;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use switchyard_crds::config::ResolvedEndpoint;
use switchyard_crds::endpoint::Provider;

/// Errors while setting up HTTP clients.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// TLS configuration failed.
    #[error("TLS setup failed: {0}")]
    Tls(#[source] rustls::Error),
    /// The extra CA bundle could not be used.
    #[error("upstream CA bundle {0}")]
    CaBundle(String),
    /// The endpoint's URL does not parse.
    #[error("invalid URL: {0}")]
    Url(String),
    /// reqwest refused the configuration.
    #[error("HTTP client setup failed: {0}")]
    Build(#[source] reqwest::Error),
}

/// Installs ring as rustls' process-wide provider (idempotent) and builds a client TLS config
/// trusting the system's root certificates (`SSL_CERT_FILE`/`SSL_CERT_DIR` override where the
/// system keeps them) plus, when given, every certificate of the PEM file `ca_bundle` (a
/// private CA in front of self-hosted models).
pub fn tls_config(ca_bundle: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Fails only when a provider is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // Individual unparsable system certificates are skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_bundle {
        let added = add_ca_bundle(&mut roots, path)?;
        tracing::info!(file = %path.display(), certificates = added, "extra upstream CA certificates loaded");
    }
    if roots.is_empty() {
        tracing::warn!("no root certificates found; https upstreams will fail");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ClientError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Adds every certificate of a PEM file to `roots`; the file must hold at least one, and
/// each must be a valid CA certificate.
fn add_ca_bundle(roots: &mut rustls::RootCertStore, path: &Path) -> Result<usize, ClientError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let bad = |why: String| ClientError::CaBundle(format!("{}: {why}", path.display()));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate found".into()));
    }
    let n = certs.len();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
    }
    Ok(n)
}

/// Builds an HTTP client with the given connect timeout.
pub fn build_client(
    tls: &rustls::ClientConfig,
    connect_timeout: Duration,
) -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls.clone())
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
        .map_err(ClientError::Build)
}

/// The header carrying the endpoint's API key: `Authorization: Bearer` or Azure's `api-key`.
pub fn auth_header(ep: &ResolvedEndpoint, key: &str) -> Option<(HeaderName, HeaderValue)> {
    match ep.provider {
        Provider::AzureOpenai => {
            let mut v = HeaderValue::from_str(key).ok()?;
            v.set_sensitive(true);
            Some((HeaderName::from_static("api-key"), v))
        }
        _ => {
            let mut v = HeaderValue::from_str(&format!("Bearer {key}")).ok()?;
            v.set_sensitive(true);
            Some((http::header::AUTHORIZATION, v))
        }
    }
}
