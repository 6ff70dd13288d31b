//! The command line. Each subcommand lives in its own file with its clap `Args` and a `run`
//! function; adding one (`train`, `eval`, `import`) means one new file, one `Command` variant
//! and one match arm in [`run`].

pub mod import;
pub mod learn;
pub mod route;
pub mod serve;
pub mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Source;
use crate::telemetry::LogFormat;

/// `switchyard-router`: the Switchyard LLM router.
#[derive(Debug, Parser)]
#[command(name = "switchyard-router", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "SWITCHYARD_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the OpenAI-compatible API (standalone from files, or in a cluster).
    Serve(serve::ServeArgs),
    /// Check RoutingPolicy/ModelEndpoint YAML as the API server and the operator would.
    Validate(validate::ValidateArgs),
    /// Print the routing decision for one prompt.
    Route(route::RouteArgs),
    /// Convert another router's configuration into Switchyard resources.
    Import(import::ImportArgs),
    /// Train an `auto` routing head from labelled data (embeds with the served encoder).
    Train(switchyard_learn::TrainArgs),
    /// Evaluate a head: quality vs cost curves, APGR, CPT, AUC, calibration, plot.
    Eval(switchyard_learn::EvalArgs),
}

/// Errors of the subcommands.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flags.
    #[error("{0}")]
    Usage(String),
    /// The config could not be loaded.
    #[error(transparent)]
    Reload(#[from] crate::state::ReloadError),
    /// HTTP client setup failed.
    #[error(transparent)]
    Client(#[from] crate::upstream::ClientError),
    /// I/O (listeners, files).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file watcher failed.
    #[error("cannot watch config files: {0}")]
    Watch(#[from] notify::Error),
    /// The Kubernetes client could not be set up.
    #[error("Kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    /// The routing request failed.
    #[error("{0}")]
    Api(#[from] crate::error::ApiError),
    /// The listener's TLS certificate or key is unusable.
    #[error("--tls-cert/--tls-key: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// Config source flags shared by `serve` and `route`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SourceArgs {
    /// CR YAML file or directory (ModelEndpoint, RoutingPolicy, Secret); repeatable.
    #[arg(short = 'f', long = "file", value_name = "FILE_OR_DIR")]
    pub files: Vec<PathBuf>,
    /// Resolved RouterConfig YAML (what the operator writes).
    #[arg(long, value_name = "RESOLVED.yaml", conflicts_with = "files")]
    pub config: Option<PathBuf>,
}

impl SourceArgs {
    /// The source these flags name (the embedded quickstart when none).
    pub fn source(&self) -> Source {
        match (&self.config, self.files.is_empty()) {
            (Some(c), _) => Source::Resolved(c.clone()),
            (None, false) => Source::Files(self.files.clone()),
            (None, true) => Source::Embedded,
        }
    }
}

/// The models directory: the flag/`SWITCHYARD_MODELS`, else `./models`, else `/models`.
pub fn models_dir(flag: Option<PathBuf>) -> PathBuf {
    if let Some(p) = flag {
        return p;
    }
    let local = PathBuf::from("models");
    if local.is_dir() {
        local
    } else {
        PathBuf::from("/models")
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Validate(args) => Ok(validate::run(&args)),
        Command::Route(args) => route::run(args).await,
        Command::Import(args) => Ok(import::run(&args)),
        // Training is CPU-bound and drives its own inference runtime: run it on a plain
        // thread, outside this runtime's context.
        Command::Train(args) => Ok(learn::off_runtime(move || learn::run_train(&args))),
        Command::Eval(args) => Ok(learn::off_runtime(move || learn::run_eval(&args))),
    }
}
