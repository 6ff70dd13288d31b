//! The `switchyard-router` binary: `validate`, `route`, and `serve` with SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchyard-router"));
    c.env_remove("NVIDIA_API_KEY").env("RUST_LOG", "info");
    c
}

fn quickstart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples/quickstart.yaml")
}

#[test]
fn validate_accepts_the_quickstart() {
    let out = bin()
        .args(["validate", "-f"])
        .arg(quickstart())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("ok: 1 RoutingPolicy, 6 ModelEndpoint"),
        "{stdout}"
    );
}

#[test]
fn validate_reports_each_problem_on_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yaml");
    std::fs::write(
        &f,
        "apiVersion: switchyard.dev/v1alpha1\nkind: ModelEndpoint\nmetadata: {name: e}\n\
         spec: {model: m, baseURL: 'http://x/v1', provider: anthropic}\n---\n\
         apiVersion: switchyard.dev/v1alpha1\nkind: RoutingPolicy\nmetadata: {name: p}\n\
         spec: {strategy: auto, auto: {tolerance: 2, candidates: [{endpoint: e}]}}\n",
    )
    .unwrap();
    let out = bin().args(["validate", "-f"]).arg(&f).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("bad.yaml") && l.contains("spec.provider")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.contains("spec.auto.tolerance")),
        "{stdout}"
    );
}

#[test]
fn route_prints_the_decision_without_any_key() {
    let out = bin()
        .args(["route", "-f"])
        .arg(quickstart())
        .args([
            "--prompt",
            "Write a Python function that merges two sorted lists.",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["policy"], "quickstart");
    assert_eq!(v["strategy"], "intent");
    assert_eq!(v["intent"], "code");
    assert_eq!(v["selected_model"], "meta/llama-3.1-70b-instruct");
    assert!(v["candidates"].as_array().unwrap().len() >= 2);
}

/// Kills the child process if the test ends early.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_answers_then_exits_cleanly_on_sigterm() {
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut child = Reap(child);
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Ok(v) = serde_json::from_str::<Value>(&line)
            && v["message"] == "serving"
        {
            addr = v["addr"].as_str().map(str::to_owned);
            break;
        }
        if Instant::now() > deadline {
            break;
        }
    }
    let Some(addr) = addr else {
        panic!("the router did not log its address");
    };
    let body = std::process::Command::new("curl")
        .args(["-s", &format!("http://{addr}/readyz")])
        .output()
        .unwrap();
    let ready: Value = serde_json::from_slice(&body.stdout).unwrap_or(Value::Null);
    assert_eq!(ready["ready"], true, "{ready}");
    assert!(
        ready["degraded"].to_string().contains("NVIDIA_API_KEY"),
        "{ready}"
    );
    let kill = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
