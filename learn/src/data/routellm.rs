//! RouteLLM wide CSV: `prompt,<model A>,<model B>,...`, one boolean cell per model.

use std::path::Path;

use super::{Example, Parsed, Skipped, parse_label};
use crate::error::{Error, Result};

pub(crate) fn parse(path: &Path, file: usize) -> Result<Parsed> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| csv_error(path, e))?;
    let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    let prompt_col = headers
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case("prompt"))
        .ok_or_else(|| Error::File {
            path: path.to_path_buf(),
            message: format!(
                "no `prompt` column in header {:?} (routellm format: prompt,<model>,...)",
                headers.iter().collect::<Vec<_>>()
            ),
        })?;
    let mut model_cols = Vec::new();
    let mut models: Vec<String> = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let name = h.trim();
        if i == prompt_col {
            continue;
        }
        if name.is_empty() || name.starts_with("Unnamed:") {
            // A pandas index column; not a model.
            tracing::warn!(file = %path.display(), column = i + 1, "ignoring unnamed column");
            continue;
        }
        if models.iter().any(|m| m == name) {
            return Err(Error::File {
                path: path.to_path_buf(),
                message: format!("model column {name:?} appears twice"),
            });
        }
        model_cols.push(i);
        models.push(name.to_owned());
    }
    if models.is_empty() {
        return Err(Error::File {
            path: path.to_path_buf(),
            message: "no model columns after `prompt`".to_owned(),
        });
    }
    let mut examples = Vec::new();
    let mut skipped = Skipped::default();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let text = record.get(prompt_col).unwrap_or_default();
        let mut labels = Vec::with_capacity(models.len());
        for (&col, model) in model_cols.iter().zip(&models) {
            let cell = record.get(col).unwrap_or_default();
            let label = parse_label(cell).map_err(|m| Error::Row {
                path: path.to_path_buf(),
                line,
                message: format!("column {model:?}: {m}"),
            })?;
            labels.push(label);
        }
        if text.trim().is_empty() {
            skipped.empty_prompt += 1;
            continue;
        }
        let present = labels.iter().filter(|l| l.is_some()).count();
        if present == 0 {
            skipped.no_labels += 1;
            continue;
        }
        skipped.missing_labels += labels.len() - present;
        examples.push(Example {
            text: text.to_owned(),
            image: None,
            labels,
            file,
            line,
        });
    }
    Ok(Parsed {
        models,
        examples,
        skipped,
    })
}

pub(crate) fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line());
    let message = match e.into_kind() {
        csv::ErrorKind::Io(io) => return Error::io(path, io),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("row has {len} fields, the header has {expected_len}"),
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8: {err}"),
        other => format!("{other:?}"),
    };
    match line {
        Some(line) => Error::Row {
            path: path.to_path_buf(),
            line,
            message,
        },
        None => Error::File {
            path: path.to_path_buf(),
            message,
        },
    }
}
