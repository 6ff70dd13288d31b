//! Serving the app on its listeners with graceful shutdown: on SIGTERM/SIGINT the listeners
//! stop accepting, requests and streams in flight may finish within the grace period, then the
//! process exits (cleanly, even if some are still running when the grace period ends). With
//! `--tls-cert/--tls-key` the main listener speaks TLS ([`crate::tls`]).
//!
//! [`serve_workers`] serves plain HTTP the way nginx's worker processes do: each of N worker
//! threads runs its own single-threaded event loop with its own upstream connections, and the
//! accept loop hands every new connection to the next worker. A request then stays on one
//! thread from its first byte to its last: on tokio's shared multi-threaded scheduler the
//! client connection, the upstream connection and the handler were woken on different threads
//! several times per request, which cost more CPU and latency than the proxying itself.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::serve::{Listener, ListenerExt};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

use crate::api::{app, metrics_app};
use crate::state::AppState;
use crate::tls::TlsListener;

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves until `shutdown` resolves, then drains for at most `grace`.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(state, listener, metrics_listener, None, grace, shutdown).await
}

/// [`serve`], with TLS on the main listener when `tls` is given (`/metrics` on a separate
/// listener stays plain HTTP, for in-cluster scrapers).
pub async fn serve_with(
    state: AppState,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    tls: Option<Arc<rustls::ServerConfig>>,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_workers(state, listener, metrics_listener, tls, grace, 0, shutdown).await
}

/// [`serve_with`] on `workers` dedicated threads (see the module documentation); 0 serves on
/// the calling runtime. `state` should have been built with as many
/// [`crate::state::RuntimeOptions::workers`], so that each worker has its own upstream
/// connections. A TLS listener is served on the calling runtime whatever `workers` says.
pub async fn serve_workers(
    state: AppState,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    tls: Option<Arc<rustls::ServerConfig>>,
    grace: Duration,
    workers: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = watch::channel(false);
    let stop = {
        let tx = tx.clone();
        async move {
            shutdown.await;
            tracing::info!(grace = ?grace, "shutting down: no new connections, draining");
            let _ = tx.send(true);
        }
    };
    tokio::spawn(stop);
    let header_timeout = state.header_read_timeout();
    let main: Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match tls {
        None if workers > 0 => Box::pin(serve_on_workers(
            state.clone(),
            listener,
            workers,
            rx.clone(),
        )),
        Some(config) => Box::pin(serve_connections(
            TlsListener::new(listener, config)?,
            app(state.clone()),
            header_timeout,
            rx.clone(),
        )),
        None => {
            // Small writes (headers, SSE events) must not wait for ACKs (Nagle).
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            Box::pin(serve_connections(
                listener,
                app(state.clone()),
                header_timeout,
                rx.clone(),
            ))
        }
    };
    let metrics = metrics_listener
        .map(|l| serve_connections(l, metrics_app(state.clone()), header_timeout, rx.clone()));
    let drained = async move {
        match metrics {
            Some(m) => {
                let (a, b) = tokio::join!(main, m);
                a.and(b)
            }
            None => main.await,
        }
    };
    let deadline = async move {
        stopped(rx).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        r = drained => r,
        () = deadline => {
            tracing::warn!("grace period over with requests still in flight; exiting");
            Ok(())
        }
    }
}

