//! Lists and watches against the fake API server through kube-rs' own `watcher` and
//! `reflector` (what `Controller` uses): ordering, selector transitions, pagination,
//! streaming lists, bookmarks and recovery from `410 Expired`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;
use switchyard_e2e::fakeapi::{FakeApiOptions, FakeApiServer, Verb};

const WAIT: Duration = Duration::from_secs(10);

fn cm(ns: &str, name: &str, labelled: bool) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            labels: labelled.then(|| BTreeMap::from([("app".into(), "switchyard".into())])),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

async fn next<S, T>(stream: &mut S) -> T
where
    S: Stream<Item = T> + Unpin,
{
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("no event in time")
        .expect("stream ended")
}

/// A short description of a watcher event, for order assertions.
fn describe(ev: &watcher::Event<ConfigMap>) -> String {
    match ev {
        watcher::Event::Init => "Init".into(),
        watcher::Event::InitApply(o) => format!("InitApply {}", o.name_any()),
        watcher::Event::InitDone => "InitDone".into(),
        watcher::Event::Apply(o) => format!("Apply {}", o.name_any()),
        watcher::Event::Delete(o) => format!("Delete {}", o.name_any()),
    }
}

async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_selector_watch_sees_added_modified_deleted_in_order() {
    let server = FakeApiServer::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "w");
    let mut events = watcher(
        api.clone(),
        watcher::Config::default().labels("app=switchyard"),
    )
    .boxed();
    assert_eq!(describe(&next(&mut events).await.unwrap()), "Init");
    assert_eq!(describe(&next(&mut events).await.unwrap()), "InitDone");

    let pp = PatchParams::default();
    api.create(&PostParams::default(), &cm("w", "a", true))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("w", "unlabelled", false))
        .await
        .unwrap();
    api.patch("a", &pp, &Patch::Merge(json!({"data": {"k": "v"}})))
        .await
        .unwrap();
    api.patch(
        "unlabelled",
        &pp,
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .unwrap();
    // Stops matching: the watch reports a delete; matches again: an add.
    api.patch(
        "a",
        &pp,
        &Patch::Merge(json!({"metadata": {"labels": {"app": "other"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "a",
        &pp,
        &Patch::Merge(json!({"metadata": {"labels": {"app": "switchyard"}}})),
    )
    .await
    .unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();

    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(describe(&next(&mut events).await.unwrap()));
    }
    assert_eq!(
        seen,
        ["Apply a", "Apply a", "Delete a", "Apply a", "Delete a"]
    );
    let modified = match next_after_create(&api, &mut events).await {
        watcher::Event::Apply(o) => o,
        other => panic!("unexpected {}", describe(&other)),
    };
    assert_eq!(modified.name_any(), "b");
}

async fn next_after_create<S>(api: &Api<ConfigMap>, events: &mut S) -> watcher::Event<ConfigMap>
where
    S: Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin,
{
    api.create(&PostParams::default(), &cm("w", "b", true))
        .await
        .unwrap();
    next(events).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reflector_store_syncs_through_pages_and_follows_changes() {
    let server = FakeApiServer::start().await.unwrap();
    for i in 0..5 {
        server.create(&cm("r", &format!("cm-{i}"), true)).unwrap();
    }
    let api: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "r");
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector(
        writer,
        watcher(api, watcher::Config::default().page_size(2)),
    )
    .applied_objects();
    let task = tokio::spawn(async move {
        let _ = stream.try_for_each(|_| async { Ok(()) }).await;
    });
    tokio::time::timeout(WAIT, reader.wait_until_ready())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reader.state().len(), 5);
    assert_eq!(
        server.counters().requests(Verb::List, "configmaps"),
        3,
        "pages of 2"
    );

    server.create(&cm("r", "late", false)).unwrap();
    eventually("store sees the new object", || reader.state().len() == 6).await;
    server.delete::<ConfigMap>(Some("r"), "cm-0").unwrap();
    eventually("store drops the deleted object", || {
        reader.state().len() == 5
    })
    .await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_lists_end_with_the_initial_events_bookmark() {
    let server = FakeApiServer::start().await.unwrap();
    server.create(&cm("s", "one", true)).unwrap();
    let api: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "s");
    let mut events = watcher(api, watcher::Config::default().streaming_lists()).boxed();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(describe(&next(&mut events).await.unwrap()));
    }
    assert_eq!(seen, ["Init", "InitApply one", "InitDone"]);
    assert_eq!(server.counters().requests(Verb::List, "configmaps"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_watch_makes_the_watcher_relist_and_recover() {
    let server = FakeApiServer::start().await.unwrap();
    server.create(&cm("x", "a", true)).unwrap();
    let api: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "x");
    // Poll the watcher from a task so it opens its watch while the test waits for that.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut source = watcher(api.clone(), watcher::Config::default()).boxed();
    let pump = tokio::spawn(async move {
        while let Some(ev) = source.next().await {
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    let mut events = tokio_stream_of(rx);
    for want in ["Init", "InitApply a", "InitDone"] {
        assert_eq!(describe(&next(&mut events).await.unwrap()), want);
    }
    server
        .wait_for_watches("configmaps", 1, WAIT)
        .await
        .unwrap();
    server.expire_watches();
    match next(&mut events).await {
        Err(watcher::Error::WatchError(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected a 410 watch error, got {other:?}"),
    }
    for want in ["Init", "InitApply a", "InitDone"] {
        assert_eq!(describe(&next(&mut events).await.unwrap()), want);
    }
    assert_eq!(server.counters().requests(Verb::List, "configmaps"), 2);
    api.create(&PostParams::default(), &cm("x", "b", true))
        .await
        .unwrap();
    assert_eq!(describe(&next(&mut events).await.unwrap()), "Apply b");
    pump.abort();
}

fn tokio_stream_of<T: Send + 'static>(
    rx: tokio::sync::mpsc::UnboundedReceiver<T>,
) -> impl Stream<Item = T> + Unpin {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) }).boxed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_a_compacted_version_gets_an_expired_event_and_pages_carry_one_version() {
    let server = FakeApiServer::start_with(FakeApiOptions {
        bookmark_interval: Duration::from_millis(50),
        ..FakeApiOptions::default()
    })
    .await
    .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "c");
    for i in 0..3 {
        api.create(&PostParams::default(), &cm("c", &format!("p{i}"), true))
            .await
            .unwrap();
    }
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    let token = first.metadata.continue_.clone().unwrap();
    api.create(&PostParams::default(), &cm("c", "p3", true))
        .await
        .unwrap();
    let rest = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(
        first.items.len() + rest.items.len(),
        4,
        "p3 sorts after the token"
    );
    assert_eq!(
        first.metadata.resource_version,
        rest.metadata.resource_version
    );
    assert!(rest.metadata.continue_.is_none());

    let old = first.metadata.resource_version.clone().unwrap();
    server.compact();
    let mut stream = api
        .watch(&WatchParams::default(), &old)
        .await
        .unwrap()
        .boxed();
    match next(&mut stream).await.unwrap() {
        WatchEvent::Error(s) => assert_eq!(s.code, 410),
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    let expired = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await;
    assert!(matches!(expired, Err(kube::Error::Api(s)) if s.code == 410));

    let now = server.resource_version().to_string();
    let mut stream = api
        .watch(&WatchParams::default(), &now)
        .await
        .unwrap()
        .boxed();
    match next(&mut stream).await.unwrap() {
        WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, now),
        other => panic!("expected a bookmark, got {other:?}"),
    }
}
