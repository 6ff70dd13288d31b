//! Image decision benchmark with the CLIP-B/32-shaped int8 stand-in (random weights, real
//! architecture and size): JPEG decode + CLIP preprocessing + vision tower, in parallel with
//! the text tower, then the head. Also the process RSS with MiniLM and both CLIP towers loaded.
//!
//! `cargo bench -p switchyard-inference --bench image`; the first run generates the stand-in
//! (minutes). SWITCHYARD_BENCH_DEVICE=cuda runs on the CUDA provider.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::Cursor;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::Criterion;
use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb};
use switchyard_crds::config::{ModelLocation, ResolvedAuto, ResolvedCandidate};
use switchyard_crds::policy::EmbedderType;
use switchyard_inference::models::ModelRole;
use switchyard_inference::{AutoModel, ClassifyInput, Embedder, TextEncoder};

fn loc(p: &std::path::Path) -> ModelLocation {
    ModelLocation {
        builtin: None,
        path: Some(p.display().to_string()),
        tokenizer: None,
    }
}

fn photo(w: u32, h: u32) -> Bytes {
    let img = DynamicImage::ImageRgb8(ImageBuffer::from_fn(w, h, |x, y| {
        let v = ((x * 7 + y * 13) % 251) as u8;
        Rgb([v, (x % 256) as u8, (y % 256) as u8])
    }));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
    Bytes::from(out.into_inner())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let clip = support::clip_b32();
    let start_rss = support::rss_mib();
    let engine = support::start_engine(&rt);
    println!(
        "RESULT rss step: {:.0} MiB after engine start",
        support::rss_mib()
    );
    let _minilm = rt
        .block_on(TextEncoder::load(
            &engine,
            &ModelLocation::builtin("minilm-l6-v2-int8"),
            ModelRole::Text,
        ))
        .unwrap();
    let mut auto = ResolvedAuto {
        embedder: EmbedderType::Clip,
        text_model: loc(&clip.join("text.onnx")),
        vision_model: Some(loc(&clip.join("vision.onnx"))),
        head: ModelLocation::builtin("unused"),
        candidates: ["small", "vision", "large"]
            .iter()
            .map(|e| ResolvedCandidate {
                endpoint: (*e).into(),
                head_output: None,
                threshold: None,
            })
            .collect(),
        tolerance: 0.5,
        vision_endpoint: None,
    };
    println!(
        "RESULT rss step: {:.0} MiB after MiniLM",
        support::rss_mib()
    );
    let embedder = rt.block_on(Embedder::load(&engine, &auto)).unwrap();
    println!(
        "RESULT rss step: {:.0} MiB after CLIP towers",
        support::rss_mib()
    );
    let head = support::repo().join("target/switchyard-bench-fixtures/head-clip-b32.onnx");
    let python = std::env::var_os("SWITCHYARD_PYTHON")
        .unwrap_or_else(|| support::repo().join(".venv/bin/python").into());
    let status = Command::new(python)
        .arg(support::repo().join("scripts/models/make_test_head.py"))
        .args([
            "head",
            "--out",
            head.to_str().unwrap(),
            "--embedder",
            embedder.fingerprint(),
        ])
        .args([
            "--input-dim",
            "1024",
            "--candidates",
            "small,vision,large",
            "--hidden",
            "256",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    auto.head = loc(&head);
    let model = Arc::new(rt.block_on(AutoModel::build(&engine, &auto, &[])).unwrap());
    let text_input = ClassifyInput::user("What is written on the sign in this photo?");
    let mut image_input = text_input.clone();
    image_input.images.push(photo(640, 480));
    rt.block_on(model.score(&image_input)).unwrap();
    println!(
        "RESULT rss: {:.0} MiB with MiniLM + CLIP text + CLIP vision + head loaded and warm \
         (process start {start_rss:.0} MiB); loadavg {}",
        support::rss_mib(),
        support::loadavg()
    );

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    c.bench_function("auto_clip_image_decision_640x480_jpeg", |b| {
        b.iter(|| rt.block_on(model.score(&image_input)).unwrap())
    });
    c.bench_function("auto_clip_text_only_decision", |b| {
        b.iter(|| rt.block_on(model.score(&text_input)).unwrap())
    });
    let jpeg = image_input.images[0].clone();
    support::latency(
        &rt,
        "decode + CLIP preprocess only (640x480 jpeg)",
        100,
        |_| {
            let jpeg = jpeg.clone();
            async move {
                let img = switchyard_inference::decode_image(&jpeg, &Default::default()).unwrap();
                std::hint::black_box(switchyard_inference::clip_preprocess(&img, 224));
            }
        },
    );
    let vision_only = ClassifyInput {
        turns: vec![],
        images: image_input.images.clone(),
    };
    support::latency(
        &rt,
        "CLIP embed, image only (decode + vision tower)",
        100,
        |_| {
            let e = embedder.clone();
            let input = vision_only.clone();
            async move {
                e.embed(&input).await.unwrap();
            }
        },
    );
    support::latency(
        &rt,
        "image decision (640x480 jpeg, CLIP-B/32 int8 stand-in)",
        100,
        |_| {
            let model = Arc::clone(&model);
            let input = image_input.clone();
            async move {
                model.score(&input).await.unwrap();
            }
        },
    );
    let mut big = text_input.clone();
    big.images.push(photo(3000, 2000));
    support::latency(&rt, "image decision (3000x2000 jpeg)", 30, |_| {
        let model = Arc::clone(&model);
        let input = big.clone();
        async move {
            model.score(&input).await.unwrap();
        }
    });
    support::latency(
        &rt,
        "text-only decision (CLIP text tower + zeros)",
        100,
        |_| {
            let model = Arc::clone(&model);
            let input = text_input.clone();
            async move {
                model.score(&input).await.unwrap();
            }
        },
    );
    println!("RESULT rss after: {:.0} MiB", support::rss_mib());
    c.final_summary();
}
