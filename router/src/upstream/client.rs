//! The HTTP client of one endpoint. Calls go through hyper-util's pooled client over
//! hyper-rustls directly: reqwest's per-request work (parsing the URL again for its redirect
//! policy, copying header maps, its retry and redirect layers) cost about as much CPU as all
//! the rest of a proxied request. What reqwest adds that the proxy needs is kept here: the
//! `user:password@` of a base URL becomes a Basic `Authorization` header, and when the
//! environment routes the endpoint's URL through an HTTP proxy (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`, read when the endpoint is built) its calls go through reqwest,
//! which speaks to proxies (CONNECT tunnels, proxy credentials).
//!
//! With dedicated server workers ([`crate::server::serve_workers`]) each worker thread calls
//! through its own client, so that its upstream connections live on its own event loop: a
//! connection shared between threads would wake another thread for every request.

use std::cell::Cell;
use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, Uri};
use http_body::{Frame, SizeHint};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::ClientError;

/// Boxed error of an upstream body.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);
/// Most idle pooled connections per host.
const POOL_MAX_IDLE: usize = 256;

/// An endpoint's chat-completions URL, parsed once.
#[derive(Clone, Debug)]
pub struct Target {
    /// The URL without userinfo.
    pub uri: Uri,
    /// Basic credentials from the URL's `user:password@`, if it had any.
    pub basic_auth: Option<HeaderValue>,
    /// The `Host` header of a plain-HTTP target, made once (hyper-util formats it per
    /// request otherwise). HTTPS targets may speak HTTP/2, where hyper-util sets the authority.
    pub host: Option<HeaderValue>,
}

impl Target {
    /// Parses `url`, moving its userinfo (percent-decoded) into a Basic credential.
    pub fn parse(url: &str) -> Result<Self, ClientError> {
        let mut parsed = reqwest::Url::parse(url).map_err(|e| ClientError::Url(e.to_string()))?;
        let mut basic_auth = None;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let user = decode(parsed.username());
            let password = parsed.password().map(decode).unwrap_or_default();
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            let mut value = HeaderValue::from_str(&format!("Basic {token}"))
                .map_err(|e| ClientError::Url(format!("unusable credentials in the URL: {e}")))?;
            value.set_sensitive(true);
            basic_auth = Some(value);
            // Cannot fail: the URL has a host (it had credentials).
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
        }
        let uri = Uri::try_from(parsed.as_str()).map_err(|e| ClientError::Url(e.to_string()))?;
        // The URL parser already dropped a default port, as the Host header wants.
        let host = match (uri.scheme_str(), uri.authority()) {
            (Some("http"), Some(a)) => HeaderValue::from_str(a.as_str()).ok(),
            _ => None,
        };
        Ok(Self {
            uri,
            basic_auth,
            host,
        })
    }
}

thread_local! {
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// Marks the calling thread as server worker `i` (1-based): its upstream calls use the `i`th
/// connection pool of each endpoint. Other threads use pool 0.
pub fn set_worker(i: usize) {
    WORKER.with(|w| w.set(i));
}

/// The client an endpoint's calls go through: one pool per server worker (and one for the
/// other threads), all alike.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    pools: Pools,
}

#[derive(Clone, Debug)]
enum Pools {
    /// hyper-util's pooled client (HTTP/1.1, and HTTP/2 where TLS negotiates it).
    Direct(Box<[Client<HttpsConnector<HttpConnector>, Full<Bytes>>]>),
    /// reqwest, for endpoints behind an HTTP proxy configured in the environment.
    Proxied(Box<[reqwest::Client]>),
}

/// The pool of the calling thread among `n` (`n` ≥ 1).
fn pick<T>(pools: &[T]) -> &T {
    let i = WORKER.with(Cell::get).min(pools.len().saturating_sub(1));
    &pools[i]
}

/// Why an upstream call got no response.
#[derive(Debug)]
pub struct SendError {
    /// The connect timeout expired.
    pub timeout: bool,
    /// The error and its causes, without the URL.
    pub message: String,
}

impl UpstreamClient {
    /// Builds the client for calls to `target` with the given connect timeout, with a
    /// connection pool for each of `workers` server workers plus one for other threads.
    pub fn new(
        tls: &Arc<rustls::ClientConfig>,
        connect_timeout: Duration,
        target: &Uri,
        workers: usize,
    ) -> Result<Self, ClientError> {
        let proxied = hyper_util::client::proxy::matcher::Matcher::from_system()
            .intercept(target)
            .is_some();
        let n = workers + 1;
        if proxied {
            let pools = (0..n)
                .map(|_| super::build_client(tls, connect_timeout))
                .collect::<Result<_, _>>()?;
            return Ok(Self {
                pools: Pools::Proxied(pools),
            });
        }
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let https = HttpsConnector::from((http, Arc::clone(tls)));
        let pools = (0..n)
            .map(|_| {
                Client::builder(TokioExecutor::new())
                    .pool_timer(TokioTimer::new())
                    .pool_idle_timeout(POOL_IDLE)
                    .pool_max_idle_per_host(POOL_MAX_IDLE)
                    .build(https.clone())
            })
            .collect();
        Ok(Self {
            pools: Pools::Direct(pools),
        })
    }

