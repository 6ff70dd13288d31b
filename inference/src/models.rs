//! Finding a model's files from a [`ModelLocation`] and reading its `model.json`.
//!
//! Layout of a built-in model `<models_dir>/<name>/`:
//!
//! ```text
//! model.onnx        the graph (single-tower models)
//! tokenizer.json    Hugging Face tokenizer (text models)
//! model.json        description, all fields optional:
//!   {"name": "minilm-l6-v2-int8",
//!    "kind": "text-encoder",           free text (text-encoder, classifier, head, clip)
//!    "dim": 384, "maxLength": 256,     output width, longest token sequence
//!    "pooling": "mean",                mean | cls | none (output already pooled)
//!    "normalize": true,                L2-normalise the output rows
//!    "padToMaxLength": false,          pad every sequence to maxLength (CLIP text)
//!    "inputs": [...], "output": "...", names; default: the graph's inputs, its first output
//!    "labels": [...],                  classifier labels (else ONNX metadata or the spec)
//!    "text":   {"file": "text.onnx", ...same fields...},    two-tower models (CLIP):
//!    "vision": {"file": "vision.onnx", "imageSize": 224, ...}}
//! ```
//!
//! A CLIP model is one directory with both towers; a location naming it (built-in or the path
//! of either file) picks the tower by the role it is loaded for. A `path` location points at
//! the ONNX file itself; a `model.json` next to it is used when present, and the tokenizer is
//! the location's `tokenizer` or `tokenizer.json` next to the file.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use switchyard_crds::config::ModelLocation;

use crate::error::{Error, Result};

/// What a model is loaded for; picks the tower of a two-tower directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelRole {
    /// A text encoder or a CLIP text tower.
    Text,
    /// A CLIP vision tower.
    Vision,
    /// A supervised text classifier.
    Classifier,
    /// An auto-routing head.
    Head,
}

impl ModelRole {
    fn needs_tokenizer(self) -> bool {
        matches!(self, Self::Text | Self::Classifier)
    }
}

/// Pooling of a token-level output into one vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over tokens, weighted by the attention mask.
    #[default]
    Mean,
    /// The first token.
    Cls,
    /// The output is already one vector per input.
    None,
}

/// Settings of one tower, from `model.json` (top level or `text`/`vision`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TowerSpec {
    /// ONNX file name inside the directory.
    pub file: Option<String>,
    /// Tokenizer file name inside the directory.
    pub tokenizer: Option<String>,
    /// Output width.
    pub dim: Option<usize>,
    /// Longest token sequence.
    pub max_length: Option<usize>,
    /// Pooling of token-level outputs.
    pub pooling: Option<Pooling>,
    /// L2-normalise output rows.
    pub normalize: Option<bool>,
    /// Pad every sequence to `max_length`.
    pub pad_to_max_length: Option<bool>,
    /// Input names.
    pub inputs: Option<Vec<String>>,
    /// Output name.
    pub output: Option<String>,
    /// Classifier labels.
    pub labels: Option<Vec<String>>,
    /// Square input size of a vision tower.
    pub image_size: Option<u32>,
}

impl TowerSpec {
    fn or(self, fallback: &TowerSpec) -> TowerSpec {
        let f = fallback.clone();
        TowerSpec {
            file: self.file,
            tokenizer: self.tokenizer.or(f.tokenizer),
            dim: self.dim.or(f.dim),
            max_length: self.max_length.or(f.max_length),
            pooling: self.pooling.or(f.pooling),
            normalize: self.normalize.or(f.normalize),
            pad_to_max_length: self.pad_to_max_length.or(f.pad_to_max_length),
            inputs: self.inputs,
            output: self.output,
            labels: self.labels.or(f.labels),
            image_size: self.image_size.or(f.image_size),
        }
    }
}

/// The parsed `model.json`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelManifest {
    /// Model name.
    pub name: Option<String>,
    /// Free-text kind.
    pub kind: Option<String>,
    /// Single-tower settings (also defaults for the towers).
    #[serde(flatten)]
    pub main: TowerSpec,
    /// Text tower of a two-tower model.
    pub text: Option<TowerSpec>,
    /// Vision tower of a two-tower model.
    pub vision: Option<TowerSpec>,
}

/// A model's files, found.
#[derive(Clone, Debug)]
pub struct ModelFiles {
    /// Human-readable description for messages (`built-in model "x"`, `model file "p"`).
    pub describe: String,
    /// The ONNX graph.
    pub onnx: PathBuf,
    /// The tokenizer, for text roles.
    pub tokenizer: Option<PathBuf>,
    /// Settings of the tower loaded.
    pub spec: TowerSpec,
}

