//! Unit tests of status computation (conditions, transitions, events).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::fixtures::{endpoint, policy};
use crate::reports::RouterReport;
use crate::validate::{Inputs, validate};

fn at(s: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(s).unwrap())
}

fn valid(p: &RoutingPolicy) -> Validated {
    validate(
        p,
        &Inputs {
            endpoints: vec![endpoint("big", None), endpoint("small", None)],
            ..Inputs::default()
        },
    )
}

fn observed(ready: i32, reports: &[(&str, &str, &str, &[&str])]) -> Observed {
    let mut r = Reports::default();
    for (pod, hash, device, degraded) in reports {
        r.by_pod.insert(
            (*pod).to_owned(),
            RouterReport {
                config_hash: (*hash).to_owned(),
                device: (*device).to_owned(),
                degraded: degraded.iter().map(|s| (*s).to_owned()).collect(),
                updated: None,
            },
        );
    }
    Observed {
        ready_replicas: ready,
        available: ready > 0,
        reports: r,
    }
}

fn cond<'a>(s: &'a RoutingPolicyStatus, t: &str) -> &'a Condition {
    find(&s.conditions, t).unwrap()
}

#[test]
fn ready_follows_availability_and_served_hash() {
    let p = policy("qs", "replicas: 2");
    let v = valid(&p);
    let hash = v.hash.clone().unwrap();
    let s = policy_status(&p, &v, Some(&observed(0, &[])), &at(10));
    assert_eq!(cond(&s, READY).reason, "Progressing");
    let s = policy_status(&p, &v, Some(&observed(2, &[])), &at(10));
    assert_eq!(
        (
            cond(&s, READY).status.as_str(),
            cond(&s, READY).reason.as_str()
        ),
        ("True", "Available")
    );
    let one = [
        ("a", hash.as_str(), "cpu", &[][..]),
        ("b", "old", "cpu", &[][..]),
    ];
    let s = policy_status(&p, &v, Some(&observed(2, &one)), &at(10));
    assert_eq!(
        (
            cond(&s, READY).status.as_str(),
            cond(&s, READY).reason.as_str()
        ),
        ("False", "ConfigPending")
    );
    let both = [
        ("a", hash.as_str(), "cpu", &[][..]),
        ("b", hash.as_str(), "cpu", &[][..]),
        ("dead", "old", "cpu", &[][..]),
    ];
    let s = policy_status(&p, &v, Some(&observed(2, &both)), &at(10));
    assert_eq!(
        (
            cond(&s, READY).status.as_str(),
            cond(&s, READY).reason.as_str()
        ),
        ("True", "ConfigServed")
    );
    assert_eq!(cond(&s, DEGRADED).status, "False");
    assert_eq!(s.ready_replicas, Some(2));
    assert_eq!(s.config_hash.as_deref(), Some(hash.as_str()));
}

#[test]
fn cuda_fallback_on_a_gpu_policy_is_degraded() {
    let p = policy("qs", "gpu: {}");
    let v = valid(&p);
    let hash = v.hash.clone().unwrap();
    let reports = [(
        "qs-router-x",
        hash.as_str(),
        "cpu",
        &["CUDA unavailable: libcuda.so.1 not found"][..],
    )];
    let s = policy_status(&p, &v, Some(&observed(1, &reports)), &at(10));
    let d = cond(&s, DEGRADED);
    assert_eq!(
        (d.status.as_str(), d.reason.as_str()),
        ("True", "CudaFallback")
    );
    assert!(d.message.contains("libcuda.so.1"), "{}", d.message);
    // The same report on an older config does not count.
    let stale = [("qs-router-x", "old", "cpu", &["CUDA unavailable"][..])];
    let s = policy_status(&p, &v, Some(&observed(1, &stale)), &at(10));
    assert_eq!(cond(&s, DEGRADED).status, "False");
}

#[test]
fn transition_time_moves_only_on_transitions() {
    let mut p = policy("qs", "");
    let v = valid(&p);
    let first = policy_status(&p, &v, Some(&observed(1, &[])), &at(100));
    assert_eq!(cond(&first, READY).last_transition_time, at(100));
    p.status = Some(first.clone());
    let same = policy_status(&p, &v, Some(&observed(1, &[])), &at(200));
    assert_eq!(same, first, "nothing changed, so nothing to write");
    let down = policy_status(&p, &v, Some(&observed(0, &[])), &at(300));
    assert_eq!(cond(&down, READY).last_transition_time, at(300));
    assert_eq!(cond(&down, RESOLVED).last_transition_time, at(100));
    assert!(notices(&first.conditions, &same.conditions).is_empty());
    assert!(notices(&first.conditions, &down.conditions).is_empty());
    let ups = notices(&down.conditions, &first.conditions);
    assert_eq!(ups.len(), 1);
    assert_eq!((ups[0].type_, ups[0].reason), (EventType::Normal, "Ready"));
}

#[test]
fn invalid_spec_keeps_the_served_hash_and_replicas() {
    let mut p = policy("qs", "");
    let v = valid(&p);
    let ok = policy_status(&p, &v, Some(&observed(1, &[])), &at(100));
    p.status = Some(ok.clone());
    p.spec.intent.as_mut().unwrap().default_route = Some("nope".to_owned());
    let bad = valid(&p);
    assert!(bad.has_errors());
    let s = policy_status(&p, &bad, None, &at(200));
    assert_eq!(cond(&s, READY).reason, "InvalidSpec");
    assert!(
        cond(&s, READY)
            .message
            .contains(ok.config_hash.as_deref().unwrap())
    );
    assert_eq!(cond(&s, RESOLVED).reason, "InvalidPolicy");
    assert_eq!(s.config_hash, ok.config_hash);
    assert_eq!(s.ready_replicas, Some(1));
    let n = notices(&ok.conditions, &s.conditions);
    assert!(
        n.iter()
            .any(|n| n.reason == "InvalidSpec" && n.type_ == EventType::Warning),
        "{n:?}"
    );
}

#[test]
fn scaled_to_zero_is_not_ready() {
    let p = policy("qs", "replicas: 0");
    let v = valid(&p);
    let s = policy_status(&p, &v, Some(&observed(0, &[])), &at(1));
    assert_eq!(cond(&s, READY).reason, "ScaledToZero");
}

#[test]
fn long_messages_are_truncated_on_a_char_boundary() {
    let t = truncate("é".repeat(MAX_MESSAGE));
    assert!(t.len() <= MAX_MESSAGE);
    assert!(t.ends_with("..."));
}
