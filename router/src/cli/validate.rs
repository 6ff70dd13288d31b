//! `switchyard-router validate -f ...`: YAML and type errors, schema and CEL violations (what
//! the API server rejects) and resolution problems (what the operator reports), one line each
//! naming file, object and field. Exit 1 if there is any, else 0 with a one-line summary.

use std::path::PathBuf;
use std::process::ExitCode;

use switchyard_crds::check::check_paths_with;
use switchyard_crds::resolve::{MODEL_VOLUME_ROOT, ResolveOptions};

/// Flags of `validate`.
#[derive(Clone, Debug, clap::Args)]
pub struct ValidateArgs {
    /// CR YAML file or directory; repeatable.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE_OR_DIR",
        required = true
    )]
    pub files: Vec<PathBuf>,
    /// Resolve as the operator does in a cluster, where `spec.router.modelVolumes` exist
    /// (default: as `serve -f` does on a laptop, where model references are local paths).
    #[arg(long)]
    pub in_cluster: bool,
}

/// Checks the files, printing findings to stdout.
pub fn run(args: &ValidateArgs) -> ExitCode {
    let opts = ResolveOptions {
        model_volume_root: args.in_cluster.then(|| MODEL_VOLUME_ROOT.to_owned()),
    };
    let report = check_paths_with(&args.files, &opts);
    if report.findings.is_empty() {
        println!("ok: {}", report.summary());
        ExitCode::SUCCESS
    } else {
        for f in &report.findings {
            println!("{f}");
        }
        eprintln!(
            "{} problem{} found",
            report.findings.len(),
            if report.findings.len() == 1 { "" } else { "s" }
        );
        ExitCode::FAILURE
    }
}
