//! Unit tests of the routing decision.

use super::*;
use crate::classify::IntentScores;
use switchyard_crds::config::{
    ResolvedCandidate, ResolvedClassifier, ResolvedFallback, ResolvedRoute, ResolvedTimeouts,
};
use switchyard_crds::endpoint::{Capabilities, Cost, Provider};
use switchyard_crds::policy::{ClassifierType, EmbedderType, Mode};

fn ep(name: &str, price: f64, caps: Capabilities) -> ResolvedEndpoint {
    ResolvedEndpoint {
        name: name.into(),
        namespace: "default".into(),
        model: format!("org/{name}"),
        provider: Provider::OpenaiCompatible,
        base_url: "http://127.0.0.1:1/v1".into(),
        azure: None,
        api_key: None,
        capabilities: caps,
        cost: Cost {
            input_per_million_tokens: price,
            output_per_million_tokens: price,
        },
        max_concurrency: None,
        requests_per_minute: None,
        timeouts: ResolvedTimeouts::default(),
    }
}

fn plain() -> Capabilities {
    Capabilities::default()
}

fn vision() -> Capabilities {
    Capabilities {
        vision: true,
        ..Capabilities::default()
    }
}

fn config(endpoints: Vec<ResolvedEndpoint>) -> RouterConfig {
    let mut c = RouterConfig::empty();
    c.endpoints = endpoints;
    c
}

fn route(name: &str, endpoints: &[&str], images: bool) -> ResolvedRoute {
    ResolvedRoute {
        name: name.into(),
        description: String::new(),
        examples: vec![],
        endpoints: endpoints.iter().map(|s| s.to_string()).collect(),
        labels: vec![format!("{name}-label")],
        images,
    }
}

fn intent_policy() -> ResolvedPolicy {
    ResolvedPolicy {
        name: "p".into(),
        namespace: "default".into(),
        mode: Mode::Proxy,
        strategy: ResolvedStrategy::Intent(ResolvedIntent {
            classifier: ResolvedClassifier {
                kind: ClassifierType::Embedding,
                model: None,
                endpoint: None,
                labels: None,
                confidence_floor: 0.4,
                timeout_ms: 1000,
                prompt: None,
            },
            routes: vec![
                route("chat", &["small", "medium"], false),
                route("hard", &["big", "medium"], false),
                route("image", &["vl"], true),
            ],
            default_route: "chat".into(),
        }),
        fallback: ResolvedFallback {
            max_attempts: 3,
            on: vec![],
        },
        auth: None,
    }
}

fn intent_config() -> RouterConfig {
    config(vec![
        ep("small", 1.0, plain()),
        ep("medium", 2.0, plain()),
        ep("big", 10.0, plain()),
        ep("vl", 3.0, vision()),
    ])
}

fn intent(route: &str, confidence: f64) -> Classification {
    Classification::Intent(IntentScores {
        route: route.into(),
        confidence,
        scores: vec![(route.into(), confidence)],
    })
}

fn healthy(_: &str) -> bool {
    false
}

fn names(d: &Decision) -> Vec<(&str, bool)> {
    d.candidates
        .iter()
        .map(|c| (c.endpoint.as_str(), c.eligible))
        .collect()
}

#[test]
fn intent_takes_the_classified_route_in_order() {
    let d = decide(
        &intent_policy(),
        &intent_config(),
        Some(&intent("hard", 0.9)),
        &Knobs::default(),
        &healthy,
    )
    .unwrap();
    assert_eq!(d.route, "hard");
    assert_eq!(d.strategy, "intent");
    assert_eq!(names(&d), vec![("big", true), ("medium", true)]);
    assert_eq!(d.selected().unwrap().model, "org/big");
    assert_eq!(d.confidence, Some(0.9));
    assert_eq!(d.note, None);
}

#[test]
fn intent_maps_labels_to_routes() {
    let d = decide(
        &intent_policy(),
        &intent_config(),
        Some(&intent("hard-label", 0.9)),
        &Knobs::default(),
        &healthy,
    )
    .unwrap();
    assert_eq!(d.route, "hard");
}