/// Finds the files of `loc` for `role`. Fails with [`Error::ModelNotFound`] when a file is
/// missing and [`Error::ModelInvalid`] when `model.json` does not parse.
pub fn locate(loc: &ModelLocation, models_dir: &Path, role: ModelRole) -> Result<ModelFiles> {
    let describe = loc.describe();
    let (dir, explicit_onnx, hint) = match (&loc.builtin, &loc.path) {
        (Some(name), _) => {
            if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                return Err(Error::invalid(&describe, "not a valid built-in model name"));
            }
            let dir = models_dir.join(name);
            let hint = if name.starts_with("clip") {
                "; export CLIP with scripts/models/export_clip.py (see scripts/models/README.md)"
            } else {
                "; run scripts/setup.sh (it assembles the built-in models) or set \
                 SWITCHYARD_MODELS / --models to the models directory"
            };
            (dir, None, hint.to_owned())
        }
        (None, Some(path)) => {
            let onnx = PathBuf::from(path);
            let dir = onnx
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            (dir, Some(onnx), String::new())
        }
        (None, None) => return Err(Error::invalid(&describe, "neither builtin nor path is set")),
    };
    let manifest_path = dir.join("model.json");
    let manifest = if manifest_path.is_file() {
        read_manifest(&manifest_path, &describe)?
    } else if loc.builtin.is_some() {
        if !dir.is_dir() {
            return Err(Error::ModelNotFound {
                model: describe,
                path: dir,
                hint,
            });
        }
        ModelManifest::default()
    } else {
        ModelManifest::default()
    };
    let spec = match role {
        ModelRole::Text => match &manifest.text {
            Some(t) => t.clone().or(&manifest.main),
            None => manifest.main.clone(),
        },
        ModelRole::Vision => match &manifest.vision {
            Some(v) => v.clone().or(&manifest.main),
            None => manifest.main.clone(),
        },
        ModelRole::Classifier | ModelRole::Head => manifest.main.clone(),
    };
    let onnx =
        explicit_onnx.unwrap_or_else(|| dir.join(spec.file.as_deref().unwrap_or("model.onnx")));
    if !onnx.is_file() {
        return Err(Error::ModelNotFound {
            model: describe,
            path: onnx,
            hint,
        });
    }
    let tokenizer = if role.needs_tokenizer() {
        let t = match (&loc.tokenizer, &spec.tokenizer) {
            (Some(t), _) => PathBuf::from(t),
            (None, Some(name)) => dir.join(name),
            (None, None) => dir.join("tokenizer.json"),
        };
        if !t.is_file() {
            return Err(Error::ModelNotFound {
                model: describe,
                path: t,
                hint: if hint.is_empty() {
                    "; give the tokenizer's path in the model source".to_owned()
                } else {
                    hint
                },
            });
        }
        Some(t)
    } else {
        None
    };
    Ok(ModelFiles {
        describe,
        onnx,
        tokenizer,
        spec,
    })
}

fn read_manifest(path: &Path, describe: &str) -> Result<ModelManifest> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid(describe, format!("cannot read {path:?}: {e}")))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::invalid(describe, format!("{path:?} is not a valid model.json: {e}")))
}

/// First 16 hex digits of the SHA-256 of a file.
pub(crate) fn file_digest(path: &Path, describe: &str) -> Result<String> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| Error::invalid(describe, format!("cannot open {path:?}: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::invalid(describe, format!("cannot read {path:?}: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(&hasher.finalize()[..8]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn builtin_missing_dir_says_how_to_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let err = locate(
            &ModelLocation::builtin("minilm-l6-v2-int8"),
            tmp.path(),
            ModelRole::Text,
        )
        .unwrap_err();
        assert_eq!(err.category(), "model_not_found");
        assert!(err.to_string().contains("scripts/setup.sh"), "{err}");
    }

    #[test]
    fn two_tower_dir_picks_the_tower_by_role() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("clip-x");
        std::fs::create_dir(&d).unwrap();
        write(&d, "text.onnx", "x");
        write(&d, "vision.onnx", "x");
        write(&d, "tokenizer.json", "{}");
        write(
            &d,
            "model.json",
            r#"{"name": "clip-x", "normalize": true,
                "text": {"file": "text.onnx", "maxLength": 77, "dim": 512},
                "vision": {"file": "vision.onnx", "dim": 512}}"#,
        );
        let loc = ModelLocation::builtin("clip-x");
        let t = locate(&loc, tmp.path(), ModelRole::Text).unwrap();
        assert_eq!(t.onnx, d.join("text.onnx"));
        assert_eq!(
            t.tokenizer.as_deref(),
            Some(d.join("tokenizer.json").as_path())
        );
        assert_eq!(t.spec.max_length, Some(77));
        assert_eq!(t.spec.normalize, Some(true));
        let v = locate(&loc, tmp.path(), ModelRole::Vision).unwrap();
        assert_eq!(v.onnx, d.join("vision.onnx"));
        assert!(v.tokenizer.is_none());
    }

    #[test]
    fn path_locations_point_at_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "head.onnx", "bytes");
        let loc = ModelLocation {
            builtin: None,
            path: Some(tmp.path().join("head.onnx").display().to_string()),
            tokenizer: None,
        };
        let f = locate(&loc, Path::new("/nonexistent"), ModelRole::Head).unwrap();
        assert_eq!(f.onnx, tmp.path().join("head.onnx"));
        assert_eq!(f.spec, TowerSpec::default());
        let missing = ModelLocation {
            path: Some(tmp.path().join("nope.onnx").display().to_string()),
            ..loc
        };
        let err = locate(&missing, Path::new("/x"), ModelRole::Head).unwrap_err();
        assert_eq!(err.category(), "model_not_found");
    }

    #[test]
    fn bad_manifest_is_invalid_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("m");
        std::fs::create_dir(&d).unwrap();
        write(&d, "model.json", "{not json");
        let err = locate(&ModelLocation::builtin("m"), tmp.path(), ModelRole::Head).unwrap_err();
        assert_eq!(err.category(), "model_invalid");
        let err = locate(&ModelLocation::builtin("../m"), tmp.path(), ModelRole::Head).unwrap_err();
        assert_eq!(err.category(), "model_invalid");
    }
}
