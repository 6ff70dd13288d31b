//! TEST DOUBLES for the ONNX classifiers (compiled only for tests and the `testing` feature).
//!
//! Router tests that are about decisions, fallbacks, proxying, hot reload or metrics use these
//! so that they do not depend on model files or inference timing. They are deliberately
//! simple and are **not** models; production uses [`super::onnx`]:
//! - [`KeywordIntent`] stands in for the `embedding` and `onnx` intent classifiers: it scores
//!   each route by the share of the request's words (last user turn, stop words removed) that
//!   occur in the route's name, description and examples.
//! - [`LengthAuto`] stands in for the `auto` head: it predicts a higher probability of a good
//!   answer for more expensive candidates, and lowers the cheaper candidates' probability as
//!   the conversation gets longer.

use std::collections::BTreeSet;

use futures::FutureExt;
use futures::future::BoxFuture;
use switchyard_crds::config::{ResolvedAuto, ResolvedIntent, RouterConfig};

use super::{AutoScores, Classification, ClassifyError, ClassifyInput, IntentScores};
use super::{PolicyClassifier, Turn};

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "for", "from", "how", "i", "in",
    "is", "it", "me", "my", "of", "on", "or", "please", "that", "the", "this", "to", "was", "what",
    "with", "you", "your",
];

fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect()
}

/// PLACEHOLDER intent classifier: keyword overlap with each route's name, description and
/// examples. Confidence is the share of the request's words found in the best route.
#[derive(Clone, Debug)]
pub struct KeywordIntent {
    routes: Vec<(String, BTreeSet<String>)>,
}

impl KeywordIntent {
    /// Builds the vocabulary of every route.
    pub fn new(intent: &ResolvedIntent) -> Self {
        let routes = intent
            .routes
            .iter()
            .map(|r| {
                let mut text = r.name.replace(['_', '-', '.'], " ");
                text.push(' ');
                text.push_str(&r.description);
                for e in r.examples.iter().chain(&r.labels) {
                    text.push(' ');
                    text.push_str(e);
                }
                (r.name.clone(), words(&text))
            })
            .collect();
        Self { routes }
    }

    /// Scores a text (synchronous; the trait wraps it).
    pub fn score(&self, text: &str) -> IntentScores {
        let query = words(text);
        let scores: Vec<(String, f64)> = self
            .routes
            .iter()
            .map(|(name, vocab)| {
                let hits = query.iter().filter(|w| vocab.contains(*w)).count();
                let score = if query.is_empty() {
                    0.0
                } else {
                    hits as f64 / query.len() as f64
                };
                (name.clone(), score)
            })
            .collect();
        let (route, confidence) = scores
            .iter()
            .fold(None::<&(String, f64)>, |best, s| match best {
                Some(b) if b.1 >= s.1 => Some(b),
                _ => Some(s),
            })
            .map(|(n, s)| (n.clone(), *s))
            .unwrap_or_default();
        IntentScores {
            route,
            confidence,
            scores,
        }
    }
}

impl PolicyClassifier for KeywordIntent {
    fn engine(&self) -> &'static str {
        "placeholder-keyword"
    }

    fn warm_up(&self) -> BoxFuture<'_, Result<(), ClassifyError>> {
        async { Ok(()) }.boxed()
    }

    fn classify<'a>(
        &'a self,
        input: &'a ClassifyInput,
    ) -> BoxFuture<'a, Result<Classification, ClassifyError>> {
        let scores = self.score(input.last_user_text());
        async move { Ok(Classification::Intent(scores)) }.boxed()
    }
}

/// PLACEHOLDER auto head: probabilities from price rank and conversation length.
#[derive(Clone, Debug)]
pub struct LengthAuto {
    /// `(endpoint, price rank in 0..=1)`, 1 = most expensive.
    candidates: Vec<(String, f64)>,
}

impl LengthAuto {
    /// Ranks the candidates by blended price.
    pub fn new(auto: &ResolvedAuto, config: &RouterConfig) -> Self {
        let price = |name: &str| config.endpoint(name).map_or(0.0, |e| e.cost.blended());
        let mut prices: Vec<f64> = auto.candidates.iter().map(|c| price(&c.endpoint)).collect();
        prices.sort_by(f64::total_cmp);
        prices.dedup();
        let span = prices.len().saturating_sub(1).max(1) as f64;
        let candidates = auto
            .candidates
            .iter()
            .map(|c| {
                let p = price(&c.endpoint);
                let rank = prices.iter().position(|x| *x == p).unwrap_or(0) as f64 / span;
                (c.endpoint.clone(), rank)
            })
            .collect();
        Self { candidates }
    }

