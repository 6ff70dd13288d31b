//! `switchyard-router route -f ... --policy P --prompt TEXT [--image FILE]`: loads the config
//! like `serve`, routes one prompt and prints the decision JSON (the `/v1/route` answer).
//! Needs no API keys.

use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;

use super::{CliError, SourceArgs, models_dir};
use crate::api::decision_json;
use crate::classify::{ClassifyInput, ImageData};
use crate::config::load;
use crate::error::ApiError;
use crate::routing::{self, RouteOptions};
use crate::secrets::SecretStore;
use crate::state::{AppState, RuntimeOptions};

/// Flags of `route`.
#[derive(Clone, Debug, clap::Args)]
pub struct RouteArgs {
    /// Config source.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Policy to route with (optional when only one is defined).
    #[arg(long)]
    pub policy: Option<String>,
    /// The user prompt.
    #[arg(long)]
    pub prompt: String,
    /// An image file sent along with the prompt.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Auto tolerance override (0..1).
    #[arg(long)]
    pub tolerance: Option<f64>,
    /// Built-in models directory.
    #[arg(long, env = "SWITCHYARD_MODELS")]
    pub models: Option<PathBuf>,
}

/// Routes the prompt and prints the decision.
pub async fn run(args: RouteArgs) -> Result<ExitCode, CliError> {
    let loaded = load(&args.source.source())?;
    let options = RuntimeOptions {
        models_dir: models_dir(args.models.clone()),
        ..RuntimeOptions::default()
    };
    let state = AppState::new(options, SecretStore::empty(true))?;
    let snap = state.load(loaded.config, loaded.degraded).await?;
    let policy = match &args.policy {
        Some(p) => snap
            .policies
            .get(p.strip_prefix("switchyard/").unwrap_or(p)),
        None if snap.policies.len() == 1 => snap.policies.values().next(),
        None => None,
    };
    let Some(policy) = policy else {
        let mut names: Vec<&str> = snap.policies.keys().map(String::as_str).collect();
        names.sort_unstable();
        return Err(CliError::Usage(format!(
            "--policy must name one of: {}",
            names.join(", ")
        )));
    };
    let mut input = ClassifyInput::from_prompt(&args.prompt);
    if let Some(path) = &args.image {
        let bytes = std::fs::read(path).map_err(|source| CliError::Io {
            context: format!("cannot read {}", path.display()),
            source,
        })?;
        let max = snap.config.server.limits.max_image_bytes;
        if bytes.len() as u64 > max {
            return Err(ApiError::TooLarge(format!(
                "{} is {} bytes; the limit is {max}",
                path.display(),
                bytes.len()
            ))
            .into());
        }
        input.images.push(ImageData {
            bytes: Bytes::from(bytes),
            media_type: None,
        });
        input.has_images = true;
    }
    if let Some(t) = args.tolerance
        && !(0.0..=1.0).contains(&t)
    {
        return Err(CliError::Usage(
            "--tolerance must be between 0 and 1".into(),
        ));
    }
    let opts = RouteOptions {
        tolerance: args.tolerance,
        est_tokens: (args.prompt.chars().count() as u64).div_ceil(4),
        ..RouteOptions::default()
    };
    let routed = routing::route(&state, &snap, policy, input, &[], &opts).await?;
    let out = decision_json(policy, &routed);
    println!(
        "{}",
        serde_json::to_string_pretty(&out).unwrap_or_else(|_| out.to_string())
    );
    Ok(ExitCode::SUCCESS)
}
