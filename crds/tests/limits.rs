//! Hostile custom resources (huge strings, thousands of routes, big maps, deep nesting,
//! unicode) are refused by the CRD schema, as the API server would refuse them; every string,
//! list and map of the schema is bounded; and the CEL rules stay within Kubernetes' cost
//! budget thanks to those bounds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kube::core::cel::{ScopeContext, WarningKind, analyze_rule, compile_schema};
use serde_json::{Value, json};
use switchyard_crds::schema::{Violation, validate_object};

fn policy(spec: Value) -> Value {
    json!({"apiVersion": "switchyard.dev/v1alpha1", "kind": "RoutingPolicy",
           "metadata": {"name": "p", "namespace": "ai"}, "spec": spec})
}

fn endpoint(spec: Value) -> Value {
    json!({"apiVersion": "switchyard.dev/v1alpha1", "kind": "ModelEndpoint",
           "metadata": {"name": "e", "namespace": "ai"}, "spec": spec})
}

fn route(name: &str) -> Value {
    json!({"name": name, "description": "d", "endpoints": ["m"]})
}

fn intent(routes: Vec<Value>) -> Value {
    json!({"strategy": "intent", "intent": {"routes": routes}})
}

fn violations(obj: &Value) -> Vec<Violation> {
    validate_object(obj).expect("a Switchyard kind")
}

/// Asserts that the object is refused with a violation on `field` whose message mentions
/// `what`.
#[track_caller]
fn refused(obj: &Value, field: &str, what: &str) {
    let v = violations(obj);
    assert!(
        v.iter().all(|v| v.message.len() <= 512),
        "violation messages must stay short: {:?}",
        v.iter().map(|v| v.message.len()).collect::<Vec<_>>()
    );
    assert!(
        v.iter()
            .any(|v| v.field == field && v.message.contains(what)),
        "expected a violation on {field} mentioning {what:?}, got {v:?}"
    );
}

#[test]
fn a_sane_policy_is_accepted() {
    let mut spec = intent(vec![route("a"), route("b")]);
    spec["router"] = json!({
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}},
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"}}
    });
    assert_eq!(violations(&policy(spec)), vec![]);
}

#[test]
fn thousands_of_routes_are_refused() {
    let routes = (0..5000).map(|i| route(&format!("r{i}"))).collect();
    refused(
        &policy(intent(routes)),
        "spec.intent.routes",
        "has more than 64 items",
    );
}

#[test]
fn huge_strings_are_refused() {
    let big = "x".repeat(1 << 20);
    let mut r = route("a");
    r["description"] = json!(big);
    refused(
        &policy(intent(vec![r])),
        "spec.intent.routes[0].description",
        "is longer than 2048 characters",
    );
    refused(
        &endpoint(json!({"model": big, "baseURL": "http://x/v1"})),
        "spec.model",
        "is longer than 256 characters",
    );
    let mut spec = intent(vec![route("a")]);
    spec["router"] = json!({"nodeSelector": {"k": big}});
    refused(
        &policy(spec),
        "spec.router.nodeSelector.k",
        "is longer than 1024 characters",
    );
}

#[test]
fn too_many_examples_and_endpoints_per_route_are_refused() {
    let mut r = route("a");
    r["examples"] = json!(vec!["hello"; 257]);
    refused(
        &policy(intent(vec![r])),
        "spec.intent.routes[0].examples",
        "has more than 256 items",
    );
    let mut r = route("a");
    r["endpoints"] = json!((0..17).map(|i| format!("m{i}")).collect::<Vec<_>>());
    refused(
        &policy(intent(vec![r])),
        "spec.intent.routes[0].endpoints",
        "has more than 16 items",
    );
    let candidates: Vec<Value> = (0..33)
        .map(|i| json!({"endpoint": format!("m{i}")}))
        .collect();
    refused(
        &policy(json!({"strategy": "auto", "auto": {"candidates": candidates}})),
        "spec.auto.candidates",
        "has more than 32 items",
    );
}

#[test]
fn big_maps_and_lists_inside_kubernetes_types_are_refused() {
    let selector: serde_json::Map<String, Value> = (0..1000)
        .map(|i| (format!("label-{i}"), json!("v")))
        .collect();
    let mut spec = intent(vec![route("a")]);
    spec["router"] = json!({"nodeSelector": selector});
    refused(
        &policy(spec),
        "spec.router.nodeSelector",
        "has more than 64 properties",
    );

    let toleration = json!({"key": "k", "operator": "Exists"});
    let mut spec = intent(vec![route("a")]);
    spec["router"] = json!({"tolerations": vec![toleration; 33]});
    refused(
        &policy(spec),
        "spec.router.tolerations",
        "has more than 32 items",
    );

    let values: Vec<String> = (0..10_000).map(|i| format!("zone-{i}")).collect();
    let mut spec = intent(vec![route("a")]);
    spec["router"] = json!({"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": values}]}]}}}});
    refused(
        &policy(spec),
        "spec.router.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution\
         .nodeSelectorTerms[0].matchExpressions[0].values",
        "has more than 64 items",
    );

    let limits: serde_json::Map<String, Value> = (0..100)
        .map(|i| (format!("example.com/r{i}"), json!("1")))
        .collect();
    let mut spec = intent(vec![route("a")]);
    spec["router"] = json!({"resources": {"limits": limits}});
    refused(
        &policy(spec),
        "spec.router.resources.limits",
        "has more than 64 properties",
    );
}

