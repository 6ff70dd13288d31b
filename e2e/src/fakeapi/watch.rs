//! Watch streams: newline-delimited `{"type": ..., "object": ...}` lines. A watch replays
//! what it must (the current objects for `resourceVersion` 0/unset, the history after N
//! otherwise), then follows live changes, filtered by namespace and selectors the way the
//! watch cache does (an object that stops matching is DELETED for that watch). It sends
//! bookmarks when asked, the `initial-events-end` bookmark for `sendInitialEvents`, ends at
//! `timeoutSeconds`, and ends with a `410 Expired` ERROR event when the history it needs is
//! gone or it fell too far behind.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::counters::Counters;
use super::resources::ResourceInfo;
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{EventType, StoredEvent, Subscription, WatchMsg};

/// What a watch request asked for.
pub(crate) struct WatchRequest {
    pub info: ResourceInfo,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout: Option<Duration>,
    pub bookmark_interval: Duration,
}

impl WatchRequest {
    fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// The line for one stored event, if this watch sees it.
    fn render(&self, ev: &StoredEvent) -> Option<String> {
        if ev.key.group != self.info.group || ev.key.resource != self.info.plural {
            return None;
        }
        if self
            .namespace
            .as_ref()
            .is_some_and(|ns| *ns != ev.key.namespace)
        {
            return None;
        }
        let now = self.matches(&ev.object);
        let etype = match ev.etype {
            EventType::Added | EventType::Deleted => now.then_some(ev.etype)?,
            EventType::Modified => {
                let before = ev.prev.as_ref().is_none_or(|p| self.matches(p));
                match (before, now) {
                    (true, true) => EventType::Modified,
                    (false, true) => EventType::Added,
                    (true, false) => EventType::Deleted,
                    (false, false) => return None,
                }
            }
        };
        Some(line(etype.as_str(), &ev.object))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> String {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            "BOOKMARK",
            &json!({"kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": metadata}),
        )
    }
}

fn line(etype: &str, object: &Value) -> String {
    let mut s = json!({"type": etype, "object": object}).to_string();
    s.push('\n');
    s
}

/// A stream that is only an ERROR event (how the real server reports a watch that cannot
/// start, e.g. from a compacted resourceVersion: HTTP 200, then the error).
pub(crate) fn error_line(err: &ApiError) -> String {
    line("ERROR", &err.to_status())
}

/// The body of a watch response. A task produces the lines into a small channel (so a
/// slow client exerts backpressure) and ends when the client goes away.
pub(crate) fn stream(
    req: WatchRequest,
    sub: Subscription,
    shutdown: tokio::sync::watch::Receiver<bool>,
    counters: Arc<Counters>,
) -> impl Stream<Item = Result<String, Infallible>> {
    let (tx, rx) = mpsc::channel::<String>(64);
    let open = counters.open_watch(&req.info.plural);
    tokio::spawn(async move {
        produce(req, sub, shutdown, counters, tx).await;
        drop(open);
    });
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|l| (Ok(l), rx)) },
    )
}

async fn produce(
    req: WatchRequest,
    sub: Subscription,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    counters: Arc<Counters>,
    tx: mpsc::Sender<String>,
) {
    let Subscription {
        backlog,
        start_rv,
        mut rx,
    } = sub;
    let send = |l: String| {
        counters.watch_line(&req.info.plural);
        tx.send(l)
    };
    let mut last_rv = start_rv;
    for ev in &backlog {
        if let Some(l) = req.render(ev)
            && send(l).await.is_err()
        {
            return;
        }
    }
    if req.send_initial_events && send(req.bookmark(last_rv, true)).await.is_err() {
        return;
    }
    let deadline = req.timeout.map(|t| Instant::now() + t);
    let mut ticker = tokio::time::interval_at(
        Instant::now() + req.bookmark_interval,
        req.bookmark_interval,
    );
    loop {
        let out = tokio::select! {
            msg = rx.recv() => match msg {
                Ok(WatchMsg::Event(ev)) => {
                    last_rv = ev.rv;
                    match req.render(&ev) {
                        Some(l) => l,
                        None => continue,
                    }
                }
                Ok(WatchMsg::Expire) | Err(RecvError::Lagged(_)) => {
                    let _ = send(error_line(&ApiError::expired(last_rv, last_rv + 1))).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            _ = ticker.tick(), if req.bookmarks => req.bookmark(last_rv, false),
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {
                if req.bookmarks {
                    let _ = send(req.bookmark(last_rv, false)).await;
                }
                return;
            }
            _ = async { let _ = shutdown.wait_for(|stop| *stop).await; } => return,
            _ = tx.closed() => return,
        };
        if send(out).await.is_err() {
            return;
        }
    }
}
