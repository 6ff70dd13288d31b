//! `switchyard-router import nvidia-v1 config.yaml`: converts an NVIDIA LLM Router v1
//! `config.yaml` into ModelEndpoint/RoutingPolicy (and Secret) YAML on standard output;
//! warnings and the steps left to the user go to standard error.

use std::path::PathBuf;
use std::process::ExitCode;

use switchyard_crds::import::{ImportOptions, import_nvidia_v1};

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// What to import.
    #[command(subcommand)]
    pub source: ImportSource,
}

/// Supported sources.
#[derive(Debug, clap::Subcommand)]
pub enum ImportSource {
    /// NVIDIA LLM Router v1 (router-controller) `config.yaml`.
    NvidiaV1 {
        /// The v1 config file.
        config: PathBuf,
        /// Namespace written into every object (default: none, use `kubectl -n`).
        #[arg(long)]
        namespace: Option<String>,
    },
}

/// Runs the import; exit 1 with a message when the config cannot be converted.
pub fn run(args: &ImportArgs) -> ExitCode {
    let ImportSource::NvidiaV1 { config, namespace } = &args.source;
    let text = match std::fs::read_to_string(config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: cannot read: {e}", config.display());
            return ExitCode::FAILURE;
        }
    };
    let opts = ImportOptions {
        namespace: namespace.clone(),
        env: std::env::vars().collect(),
        ..ImportOptions::default()
    };
    match import_nvidia_v1(&text, &opts) {
        Ok(out) => {
            for w in &out.warnings {
                eprintln!("warning: {w}");
            }
            for n in &out.notes {
                eprintln!("note: {n}");
            }
            print!("{}", out.yaml);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", config.display());
            ExitCode::FAILURE
        }
    }
}
