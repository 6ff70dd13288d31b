//! Labelled routing data: prompts (optionally with an image) and, per model, whether it
//! answered well. Three input formats are read into one [`Dataset`].

mod nvidia;
mod routellm;
mod toolkit;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Input format of a data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Wide CSV `prompt,<model A>,<model B>,...` with `True`/`False` cells (RouteLLM evals).
    Routellm,
    /// JSONL `{prompt, images: [base64], model_scores: {model: 0|1}}` (NVIDIA LLM Router v2).
    Nvidia,
    /// Long CSV `question,model,isCorrect,output_tokens` (NVIDIA Model Router Toolkit).
    Toolkit,
}

/// One prompt with its per-model labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// Prompt text.
    pub text: String,
    /// First image of the prompt (encoded bytes), if any.
    pub image: Option<Vec<u8>>,
    /// Per model of [`Dataset::models`]: probability of a good answer (0 or 1 for binary
    /// labels), `None` when the data says nothing about that model.
    pub labels: Vec<Option<f32>>,
    /// Index into [`Dataset::files`] of the file the prompt came from.
    pub file: usize,
    /// 1-based line of the prompt in that file.
    pub line: u64,
}

/// Counts of rows that were skipped or only partly used, reported as warnings.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    /// Rows without prompt text.
    pub empty_prompt: usize,
    /// Rows without any label.
    pub no_labels: usize,
    /// Missing (model, prompt) labels; the row is kept, the label ignored.
    pub missing_labels: usize,
    /// Repeated (prompt, model) labels that were averaged (long formats).
    pub duplicate_labels: usize,
    /// Images beyond the first of a prompt (only the first is embedded).
    pub extra_images: usize,
}

impl Skipped {
    fn add(&mut self, other: &Skipped) {
        self.empty_prompt += other.empty_prompt;
        self.no_labels += other.no_labels;
        self.missing_labels += other.missing_labels;
        self.duplicate_labels += other.duplicate_labels;
        self.extra_images += other.extra_images;
    }

    /// Whether nothing was skipped.
    pub fn is_empty(&self) -> bool {
        *self == Skipped::default()
    }
}

/// The non-zero counts in words, e.g. `3 rows with an empty prompt, 1 missing label`.
impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts = [
            (
                self.empty_prompt,
                "row with an empty prompt",
                "rows with an empty prompt",
            ),
            (self.no_labels, "row without labels", "rows without labels"),
            (self.missing_labels, "missing label", "missing labels"),
            (
                self.duplicate_labels,
                "duplicate label (averaged)",
                "duplicate labels (averaged)",
            ),
            (
                self.extra_images,
                "extra image (only the first is used)",
                "extra images (only the first is used)",
            ),
        ];
        let mut first = true;
        for (n, one, many) in parts {
            if n == 0 {
                continue;
            }
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{n} {}", if n == 1 { one } else { many })?;
        }
        if first {
            f.write_str("nothing")?;
        }
        Ok(())
    }
}

/// A labelled data set read from one or more files of one format.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    /// Model names, in label order.
    pub models: Vec<String>,
    /// The prompts.
    pub examples: Vec<Example>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// What was skipped while reading.
    pub skipped: Skipped,
}

/// What one file parser returns: model names and examples labelled in that order.
pub(crate) struct Parsed {
    pub models: Vec<String>,
    pub examples: Vec<Example>,
    pub skipped: Skipped,
}

impl Dataset {
    /// Reads and merges `paths` in `format`. Models are the union over files (in order of
    /// first appearance); a prompt says nothing about models its file does not mention.
    pub fn load(paths: &[PathBuf], format: Format) -> Result<Self> {
        if paths.is_empty() {
            return Err(Error::Args("no data files given".to_owned()));
        }
        let mut set = Dataset::default();
        for (file, path) in paths.iter().enumerate() {
            let parsed = match format {
                Format::Routellm => routellm::parse(path, file)?,
                Format::Nvidia => nvidia::parse(path, file)?,
                Format::Toolkit => toolkit::parse(path, file)?,
            };
            set.merge(path, parsed);
        }
        if !set.skipped.is_empty() {
            tracing::warn!(skipped = ?set.skipped, "some data rows were skipped or partly used");
        }
        if set.examples.is_empty() {
            return Err(Error::Dataset(format!(
                "no usable prompts in {} file(s) (skipped: {:?})",
                paths.len(),
                set.skipped
            )));
        }
        Ok(set)
    }

    fn merge(&mut self, path: &Path, parsed: Parsed) {
        self.files.push(path.to_path_buf());
        self.skipped.add(&parsed.skipped);
        let mut index = Vec::with_capacity(parsed.models.len());
        for model in &parsed.models {
            let i = match self.models.iter().position(|m| m == model) {
                Some(i) => i,
                None => {
                    self.models.push(model.clone());
                    for ex in &mut self.examples {
                        ex.labels.push(None);
                    }
                    self.models.len() - 1
                }
            };
            index.push(i);
        }
        for mut ex in parsed.examples {
            let mut labels = vec![None; self.models.len()];
            for (j, label) in ex.labels.drain(..).enumerate() {
                labels[index[j]] = label;
            }
            ex.labels = labels;
            self.examples.push(ex);
        }
    }

