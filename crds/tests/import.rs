//! Import of NVIDIA LLM Router v1 configs: the committed example's output, that imported
//! objects pass the CRD schemas and resolve cleanly, and clear errors for malformed configs.
//!
//! Regenerate the committed example output with
//! `SWITCHYARD_BLESS=1 cargo test -p switchyard-crds --test import`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use switchyard_crds::config::ResolvedStrategy;
use switchyard_crds::import::{
    ImportError, ImportOptions, ImportOutput, NVIDIA_V1_COMPLEXITY_LABELS, NVIDIA_V1_TASK_LABELS,
    V1_POLICY_ANNOTATION, import_nvidia_v1,
};
use switchyard_crds::manifest::{Manifests, parse_into};
use switchyard_crds::resolve::{MODEL_VOLUME_ROOT, ResolveOptions, resolve_all};
use switchyard_crds::schema::validate_object;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples/nvidia-v1-import")
}

fn example_config() -> String {
    std::fs::read_to_string(example_dir().join("config.yaml.example")).unwrap()
}

fn parse(out: &ImportOutput) -> Manifests {
    let mut m = Manifests::default();
    let mut errors = Vec::new();
    parse_into(Path::new("generated.yaml"), &out.yaml, &mut m, &mut errors);
    assert!(errors.is_empty(), "{errors:?}\n{}", out.yaml);
    m
}

fn in_cluster() -> ResolveOptions {
    ResolveOptions {
        model_volume_root: Some(MODEL_VOLUME_ROOT.to_owned()),
    }
}

fn import_err(config: &str) -> String {
    match import_nvidia_v1(config, &ImportOptions::default()) {
        Ok(out) => panic!("expected an error, got:\n{}", out.yaml),
        Err(e) => e.to_string(),
    }
}

#[test]
fn committed_example_output_matches_the_import() {
    let out = import_nvidia_v1(&example_config(), &ImportOptions::in_namespace("ai")).unwrap();
    let path = example_dir().join("generated.yaml");
    if std::env::var_os("SWITCHYARD_BLESS").is_some() {
        std::fs::write(&path, &out.yaml).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == out.yaml,
        "{} is stale; regenerate it with SWITCHYARD_BLESS=1 cargo test -p switchyard-crds \
         --test import\n--- import output ---\n{}",
        path.display(),
        out.yaml
    );
}

#[test]
fn example_imports_to_schema_valid_objects_that_resolve_cleanly() {
    let out = import_nvidia_v1(&example_config(), &ImportOptions::in_namespace("ai")).unwrap();
    assert!(
        out.warnings.iter().all(|w| w.contains("is RoutingPolicy")),
        "{:?}",
        out.warnings
    );
    for obj in &out.objects {
        let violations = validate_object(obj).unwrap_or_default();
        assert!(violations.is_empty(), "{obj}: {violations:?}");
    }
    let m = parse(&out);
    assert!(m.secrets.is_empty(), "keys are references, not Secrets");
    assert_eq!(m.policies.len(), 2);
    let names: Vec<String> = m
        .endpoints
        .iter()
        .map(|e| e.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "llama-3.1-70b-instruct",
            "mixtral-8x22b-instruct-v0.1",
            "llama-3.1-8b-instruct",
            "deepseek-r1"
        ]
    );
    for ep in &m.endpoints {
        assert_eq!(ep.metadata.namespace.as_deref(), Some("ai"));
        assert_eq!(ep.spec.base_url, "https://integrate.api.nvidia.com/v1");
        let key = ep.spec.api_key_secret_ref.as_ref().unwrap();
        assert_eq!(
            (key.name.as_str(), key.key.as_str()),
            ("nvidia-api-key", "NVIDIA_API_KEY")
        );
    }
    assert!(
        out.notes.iter().any(|n| n.contains(
            "kubectl -n ai create secret generic nvidia-api-key --from-literal=NVIDIA_API_KEY="
        )),
        "{:?}",
        out.notes
    );

    let res = resolve_all(&m.policies, &m.endpoints, &in_cluster());
    assert!(res.problems.is_empty(), "{:?}", res.problems);
    let config = res.config.unwrap();

    // Output i of the classifier → label i → route i → the endpoint serving llms[i].
    let v1: serde_json::Value = serde_saphyr::from_str(&example_config()).unwrap();
    for (policy_name, v1_index, labels) in [
        ("task-router", 0, &NVIDIA_V1_TASK_LABELS[..]),
        ("complexity-router", 1, &NVIDIA_V1_COMPLEXITY_LABELS[..]),
    ] {
        let policy = config.policy(policy_name).unwrap();
        let ResolvedStrategy::Intent(intent) = &policy.strategy else {
            panic!("{policy_name} is not an intent policy");
        };
        let llms = v1["policies"][v1_index]["llms"].as_array().unwrap();
        assert_eq!(intent.classifier.labels.as_deref().unwrap(), labels);
        assert_eq!(intent.classifier.confidence_floor, 0.0, "argmax, as in v1");
        let model = intent.classifier.model.as_ref().unwrap();
        assert_eq!(
            model.path.as_deref().unwrap(),
            format!("{MODEL_VOLUME_ROOT}/classifiers/{policy_name}/model.onnx")
        );
        assert_eq!(intent.routes.len(), llms.len());
        for (i, route) in intent.routes.iter().enumerate() {
            let label = labels[i];
            assert!(
                route.name == label || route.labels.iter().any(|l| l == label),
                "route {i} must carry label {label:?}: {route:?}"
            );
            let endpoint = config.endpoint(&route.endpoints[0]).unwrap();
            assert_eq!(endpoint.model, llms[i]["model"].as_str().unwrap());
        }
        let original = m
            .policies
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(policy_name))
            .unwrap();
        let annotations = original.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            annotations[V1_POLICY_ANNOTATION],
            v1["policies"][v1_index]["name"].as_str().unwrap()
        );
    }
}

