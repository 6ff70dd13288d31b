//! Loading a written head the way the router does: ONNX Runtime session plus the
//! [`HeadMetadata`] stored in the file.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2};
use ort::session::Session;
use ort::value::Tensor;
use switchyard_crds::head::{HEAD_INPUT, HEAD_METADATA_KEY, HEAD_OUTPUT, HeadMetadata};

use crate::error::{Error, Result};
use crate::onnx::metadata_from_bytes;
use crate::runtime::session_from_memory;

/// File name of a head inside its directory.
pub const HEAD_FILE: &str = "head.onnx";

/// `DIR/head.onnx` for a directory, the path itself for a file.
pub fn head_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(HEAD_FILE)
    } else {
        path.to_path_buf()
    }
}

/// A head loaded in ONNX Runtime.
pub struct LoadedHead {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its metadata.
    pub meta: HeadMetadata,
    session: Session,
}

impl LoadedHead {
    /// Loads `path` (a head file or a directory holding `head.onnx`).
    pub fn open(path: &Path) -> Result<Self> {
        let path = head_path(path);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let head_err = |message: String| Error::Head {
            path: path.clone(),
            message,
        };
        let meta = metadata_from_bytes(&bytes).map_err(head_err)?;
        let session = session_from_memory(&bytes, 1, "head")?;
        // The runtime must see the same metadata the router will read.
        let seen = session
            .metadata()
            .map_err(|e| Error::ort("reading head metadata", e))?
            .custom(HEAD_METADATA_KEY);
        if seen
            .as_deref()
            .map(serde_json::from_str::<HeadMetadata>)
            .and_then(|r| r.ok())
            != Some(meta.clone())
        {
            return Err(head_err(
                "ONNX Runtime reads different metadata than the file holds".to_owned(),
            ));
        }
        let has =
            |outlets: &[ort::value::Outlet], name: &str| outlets.iter().any(|o| o.name() == name);
        if !has(session.inputs(), HEAD_INPUT) || !has(session.outputs(), HEAD_OUTPUT) {
            return Err(head_err(format!(
                "graph must take `{HEAD_INPUT}` and produce `{HEAD_OUTPUT}`"
            )));
        }
        Ok(Self {
            path,
            meta,
            session,
        })
    }

    /// Probabilities `[n, candidates]` for embeddings `[n, input_dim]`.
    pub fn predict(&mut self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let (n, d) = x.dim();
        let k = self.meta.candidates.len();
        if d != self.meta.input_dim {
            return Err(Error::Head {
                path: self.path.clone(),
                message: format!("head takes {} inputs, got {d}", self.meta.input_dim),
            });
        }
        let mut out = Array2::zeros((n, k));
        let rows: Vec<usize> = (0..n).collect();
        for chunk in rows.chunks(1024) {
            let (lo, hi) = (chunk[0], chunk[chunk.len() - 1] + 1);
            let data: Vec<f32> = x
                .slice_axis(ndarray::Axis(0), ndarray::Slice::from(lo..hi))
                .iter()
                .copied()
                .collect();
            let input = Tensor::from_array(([hi - lo, d], data))
                .map_err(|e| Error::ort("head input", e))?;
            let outputs = self
                .session
                .run(ort::inputs![HEAD_INPUT => input])
                .map_err(|e| Error::ort("running head", e))?;
            let (shape, probs) = outputs[HEAD_OUTPUT]
                .try_extract_tensor::<f32>()
                .map_err(|e| Error::ort("reading head output", e))?;
            if shape.iter().copied().collect::<Vec<i64>>() != [(hi - lo) as i64, k as i64] {
                return Err(Error::Head {
                    path: self.path.clone(),
                    message: format!("output shape {shape:?}, expected [{}, {k}]", hi - lo),
                });
            }
            for (r, row) in probs.chunks_exact(k).enumerate() {
                for (c, v) in row.iter().enumerate() {
                    out[[lo + r, c]] = *v;
                }
            }
        }
        Ok(out)
    }
}
