//! `switchyard-router train` and `switchyard-router eval`: the learned-router pipeline of
//! `switchyard-learn`, embedding with the router's own inference engine.

use std::process::ExitCode;

use switchyard_learn::summary::{eval_summary, train_summary};
use switchyard_learn::{EvalArgs, TrainArgs, eval, open_embedder, train};

/// Trains a head; prints a summary, exit 1 with the error otherwise.
pub fn run_train(args: &TrainArgs) -> ExitCode {
    let result = open_embedder(&args.embedder, args.threads)
        .and_then(|embedder| train(args, embedder.as_ref()));
    match result {
        Ok(report) => {
            print!("{}", train_summary(&report));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("train: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Evaluates a head; prints a summary, exit 1 with the error otherwise.
pub fn run_eval(args: &EvalArgs) -> ExitCode {
    let result = open_embedder(&args.embedder, args.threads)
        .and_then(|embedder| eval(args, embedder.as_ref()));
    match result {
        Ok(report) => {
            print!("{}", eval_summary(&report));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("eval: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `f` on a new OS thread (outside any tokio runtime) and waits for it.
pub fn off_runtime(f: impl FnOnce() -> ExitCode + Send + 'static) -> ExitCode {
    std::thread::spawn(f).join().unwrap_or(ExitCode::FAILURE)
}
