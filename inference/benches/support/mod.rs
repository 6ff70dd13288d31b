//! Shared bench setup: engine, fixtures, percentiles, RSS (`mod support;` in each bench).
//! Benches fail with advice when the models or the runtime are missing.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use switchyard_crds::config::{Device, Inference};
use switchyard_inference::{Engine, EngineOptions};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn models_dir() -> PathBuf {
    let dir = std::env::var_os("SWITCHYARD_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models"));
    assert!(
        dir.join("minilm-l6-v2-int8/model.onnx").is_file(),
        "built-in models missing in {}: run scripts/setup.sh",
        dir.display()
    );
    dir
}

/// Device from SWITCHYARD_BENCH_DEVICE (cpu | cuda), default cpu.
pub fn device() -> Device {
    match std::env::var("SWITCHYARD_BENCH_DEVICE").as_deref() {
        Ok("cuda") => Device::Cuda,
        _ => Device::Cpu,
    }
}

pub fn start_engine(rt: &tokio::runtime::Runtime) -> Engine {
    assert!(
        std::env::var_os("ORT_DYLIB_PATH").is_some(),
        "ORT_DYLIB_PATH is not set: run scripts/setup.sh and `source .tools/env.sh`"
    );
    let env_num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let mut settings = Inference {
        device: device(),
        ..Inference::default()
    };
    // Knobs for experiments: batch window, workers per model, intra-op threads.
    if let Some(w) = env_num("SWITCHYARD_BENCH_WINDOW_US") {
        settings.batch_window_us = w;
    }
    if let Some(w) = env_num("SWITCHYARD_BENCH_WORKERS") {
        settings.workers = w as u32;
    }
    let options = EngineOptions {
        intra_threads: env_num("SWITCHYARD_BENCH_INTRA").map(|t| t as usize),
        ..EngineOptions::default()
    };
    eprintln!("settings: {settings:?} {options:?}");
    let engine = Engine::start_with(&settings, &models_dir(), options).unwrap();
    rt.block_on(engine.ready()).unwrap();
    let status = engine.status();
    eprintln!("engine: {status:?}");
    if settings.device == Device::Cuda {
        assert_eq!(
            status.device,
            Device::Cuda,
            "CUDA requested but not in use: {:?}",
            status.cuda_unavailable
        );
    }
    engine
}

/// The b32-sized CLIP stand-in (generated once per script version; takes minutes).
pub fn clip_b32() -> PathBuf {
    let root =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/switchyard-bench-fixtures");
    let script = repo().join("scripts/models/make_test_clip.py");
    let digest = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for f in [
            "make_test_clip.py",
            "clip_tokenizer.py",
            "compress_gather.py",
        ] {
            h.update(std::fs::read(repo().join("scripts/models").join(f)).unwrap());
        }
        hex::encode(&h.finalize()[..8])
    };
    let dir = root.join(format!("clip-b32-{digest}"));
    if !dir.join("model.json").is_file() {
        eprintln!(
            "generating the CLIP-B/32-shaped stand-in in {} (a few minutes)",
            dir.display()
        );
        let python = std::env::var_os("SWITCHYARD_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join(".venv/bin/python"));
        let tmp = root.join(format!("tmp-{}", std::process::id()));
        let status = Command::new(python)
            .arg(&script)
            .args(["--out", tmp.to_str().unwrap(), "--size", "b32"])
            .env("SWITCHYARD_MODELS", models_dir())
            .status()
            .expect("python runs");
        assert!(status.success(), "make_test_clip.py failed");
        std::fs::rename(&tmp, &dir).unwrap();
    }
    dir
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `f` sequentially `n` times; prints and returns (p50, p99).
pub fn latency<F, Fut>(
    rt: &tokio::runtime::Runtime,
    name: &str,
    n: usize,
    mut f: F,
) -> (Duration, Duration)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        rt.block_on(f(i));
        times.push(start.elapsed());
    }
    times.sort();
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    println!(
        "RESULT {name}: n={n} p50={:.2}ms p90={:.2}ms p99={:.2}ms",
        p50.as_secs_f64() * 1e3,
        percentile(&times, 0.9).as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    (p50, p99)
}

/// Resident set size of this process in MiB.
pub fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Load average, to note contention next to the numbers.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
