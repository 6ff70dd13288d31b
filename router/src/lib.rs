//! The Switchyard router: an OpenAI-compatible proxy and recommendation API that routes each
//! chat request to the upstream model a policy chooses.
//!
//! Layout: [`cli`] (subcommands), [`config`] (where configs come from: files, the embedded
//! default, the Kubernetes API; hot reload), [`state`] (the atomically swapped snapshot),
//! [`api`] (HTTP handlers), [`request`] (input validation), [`classify`] (scoring engines),
//! [`decide`] (the pure routing decision), [`routing`] (classify + decide), [`upstream`]
//! (proxying with fallback), [`metrics`], [`server`] (listeners and graceful shutdown),
//! [`auth`] (client API keys), [`guard`] (checks before a request is read: header size,
//! client key), [`tls`] (TLS on the listener).

pub mod api;
pub mod auth;
pub mod classify;
pub mod cli;
pub mod config;
pub mod decide;
pub mod error;
#[cfg(feature = "testing")]
pub mod fuzz;
pub mod guard;
pub mod metrics;
pub mod request;
pub mod routing;
pub mod secrets;
pub mod server;
pub mod state;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
pub mod upstream;

pub use api::app;
pub use state::{AppState, RuntimeOptions, Snapshot};