    /// Where an example came from, as `file:line`.
    pub fn origin(&self, example: &Example) -> String {
        format!(
            "{}:{}",
            self.files
                .get(example.file)
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            example.line
        )
    }

    /// Per model: number of labelled prompts and mean label (accuracy).
    pub fn label_stats(&self) -> Vec<(usize, f64)> {
        (0..self.models.len())
            .map(|m| {
                let (n, sum) = self
                    .examples
                    .iter()
                    .filter_map(|e| e.labels[m])
                    .fold((0usize, 0f64), |(n, s), v| (n + 1, s + f64::from(v)));
                (n, if n == 0 { 0.0 } else { sum / n as f64 })
            })
            .collect()
    }

    /// Fails when a model has no labels or only one class (nothing to learn from).
    pub fn check_trainable(&self) -> Result<()> {
        for (m, (model, (n, mean))) in self.models.iter().zip(self.label_stats()).enumerate() {
            if n == 0 {
                return Err(Error::Dataset(format!("model {model:?} has no labels")));
            }
            let all_same = self
                .examples
                .iter()
                .filter_map(|e| e.labels[m])
                .all(|v| (f64::from(v) - mean).abs() < 1e-6);
            if all_same {
                return Err(Error::Dataset(format!(
                    "model {model:?} has the same label ({mean}) on all {n} prompts: a single \
                     class gives the head nothing to learn"
                )));
            }
        }
        Ok(())
    }

    /// Keeps the models named in `keep` (in that order); fails on a name the data lacks.
    pub fn select_models(&mut self, keep: &[String]) -> Result<()> {
        let index: Vec<usize> = keep
            .iter()
            .map(|k| {
                self.models.iter().position(|m| m == k).ok_or_else(|| {
                    Error::Dataset(format!(
                        "model {k:?} is not in the data (models: {})",
                        self.models.join(", ")
                    ))
                })
            })
            .collect::<Result<_>>()?;
        for ex in &mut self.examples {
            ex.labels = index.iter().map(|&i| ex.labels[i]).collect();
        }
        self.models = keep.to_vec();
        self.examples
            .retain(|e| e.labels.iter().any(Option::is_some));
        Ok(())
    }

    /// File stem of each file (used as the group for group-wise splits).
    pub fn file_stems(&self) -> Vec<String> {
        self.files
            .iter()
            .map(|p| {
                p.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// Parses a label cell: booleans (`True`/`False`, any case), `1`/`0`, or a score in 0..1.
/// Empty means missing.
pub(crate) fn parse_label(cell: &str) -> std::result::Result<Option<f32>, String> {
    let c = cell.trim();
    if c.is_empty() || c.eq_ignore_ascii_case("nan") || c.eq_ignore_ascii_case("null") {
        return Ok(None);
    }
    if c.eq_ignore_ascii_case("true") {
        return Ok(Some(1.0));
    }
    if c.eq_ignore_ascii_case("false") {
        return Ok(Some(0.0));
    }
    match c.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(Some(v)),
        Ok(v) => Err(format!("label {v} is outside 0..1")),
        Err(_) => Err(format!(
            "label {c:?} is not True/False, 0/1 or a score in 0..1"
        )),
    }
}

/// Folds repeated labels of one (prompt, model) pair into their mean.
#[derive(Default)]
pub(crate) struct LabelAcc {
    sums: HashMap<usize, (f32, u32)>,
}

impl LabelAcc {
    /// Adds a label for model `m`; returns true when it repeats an earlier one.
    pub fn add(&mut self, m: usize, v: f32) -> bool {
        let e = self.sums.entry(m).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
        e.1 > 1
    }

    /// Mean labels over `n` models.
    pub fn finish(&self, n: usize) -> Vec<Option<f32>> {
        (0..n)
            .map(|m| self.sums.get(&m).map(|(s, c)| s / *c as f32))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels() {
        assert_eq!(parse_label("True"), Ok(Some(1.0)));
        assert_eq!(parse_label(" false "), Ok(Some(0.0)));
        assert_eq!(parse_label("0.25"), Ok(Some(0.25)));
        assert_eq!(parse_label(""), Ok(None));
        assert!(parse_label("maybe").unwrap_err().contains("maybe"));
        assert!(parse_label("2").unwrap_err().contains("outside"));
    }

    #[test]
    fn skipped_counts_read_as_words() {
        assert_eq!(Skipped::default().to_string(), "nothing");
        let s = Skipped {
            empty_prompt: 3,
            missing_labels: 1,
            extra_images: 2,
            ..Skipped::default()
        };
        assert_eq!(
            s.to_string(),
            "3 rows with an empty prompt, 1 missing label, 2 extra images (only the first is used)"
        );
    }
}
