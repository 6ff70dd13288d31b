//! Development CLI for the trainer: `cargo run -p switchyard-learn --example learn -- train ...`
//! and `... -- eval ...`, with the same flags `switchyard-router train|eval` takes.

use clap::{Parser, Subcommand};
use switchyard_learn::summary::{eval_summary, train_summary};
use switchyard_learn::{EvalArgs, TrainArgs, eval, open_embedder, train};

#[derive(Parser)]
#[command(about = "Train and evaluate Switchyard auto-routing heads")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a head from labelled data.
    Train(TrainArgs),
    /// Evaluate a head on labelled data.
    Eval(EvalArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Train(args) => {
            let embedder = open_embedder(&args.embedder, args.threads)?;
            print!("{}", train_summary(&train(&args, embedder.as_ref())?));
        }
        Command::Eval(args) => {
            let embedder = open_embedder(&args.embedder, args.threads)?;
            print!("{}", eval_summary(&eval(&args, embedder.as_ref())?));
        }
    }
    Ok(())
}
