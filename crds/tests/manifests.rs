//! The committed CRDs are current, the examples are valid, and deliberately broken manifests
//! fail with the messages users would see.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use switchyard_crds::check::{check_paths, check_paths_with};
use switchyard_crds::resolve::{MODEL_VOLUME_ROOT, ResolveOptions};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

#[test]
fn committed_crds_match_the_types() {
    for (file, crd) in switchyard_crds::crds() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let committed =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let generated = switchyard_crds::crd_yaml(&crd).unwrap();
        assert!(
            committed == generated,
            "{file} is stale: run `cargo run -p switchyard-crds --bin crdgen` and commit it"
        );
    }
}

#[test]
fn committed_reference_matches_the_types() {
    let path = repo().join(switchyard_crds::REFERENCE_DOC);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == switchyard_crds::reference_markdown(),
        "{} is stale: run `cargo run -p switchyard-crds --bin crdgen` and commit it",
        path.display()
    );
}

#[test]
fn crd_yaml_round_trips() {
    for (file, crd) in switchyard_crds::crds() {
        let yaml = switchyard_crds::crd_yaml(&crd).unwrap();
        let back: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition =
            serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, crd, "{file}");
    }
}

fn example_files() -> Vec<PathBuf> {
    let files =
        switchyard_crds::manifest::expand_paths(&[repo().join("manifests/examples")]).unwrap();
    assert!(!files.is_empty());
    files
}

#[test]
fn every_example_is_valid() {
    // Examples are written for clusters, where model volumes exist.
    let in_cluster = ResolveOptions {
        model_volume_root: Some(MODEL_VOLUME_ROOT.to_owned()),
    };
    for file in example_files() {
        let report = check_paths_with(std::slice::from_ref(&file), &in_cluster);
        let findings: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
        assert!(
            findings.is_empty(),
            "{}:\n{}",
            file.display(),
            findings.join("\n")
        );
        assert!(
            !report.manifests.policies.is_empty() || !report.manifests.endpoints.is_empty(),
            "{} holds no Switchyard objects",
            file.display()
        );
    }
}

#[test]
fn invalid_fixtures_fail_with_the_expected_messages() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 8);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        let report = check_paths(std::slice::from_ref(&file));
        let findings: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
        let all = findings.join("\n");
        for e in expected {
            assert!(
                all.contains(e),
                "{}: expected {e:?} in:\n{all}",
                file.display()
            );
        }
    }
}