#[test]
fn intent_below_floor_or_failed_uses_the_default_route() {
    let p = intent_policy();
    let c = intent_config();
    let d = decide(
        &p,
        &c,
        Some(&intent("hard", 0.39)),
        &Knobs::default(),
        &healthy,
    )
    .unwrap();
    assert_eq!(d.route, "chat");
    assert_eq!(d.note, Some("below_confidence_floor"));
    let d = decide(
        &p,
        &c,
        Some(&intent("hard", 0.4)),
        &Knobs::default(),
        &healthy,
    )
    .unwrap();
    assert_eq!(d.route, "hard", "the floor itself is enough");
    let d = decide(&p, &c, None, &Knobs::default(), &healthy).unwrap();
    assert_eq!(d.route, "chat");
    assert_eq!(d.note, Some("classifier_failed"));
    let d = decide(
        &p,
        &c,
        Some(&intent("nope", 0.9)),
        &Knobs::default(),
        &healthy,
    )
    .unwrap();
    assert_eq!(d.route, "chat");
    assert_eq!(d.note, Some("unknown_label"));
}

#[test]
fn images_go_to_the_image_route() {
    let knobs = Knobs {
        has_images: true,
        ..Knobs::default()
    };
    let d = decide(
        &intent_policy(),
        &intent_config(),
        Some(&intent("hard", 0.9)),
        &knobs,
        &healthy,
    )
    .unwrap();
    assert_eq!(d.route, "image");
    assert_eq!(d.note, Some("images"));
    assert_eq!(names(&d), vec![("vl", true)]);
}