const CUSTOM: &str = "
policies:
  - name: support
    url: http://triton:8000/v2/models/support/infer
    llms:
      - name: billing
        api_base: http://nim-llama.ai.svc:8000/
        api_key: ''
        model: meta/llama-3.1-8b-instruct
      - name: Tech Support
        api_base: https://api.openai.com/v1
        api_key: sk-test-not-a-real-key
        model: gpt-4o
      - name: other
        api_base: http://nim-llama.ai.svc:8000
        model: meta/llama-3.1-8b-instruct
";

#[test]
fn other_label_sets_are_named_after_the_llms_and_literal_keys_become_secrets() {
    let out = import_nvidia_v1(CUSTOM, &ImportOptions::default()).unwrap();
    let m = parse(&out);
    assert_eq!(m.endpoints.len(), 2, "identical llms share one endpoint");
    let nim = &m.endpoints[0];
    assert_eq!(nim.spec.base_url, "http://nim-llama.ai.svc:8000/v1");
    assert!(nim.spec.api_key_secret_ref.is_none());
    let openai = &m.endpoints[1];
    assert_eq!(openai.spec.base_url, "https://api.openai.com/v1");
    assert_eq!(openai.spec.provider.as_str(), "openai");
    let key = openai.spec.api_key_secret_ref.clone().unwrap();
    assert_eq!(m.secrets.len(), 1);
    assert_eq!(
        m.secrets[0].metadata.name.as_deref(),
        Some(key.name.as_str())
    );
    assert_eq!(
        m.secret_value("default", &key.name, &key.key).as_deref(),
        Some("sk-test-not-a-real-key")
    );
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("literal API key") && w.contains(&key.name)),
        "{:?}",
        out.warnings
    );
    assert!(out.yaml.contains("# WARNING: holds a literal API key"));

    let res = resolve_all(&m.policies, &m.endpoints, &in_cluster());
    assert!(res.problems.is_empty(), "{:?}", res.problems);
    let config = res.config.unwrap();
    let ResolvedStrategy::Intent(intent) = &config.policy("support").unwrap().strategy else {
        panic!("not intent");
    };
    let names: Vec<&str> = intent.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["billing", "tech_support", "other"]);
    assert_eq!(
        intent.classifier.labels.as_deref().unwrap(),
        ["billing", "Tech Support", "other"]
    );
    assert_eq!(intent.routes[1].labels, ["Tech Support"]);
}