    /// Scores a conversation (synchronous; the trait wraps it).
    pub fn score(&self, turns: &[Turn]) -> AutoScores {
        let chars: usize = turns.iter().map(|t| t.text.chars().count()).sum();
        // Longer conversations are "harder": up to -0.4 for the cheapest candidate at 2000 chars.
        let hardness = (chars as f64 / 2000.0).min(1.0) * 0.4;
        let probabilities = self
            .candidates
            .iter()
            .map(|(name, rank)| {
                let p = 0.55 + 0.4 * rank - hardness * (1.0 - rank);
                (name.clone(), p.clamp(0.0, 1.0))
            })
            .collect();
        AutoScores {
            probabilities,
            thresholds: Vec::new(),
        }
    }
}

impl PolicyClassifier for LengthAuto {
    fn engine(&self) -> &'static str {
        "placeholder-length"
    }

    fn warm_up(&self) -> BoxFuture<'_, Result<(), ClassifyError>> {
        async { Ok(()) }.boxed()
    }

    fn classify<'a>(
        &'a self,
        input: &'a ClassifyInput,
    ) -> BoxFuture<'a, Result<Classification, ClassifyError>> {
        let scores = self.score(&input.turns);
        async move { Ok(Classification::Auto(scores)) }.boxed()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use switchyard_crds::config::{ResolvedClassifier, ResolvedRoute};
    use switchyard_crds::policy::ClassifierType;

    fn route(name: &str, description: &str, examples: &[&str]) -> ResolvedRoute {
        ResolvedRoute {
            name: name.into(),
            description: description.into(),
            examples: examples.iter().map(|s| s.to_string()).collect(),
            endpoints: vec!["e".into()],
            labels: vec![],
            images: false,
        }
    }

    #[test]
    fn keyword_overlap_picks_the_matching_route() {
        let intent = ResolvedIntent {
            classifier: ResolvedClassifier {
                kind: ClassifierType::Embedding,
                model: None,
                endpoint: None,
                labels: None,
                confidence_floor: 0.3,
                timeout_ms: 1000,
                prompt: None,
            },
            routes: vec![
                route(
                    "chit_chat",
                    "Casual conversation and greetings",
                    &["Tell me a joke"],
                ),
                route(
                    "code",
                    "Writing or debugging source code",
                    &["Write a Python function"],
                ),
            ],
            default_route: "chit_chat".into(),
        };
        let k = KeywordIntent::new(&intent);
        let s = k.score("Write a Rust function that sorts");
        assert_eq!(s.route, "code");
        assert!(s.confidence > 0.3, "{s:?}");
        assert_eq!(s.scores.len(), 2);
        let s = k.score("tell me a joke");
        assert_eq!(s.route, "chit_chat");
        let s = k.score("");
        assert_eq!(s.confidence, 0.0);
    }

    #[test]
    fn length_auto_favours_expensive_candidates_for_long_prompts() {
        use switchyard_crds::config::{ModelLocation, ResolvedCandidate};
        let mut config = RouterConfig::empty();
        for (name, price) in [("cheap", 1.0), ("strong", 9.0)] {
            let ep: switchyard_crds::config::ResolvedEndpoint = serde_json::from_value(
                serde_json::json!({"name": name, "namespace": "d", "model": name,
                    "provider": "openai-compatible", "baseURL": "http://x/v1",
                    "capabilities": {}, "cost": {"inputPerMillionTokens": price,
                    "outputPerMillionTokens": price},
                    "timeouts": {"connectMs": 1, "firstByteMs": 1, "totalMs": 1, "idleMs": 1}}),
            )
            .unwrap();
            config.endpoints.push(ep);
        }
        let auto = ResolvedAuto {
            embedder: switchyard_crds::policy::EmbedderType::Text,
            text_model: ModelLocation::builtin("t"),
            vision_model: None,
            head: ModelLocation::builtin("h"),
            candidates: ["cheap", "strong"]
                .iter()
                .map(|n| ResolvedCandidate {
                    endpoint: n.to_string(),
                    head_output: None,
                    threshold: None,
                })
                .collect(),
            tolerance: 0.0,
            vision_endpoint: None,
        };
        let a = LengthAuto::new(&auto, &config);
        let turn = |n: usize| {
            vec![Turn {
                role: "user".into(),
                text: "x".repeat(n),
            }]
        };
        let short = a.score(&turn(10));
        let long = a.score(&turn(4000));
        assert!(short.probabilities[0].1 > long.probabilities[0].1);
        assert!(long.probabilities[1].1 > long.probabilities[0].1);
        assert_eq!(short.probabilities[1].1, long.probabilities[1].1);
    }
}