/// Runs `workers` worker threads serving the connections this task accepts on `listener`,
/// handed to them in turn, until `stop` turns true and they have drained.
async fn serve_on_workers(
    state: AppState,
    listener: TcpListener,
    workers: usize,
    stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let mut handoff = Vec::with_capacity(workers);
    let mut finished = Vec::with_capacity(workers);
    for i in 1..=workers {
        let (tx, rx) = mpsc::unbounded_channel();
        let (done, finished_rx) = oneshot::channel();
        let app = app(state.clone());
        let header_timeout = state.header_read_timeout();
        let stop = stop.clone();
        std::thread::Builder::new()
            .name(format!("switchyard-worker-{i}"))
            .spawn(move || {
                crate::upstream::client::set_worker(i);
                let served = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|rt| {
                        rt.block_on(serve_connections(
                            Handoff { rx, local },
                            app,
                            header_timeout,
                            stop,
                        ))
                    });
                let _ = done.send(served);
            })?;
        handoff.push(tx);
        finished.push(finished_rx);
    }
    let stop_accepting = stopped(stop);
    tokio::pin!(stop_accepting);
    let mut next = 0usize;
    loop {
        tokio::select! {
            () = &mut stop_accepting => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    // Small writes (headers, SSE events) must not wait for ACKs (Nagle).
                    let _ = stream.set_nodelay(true);
                    // Out of this runtime's reactor; the worker registers it with its own.
                    match stream.into_std() {
                        Ok(stream) => {
                            // A worker that is gone has logged why; the connection closes.
                            let _ = handoff[next % workers].send((stream, addr));
                            next = next.wrapping_add(1);
                        }
                        Err(e) => tracing::debug!(%addr, error = %e, "could not hand a connection over"),
                    }
                }
                Err(e) => accept_error(e).await,
            },
        }
    }
    drop(listener);
    drop(handoff);
    let mut result = Ok(());
    for (i, f) in finished.into_iter().enumerate() {
        let outcome = match f.await {
            Ok(r) => r,
            Err(_) => Err(io::Error::other("the worker thread panicked")),
        };
        if let Err(e) = outcome {
            tracing::error!(worker = i + 1, error = %e, "server worker failed");
            result = Err(e);
        }
    }
    result
}

/// Serves `app` on every connection `listener` accepts (HTTP/1.1, or HTTP/2 when the client
/// starts with its preface) until `stop` turns true; then stops accepting, asks each open
/// connection to finish its requests in flight and close, and returns once all have.
///
/// A client must send a request's complete header block within `header_timeout`, counted from
/// when the connection starts waiting for it (so an idle keep-alive connection is closed after
/// that long too, as nginx's `keepalive_timeout` does). hyper's header timer starts only once
/// the protocol is known, which takes a first byte, so [`FirstByteDeadline`] covers a new
/// connection until then. A connection that opens and sends nothing, or trickles a header byte
/// at a time, therefore holds its descriptor for at most `header_timeout`.
async fn serve_connections<L>(
    mut listener: L,
    app: Router,
    header_timeout: Duration,
    stop: watch::Receiver<bool>,
) -> io::Result<()>
where
    L: Listener,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = GracefulShutdown::new();
    let stop_accepting = stopped(stop);
    tokio::pin!(stop_accepting);
    loop {
        let (io, _addr) = tokio::select! {
            () = &mut stop_accepting => break,
            accepted = listener.accept() => accepted,
        };
        let service = TowerToHyperService::new(app.clone());
        let io = FirstByteDeadline {
            io,
            deadline: Some(Box::pin(tokio::time::sleep(header_timeout))),
        };
        let conn = builder
            .serve_connection(TokioIo::new(io), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Errors here are the client's (a reset, a header timeout): nothing to report.
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A connection whose reads fail with `TimedOut` if its first byte does not arrive before
/// `deadline`; afterwards it is the plain connection.
struct FirstByteDeadline<I> {
    io: I,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<I: AsyncRead + Unpin> AsyncRead for FirstByteDeadline<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.deadline = None;
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if expired {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request within the header read timeout",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for FirstByteDeadline<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|v| *v).await;
}

/// Handles an accept failure: nothing for a connection the client already gave up on;
/// otherwise logs and pauses briefly, so that running out of descriptors does not spin.
pub(crate) async fn accept_error(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    // Typically out of file descriptors: back off instead of spinning.
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// A worker's listener: the connections the accept loop hands it.
struct Handoff {
    rx: mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for Handoff {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some((stream, addr)) = self.rx.recv().await else {
                // The accept loop stopped: nothing will come any more.
                return std::future::pending().await;
            };
            match TcpStream::from_std(stream) {
                Ok(stream) => return (stream, addr),
                Err(e) => tracing::debug!(%addr, error = %e, "could not take a connection over"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