#[test]
fn env_references_outside_keys_are_substituted_from_the_options() {
    let config = "policies:\n  - name: p\n    url: http://t\n    llms:\n      - name: a\n        \
                  api_base: ${NIM_URL}\n        api_key: ${KEY}\n        model: m\n";
    let err = import_err(config);
    assert!(
        err.starts_with("policies[0].llms[0].api_base: refers to ${NIM_URL}"),
        "{err}"
    );
    let opts = ImportOptions {
        env: BTreeMap::from([("NIM_URL".to_owned(), "http://nim:8000".to_owned())]),
        ..ImportOptions::default()
    };
    let out = import_nvidia_v1(config, &opts).unwrap();
    let m = parse(&out);
    assert_eq!(m.endpoints[0].spec.base_url, "http://nim:8000/v1");
    assert_eq!(
        m.endpoints[0]
            .spec
            .api_key_secret_ref
            .as_ref()
            .unwrap()
            .name,
        "key"
    );
}

#[test]
fn llm_names_that_differ_from_known_labels_are_reported() {
    let mut llms = String::new();
    for i in 0..7 {
        llms.push_str(&format!(
            "      - {{name: tier{i}, api_base: 'http://m:8000', model: m{i}}}\n"
        ));
    }
    let config = format!("policies:\n  - name: tiers\n    url: http://t\n    llms:\n{llms}");
    let out = import_nvidia_v1(&config, &ImportOptions::default()).unwrap();
    assert_eq!(out.warnings.len(), 7, "{:?}", out.warnings);
    assert!(
        out.warnings[1].contains("\"tier1\" differs from the classifier's label \"Reasoning\"")
    );
}

#[test]
fn malformed_configs_fail_naming_the_field() {
    let cases: &[(&str, &str)] = &[
        ("policies: [\n", "not valid YAML"),
        ("- a\n- b\n", "policies: missing"),
        ("other: 1\n", "missing field `policies`"),
        ("policies: {}\n", "policies: invalid type"),
        ("policies: []\n", "policies: needs at least one policy"),
        (
            "policies:\n  - {name: p, llms: []}\n",
            "missing field `url`",
        ),
        (
            "policies:\n  - {name: p, url: u, llms: []}\n",
            "policies[0].llms: needs at least one llm",
        ),
        (
            "policies:\n  - name: p\n    url: u\n    llms:\n      - {name: a, api_base: 'http://x', model: m}\n      - {name: b, api_base: 'http://x'}\n",
            "policies[0].llms[1]: missing field `model`",
        ),
        (
            "policies:\n  - name: p\n    url: u\n    llms:\n      - {name: a, api_base: 'x.example.com', model: m}\n",
            "policies[0].llms[0].api_base: \"x.example.com\" is not an http(s) URL",
        ),
        (
            "policies:\n  - name: p\n    url: u\n    llms:\n      - {name: a, api_base: 'http://x', model: m, api_key: 'Bearer ${K}'}\n",
            "policies[0].llms[0].api_key: mixes text and ${VAR}",
        ),
        (
            "policies:\n  - name: p\n    url: u\n    llms:\n      - {name: a, api_base: 'http://x', model: [m]}\n",
            "policies[0].llms[0].model: invalid type",
        ),
        (
            "policies:\n  - {name: a_b, url: u, llms: [{name: a, api_base: 'http://x', model: m}]}\n  - {name: a-b, url: u, llms: [{name: a, api_base: 'http://x', model: m}]}\n",
            "policies[1].name: \"a-b\" names a policy twice",
        ),
        (
            "policies:\n  - {name: '__', url: u, llms: [{name: a, api_base: 'http://x', model: m}]}\n",
            "policies[0].name: \"__\" has no letters or digits",
        ),
    ];
    for (config, expected) in cases {
        let err = import_err(config);
        assert!(
            err.contains(expected),
            "config:\n{config}\nexpected {expected:?} in: {err}"
        );
    }
    assert!(matches!(
        import_nvidia_v1("policies: [\n", &ImportOptions::default()),
        Err(ImportError::Yaml(_))
    ));
}