#[test]
fn images_without_a_vision_endpoint_fail_clearly() {
    let mut p = intent_policy();
    if let ResolvedStrategy::Intent(i) = &mut p.strategy {
        i.routes.pop();
    }
    let knobs = Knobs {
        has_images: true,
        ..Knobs::default()
    };
    let err = decide(
        &p,
        &intent_config(),
        Some(&intent("hard", 0.9)),
        &knobs,
        &healthy,
    )
    .unwrap_err();
    match err {
        DecideError::NoEligible { route, detail } => {
            assert_eq!(route, "hard");
            assert!(detail.contains("big: request has images"), "{detail}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn context_tools_and_allow_list_filter() {
    let mut c = intent_config();
    c.endpoints[2].capabilities.max_context_tokens = Some(1000);
    c.endpoints[1].capabilities.tools = true;
    let p = intent_policy();
    let hard = intent("hard", 0.9);
    let long = Knobs {
        est_tokens: 1001,
        ..Knobs::default()
    };
    let d = decide(&p, &c, Some(&hard), &long, &healthy).unwrap();
    assert_eq!(names(&d), vec![("medium", true), ("big", false)]);
    assert!(d.candidates[1].reason.as_deref().unwrap().contains("1001"));
    let exact = Knobs {
        est_tokens: 1000,
        ..Knobs::default()
    };
    let d = decide(&p, &c, Some(&hard), &exact, &healthy).unwrap();
    assert_eq!(d.selected().unwrap().endpoint, "big");
    let tools = Knobs {
        needs_tools: true,
        ..Knobs::default()
    };
    let d = decide(&p, &c, Some(&hard), &tools, &healthy).unwrap();
    assert_eq!(names(&d), vec![("medium", true), ("big", false)]);
    let allow = vec!["org/medium".to_owned()];
    let knobs = Knobs {
        allow: Some(&allow),
        ..Knobs::default()
    };
    let d = decide(&p, &c, Some(&hard), &knobs, &healthy).unwrap();
    assert_eq!(names(&d), vec![("medium", true), ("big", false)]);
    let allow = vec!["small".to_owned()];
    let knobs = Knobs {
        allow: Some(&allow),
        ..Knobs::default()
    };
    assert!(matches!(
        decide(&p, &c, Some(&hard), &knobs, &healthy),
        Err(DecideError::NoEligible { .. })
    ));
}

#[test]
fn open_breakers_are_skipped_but_used_when_nothing_else_is_left() {
    let p = intent_policy();
    let c = intent_config();
    let hard = intent("hard", 0.9);
    let big_open = |n: &str| n == "big";
    let d = decide(&p, &c, Some(&hard), &Knobs::default(), &big_open).unwrap();
    assert_eq!(names(&d), vec![("medium", true), ("big", false)]);
    assert!(
        d.candidates[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("circuit open")
    );
    let all_open = |_: &str| true;
    let d = decide(&p, &c, Some(&hard), &Knobs::default(), &all_open).unwrap();
    assert_eq!(names(&d), vec![("big", true), ("medium", true)]);
    assert!(
        d.candidates[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("no healthy")
    );
}

fn auto_policy(thresholds: [Option<f64>; 3], tolerance: f64) -> ResolvedPolicy {
    let names = ["cheap", "mid", "strong"];
    ResolvedPolicy {
        name: "a".into(),
        namespace: "default".into(),
        mode: Mode::Proxy,
        strategy: ResolvedStrategy::Auto(ResolvedAuto {
            embedder: EmbedderType::Text,
            text_model: switchyard_crds::config::ModelLocation::builtin("x"),
            vision_model: None,
            head: switchyard_crds::config::ModelLocation::builtin("h"),
            candidates: names
                .iter()
                .zip(thresholds)
                .map(|(n, t)| ResolvedCandidate {
                    endpoint: n.to_string(),
                    head_output: None,
                    threshold: t,
                })
                .collect(),
            tolerance,
            vision_endpoint: Some("vl".into()),
        }),
        fallback: ResolvedFallback {
            max_attempts: 3,
            on: vec![],
        },
        auth: None,
    }
}

fn auto_config() -> RouterConfig {
    config(vec![
        ep("cheap", 1.0, plain()),
        ep("mid", 5.0, plain()),
        ep("strong", 20.0, plain()),
        ep("vl", 3.0, vision()),
    ])
}

fn probs(p: [f64; 3]) -> Classification {
    Classification::Auto(AutoScores {
        probabilities: vec![
            ("cheap".into(), p[0]),
            ("mid".into(), p[1]),
            ("strong".into(), p[2]),
        ],
        thresholds: vec![],
    })
}

fn pick(policy: &ResolvedPolicy, p: [f64; 3], tolerance: Option<f64>) -> String {
    let knobs = Knobs {
        tolerance,
        ..Knobs::default()
    };
    decide(policy, &auto_config(), Some(&probs(p)), &knobs, &healthy)
        .unwrap()
        .selected()
        .unwrap()
        .endpoint
        .clone()
}

#[test]
fn auto_takes_the_cheapest_candidate_above_its_threshold() {
    let p = auto_policy([Some(0.7), Some(0.6), None], 0.0);
    assert_eq!(pick(&p, [0.71, 0.8, 0.9], None), "cheap");
    assert_eq!(pick(&p, [0.69, 0.6, 0.9], None), "mid", "0.6 >= 0.6");
    assert_eq!(
        pick(&p, [0.69, 0.59, 0.4], None),
        "cheap",
        "best when none clears"
    );
    assert_eq!(
        pick(&p, [0.2, 0.3, 0.45], None),
        "strong",
        "none clears: most likely"
    );
}

#[test]
fn auto_uses_head_thresholds_then_the_default() {
    let p = auto_policy([None, None, None], 0.0);
    let scores = Classification::Auto(AutoScores {
        probabilities: vec![
            ("cheap".into(), 0.45),
            ("mid".into(), 0.46),
            ("strong".into(), 0.9),
        ],
        thresholds: vec![("cheap".into(), 0.4)],
    });
    let d = decide(
        &p,
        &auto_config(),
        Some(&scores),
        &Knobs::default(),
        &healthy,
    )
    .unwrap();
    assert_eq!(
        d.selected().unwrap().endpoint,
        "cheap",
        "head threshold 0.4"
    );
    assert_eq!(
        pick(&p, [0.45, 0.5, 0.9], None),
        "mid",
        "default threshold 0.5"
    );
}

#[test]
fn auto_tolerance_trades_quality_for_cost() {
    let p = auto_policy([Some(0.95), Some(0.95), Some(0.95)], 0.0);
    assert_eq!(
        pick(&p, [0.5, 0.75, 0.8], None),
        "strong",
        "tolerance 0: the best"
    );
    assert_eq!(
        pick(&p, [0.5, 0.75, 0.8], Some(0.1)),
        "mid",
        "0.75 >= 0.8 - 0.1"
    );
    assert_eq!(
        pick(&p, [0.5, 0.75, 0.8], Some(0.04)),
        "strong",
        "0.75 < 0.8 - 0.04"
    );
    assert_eq!(
        pick(&p, [0.5, 0.75, 0.8], Some(0.3)),
        "cheap",
        "absolute difference: 0.5 >= 0.8 - 0.3 (a relative rule would need 0.56)"
    );
    assert_eq!(
        pick(&p, [0.01, 0.75, 0.8], Some(1.0)),
        "cheap",
        "tolerance 1: cheapest"
    );
    let p = auto_policy([Some(0.95), Some(0.95), Some(0.95)], 1.0);
    assert_eq!(
        pick(&p, [0.01, 0.75, 0.8], None),
        "cheap",
        "policy default tolerance"
    );
    assert_eq!(
        pick(&p, [0.01, 0.75, 0.8], Some(0.0)),
        "strong",
        "request overrides"
    );
}

#[test]
fn auto_fallbacks_follow_by_probability() {
    let p = auto_policy([Some(0.5), Some(0.5), Some(0.5)], 0.0);
    let d = decide(
        &p,
        &auto_config(),
        Some(&probs([0.6, 0.9, 0.7])),
        &Knobs::default(),
        &healthy,
    )
    .unwrap();
    let order: Vec<&str> = d.candidates.iter().map(|c| c.endpoint.as_str()).collect();
    assert_eq!(order, vec!["cheap", "mid", "strong"]);
    assert_eq!(d.candidates[1].score, Some(0.9));
    let d = decide(
        &p,
        &auto_config(),
        Some(&probs([0.6, 0.7, 0.9])),
        &Knobs::default(),
        &healthy,
    )
    .unwrap();
    let order: Vec<&str> = d.candidates.iter().map(|c| c.endpoint.as_str()).collect();
    assert_eq!(order, vec!["cheap", "strong", "mid"]);
}

#[test]
fn auto_best_is_computed_among_eligible_candidates_only() {
    let p = auto_policy([Some(0.95), Some(0.95), Some(0.95)], 0.0);
    let allow = vec!["cheap".to_owned(), "mid".to_owned()];
    let knobs = Knobs {
        allow: Some(&allow),
        ..Knobs::default()
    };
    let d = decide(
        &p,
        &auto_config(),
        Some(&probs([0.5, 0.6, 0.99])),
        &knobs,
        &healthy,
    )
    .unwrap();
    assert_eq!(d.selected().unwrap().endpoint, "mid");
    assert_eq!(names(&d)[2], ("strong", false));
    let strong_open = |n: &str| n == "strong";
    let d = decide(
        &p,
        &auto_config(),
        Some(&probs([0.5, 0.6, 0.99])),
        &Knobs::default(),
        &strong_open,
    )
    .unwrap();
    assert_eq!(d.selected().unwrap().endpoint, "mid");
}

#[test]
fn auto_images_use_the_vision_endpoint() {
    let p = auto_policy([None, None, None], 0.0);
    let knobs = Knobs {
        has_images: true,
        ..Knobs::default()
    };
    let d = decide(
        &p,
        &auto_config(),
        Some(&probs([0.9, 0.9, 0.9])),
        &knobs,
        &healthy,
    )
    .unwrap();
    assert_eq!(d.selected().unwrap().endpoint, "vl");
    assert_eq!(d.eligible().count(), 1);
}

#[test]
fn auto_without_scores_keeps_declaration_order() {
    let p = auto_policy([None, None, None], 0.0);
    let d = decide(&p, &auto_config(), None, &Knobs::default(), &healthy).unwrap();
    assert_eq!(d.selected().unwrap().endpoint, "cheap");
    assert_eq!(d.note, Some("classifier_failed"));
}

#[test]
fn manual_lists_every_endpoint_serving_the_model() {
    let mut c = auto_config();
    let mut twin = ep("cheap-2", 1.0, plain());
    twin.model = "org/cheap".into();
    c.endpoints.push(twin);
    let d = decide_manual(&c, "org/cheap", &|n| n == "cheap").unwrap();
    assert_eq!(names(&d), vec![("cheap-2", true), ("cheap", false)]);
    let d = decide_manual(&c, "mid", &healthy).unwrap();
    assert_eq!(d.selected().unwrap().model, "org/mid");
    assert!(matches!(
        decide_manual(&c, "nope", &healthy),
        Err(DecideError::NoEndpoints { .. })
    ));
}
