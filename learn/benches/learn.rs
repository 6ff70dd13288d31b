//! Throughput of the two expensive stages: embedding prompts with the built-in int8 text
//! encoder (2 intra-op threads), and training the default head shape on 14k prompts.
//!
//! `cargo bench -p switchyard-learn` (needs ORT_DYLIB_PATH and SWITCHYARD_MODELS). Prompts are
//! every 100th row of `$SWITCHYARD_DATA` (default /work/shared/data/routellm-mmlu), so the
//! length mix is MMLU's; multiply the per-prompt time by 14 042 for the whole set.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array2;
use rand::{Rng, SeedableRng, rngs::StdRng};
use switchyard_learn::fit::{FitConfig, Split, fit};
use switchyard_learn::{Dataset, Format, open_embedder};

fn sample_prompts() -> Vec<String> {
    let dir = std::env::var_os("SWITCHYARD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/data/routellm-mmlu"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "csv"));
    files.sort();
    assert!(
        !files.is_empty(),
        "no MMLU CSVs in {} (set SWITCHYARD_DATA)",
        dir.display()
    );
    let set = Dataset::load(&files, Format::Routellm).unwrap();
    set.examples
        .iter()
        .step_by(100)
        .map(|e| e.text.clone())
        .collect()
}

fn embedding(c: &mut Criterion) {
    let prompts = sample_prompts();
    let emb = open_embedder("builtin", 2).unwrap();
    let images = vec![None; prompts.len()];
    let mut g = c.benchmark_group("embed");
    g.sample_size(10);
    g.throughput(Throughput::Elements(prompts.len() as u64));
    g.bench_function("minilm_int8_mmlu_sample", |b| {
        b.iter(|| emb.embed_batch(&prompts, &images).unwrap())
    });
    g.finish();
}

fn training(c: &mut Criterion) {
    let (n, d) = (14_042, 384);
    let mut rng = StdRng::seed_from_u64(1);
    let x = Array2::from_shape_fn((n, d), |_| rng.random_range(-0.1f32..0.1));
    let y = Array2::from_shape_fn((n, 2), |(i, j)| f32::from(u8::from(x[[i, j]] > 0.0)));
    let mask = Array2::ones((n, 2));
    let split = Split {
        x: x.view(),
        y: y.view(),
        mask: mask.view(),
    };
    let empty = Array2::<f32>::zeros((0, d));
    let empty_y = Array2::<f32>::zeros((0, 2));
    let val = Split {
        x: empty.view(),
        y: empty_y.view(),
        mask: empty_y.view(),
    };
    let cfg = FitConfig {
        max_epochs: 1,
        ..FitConfig::default()
    };
    let mut g = c.benchmark_group("fit");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("mlp64_one_epoch_14k", |b| {
        b.iter(|| fit(&split, &val, &cfg).unwrap())
    });
    g.finish();
}

criterion_group!(benches, embedding, training);
criterion_main!(benches);
