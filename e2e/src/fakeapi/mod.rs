//! An in-process fake Kubernetes API server for hermetic end-to-end tests: real HTTP on
//! 127.0.0.1 that kube-rs clients (and kubectl) talk to, with typed CRUD, list + watch with
//! resourceVersions, server-side apply emulated as create-or-merge, the status
//! subresource, ownerReference garbage collection, finalizers, fault injection and
//! request counters. What it does not emulate is listed in `e2e/README.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), switchyard_e2e::fakeapi::FakeApiError> {
//! use switchyard_e2e::fakeapi::{FakeApiServer, Fault, Verb};
//! let server = FakeApiServer::start().await?;
//! server.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"))?; // for child processes
//! let client = server.client()?;                                     // for in-test clients
//! server.inject(Fault::status(500).on(Verb::Patch, "deployments").times(3));
//! let before = server.counters();
//! # Ok(()) }
//! ```

mod counters;
mod delete;
mod discovery;
mod faults;
mod http;
mod meta;
mod patch;
mod resources;
mod selector;
mod server;
mod status;
mod store;
mod typed;
mod watch;
mod write;

use std::sync::{Mutex, MutexGuard, PoisonError};

pub use counters::{CounterSnapshot, Verb};
pub use faults::Fault;
pub use resources::ResourceInfo;
pub use server::{FakeApiError, FakeApiOptions, FakeApiServer};
pub use status::{ApiError, Cause};
pub use store::EventType;
pub use typed::Object;

/// Locks a mutex, carrying on after a panic elsewhere (the data is still consistent: no
/// critical section leaves it half-written).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
