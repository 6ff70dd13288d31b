//! Writes the CRD YAML files into `crds/` (or the directory given as the first argument) and
//! the field reference into `docs/reference/crds.md` (or the second argument).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args_os().skip(1);
    let dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.clone());
    let reference = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("..").join(switchyard_crds::REFERENCE_DOC));
    for (file, crd) in switchyard_crds::crds() {
        let path = dir.join(file);
        std::fs::write(&path, switchyard_crds::crd_yaml(&crd)?)?;
        println!("wrote {}", path.display());
    }
    if let Some(parent) = reference.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&reference, switchyard_crds::reference_markdown())?;
    println!("wrote {}", reference.display());
    Ok(())
}
