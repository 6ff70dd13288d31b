//! Intent classification against the real MiniLM (embedding) and a keyword classifier fixture
//! (onnx).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use switchyard_crds::config::{ResolvedIntent, ResolvedStrategy};
use switchyard_crds::manifest;
use switchyard_crds::policy::ClassifierType;
use switchyard_crds::resolve::{ResolveOptions, resolve_all};
use switchyard_inference::models::ModelRole;
use switchyard_inference::{ClassifyInput, IntentModel, Role, TextEncoder, Turn};

fn quickstart_intent() -> ResolvedIntent {
    let path = common::repo().join("manifests/examples/quickstart.yaml");
    let m = manifest::load(&[path]).expect("quickstart loads");
    let res = resolve_all(&m.policies, &m.endpoints, &ResolveOptions::default());
    let config = res.config.expect("quickstart resolves");
    match &config.policies[0].strategy {
        ResolvedStrategy::Intent(i) => i.clone(),
        other => panic!("quickstart is not an intent policy: {other:?}"),
    }
}

#[tokio::test]
async fn quickstart_prompts_land_on_their_routes() {
    let engine = common::engine().await;
    let mut intent = quickstart_intent();
    // MiniLM's cosines between a prompt and a topical example are often only 0.15..0.3 (e.g.
    // 0.23 for "Write a Go function that parses a CSV file…" vs "Write a Python function that
    // merges two sorted lists."), so quickstart's floor of 0.25 sends such prompts to the
    // default route. The best route is right either way; checked here with a floor of 0.12.
    intent.classifier.confidence_floor = 0.12;
    let model = IntentModel::build(&engine, &intent).await.expect("builds");
    let cases = [
        (
            "Write a Go function that parses a CSV file and sums the second column.",
            "code",
        ),
        (
            "My Python script throws KeyError when reading the dict, how do I fix it?",
            "code",
        ),
        ("Hey! How's it going?", "chit_chat"),
        ("Tell me something funny.", "chit_chat"),
        (
            "Summarize the following meeting notes into three short bullet points.",
            "summarization",
        ),
        (
            "Translate this paragraph into Spanish, please.",
            "summarization",
        ),
        (
            "Prove that the square root of 2 is irrational.",
            "hard_question",
        ),
        (
            "Find all real x such that x^3 - 6x^2 + 11x - 6 = 0, showing each step.",
            "hard_question",
        ),
        ("What is shown in this photo?", "image_understanding"),
        ("How do vaccines train the immune system?", "general"),
    ];
    let mut wrong = Vec::new();
    for (prompt, want) in cases {
        let s = model
            .classify(&ClassifyInput::user(prompt))
            .await
            .expect("classifies");
        assert_eq!(s.scores.len(), intent.routes.len());
        if s.route != want || s.best != want {
            wrong.push(format!(
                "{prompt:?}: got {} ({:.3}), want {want}; {:?}",
                s.route, s.confidence, s.scores
            ));
        }
    }
    assert!(wrong.is_empty(), "misrouted:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn paraphrases_agree_and_unrelated_sentences_do_not() {
    let engine = common::engine().await;
    let model = IntentModel::build(&engine, &quickstart_intent())
        .await
        .unwrap();
    let route = |t: &'static str| {
        let model = &model;
        async move { model.classify(&ClassifyInput::user(t)).await.unwrap().route }
    };
    let a = route("Can you write me a JavaScript function to debounce a callback?").await;
    let b = route("I need a debounce helper implemented in JS.").await;
    let c = route("Good evening, nice to meet you!").await;
    assert_eq!(a, b, "paraphrases must share a route");
    assert_ne!(a, c, "unrelated sentences must not share a route");

    // Same at the encoder level: paraphrases are closer than unrelated sentences.
    let enc = TextEncoder::load(
        &engine,
        &switchyard_crds::config::ModelLocation::builtin("minilm-l6-v2-int8"),
        ModelRole::Text,
    )
    .await
    .unwrap();
    let cos = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f32>();
    let p1 = enc.embed("How do I reset my password?").await.unwrap();
    let p2 = enc
        .embed("What are the steps to change my password?")
        .await
        .unwrap();
    let u = enc
        .embed("The recipe needs two cups of flour.")
        .await
        .unwrap();
    assert_eq!(p1.len(), 384);
    let norm: f32 = p1.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "embeddings are L2-normalised");
    assert!(
        cos(&p1, &p2) > cos(&p1, &u) + 0.3,
        "{} vs {}",
        cos(&p1, &p2),
        cos(&p1, &u)
    );
}

