//! Generators of the reference pages under `docs/reference/` that come from the code:
//! [`cli`] (every flag of both binaries, from their clap definitions), [`metrics`] (every
//! metric both binaries register, from their Prometheus registries) and the router's OpenAPI
//! document. `cargo run -p switchyard-docgen` rewrites them; the `drift` test and
//! `scripts/check-generated.sh` fail when a committed page is stale.

pub mod cli;
pub mod metrics;

/// A generator failed: the code has something the generator does not know how to document.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

/// Every generated page: `(path relative to the repository root, contents)`.
pub fn pages() -> Result<Vec<(&'static str, String)>, Error> {
    Ok(vec![
        ("docs/reference/cli.md", cli::markdown()),
        ("docs/reference/metrics.md", metrics::markdown()?),
        (
            "docs/reference/openapi.json",
            switchyard_router::api::openapi::document_pretty(),
        ),
    ])
}
