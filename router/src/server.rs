//! Serving the app on its listeners with graceful shutdown: on SIGTERM/SIGINT the listeners
//! stop accepting, requests and streams in flight may finish within the grace period, then the
//! process exits (cleanly, even if some are still running when the grace period ends).

use std::future::Future;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{app, metrics_app};
use crate::state::AppState;

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
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let main_app = app(state.clone());
    // Small writes (headers, SSE events) must not wait for ACKs (Nagle).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let main = axum::serve(listener, main_app).with_graceful_shutdown(wait(rx.clone()));
    let metrics = metrics_listener.map(|l| {
        axum::serve(l, metrics_app(state.clone())).with_graceful_shutdown(wait(rx.clone()))
    });
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
        wait(rx).await;
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
