//! The end-to-end scenarios, each run twice: hermetically (the fake API server, the real
//! operator and router binaries, a fake kubelet; runs in CI) and against a real cluster
//! (`#[ignore]`d; `SWITCHYARD_E2E_KUBECONFIG=... cargo test -p switchyard-e2e --test
//! scenarios -- --ignored`). See e2e/README.md.
//!
//! One binary holds every scenario group (`scenario_*.rs`): libtest runs them two at a time
//! on a 2-core machine (`--test-threads` to change that).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support;

mod scenario_faults;
mod scenario_gpu;
mod scenario_lifecycle;
mod scenario_operator;
mod scenario_serving;