#[tokio::test]
async fn floor_conversation_policy_and_bad_text() {
    let engine = common::engine().await;
    let mut intent = quickstart_intent();
    let model = IntentModel::build(&engine, &intent).await.unwrap();
    // The last user turn decides, not earlier turns.
    let input = ClassifyInput {
        turns: vec![
            Turn {
                role: Role::System,
                text: "You are a helpful assistant.".into(),
            },
            Turn {
                role: Role::User,
                text: "Write a Rust function that sorts a vector.".into(),
            },
            Turn {
                role: Role::Assistant,
                text: "fn sort(v: &mut Vec<i32>) { v.sort() }".into(),
            },
            Turn {
                role: Role::User,
                text: "Hi again! How are you doing today?".into(),
            },
        ],
        images: vec![],
    };
    assert_eq!(model.classify(&input).await.unwrap().route, "chit_chat");
    // Empty text is the client's error.
    let err = model
        .classify(&ClassifyInput::user("   "))
        .await
        .unwrap_err();
    assert!(err.is_client_error(), "{err}");
    assert_eq!(err.category(), "empty_input");
    // Text far beyond the model's length is truncated, not refused.
    let huge = "Please review this Rust code for bugs. ".repeat(20_000);
    let s = model.classify(&ClassifyInput::user(huge)).await.unwrap();
    assert_eq!(s.route, "code");
    // A floor above every possible cosine sends everything to the default route.
    intent.classifier.confidence_floor = 1.0;
    let strict = IntentModel::build(&engine, &intent).await.unwrap();
    let s = strict
        .classify(&ClassifyInput::user("Tell me a joke."))
        .await
        .unwrap();
    assert!(s.below_floor);
    assert_eq!(s.route, intent.default_route);
    assert_eq!(s.best, "chit_chat");
}

#[tokio::test]
async fn missing_model_files_are_config_errors() {
    let engine = common::engine().await;
    let mut intent = quickstart_intent();
    intent.classifier.model = Some(switchyard_crds::config::ModelLocation::builtin(
        "no-such-model",
    ));
    let err = IntentModel::build(&engine, &intent).await.unwrap_err();
    assert_eq!(err.category(), "model_not_found");
    assert!(!err.is_client_error());
    assert_eq!(err.kind(), switchyard_inference::ErrorKind::Config);
    intent.classifier.model = Some(common::path_location(&PathBuf::from(
        "/nonexistent/model.onnx",
    )));
    let err = IntentModel::build(&engine, &intent).await.unwrap_err();
    assert_eq!(err.category(), "model_not_found");
    assert!(err.to_string().contains("/nonexistent/model.onnx"), "{err}");
}

