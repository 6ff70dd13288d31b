//! Finds the `switchyard-operator` and `switchyard-router` binaries the hermetic suite runs.
//!
//! `env!("CARGO_BIN_EXE_…")` only names binaries of the package under test, so the harness
//! looks for the other packages' binaries in the profile directory of the running test
//! executable (`<target>/<profile>/deps/<test>` → `<target>/<profile>/switchyard-*`). When
//! both are there and newer than every source file they are built from (the workspace's
//! `Cargo.toml`/`Cargo.lock` and the `src/`, `build.rs` and `Cargo.toml` of `crds`,
//! `inference`, `learn`, `router` and `operator`), they are used as they are: that is the case
//! after `cargo test --workspace`, which builds both (CI). Otherwise — only
//! `cargo test -p switchyard-e2e` ran, or a source changed since — the harness runs
//! `cargo build -p switchyard-operator -p switchyard-router --bins` once per test process, with
//! the same target directory and profile. (Always building would cost CI minutes: that build's
//! feature set differs from the workspace test build's, so cargo would compile a second
//! variant of several crates.) Cargo's lock on the target directory serialises concurrent
//! builds.
//!
//! Overrides: `SWITCHYARD_OPERATOR_BIN` / `SWITCHYARD_ROUTER_BIN` name prebuilt binaries
//! (nothing is checked or built); `SWITCHYARD_E2E_REBUILD=1` always runs cargo; `CARGO` names
//! the cargo to run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::HarnessError;

/// Paths of the two binaries.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// `switchyard-operator`.
    pub operator: PathBuf,
    /// `switchyard-router`.
    pub router: PathBuf,
}

static BINARIES: OnceLock<Result<Binaries, String>> = OnceLock::new();

/// The binaries, built on first use (later calls return the same answer).
pub fn binaries() -> Result<Binaries, HarnessError> {
    BINARIES
        .get_or_init(|| locate().map_err(|e| e.to_string()))
        .clone()
        .map_err(HarnessError::Binaries)
}

fn from_env(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `<target>/<profile>` of the running executable (`.../deps/<name>` for tests and examples'
/// `.../examples/<name>`).
fn profile_dir() -> Result<PathBuf, HarnessError> {
    let exe = std::env::current_exe().map_err(|e| HarnessError::Binaries(e.to_string()))?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| HarnessError::Binaries(format!("{} has no parent", exe.display())))?;
    if matches!(
        dir.file_name().and_then(|n| n.to_str()),
        Some("deps" | "examples")
    ) {
        dir = dir.parent().unwrap_or(dir);
    }
    Ok(dir.to_owned())
}

fn locate() -> Result<Binaries, HarnessError> {
    if let (Some(operator), Some(router)) = (
        from_env("SWITCHYARD_OPERATOR_BIN"),
        from_env("SWITCHYARD_ROUTER_BIN"),
    ) {
        return Ok(Binaries { operator, router });
    }
    let profile_dir = profile_dir()?;
    let bins = Binaries {
        operator: profile_dir.join("switchyard-operator"),
        router: profile_dir.join("switchyard-router"),
    };
    let force = from_env("SWITCHYARD_E2E_REBUILD").is_some_and(|v| v.as_os_str() != "0");
    if force || !fresh(&[&bins.operator, &bins.router], &repo_root()) {
        build(&profile_dir)?;
    }
    for p in [&bins.operator, &bins.router] {
        if !p.is_file() {
            return Err(HarnessError::Binaries(format!(
                "{} was not built; set SWITCHYARD_OPERATOR_BIN and SWITCHYARD_ROUTER_BIN",
                p.display()
            )));
        }
    }
    Ok(bins)
}

/// The crates the two binaries are built from.
const SOURCE_CRATES: [&str; 5] = ["crds", "inference", "learn", "router", "operator"];

/// Whether every binary exists and is newer than every source file it is built from.
fn fresh(binaries: &[&Path], root: &Path) -> bool {
    let Some(oldest) = binaries
        .iter()
        .map(|b| std::fs::metadata(b).and_then(|m| m.modified()).ok())
        .collect::<Option<Vec<_>>>()
        .and_then(|times| times.into_iter().min())
    else {
        return false;
    };
    let mut inputs = vec![root.join("Cargo.toml"), root.join("Cargo.lock")];
    for krate in SOURCE_CRATES {
        inputs.push(root.join(krate).join("Cargo.toml"));
        inputs.push(root.join(krate).join("build.rs"));
        inputs.push(root.join(krate).join("src"));
    }
    match newest(&inputs) {
        Some(newest) => newest <= oldest,
        None => false,
    }
}

/// The newest modification time of the given files and of everything under the given
/// directories (missing paths are skipped).
fn newest(paths: &[PathBuf]) -> Option<std::time::SystemTime> {
    let mut newest = None;
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&p) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if let Ok(t) = meta.modified() {
            newest = Some(newest.map_or(t, |n: std::time::SystemTime| n.max(t)));
        }
    }
    newest
}

fn build(profile_dir: &Path) -> Result<(), HarnessError> {
    let cargo = from_env("CARGO").unwrap_or_else(|| PathBuf::from("cargo"));
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug")
        .to_owned();
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "-p",
        "switchyard-operator",
        "-p",
        "switchyard-router",
        "--bins",
    ]);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    // The target directory is the one this executable was built into (`<target>/<profile>`),
    // whether it came from CARGO_TARGET_DIR, --target-dir or the default `target/`.
    if let Some(target) = profile_dir.parent() {
        cmd.env("CARGO_TARGET_DIR", target);
    }
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    let out = cmd
        .output()
        .map_err(|e| HarnessError::Binaries(format!("running cargo build: {e}")))?;
    if !out.status.success() {
        return Err(HarnessError::Binaries(format!(
            "cargo build -p switchyard-operator -p switchyard-router --bins failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// The repository root (the workspace of this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The built-in models directory: `$SWITCHYARD_MODELS`, else `<repo>/models`.
pub fn models_dir() -> PathBuf {
    from_env("SWITCHYARD_MODELS").unwrap_or_else(|| repo_root().join("models"))
}

/// The Python with the `openai` package: `$SWITCHYARD_PYTHON`, else `<repo>/.venv/bin/python`.
pub fn python() -> PathBuf {
    from_env("SWITCHYARD_PYTHON").unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_older_than_a_source_are_stale() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        std::fs::create_dir_all(root.join("router/src"))?;
        std::fs::write(root.join("router/src/main.rs"), "fn main() {}")?;
        std::fs::write(root.join("Cargo.toml"), "")?;
        let bin = root.join("switchyard-router");
        assert!(!fresh(&[&bin], root), "a missing binary is not fresh");
        std::fs::write(&bin, "")?;
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        let set = |p: &Path, t| -> std::io::Result<()> {
            std::fs::File::options()
                .write(true)
                .open(p)?
                .set_modified(t)
        };
        set(&root.join("router/src/main.rs"), past)?;
        set(&root.join("Cargo.toml"), past)?;
        assert!(fresh(&[&bin], root), "built after every source");
        set(&bin, past - std::time::Duration::from_secs(60))?;
        assert!(!fresh(&[&bin], root), "a source changed after the build");
        Ok(())
    }
}
