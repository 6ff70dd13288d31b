//! Reconcile cost of one policy without I/O: validate (resolution) + build of every child
//! (the config ConfigMap renders the config YAML), for the quickstart policy with its six
//! endpoints.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard_operator::build::{BuildOptions, build};
use switchyard_operator::validate::{Inputs, validate};

fn bench(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples/quickstart.yaml");
    let m = switchyard_crds::manifest::load(&[path]).expect("quickstart loads");
    let mut policy = m.policies[0].clone();
    policy.metadata.namespace = Some("ai".to_owned());
    policy.metadata.uid = Some("bench-uid".to_owned());
    let endpoints: Vec<_> = m
        .endpoints
        .iter()
        .cloned()
        .map(|mut e| {
            e.metadata.namespace = Some("ai".to_owned());
            e
        })
        .collect();
    let inputs = Inputs {
        endpoints,
        ..Inputs::default()
    };
    let opts = BuildOptions::default();
    let once = || {
        let v = validate(&policy, &inputs);
        let config = v.config.as_ref().expect("valid");
        let children = build(&policy, config, &v.secrets, &opts).expect("build");
        std::hint::black_box((v.hash, children));
    };
    c.bench_function("reconcile_pure_quickstart", |b| b.iter(once));
    // The part of `validate` that re-checks the policy against the CRD schema (it stops
    // hostile policies before resolution when the installed CRD is looser than this one).
    c.bench_function("schema_check_quickstart", |b| {
        b.iter(|| {
            std::hint::black_box(switchyard_operator::validate::schema_violations(
                &policy,
                "RoutingPolicy",
            ))
        })
    });

    // Criterion reports means; the target is a p99, so time single runs as well.
    let mut samples: Vec<std::time::Duration> = (0..20_000)
        .map(|_| {
            let t = std::time::Instant::now();
            once();
            t.elapsed()
        })
        .collect();
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "reconcile_pure_quickstart single-run latency over {} runs: p50 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
        samples.len(),
        pct(0.50),
        pct(0.99),
        pct(0.999),
        samples[samples.len() - 1]
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
