//! A child process uses the kubeconfig the fake API server writes: kubectl (from
//! `.tools/bin`, put there by `scripts/setup.sh`) lists objects, resolves short names through
//! discovery and server-side-applies a manifest. Skipped, with a message, when kubectl is not
//! installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{Value, json};
use switchyard_e2e::fakeapi::{FakeApiServer, Verb};
use tokio::io::AsyncWriteExt;

fn kubectl() -> Option<PathBuf> {
    let path = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/kubectl"));
    path.is_file().then_some(path)
}

async fn run(bin: &Path, dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("--kubeconfig")
        .arg(dir.join("kubeconfig"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(args)
        .env("HOME", dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("kubectl timed out")
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_works_with_the_written_kubeconfig() {
    let Some(bin) = kubectl() else {
        eprintln!("SKIPPED: no kubectl at .tools/bin/kubectl (run scripts/setup.sh) or $KUBECTL");
        return;
    };
    let server = FakeApiServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    server
        .write_kubeconfig(&dir.path().join("kubeconfig"))
        .unwrap();
    server
        .create_json(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "seeded", "namespace": "ai"}, "data": {"k": "v"}
        }))
        .unwrap();

    let listed: Value = serde_json::from_str(
        &run(
            &bin,
            dir.path(),
            &["get", "configmaps", "-A", "-o", "json"],
            None,
        )
        .await,
    )
    .unwrap();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["seeded"]);

    // Short name from discovery, namespace from the flag.
    let by_short = run(
        &bin,
        dir.path(),
        &["get", "cm", "-n", "ai", "-o", "name"],
        None,
    )
    .await;
    assert_eq!(by_short.trim(), "configmap/seeded");

    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: ai\ndata:\n  a: b\n";
    run(
        &bin,
        dir.path(),
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "kubectl-test",
            "--validate=false",
            "-f",
            "-",
        ],
        Some(manifest),
    )
    .await;
    let applied = server
        .get::<ConfigMap>(Some("ai"), "applied")
        .unwrap()
        .unwrap();
    assert_eq!(applied.data.unwrap()["a"], "b");
    assert_eq!(server.counters().requests(Verb::Patch, "configmaps"), 1);
}
