//! The format of a learned routing head (`head.onnx`), shared by the trainer that writes it
//! and the router that serves it.
//!
//! A head is an ONNX graph with one input, `embedding` (float32 `[batch, input_dim]`), and
//! one output, `probabilities` (float32 `[batch, candidates]`, sigmoid applied in the graph):
//! per candidate model, the probability that it answers the prompt well. The model's
//! `metadata_props` carry [`HeadMetadata`] as JSON under the key [`HEAD_METADATA_KEY`].
//!
//! Policies name head outputs through `spec.auto.candidates[].headOutput` (default: the
//! endpoint name, then the endpoint's model id). A head whose embedder fingerprint or input
//! dimension does not match the policy's embedder is refused at load.

use serde::{Deserialize, Serialize};

/// `metadata_props` key holding the JSON [`HeadMetadata`].
pub const HEAD_METADATA_KEY: &str = "switchyard.head";
/// Name of the head's input tensor.
pub const HEAD_INPUT: &str = "embedding";
/// Name of the head's output tensor.
pub const HEAD_OUTPUT: &str = "probabilities";
/// Current format version.
pub const HEAD_FORMAT_VERSION: u32 = 1;

/// Metadata stored in a head.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HeadMetadata {
    /// Format version ([`HEAD_FORMAT_VERSION`]).
    pub version: u32,
    /// Output names, in output order (the models of the training data).
    pub candidates: Vec<String>,
    /// Per-candidate probability thresholds calibrated on the validation split.
    pub thresholds: Vec<f64>,
    /// Fingerprint of the embedder the head was trained on (see [`embedder_fingerprint`]).
    pub embedder: String,
    /// Input dimension (embedding width).
    pub input_dim: usize,
    /// Free-form training facts: data hash, row counts, metrics.
    #[serde(default)]
    pub training: serde_json::Value,
}

impl HeadMetadata {
    /// Checks internal consistency.
    pub fn validate(&self) -> Result<(), String> {
        if self.version != HEAD_FORMAT_VERSION {
            return Err(format!(
                "head format version {} is not supported (expected {HEAD_FORMAT_VERSION})",
                self.version
            ));
        }
        if self.candidates.is_empty() {
            return Err("head lists no candidates".to_owned());
        }
        if self.thresholds.len() != self.candidates.len() {
            return Err(format!(
                "head has {} thresholds for {} candidates",
                self.thresholds.len(),
                self.candidates.len()
            ));
        }
        if let Some(t) = self.thresholds.iter().find(|t| !(0.0..=1.0).contains(*t)) {
            return Err(format!("head threshold {t} is outside 0..1"));
        }
        if self.input_dim == 0 {
            return Err("head input dimension is 0".to_owned());
        }
        Ok(())
    }
}

/// Fingerprint of an embedder: its kind and the first 16 hex digits of the SHA-256 of each
/// ONNX file (`text:<hash>` or `clip:<text hash>+<vision hash>`).
pub fn embedder_fingerprint(kind: &str, onnx_files: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let hashes: Vec<String> = onnx_files
        .iter()
        .map(|b| hex::encode(&Sha256::digest(b)[..8]))
        .collect();
    format!("{kind}:{}", hashes.join("+"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> HeadMetadata {
        HeadMetadata {
            version: 1,
            candidates: vec!["a".into(), "b".into()],
            thresholds: vec![0.5, 0.7],
            embedder: embedder_fingerprint("text", &[b"x"]),
            input_dim: 384,
            training: serde_json::Value::Null,
        }
    }

    #[test]
    fn validates_consistency() {
        assert_eq!(meta().validate(), Ok(()));
        let mut m = meta();
        m.thresholds.pop();
        assert!(m.validate().unwrap_err().contains("1 thresholds for 2"));
        let mut m = meta();
        m.thresholds[0] = 1.5;
        assert!(m.validate().is_err());
    }

    #[test]
    fn fingerprint_is_kind_plus_hashes() {
        let f = embedder_fingerprint("clip", &[b"t", b"v"]);
        assert!(f.starts_with("clip:"));
        assert_eq!(f.len(), "clip:".len() + 16 + 1 + 16);
        assert_ne!(f, embedder_fingerprint("clip", &[b"v", b"t"]));
    }
}
