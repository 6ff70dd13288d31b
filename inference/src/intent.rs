//! Intent classification: which route of an `intent` policy a request belongs to.
//!
//! # `embedding` classifier
//!
//! At build, every route's description and examples are embedded once with the text encoder
//! (mean-pooled, L2-normalised, so a dot product is a cosine). A request (its last user turn,
//! see [`crate::text`]) is embedded the same way and each route scores
//!
//! ```text
//! score(route) = 0.7 · max_i cos(request, example_i) + 0.3 · cos(request, description)
//! ```
//!
//! (only the term that exists when a route has no examples or no description; 0 when it has
//! neither). The best example carries most weight because examples are concrete; the
//! description steadies routes with few or narrow examples. Scores are cosines, not
//! probabilities (no softmax): `confidenceFloor` compares against them directly. When the best
//! score is below the floor, the request goes to `defaultRoute`.
//!
//! # `onnx` classifier
//!
//! A supervised text classifier: token inputs (`input_ids`, `attention_mask`, optionally
//! `token_type_ids`), one output `[batch, labels]`. Its labels come from the model's ONNX
//! metadata (`labels`: JSON array, or comma-separated), else `model.json` `labels`, else the
//! policy's `labels`; given in more than one place they must agree. The output is softmaxed
//! unless metadata `output` is `probabilities`. A label maps to the route of the same name or
//! the route listing it in `labels`; a route's score is the sum of its labels' probabilities,
//! and unmapped labels count for no route. Best route below the floor → `defaultRoute`.

use switchyard_crds::config::ResolvedIntent;
use switchyard_crds::policy::ClassifierType;

use crate::encoder::TextEncoder;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::models::ModelRole;
use crate::text::{ClassifyInput, TextPolicy, conversation_text};

/// Weight of the best example in an embedding route score.
pub const EXAMPLE_WEIGHT: f32 = 0.7;
/// Weight of the description in an embedding route score.
pub const DESCRIPTION_WEIGHT: f32 = 0.3;

/// One route's score.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteScore {
    /// Route name.
    pub route: String,
    /// Cosine score (`embedding`) or probability (`onnx`).
    pub score: f64,
}

/// Result of classifying one request.
#[derive(Clone, Debug, PartialEq)]
pub struct IntentScores {
    /// Route to use: the best route, or the default route when below the floor.
    pub route: String,
    /// Score of the best route.
    pub confidence: f64,
    /// Best-scoring route before the floor is applied.
    pub best: String,
    /// Whether the confidence was below the floor (so `route` is the default route).
    pub below_floor: bool,
    /// Every route's score, in declaration order.
    pub scores: Vec<RouteScore>,
}

struct RouteVectors {
    description: Option<Vec<f32>>,
    examples: Vec<Vec<f32>>,
}

enum Classifier {
    Embedding(Vec<RouteVectors>),
    Onnx {
        /// Route index of each label.
        label_routes: Vec<Option<usize>>,
        softmax: bool,
    },
}

/// A built intent classifier for one policy.
pub struct IntentModel {
    encoder: TextEncoder,
    classifier: Classifier,
    routes: Vec<String>,
    default_route: String,
    floor: f64,
}

impl std::fmt::Debug for IntentModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntentModel")
            .field("model", &self.encoder.describe())
            .field("routes", &self.routes)
            .finish()
    }
}

impl IntentModel {
    /// Loads the classifier's model and, for `embedding`, embeds every route's description and
    /// examples. `llm` classifiers are served by the router, not here.
    pub async fn build(engine: &Engine, intent: &ResolvedIntent) -> Result<IntentModel> {
        let c = &intent.classifier;
        let what = "intent classifier";
        let Some(loc) = &c.model else {
            return Err(Error::invalid(what, "no model is configured"));
        };
        let routes: Vec<String> = intent.routes.iter().map(|r| r.name.clone()).collect();
        if !routes.contains(&intent.default_route) {
            return Err(Error::invalid(
                what,
                format!("default route {:?} is not a route", intent.default_route),
            ));
        }
        let (encoder, classifier) = match c.kind {
            ClassifierType::Embedding => {
                let encoder = TextEncoder::load(engine, loc, ModelRole::Text).await?;
                let mut texts = Vec::new();
                for r in &intent.routes {
                    texts.push(r.description.clone());
                    texts.extend(r.examples.iter().cloned());
                }
                let nonempty: Vec<String> = texts
                    .iter()
                    .filter(|t| !t.trim().is_empty())
                    .cloned()
                    .collect();
                let max_batch = engine.settings().max_batch as usize;
                let mut vectors = encoder.embed_many(&nonempty, max_batch).await?.into_iter();
                let mut next = |t: &str| {
                    if t.trim().is_empty() {
                        None
                    } else {
                        vectors.next()
                    }
                };
                let tables = intent
                    .routes
                    .iter()
                    .map(|r| RouteVectors {
                        description: next(&r.description),
                        examples: r.examples.iter().filter_map(|e| next(e)).collect(),
                    })
                    .collect();
                (encoder, Classifier::Embedding(tables))
            }
            ClassifierType::Onnx => {
                let encoder = TextEncoder::load(engine, loc, ModelRole::Classifier).await?;
                let labels = classifier_labels(&encoder, c.labels.as_deref())?;
                let label_routes = labels
                    .iter()
                    .map(|l| {
                        intent
                            .routes
                            .iter()
                            .position(|r| &r.name == l || r.labels.contains(l))
                    })
                    .collect::<Vec<_>>();
                if label_routes.iter().all(Option::is_none) {
                    return Err(Error::mismatch(
                        encoder.describe(),
                        format!(
                            "none of the classifier's labels {labels:?} is a route name or in \
                             a route's labels"
                        ),
                    ));
                }
                if encoder.dim() != labels.len() {
                    return Err(Error::mismatch(
                        encoder.describe(),
                        format!(
                            "the model outputs {} classes but {} labels are given",
                            encoder.dim(),
                            labels.len()
                        ),
                    ));
                }
                let softmax = encoder.metadata("output").as_deref() != Some("probabilities");
                (
                    encoder,
                    Classifier::Onnx {
                        label_routes,
                        softmax,
                    },
                )
            }
            ClassifierType::Llm => {
                return Err(Error::invalid(
                    what,
                    "llm classifiers are served by the router, not the inference engine",
                ));
            }
        };
        Ok(IntentModel {
            encoder,
            classifier,
            routes,
            default_route: intent.default_route.clone(),
            floor: c.confidence_floor,
        })
    }

