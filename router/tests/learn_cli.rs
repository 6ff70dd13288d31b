//! `switchyard-router train` and `eval` end to end with the built-in text encoder: the
//! embedder, the head's ONNX Runtime parity check and the evaluation all run in one process
//! (one ONNX Runtime environment), as users run them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchyard-router"));
    c.current_dir(dir).env("RUST_LOG", "warn");
    c
}

fn ok(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

/// A routellm-format CSV with a planted signal: the weak model fails the maths questions the
/// strong model answers, both answer the small talk, and both fail the obscure trivia.
fn planted_csv() -> String {
    let mut csv = String::from("prompt,weak-model,strong-model\n");
    let maths = [
        "Prove that the sum of the first {n} odd numbers is a perfect square.",
        "Compute the determinant of a {n} by {n} matrix with ones on the diagonal and twos elsewhere.",
        "Find every integer x with x^2 = {n} modulo 7 and justify the answer.",
        "Evaluate the integral of x^{n} times e^x from 0 to 1.",
    ];
    let chat = [
        "Hi! How was your weekend, did you do anything fun with your {n} friends?",
        "Thanks a lot, that was really helpful for my {n} questions!",
        "Good morning, hope you slept well after {n} hours of work.",
        "Tell me something cheerful to start day {n} of my holiday.",
    ];
    let trivia = [
        "Which village hosted the {n}th regional bagpipe championship in 1911?",
        "What was the exact attendance at the {n}th annual county fair of 1873?",
    ];
    for n in 2..14 {
        for t in trivia {
            let _ = writeln!(csv, "\"{}\",False,False", t.replace("{n}", &n.to_string()));
        }
        for m in maths {
            let _ = writeln!(csv, "\"{}\",False,True", m.replace("{n}", &n.to_string()));
        }
        for c in chat {
            let _ = writeln!(csv, "\"{}\",True,True", c.replace("{n}", &n.to_string()));
        }
    }
    csv
}

#[test]
fn train_then_eval_with_the_builtin_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("planted.csv");
    std::fs::write(&data, planted_csv()).unwrap();
    let head = dir.path().join("head");

    let out = bin(dir.path())
        .args(["train", "--format", "routellm", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&head)
        .args(["--no-cache", "--seed", "7", "--val-split", "0.25"])
        .output()
        .unwrap();
    ok(&out);
    for file in ["head.onnx", "card.md"] {
        assert!(head.join(file).is_file(), "train wrote no {file}");
    }
    let card = std::fs::read_to_string(head.join("card.md")).unwrap();
    assert!(card.contains("ONNX Runtime parity"), "{card}");

    let report = dir.path().join("report.json");
    let out = bin(dir.path())
        .args(["eval", "--format", "routellm", "--no-cache", "--head"])
        .arg(&head)
        .arg("--data")
        .arg(&data)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    ok(&out);
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let pair = &report["pair"];
    assert_eq!(pair["strong"], "strong-model", "{pair}");
    // The planted signal is learnable from the embeddings: under the router's tolerance knob
    // the head orders prompts as the oracle does (maths first), far better than a coin.
    let apgr = |curve: &str| pair[curve]["summary"]["apgr"].as_f64().expect("apgr");
    let (router, oracle, random) = (apgr("router"), apgr("oracle"), apgr("random"));
    assert!(
        router >= oracle - 0.05,
        "router {router} vs oracle {oracle}: {pair}"
    );
    assert!(router >= random + 0.2, "router {router} vs random {random}");
}