#[test]
fn deep_nesting_is_refused_as_unknown_fields() {
    let mut deep = json!("bottom");
    for _ in 0..1000 {
        deep = json!({ "nested": deep });
    }
    let mut spec = intent(vec![route("a")]);
    spec["router"] = json!({ "inference": { "extra": deep } });
    let v = violations(&policy(spec));
    assert!(
        v.iter().any(|v| v.field == "spec.router.inference"
            && v.message.contains("unknown field")
            && v.message.contains("extra")),
        "{v:?}"
    );
    // The whole document is one violation, not one per level.
    assert_eq!(v.len(), 1, "{v:?}");
}

#[test]
fn unicode_is_accepted_where_text_is_free_and_refused_in_names() {
    // Route names are ASCII identifiers (they become metric labels and headers).
    refused(
        &policy(intent(vec![route("ルート")])),
        "spec.intent.routes[0].name",
        "does not match",
    );
    refused(
        &policy(intent(vec![route("a\u{202e}b")])),
        "spec.intent.routes[0].name",
        "does not match",
    );
    // Free text may be any language; limits count characters, not bytes.
    let mut r = route("a");
    r["description"] = json!("数学の問題 🧮 \u{200b}".repeat(100));
    r["examples"] = json!(["¿Cuánto es 2+2?", "\u{0000}zero byte", "ﷺ"]);
    assert_eq!(violations(&policy(intent(vec![r]))), vec![]);
    let mut r = route("a");
    r["description"] = json!("🧮".repeat(2049));
    refused(
        &policy(intent(vec![r])),
        "spec.intent.routes[0].description",
        "is longer than 2048 characters",
    );
}

/// Every string, list and map of both CRDs (spec and status) has an upper bound.
#[test]
fn every_string_list_and_map_is_bounded() {
    let mut unbounded = Vec::new();
    for (file, crd) in switchyard_crds::crds() {
        let schema = serde_json::to_value(
            &crd.spec.versions[0]
                .schema
                .as_ref()
                .unwrap()
                .open_api_v3_schema,
        )
        .unwrap();
        for part in ["spec", "status"] {
            walk(
                &schema["properties"][part],
                &format!("{file}:{part}"),
                &mut unbounded,
            );
        }
    }
    assert!(unbounded.is_empty(), "unbounded fields: {unbounded:#?}");
}

fn walk(node: &Value, path: &str, out: &mut Vec<String>) {
    match node.get("type").and_then(Value::as_str) {
        Some("string")
            if node.get("maxLength").is_none()
                && node.get("enum").is_none()
                && node.get("format").is_none() =>
        {
            out.push(format!("{path} (string without maxLength)"));
        }
        Some("array") if node.get("maxItems").is_none() => {
            out.push(format!("{path} (list without maxItems)"));
        }
        Some("object")
            if node
                .get("additionalProperties")
                .is_some_and(Value::is_object)
                && node.get("maxProperties").is_none() =>
        {
            out.push(format!("{path} (map without maxProperties)"));
        }
        _ => {}
    }
    if let Some(items) = node.get("items") {
        walk(items, &format!("{path}[]"), out);
    }
    if let Some(ap) = node.get("additionalProperties").filter(|v| v.is_object()) {
        walk(ap, &format!("{path}{{}}"), out);
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            walk(v, &format!("{path}.{k}"), out);
        }
    }
}

/// Every `x-kubernetes-validations` rule with its schema node, found anywhere in the CRDs.
fn rules() -> Vec<(String, Value, String)> {
    fn collect(node: &Value, path: &str, out: &mut Vec<(String, Value, String)>) {
        if let Some(rules) = node
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
        {
            for r in rules {
                if let Some(rule) = r.get("rule").and_then(Value::as_str) {
                    out.push((path.to_owned(), node.clone(), rule.to_owned()));
                }
            }
        }
        if let Some(items) = node.get("items") {
            collect(items, &format!("{path}[]"), out);
        }
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                collect(v, &format!("{path}.{k}"), out);
            }
        }
    }
    let mut out = Vec::new();
    for (_, crd) in switchyard_crds::crds() {
        let schema = serde_json::to_value(
            &crd.spec.versions[0]
                .schema
                .as_ref()
                .unwrap()
                .open_api_v3_schema,
        )
        .unwrap();
        collect(&schema, &crd.spec.names.kind, &mut out);
    }
    out
}

/// kube-cel's static estimate (a coarse model of the API server's) finds every rule within
/// the per-rule budget and no comprehension over an unbounded list.
#[test]
fn cel_rules_stay_within_the_cost_budget() {
    let rules = rules();
    assert!(
        rules.len() >= 10,
        "expected the CRDs' rules, got {}",
        rules.len()
    );
    for (path, node, rule) in &rules {
        // kube-cel's scope check does not know comprehension variables (`all(c, ...)`);
        // only the cost findings matter here.
        let warnings: Vec<_> =
            analyze_rule(rule, &compile_schema(node), ScopeContext::CrdValidation)
                .into_iter()
                .filter(|w| {
                    matches!(
                        w.kind,
                        WarningKind::CostExceeded | WarningKind::MissingBounds
                    )
                })
                .collect();
        assert!(warnings.is_empty(), "{path}: {rule}: {warnings:?}");
    }
}

/// The cost check above can fail: the uniqueness rule over routes, without `maxItems`, is
/// estimated over budget.
#[test]
fn the_cost_check_notices_a_missing_bound() {
    let (_, mut node, rule) = rules()
        .into_iter()
        .find(|(_, _, r)| r.contains("exists_one(o, o.name == r.name)"))
        .expect("the route-name uniqueness rule");
    node["properties"]["routes"]
        .as_object_mut()
        .unwrap()
        .remove("maxItems");
    let warnings = analyze_rule(&rule, &compile_schema(&node), ScopeContext::CrdValidation);
    assert!(
        warnings.iter().any(|w| matches!(
            w.kind,
            WarningKind::CostExceeded | WarningKind::MissingBounds
        )),
        "{warnings:?}"
    );
}
