//! End-to-end training and evaluation with a fake embedder: planted signal recovered,
//! ONNX Runtime parity, determinism, metadata, fingerprint mismatch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{FakeEmbedder, require_ort, write_planted_csv};
use switchyard_learn::head_file::LoadedHead;
use switchyard_learn::onnx::read_metadata;
use switchyard_learn::{EvalArgs, Format, TrainArgs, eval, train};

fn args(dir: &std::path::Path, out: &str) -> TrainArgs {
    let data = dir.join("train.csv");
    if !data.exists() {
        write_planted_csv(&data, 400, "train");
    }
    let mut a = TrainArgs::new(vec![data], Format::Routellm, dir.join(out));
    a.cache = dir.join("cache");
    a.hidden = 8;
    a.epochs = 60;
    a
}

#[test]
fn trains_a_head_that_recovers_the_planted_signal() {
    require_ort();
    let dir = tempfile::tempdir().unwrap();
    let emb = FakeEmbedder::new();
    let report = train(&args(dir.path(), "head"), &emb).unwrap();
    // Written in the crds head format, with our fingerprint and calibrated thresholds.
    let meta = read_metadata(&report.head).unwrap();
    assert_eq!(meta.candidates, ["weak-model", "strong-model"]);
    assert_eq!(meta.embedder, "text:fakefakefakefake");
    assert_eq!(meta.input_dim, common::DIM);
    assert!(
        report.parity_max_abs_diff < 1e-5,
        "{}",
        report.parity_max_abs_diff
    );
    // The weak model's correctness is predictable from the planted feature.
    let weak = &report.candidates[0];
    assert!(weak.val_auc.unwrap() > 0.85, "weak AUC {:?}", weak.val_auc);
    assert!(dir.path().join("head/card.md").is_file());

    // Evaluate on fresh prompts from the same distribution.
    let test = dir.path().join("test.csv");
    write_planted_csv(&test, 200, "test");
    let mut e = EvalArgs::new(dir.path().join("head"), vec![test], Format::Routellm);
    e.cache = dir.path().join("cache");
    e.report = Some(dir.path().join("head/eval.json"));
    e.plot = Some(dir.path().join("head/plot.png"));
    e.card = true;
    e.label = "planted test".to_owned();
    let r = eval(&e, &emb).unwrap();
    let pair = r.pair.as_ref().unwrap();
    assert_eq!(pair.strong, "strong-model");
    let router = pair.router.summary.as_ref().unwrap();
    let random = pair.random.summary.as_ref().unwrap();
    assert!((random.apgr - 0.5).abs() < 1e-9);
    // A perfect "hard prompt" detector reaches APGR ~0.685 and CPT(80 %) ~0.46 on this data
    // (strong calls on all hard prompts first recover 87 % of the gap at share 0.5).
    assert!(router.apgr > 0.65, "router APGR {}", router.apgr);
    assert!(router.cpt80.unwrap() < 0.52, "CPT80 {:?}", router.cpt80);
    let oracle = pair.oracle.summary.as_ref().unwrap();
    assert!(oracle.apgr > router.apgr);
    assert!(dir.path().join("head/plot.png").metadata().unwrap().len() > 10_000);
    assert!(dir.path().join("head/plot.svg").is_file());
    let card = std::fs::read_to_string(dir.path().join("head/card.md")).unwrap();
    assert!(card.contains("## Evaluation: planted test"), "{card}");
    // Re-running replaces the section instead of appending a second one.
    eval(&e, &emb).unwrap();
    let card = std::fs::read_to_string(dir.path().join("head/card.md")).unwrap();
    assert_eq!(card.matches("## Evaluation: planted test").count(), 1);
}

#[test]
fn same_seed_gives_the_same_head_and_runtime_matches_training() {
    require_ort();
    let dir = tempfile::tempdir().unwrap();
    let emb = FakeEmbedder::new();
    let a = train(&args(dir.path(), "a"), &emb).unwrap();
    let b = train(&args(dir.path(), "b"), &emb).unwrap();
    // The second run reads every embedding from the cache.
    assert_eq!(b.embedding.encoded, 0);
    assert_eq!(b.embedding.cached, b.prompts);
    assert_eq!(
        std::fs::read(&a.head).unwrap(),
        std::fs::read(&b.head).unwrap()
    );
    let mut other = args(dir.path(), "c");
    other.seed = 7;
    let c = train(&other, &emb).unwrap();
    assert_ne!(
        std::fs::read(&a.head).unwrap(),
        std::fs::read(&c.head).unwrap()
    );
    // Parity on arbitrary inputs, not just the validation rows.
    let mut loaded = LoadedHead::open(&a.head).unwrap();
    let x = ndarray::Array2::from_shape_fn((5, common::DIM), |(i, j)| ((i * 7 + j) as f32).sin());
    let p = loaded.predict(x.view()).unwrap();
    assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(p.dim(), (5, 2));
}

#[test]
fn eval_refuses_a_head_for_another_embedder() {
    require_ort();
    let dir = tempfile::tempdir().unwrap();
    let report = train(&args(dir.path(), "head"), &FakeEmbedder::new()).unwrap();
    let mut other = FakeEmbedder::new();
    other.fingerprint = "text:0123456789abcdef".to_owned();
    let e = EvalArgs::new(
        report.head.clone(),
        vec![dir.path().join("train.csv")],
        Format::Routellm,
    );
    let err = eval(&e, &other).unwrap_err().to_string();
    assert!(
        err.contains("trained for embedder text:fakefakefakefake"),
        "{err}"
    );
    assert!(err.contains("text:0123456789abcdef"), "{err}");
}
