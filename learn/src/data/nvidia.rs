//! NVIDIA LLM Router v2 training records, JSONL:
//! `{"prompt": "...", "answer": "...", "images": ["<base64>"], "model_scores": {"m": 0|1}}`.

use std::io::BufRead;
use std::path::Path;

use base64::Engine;
use serde::Deserialize;

use super::{Example, LabelAcc, Parsed, Skipped};
use crate::error::{Error, Result};

#[derive(Deserialize)]
struct Record {
    prompt: Option<String>,
    #[serde(default)]
    images: Vec<String>,
    #[serde(default)]
    model_scores: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Decodes a base64 image, accepting a `data:<mime>;base64,` prefix.
pub(crate) fn decode_image(s: &str) -> std::result::Result<Vec<u8>, String> {
    let payload = match s.strip_prefix("data:") {
        Some(rest) => rest
            .split_once(";base64,")
            .map(|(_, b)| b)
            .ok_or_else(|| "image data URL is not base64".to_owned())?,
        None => s,
    };
    let cleaned: String = payload
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|e| format!("image is not valid base64: {e}"))?;
    if bytes.is_empty() {
        return Err("image is empty".to_owned());
    }
    Ok(bytes)
}

fn score(v: &serde_json::Value) -> std::result::Result<Option<f32>, String> {
    match v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Bool(b) => Ok(Some(if *b { 1.0 } else { 0.0 })),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => Ok(Some(x as f32)),
            _ => Err(format!("score {n} is outside 0..1")),
        },
        serde_json::Value::String(s) => super::parse_label(s),
        other => Err(format!("score {other} is not a number")),
    }
}

pub(crate) fn parse(path: &Path, file: usize) -> Result<Parsed> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut models: Vec<String> = Vec::new();
    let mut rows: Vec<(String, Option<Vec<u8>>, LabelAcc, u64)> = Vec::new();
    let mut skipped = Skipped::default();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let row_err = |message: String| Error::Row {
            path: path.to_path_buf(),
            line: line_no,
            message,
        };
        let rec: Record =
            serde_json::from_str(&line).map_err(|e| row_err(format!("invalid JSON: {e}")))?;
        let image = match rec.images.first() {
            Some(s) => Some(decode_image(s).map_err(&row_err)?),
            None => None,
        };
        for extra in rec.images.iter().skip(1) {
            decode_image(extra).map_err(&row_err)?;
            skipped.extra_images += 1;
        }
        let text = rec.prompt.unwrap_or_default();
        if text.trim().is_empty() && image.is_none() {
            skipped.empty_prompt += 1;
            continue;
        }
        let mut acc = LabelAcc::default();
        let mut any = false;
        for (model, value) in rec.model_scores.iter().flatten() {
            let label = score(value).map_err(|m| row_err(format!("model {model:?}: {m}")))?;
            let Some(label) = label else { continue };
            let m = match models.iter().position(|x| x == model) {
                Some(m) => m,
                None => {
                    models.push(model.clone());
                    models.len() - 1
                }
            };
            acc.add(m, label);
            any = true;
        }
        if !any {
            skipped.no_labels += 1;
            continue;
        }
        rows.push((text, image, acc, line_no));
    }
    let n = models.len();
    let examples = rows
        .into_iter()
        .map(|(text, image, acc, line)| {
            let labels = acc.finish(n);
            skipped.missing_labels += labels.iter().filter(|l| l.is_none()).count();
            Example {
                text,
                image,
                labels,
                file,
                line,
            }
        })
        .collect();
    Ok(Parsed {
        models,
        examples,
        skipped,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plain_and_data_url_base64() {
        assert_eq!(decode_image("aGk=").unwrap(), b"hi");
        assert_eq!(decode_image("data:image/png;base64,aGk=").unwrap(), b"hi");
        assert!(decode_image("not base64!").unwrap_err().contains("base64"));
        assert!(decode_image("data:image/png,xx").is_err());
    }
}