    /// Route names in declaration order.
    pub fn routes(&self) -> &[String] {
        &self.routes
    }

    /// Classifies a request (its last user turn). [`Error::EmptyInput`] when it has no text.
    pub async fn classify(&self, input: &ClassifyInput) -> Result<IntentScores> {
        let text = conversation_text(input, TextPolicy::LastUserTurn, self.encoder.max_chars())
            .ok_or(Error::EmptyInput)?;
        let output = self.encoder.embed(&text).await?;
        let scores: Vec<f64> = match &self.classifier {
            Classifier::Embedding(tables) => {
                tables.iter().map(|t| route_score(t, &output)).collect()
            }
            Classifier::Onnx {
                label_routes,
                softmax,
            } => {
                let probs = if *softmax {
                    softmax_of(&output)
                } else {
                    output
                };
                let mut scores = vec![0f64; self.routes.len()];
                for (p, route) in probs.iter().zip(label_routes) {
                    if let Some(r) = route {
                        scores[*r] += f64::from(*p);
                    }
                }
                scores
            }
        };
        Ok(self.decide(scores))
    }

    fn decide(&self, scores: Vec<f64>) -> IntentScores {
        let (best_idx, confidence) =
            scores
                .iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |acc, (i, s)| if s > acc.1 { (i, s) } else { acc },
                );
        let best = self.routes.get(best_idx).cloned().unwrap_or_default();
        let below_floor = confidence.is_nan() || confidence < self.floor;
        IntentScores {
            route: if below_floor {
                self.default_route.clone()
            } else {
                best.clone()
            },
            confidence,
            best,
            below_floor,
            scores: self
                .routes
                .iter()
                .zip(scores)
                .map(|(route, score)| RouteScore {
                    route: route.clone(),
                    score,
                })
                .collect(),
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn route_score(t: &RouteVectors, q: &[f32]) -> f64 {
    let example = t
        .examples
        .iter()
        .map(|e| dot(e, q))
        .fold(None, |m: Option<f32>, s| Some(m.map_or(s, |m| m.max(s))));
    let description = t.description.as_ref().map(|d| dot(d, q));
    let s = match (example, description) {
        (Some(e), Some(d)) => EXAMPLE_WEIGHT * e + DESCRIPTION_WEIGHT * d,
        (Some(e), None) => e,
        (None, Some(d)) => d,
        (None, None) => 0.0,
    };
    f64::from(s)
}

fn softmax_of(v: &[f32]) -> Vec<f32> {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = v.iter().map(|x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter()
        .map(|e| e / sum.max(f32::MIN_POSITIVE))
        .collect()
}

/// Parses a label list: a JSON array of strings, or comma-separated names.
pub(crate) fn parse_label_list(text: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(text) {
        Ok(list) => list,
        Err(_) => text
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
    }
}

fn classifier_labels(encoder: &TextEncoder, spec: Option<&[String]>) -> Result<Vec<String>> {
    let sources = [
        (
            "the model's ONNX metadata",
            encoder.metadata("labels").map(|t| parse_label_list(&t)),
        ),
        ("model.json", encoder.files().spec.labels.clone()),
        ("the policy", spec.map(<[String]>::to_vec)),
    ];
    let mut chosen: Option<(&str, Vec<String>)> = None;
    for (place, labels) in sources {
        let Some(labels) = labels else { continue };
        match &chosen {
            None => chosen = Some((place, labels)),
            Some((first, known)) if *known != labels => {
                return Err(Error::mismatch(
                    encoder.describe(),
                    format!(
                        "labels from {first} {known:?} differ from those in {place} {labels:?}"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    chosen.map(|(_, l)| l).ok_or_else(|| {
        Error::invalid(
            encoder.describe(),
            "the classifier has no labels: add `labels` to its ONNX metadata, its model.json \
             or the policy's classifier",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_score_blends_best_example_and_description() {
        let t = RouteVectors {
            description: Some(vec![1.0, 0.0]),
            examples: vec![vec![0.0, 1.0], vec![0.6, 0.8]],
        };
        let q = [0.6f32, 0.8];
        // best example: cos 1.0; description: 0.6
        let want = f64::from(EXAMPLE_WEIGHT * 1.0 + DESCRIPTION_WEIGHT * 0.6);
        assert!((route_score(&t, &q) - want).abs() < 1e-6);
        let none = RouteVectors {
            description: None,
            examples: vec![],
        };
        assert_eq!(route_score(&none, &q), 0.0);
    }

    #[test]
    fn labels_parse_as_json_or_commas() {
        assert_eq!(parse_label_list(r#"["a","b c"]"#), vec!["a", "b c"]);
        assert_eq!(parse_label_list("a, b ,,c"), vec!["a", "b", "c"]);
        let p = softmax_of(&[1.0, 1.0, 1.0, 1.0]);
        assert!(p.iter().all(|x| (x - 0.25).abs() < 1e-6));
    }
}
