//! The Switchyard operator: turns `RoutingPolicy` and `ModelEndpoint` resources into
//! GPU-scheduled router Deployments whose configuration hot-reloads through the API.
//!
//! Reconcile is a pipeline (dereference → validate → build → apply → status) in which
//! [`validate`] and [`build`] are pure functions; [`policy_controller`] and
//! [`endpoint_controller`] wire them to the cluster, [`run`] starts everything (behind
//! [`leader`] election when asked) and [`http`] serves metrics and health.

pub mod apply;
pub mod build;
pub mod cache_check;
pub mod cli;
pub mod context;
pub mod endpoint_controller;
pub mod error;
#[cfg(test)]
mod fixtures;
pub mod http;
pub mod index;
pub mod leader;
pub mod lenient;
pub mod metrics;
#[cfg(test)]
mod mock_tests;
pub mod names;
pub mod policy_controller;
pub mod probe;
pub mod reports;
pub mod run;
pub mod status;
pub mod validate;

pub use context::{Context, OperatorConfig};
pub use error::{Error, Result};

/// Field manager of every server-side apply and status patch the operator makes.
pub const MANAGER: &str = "switchyard-operator";

/// Router image used when neither `spec.router.image` nor `--router-image` says otherwise.
pub const DEFAULT_ROUTER_IMAGE: &str = concat!(
    "ghcr.io/switchyard-dev/switchyard-router:",
    env!("CARGO_PKG_VERSION")
);
