//! Text decision benchmarks (intent / embedding classifier over the quickstart routes with
//! the built-in int8 MiniLM): latency at batch 1 and throughput under 32 concurrent clients.
//!
//! `cargo bench -p switchyard-inference --bench text` (RESULT lines are the numbers for
//! docs/benchmarks-inference.md). SWITCHYARD_BENCH_DEVICE=cuda runs on the CUDA provider.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use switchyard_crds::config::ResolvedStrategy;
use switchyard_crds::manifest;
use switchyard_crds::resolve::{ResolveOptions, resolve_all};
use switchyard_inference::{ClassifyInput, IntentModel};

const PROMPTS: &[&str] = &[
    "Write a Python function that checks whether a string is a palindrome.",
    "Hey there, how's your weekend going?",
    "Summarize this article about climate policy in three bullet points.",
    "Prove that the sum of two even numbers is even.",
    "What is the tallest mountain in Europe?",
    "Why does my Rust code say the borrowed value does not live long enough?",
    "Translate 'good morning, see you tomorrow' into German.",
    "Explain how a refrigerator keeps food cold.",
];

fn build(rt: &tokio::runtime::Runtime) -> (switchyard_inference::Engine, Arc<IntentModel>) {
    let engine = support::start_engine(rt);
    let m = manifest::load(&[support::repo().join("manifests/examples/quickstart.yaml")]).unwrap();
    let config = resolve_all(&m.policies, &m.endpoints, &ResolveOptions::default())
        .config
        .unwrap();
    let ResolvedStrategy::Intent(intent) = &config.policies[0].strategy else {
        panic!("quickstart is an intent policy")
    };
    let model = rt.block_on(IntentModel::build(&engine, intent)).unwrap();
    (engine, Arc::new(model))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let before = support::rss_mib();
    let (_engine, model) = build(&rt);
    println!(
        "RESULT rss: {:.0} MiB after loading MiniLM (process start {:.0} MiB); loadavg {}",
        support::rss_mib(),
        before,
        support::loadavg()
    );

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(50)
        .measurement_time(Duration::from_secs(8));
    let inputs: Vec<ClassifyInput> = PROMPTS.iter().map(|p| ClassifyInput::user(*p)).collect();
    let mut i = 0;
    c.bench_function("intent_embedding_decision_batch1", |b| {
        b.iter(|| {
            i = (i + 1) % inputs.len();
            rt.block_on(model.classify(&inputs[i])).unwrap()
        })
    });

    support::latency(&rt, "text decision batch 1", 400, |i| {
        let model = Arc::clone(&model);
        let input = inputs[i % inputs.len()].clone();
        async move {
            model.classify(&input).await.unwrap();
        }
    });

    // Throughput: 8 and 32 concurrent clients, each sending its next request when answered.
    for clients in [8usize, 32] {
        let done = Arc::new(AtomicUsize::new(0));
        let overloaded = Arc::new(AtomicUsize::new(0));
        let duration = Duration::from_secs(10);
        let start = Instant::now();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for c in 0..clients {
                let model = Arc::clone(&model);
                let done = Arc::clone(&done);
                let overloaded = Arc::clone(&overloaded);
                let inputs = inputs.clone();
                tasks.push(tokio::spawn(async move {
                    let mut k = c;
                    while start.elapsed() < duration {
                        k += 1;
                        match model.classify(&inputs[k % inputs.len()]).await {
                            Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                            Err(_) => overloaded.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        let secs = start.elapsed().as_secs_f64();
        println!(
            "RESULT throughput {clients} clients: {:.0} decisions/s ({} ok, {} refused, {secs:.1}s); loadavg {}",
            done.load(Ordering::Relaxed) as f64 / secs,
            done.load(Ordering::Relaxed),
            overloaded.load(Ordering::Relaxed),
            support::loadavg()
        );
    }
    println!("RESULT rss after throughput: {:.0} MiB", support::rss_mib());
    c.final_summary();
}
