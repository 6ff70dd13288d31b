//! Resolution of policies and endpoints into the router config, and the config's own
//! serialisation: the contract between operator and router.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use switchyard_crds::config::{ModelLocation, ResolvedStrategy, RouterConfig};
use switchyard_crds::manifest::{Manifests, parse_into};
use switchyard_crds::policy::{FallbackTrigger, Mode};
use switchyard_crds::resolve::{
    MODEL_VOLUME_ROOT, Reason, ResolveOptions, Severity, resolve_all, resolve_policy,
};

fn parse(text: &str) -> Manifests {
    let mut m = Manifests::default();
    let mut errors = Vec::new();
    parse_into(Path::new("test.yaml"), text, &mut m, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    m
}

fn quickstart() -> Manifests {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples/quickstart.yaml");
    parse(&std::fs::read_to_string(path).unwrap())
}

const ENDPOINTS: &str = "
apiVersion: switchyard.dev/v1alpha1
kind: ModelEndpoint
metadata: {name: small, namespace: ai}
spec:
  model: small-model
  baseURL: http://small:8000/v1/
  cost: {inputPerMillionTokens: 0.1, outputPerMillionTokens: 0.2}
  timeouts: {firstByte: 1m30s}
  limits: {maxConcurrency: 4}
---
apiVersion: switchyard.dev/v1alpha1
kind: ModelEndpoint
metadata: {name: big, namespace: ai}
spec:
  model: big-model
  provider: azure-openai
  baseURL: https://contoso.openai.azure.com
  azure: {deployment: gpt, apiVersion: '2024-10-21'}
  apiKeySecretRef: {name: azure, key: key}
";

#[test]
fn quickstart_resolves_with_defaults_filled_in() {
    let m = quickstart();
    let res = resolve_all(&m.policies, &m.endpoints, &ResolveOptions::default());
    assert!(res.problems.is_empty(), "{:?}", res.problems);
    let config = res.config.unwrap();
    assert_eq!(config.endpoints.len(), 6);
    let policy = config.policy("quickstart").unwrap();
    assert_eq!(policy.mode, Mode::Proxy);
    assert_eq!(policy.fallback.max_attempts, 3);
    assert_eq!(policy.fallback.on.len(), 4);
    let ResolvedStrategy::Intent(intent) = &policy.strategy else {
        panic!("quickstart is an intent policy");
    };
    assert_eq!(intent.default_route, "general");
    assert_eq!(
        intent.classifier.model,
        Some(ModelLocation::builtin("minilm-l6-v2-int8"))
    );
    let images: Vec<&str> = intent
        .routes
        .iter()
        .filter(|r| r.images)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(images, ["image_understanding"]);
    assert!(policy.endpoint_names().contains(&"nemotron-nano-12b-vl"));
    assert_eq!(config.server.limits.max_body_bytes, 20 * 1024 * 1024);
}

#[test]
fn endpoints_are_normalised() {
    let m = parse(ENDPOINTS);
    let res = resolve_all(&[], &m.endpoints, &ResolveOptions::default());
    let config = res.config.unwrap();
    let small = config.endpoint("small").unwrap();
    assert_eq!(small.base_url, "http://small:8000/v1");
    assert_eq!(
        small.chat_completions_url(),
        "http://small:8000/v1/chat/completions"
    );
    assert_eq!(small.timeouts.first_byte_ms, 90_000);
    assert_eq!(small.timeouts.connect_ms, 5_000);
    assert_eq!(small.max_concurrency, Some(4));
    let big = config.endpoint("big").unwrap();
    assert_eq!(
        big.chat_completions_url(),
        "https://contoso.openai.azure.com/openai/deployments/gpt/chat/completions?api-version=2024-10-21"
    );
}

#[test]
fn missing_endpoints_degrade_instead_of_failing() {
    let m = parse(&format!(
        "{ENDPOINTS}---
apiVersion: switchyard.dev/v1alpha1
kind: RoutingPolicy
metadata: {{name: p, namespace: ai}}
spec:
  strategy: intent
  intent:
    routes:
      - {{name: chat, description: Small talk., endpoints: [gone, small]}}
      - {{name: hard, description: Hard things., endpoints: [gone]}}
"
    ));
    let res = resolve_policy(&m.policies[0], &m.endpoints, &ResolveOptions::default());
    assert!(!res.has_errors());
    let reasons: Vec<Reason> = res.problems.iter().map(|p| p.reason).collect();
    assert_eq!(
        reasons,
        [
            Reason::EndpointNotFound,
            Reason::EndpointNotFound,
            Reason::RouteWithoutEndpoints
        ]
    );
    assert!(
        res.problems
            .iter()
            .all(|p| p.severity == Severity::Degraded)
    );
    assert_eq!(
        res.problems[0].to_string(),
        "RoutingPolicy ai/p: spec.intent.routes[0].endpoints[0]: ModelEndpoint \"gone\" does not exist in namespace \"ai\"; skipped"
    );
    let ResolvedStrategy::Intent(intent) = &res.policy.unwrap().strategy else {
        panic!()
    };
    assert_eq!(intent.routes[0].endpoints, ["small"]);
    assert!(intent.routes[1].endpoints.is_empty());
    assert_eq!(res.endpoints.len(), 1);
    assert_eq!(
        res.endpoint_readiness.get("gone"),
        Some(&Some(Reason::EndpointNotFound))
    );
    assert_eq!(res.endpoint_readiness.get("small"), Some(&None));
}

#[test]
fn endpoints_of_other_namespaces_are_not_visible() {
    let m = parse(&format!(
        "{ENDPOINTS}---
apiVersion: switchyard.dev/v1alpha1
kind: RoutingPolicy
metadata: {{name: p, namespace: other}}
spec:
  strategy: auto
  auto:
    candidates: [{{endpoint: small}}, {{endpoint: big, threshold: 0.7}}]
"
    ));
    let res = resolve_policy(&m.policies[0], &m.endpoints, &ResolveOptions::default());
    assert_eq!(res.problems.len(), 2);
    let ResolvedStrategy::Auto(auto) = &res.policy.unwrap().strategy else {
        panic!()
    };
    assert!(auto.candidates.is_empty());
    assert_eq!(auto.tolerance, 0.0);
    assert_eq!(auto.head, ModelLocation::builtin("auto-head-minilm"));
}

#[test]
fn model_volumes_resolve_to_mount_paths_in_cluster_only() {
    let policy = "
apiVersion: switchyard.dev/v1alpha1
kind: RoutingPolicy
metadata: {name: p, namespace: ai}
spec:
  strategy: intent
  router:
    modelVolumes: [{name: mine, persistentVolumeClaim: models}]
  intent:
    classifier:
      type: onnx
      model: {volume: mine, path: task/model.onnx, tokenizer: task/tokenizer.json}
    routes: [{name: a, endpoints: [small]}]
";
    let m = parse(&format!("{ENDPOINTS}---{policy}"));
    let cluster = ResolveOptions {
        model_volume_root: Some(MODEL_VOLUME_ROOT.to_owned()),
    };
    let res = resolve_policy(&m.policies[0], &m.endpoints, &cluster);
    let ResolvedStrategy::Intent(intent) = &res.policy.unwrap().strategy else {
        panic!()
    };
    let model = intent.classifier.model.clone().unwrap();
    assert_eq!(
        model.path.as_deref(),
        Some("/models/volumes/mine/task/model.onnx")
    );
    assert_eq!(
        model.tokenizer.as_deref(),
        Some("/models/volumes/mine/task/tokenizer.json")
    );

    let res = resolve_policy(&m.policies[0], &m.endpoints, &ResolveOptions::default());
    assert!(res.has_errors());
    assert!(
        res.problems[0].message.contains("standalone mode"),
        "{:?}",
        res.problems
    );

    let escape = policy.replace("task/model.onnx", "../../etc/passwd");
    let m = parse(&format!("{ENDPOINTS}---{escape}"));
    let res = resolve_policy(&m.policies[0], &m.endpoints, &cluster);
    assert!(
        res.problems
            .iter()
            .any(|p| p.message.contains("inside the volume"))
    );
}

#[test]
fn config_round_trips_through_yaml_and_hash_is_stable() {
    let m = quickstart();
    let config = resolve_all(&m.policies, &m.endpoints, &ResolveOptions::default())
        .config
        .unwrap();
    let yaml = config.to_yaml().unwrap();
    let back = RouterConfig::from_yaml(&yaml).unwrap();
    assert_eq!(back, config);
    assert_eq!(back.hash(), config.hash());
    assert_eq!(config.hash().len(), 16);
    let mut changed = config.clone();
    changed.endpoints[0].model.push('x');
    assert_ne!(changed.hash(), config.hash());
}

#[test]
fn config_rejects_unknown_fields() {
    let m = quickstart();
    let config = resolve_all(&m.policies, &m.endpoints, &ResolveOptions::default())
        .config
        .unwrap();
    let yaml = config
        .to_yaml()
        .unwrap()
        .replace("kind: RouterConfig", "kind: RouterConfig\nextra: 1");
    let err = RouterConfig::from_yaml(&yaml).unwrap_err().to_string();
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn spec_defaults_apply_when_fields_are_omitted() {
    let m = parse(
        "
apiVersion: switchyard.dev/v1alpha1
kind: RoutingPolicy
metadata: {name: p}
spec:
  strategy: auto
  auto: {candidates: [{endpoint: e}]}
",
    );
    let spec = &m.policies[0].spec;
    assert_eq!(spec.mode, Mode::Proxy);
    assert_eq!(spec.router.replicas, 1);
    assert_eq!(spec.fallback.max_attempts, 3);
    assert!(spec.fallback.on.contains(&FallbackTrigger::RateLimited));
    // And serialising back does not invent fields that fail the schema.
    let json = serde_json::to_value(&m.policies[0]).unwrap();
    let violations = switchyard_crds::schema::validate_object(&json).unwrap();
    assert!(violations.is_empty(), "{violations:?}");
}
