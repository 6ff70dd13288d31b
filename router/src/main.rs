//! `switchyard-router`: parses flags, starts telemetry, runs the chosen subcommand.

use std::process::ExitCode;

use clap::Parser;
use switchyard_router::cli::{self, Cli};
use switchyard_router::telemetry;

// mimalloc: the proxy path allocates many small, short-lived buffers; glibc's malloc showed up
// as ~10 % of the router's CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format).map_err(|e| anyhow::anyhow!(e))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(cli::run(cli))?)
}
