//! `switchyard-docgen`: writes the generated reference pages (`docs/reference/cli.md`,
//! `metrics.md`, `openapi.json`); with `--check`, writes nothing and fails when a committed
//! page differs from what the code generates.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => {
            eprintln!("usage: switchyard-docgen [--check]  (unknown argument {other:?})");
            return ExitCode::from(2);
        }
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let pages = match switchyard_docgen::pages() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("switchyard-docgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stale = 0;
    for (file, text) in pages {
        let path = root.join(file);
        if check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                eprintln!("{file} is stale: run `cargo run -p switchyard-docgen` and commit it");
                stale += 1;
            }
        } else if let Err(e) = write(&path, &text) {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        } else {
            println!("wrote {file}");
        }
    }
    if stale > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}