    /// Whether calls go through an HTTP proxy.
    pub fn is_proxied(&self) -> bool {
        matches!(self.pools, Pools::Proxied(_))
    }

    /// Sends a request and waits for the response head.
    pub async fn send(&self, req: Request<Bytes>) -> Result<Response<UpstreamBody>, SendError> {
        match &self.pools {
            Pools::Direct(pools) => match pick(pools).request(req.map(Full::new)).await {
                Ok(resp) => Ok(resp.map(UpstreamBody::Direct)),
                Err(e) => Err(SendError {
                    timeout: is_timeout(&e),
                    message: chain(&e),
                }),
            },
            Pools::Proxied(pools) => {
                let req = reqwest::Request::try_from(req).map_err(|e| SendError {
                    timeout: false,
                    message: chain(&e.without_url()),
                })?;
                match pick(pools).execute(req).await {
                    Ok(resp) => Ok(Response::from(resp).map(UpstreamBody::Proxied)),
                    Err(e) => Err(SendError {
                        timeout: e.is_timeout(),
                        message: chain(&e.without_url()),
                    }),
                }
            }
        }
    }
}

/// Whether an error or one of its causes is a timeout.
fn is_timeout(e: &(dyn StdError + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// An error and its causes, `: `-separated.
pub fn chain(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// An upstream response body.
#[derive(Debug)]
pub enum UpstreamBody {
    /// From the direct client.
    Direct(hyper::body::Incoming),
    /// From reqwest.
    Proxied(reqwest::Body),
}

impl http_body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Direct(b) => Pin::new(b).poll_frame(cx).map_err(|e| {
                let e: BoxError = Box::new(e);
                e
            }),
            Self::Proxied(b) => Pin::new(b)
                .poll_frame(cx)
                .map_err(|e| -> BoxError { chain(&e.without_url()).into() }),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Direct(b) => b.is_end_stream(),
            Self::Proxied(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Direct(b) => b.size_hint(),
            Self::Proxied(b) => b.size_hint(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_become_basic_auth() {
        let t = Target::parse("http://us%40er:p%3Ass@example.com:8080/v1/chat/completions?x=1")
            .unwrap();
        assert_eq!(
            t.uri.to_string(),
            "http://example.com:8080/v1/chat/completions?x=1"
        );
        let v = t.basic_auth.unwrap();
        assert!(v.is_sensitive());
        let token = base64::engine::general_purpose::STANDARD.encode("us@er:p:ss");
        assert_eq!(v.to_str().unwrap(), format!("Basic {token}"));

        assert_eq!(t.host.unwrap(), "example.com:8080");

        let plain = Target::parse("https://api.example.com/v1/chat/completions").unwrap();
        assert!(plain.basic_auth.is_none() && plain.host.is_none());
        assert_eq!(plain.uri.host(), Some("api.example.com"));
        let default_port = Target::parse("http://[::1]:80/v1/chat/completions").unwrap();
        assert_eq!(default_port.host.unwrap(), "[::1]");

        assert!(matches!(
            Target::parse("not a url"),
            Err(ClientError::Url(_))
        ));
    }

    #[test]
    fn each_worker_thread_has_its_own_pool() {
        let pools = ["shared", "worker 1", "worker 2"];
        assert_eq!(*pick(&pools), "shared");
        let on = |i: usize| {
            std::thread::spawn(move || {
                set_worker(i);
                *pick(&["shared", "worker 1", "worker 2"])
            })
            .join()
            .unwrap()
        };
        assert_eq!(on(1), "worker 1");
        assert_eq!(on(2), "worker 2");
        // More workers than pools (a state built for fewer): the last pool, never a panic.
        assert_eq!(on(7), "worker 2");
        assert_eq!(*pick(&["only"]), "only");
    }

    /// An error with a cause, as connectors wrap I/O errors.
    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("tcp connect error")
        }
    }

    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn timeouts_are_found_among_causes() {
        let slow = Wrapped(std::io::Error::new(std::io::ErrorKind::TimedOut, "slow"));
        assert!(is_timeout(&slow));
        assert_eq!(chain(&slow), "tcp connect error: slow");
        let refused = Wrapped(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        assert!(!is_timeout(&refused));
    }
}
