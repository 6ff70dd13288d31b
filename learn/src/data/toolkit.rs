//! NVIDIA Model Router Toolkit long CSV: `question,model,isCorrect,output_tokens`, one row per
//! (question, model); rows are pivoted into one prompt per distinct question.

use std::collections::HashMap;
use std::path::Path;

use super::routellm::csv_error;
use super::{Example, LabelAcc, Parsed, Skipped, parse_label};
use crate::error::{Error, Result};

pub(crate) fn parse(path: &Path, file: usize) -> Result<Parsed> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| csv_error(path, e))?;
    let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::File {
                path: path.to_path_buf(),
                message: format!(
                    "no `{name}` column in header {:?} (toolkit format: \
                     question,model,isCorrect,output_tokens)",
                    headers.iter().collect::<Vec<_>>()
                ),
            })
    };
    let (q_col, m_col, c_col) = (col("question")?, col("model")?, col("isCorrect")?);
    let mut models: Vec<String> = Vec::new();
    let mut order: Vec<String> = Vec::new();
    let mut by_question: HashMap<String, (LabelAcc, u64)> = HashMap::new();
    let mut skipped = Skipped::default();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let question = record.get(q_col).unwrap_or_default();
        let model = record.get(m_col).unwrap_or_default().trim();
        let label = parse_label(record.get(c_col).unwrap_or_default()).map_err(|m| Error::Row {
            path: path.to_path_buf(),
            line,
            message: format!("isCorrect: {m}"),
        })?;
        if model.is_empty() {
            return Err(Error::Row {
                path: path.to_path_buf(),
                line,
                message: "empty model name".to_owned(),
            });
        }
        if question.trim().is_empty() {
            skipped.empty_prompt += 1;
            continue;
        }
        let Some(label) = label else {
            skipped.missing_labels += 1;
            continue;
        };
        let m = match models.iter().position(|x| x == model) {
            Some(m) => m,
            None => {
                models.push(model.to_owned());
                models.len() - 1
            }
        };
        let entry = by_question.entry(question.to_owned()).or_insert_with(|| {
            order.push(question.to_owned());
            (LabelAcc::default(), line)
        });
        if entry.0.add(m, label) {
            skipped.duplicate_labels += 1;
        }
    }
    let n = models.len();
    let mut examples = Vec::with_capacity(order.len());
    for q in order {
        let Some((acc, line)) = by_question.remove(&q) else {
            continue;
        };
        let labels = acc.finish(n);
        skipped.missing_labels += labels.iter().filter(|l| l.is_none()).count();
        examples.push(Example {
            text: q,
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