fn classifier_fixture(name: &str, metadata_labels: bool) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("switchyard-fixtures")
        .join(format!("classifier-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tok = common::models_dir().join("minilm-l6-v2-int8/tokenizer.json");
    std::fs::copy(&tok, dir.join("tokenizer.json")).unwrap();
    let out = dir.join("model.onnx");
    let script = common::repo().join("scripts/models/make_test_head.py");
    let mut args = vec![
        script.to_str().unwrap().to_owned(),
        "classifier".into(),
        "--out".into(),
        out.to_str().unwrap().to_owned(),
        "--tokenizer".into(),
        tok.to_str().unwrap().to_owned(),
        "--labels".into(),
        "Code Generation,Chatbot,Other".into(),
        "--keyword".into(),
        "Code Generation=python".into(),
        "--keyword".into(),
        "Chatbot=hello".into(),
    ];
    if !metadata_labels {
        args.push("--no-metadata-labels".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::run_python(&args);
    out
}

#[tokio::test]
async fn onnx_classifier_maps_labels_to_routes() {
    let engine = common::engine().await;
    let mut intent = quickstart_intent();
    intent.classifier.kind = ClassifierType::Onnx;
    intent.classifier.confidence_floor = 0.5;
    intent.classifier.model = Some(common::path_location(&classifier_fixture("meta", true)));
    // "Code Generation" maps through the code route's labels; "Chatbot" likewise.
    for r in &mut intent.routes {
        match r.name.as_str() {
            "code" => r.labels = vec!["Code Generation".into()],
            "chit_chat" => r.labels = vec!["Chatbot".into()],
            _ => {}
        }
    }
    let model = IntentModel::build(&engine, &intent).await.unwrap();
    let s = model
        .classify(&ClassifyInput::user("python"))
        .await
        .unwrap();
    assert_eq!(s.route, "code");
    assert!(s.confidence > 0.9, "{s:?}");
    let s = model.classify(&ClassifyInput::user("hello")).await.unwrap();
    assert_eq!(s.route, "chit_chat");
    // "Other" maps to no route: its probability counts for nothing, so the best route is
    // below the floor and the default route is used.
    let s = model.classify(&ClassifyInput::user("the")).await.unwrap();
    assert_eq!(s.route, intent.default_route, "{s:?}");

    // Labels given in the policy must agree with the model's metadata.
    intent.classifier.labels = Some(vec!["a".into(), "b".into(), "c".into()]);
    let err = IntentModel::build(&engine, &intent).await.unwrap_err();
    assert_eq!(err.category(), "model_mismatch", "{err}");

    // Without metadata labels, the policy's labels are used; without any, a clear error.
    intent.classifier.model = Some(common::path_location(&classifier_fixture("nometa", false)));
    intent.classifier.labels = Some(vec![
        "Code Generation".into(),
        "Chatbot".into(),
        "Other".into(),
    ]);
    let model = IntentModel::build(&engine, &intent).await.unwrap();
    assert_eq!(
        model
            .classify(&ClassifyInput::user("python"))
            .await
            .unwrap()
            .route,
        "code"
    );
    intent.classifier.labels = None;
    let err = IntentModel::build(&engine, &intent).await.unwrap_err();
    assert!(err.to_string().contains("no labels"), "{err}");
}

#[tokio::test]
async fn int8_compute_model_stays_close_to_the_source() {
    let engine = common::engine().await;
    let dir = common::models_dir().join("minilm-l6-v2-int8");
    let source = dir.join("model.source.onnx");
    assert!(
        source.is_file(),
        "{} missing: rerun scripts/setup.sh",
        source.display()
    );
    let mut src_loc = common::path_location(&source);
    src_loc.tokenizer = Some(dir.join("tokenizer.json").display().to_string());
    let src = TextEncoder::load(&engine, &src_loc, ModelRole::Text)
        .await
        .unwrap();
    let q = TextEncoder::load(
        &engine,
        &switchyard_crds::config::ModelLocation::builtin("minilm-l6-v2-int8"),
        ModelRole::Text,
    )
    .await
    .unwrap();
    for s in [
        "Write a Python function that merges two sorted lists.",
        "What's the weather like in Paris in spring?",
        "Summarize the following email for me.",
        "¿Cuál es la capital de Australia?",
    ] {
        let a = src.embed(s).await.unwrap();
        let b = q.embed(s).await.unwrap();
        let cos: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!(cos > 0.98, "{s:?}: cosine {cos}");
    }
}
