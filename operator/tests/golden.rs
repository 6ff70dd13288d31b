//! Golden files of the children built for representative policies. `UPDATE_GOLDEN=1 cargo
//! test -p switchyard-operator --test golden` rewrites them; otherwise any drift fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use kube::ResourceExt;
use switchyard_crds::manifest::{Manifests, load};
use switchyard_operator::build::{BuildOptions, build};
use switchyard_operator::validate::{Inputs, referenced_endpoints, referenced_secrets, validate};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn inputs(m: &Manifests) -> Inputs {
    let policy = &m.policies[0];
    let wanted = referenced_endpoints(&policy.spec);
    let endpoints: Vec<_> = m
        .endpoints
        .iter()
        .filter(|e| wanted.contains(&e.name_any()))
        .cloned()
        .collect();
    let missing_secrets = referenced_secrets(&policy.spec, &endpoints)
        .into_iter()
        .filter(|s| {
            !m.secrets
                .iter()
                .any(|x| x.metadata.name.as_deref() == Some(s))
        })
        .collect();
    Inputs {
        endpoints,
        missing_secrets,
        ..Inputs::default()
    }
}

fn check(case: &str) {
    let m = load(&[dir().join(format!("{case}.input.yaml"))]).expect("input loads");
    let policy = &m.policies[0];
    let v = validate(policy, &inputs(&m));
    assert!(!v.has_errors(), "{case}: {:?}", v.findings);
    let config = v.config.as_ref().expect("config");
    let opts = BuildOptions {
        default_image: "ghcr.io/switchyard-dev/switchyard-router:test".to_owned(),
    };
    let children = build(policy, config, &v.secrets, &opts).expect("build");
    let got = children.to_yaml().expect("yaml");
    let path = dir().join(format!("{case}.yaml"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_GOLDEN=1", path.display()));
    pretty_assertions::assert_eq!(
        want,
        got,
        "{case}: golden drift; run with UPDATE_GOLDEN=1 and review the diff"
    );
}

#[test]
fn cpu_policy() {
    check("cpu");
}

#[test]
fn one_gpu_policy() {
    check("gpu");
}

#[test]
fn gpu_product_autoscaling_policy() {
    check("gpu-autoscale");
}
