//! Loading side of the learned-head format defined in [`switchyard_crds::head`] (shared with
//! the trainer): reading [`HeadMetadata`] from the ONNX metadata, and computing embedder
//! fingerprints the same way the trainer does.
//!
//! Recap of the format: one input `embedding` (float32 `[batch, input_dim]`), one output
//! `probabilities` (float32 `[batch, candidates]`, sigmoid in the graph), and under the
//! `metadata_props` key `switchyard.head` a JSON object
//! `{"version": 1, "candidates": [...], "thresholds": [...], "embedder": "<fingerprint>",
//! "inputDim": N, "training": {...}}`. The embedder fingerprint is `text:<h>` or
//! `clip:<text h>+<vision h>`, `h` being the first 16 hex digits of the SHA-256 of each ONNX
//! file ([`switchyard_crds::head::embedder_fingerprint`]).
//!
//! Checks at load (all [`crate::Error::Mismatch`] or [`crate::Error::ModelInvalid`], never
//! a panic): the metadata is present, parses and is consistent; the fingerprint and input
//! width match the policy's embedder; the output width equals the number of candidates; every
//! policy candidate maps to a head output (its `headOutput`, else its endpoint name, else the
//! endpoint's model id). Head outputs no candidate uses are ignored.

use std::path::Path;

pub use switchyard_crds::head::{HEAD_FORMAT_VERSION, HEAD_METADATA_KEY, HeadMetadata};

use crate::error::{Error, Result};
use crate::models::file_digest;

/// Parses and validates the head metadata found with `get`.
pub fn parse_metadata(
    describe: &str,
    get: impl Fn(&str) -> Option<String>,
) -> Result<HeadMetadata> {
    let text = get(HEAD_METADATA_KEY).ok_or_else(|| {
        Error::invalid(
            describe,
            format!(
                "not a Switchyard head: ONNX metadata {HEAD_METADATA_KEY:?} is missing (heads \
                 are written by `switchyard-router train`)"
            ),
        )
    })?;
    let meta: HeadMetadata = serde_json::from_str(&text)
        .map_err(|e| Error::invalid(describe, format!("head metadata does not parse: {e}")))?;
    meta.validate()
        .map_err(|e| Error::invalid(describe, format!("head metadata: {e}")))?;
    Ok(meta)
}

/// Embedder fingerprint of ONNX files, streamed from disk; equal to
/// [`switchyard_crds::head::embedder_fingerprint`] over the files' bytes.
pub fn fingerprint_files(kind: &str, files: &[&Path], describe: &str) -> Result<String> {
    let hashes = files
        .iter()
        .map(|f| file_digest(f, describe))
        .collect::<Result<Vec<_>>>()?;
    Ok(format!("{kind}:{}", hashes.join("+")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn streamed_fingerprint_equals_the_shared_definition() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a.onnx");
        let b = tmp.path().join("b.onnx");
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&a, &big).unwrap();
        std::fs::write(&b, b"vision").unwrap();
        let ours = fingerprint_files("clip", &[&a, &b], "t").unwrap();
        let shared = switchyard_crds::head::embedder_fingerprint("clip", &[&big, b"vision"]);
        assert_eq!(ours, shared);
    }

    #[test]
    fn metadata_must_exist_parse_and_be_consistent() {
        let ok = r#"{"version":1,"candidates":["a","b"],"thresholds":[0.4,0.6],
                     "embedder":"text:0011223344556677","inputDim":384}"#;
        let m: HashMap<String, String> = [(HEAD_METADATA_KEY.to_owned(), ok.to_owned())].into();
        let meta = parse_metadata("h", |k| m.get(k).cloned()).unwrap();
        assert_eq!(meta.candidates, vec!["a", "b"]);
        assert_eq!(meta.input_dim, 384);
        let err = parse_metadata("h", |_| None).unwrap_err();
        assert!(err.to_string().contains(HEAD_METADATA_KEY), "{err}");
        let bad = ok.replace("[0.4,0.6]", "[0.4]");
        let err = parse_metadata("h", |_| Some(bad.clone())).unwrap_err();
        assert_eq!(err.category(), "model_invalid");
        let err = parse_metadata("h", |_| Some("{".to_owned())).unwrap_err();
        assert!(err.to_string().contains("does not parse"), "{err}");
    }
}
