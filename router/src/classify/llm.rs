//! The `llm` intent classifier: asks a small LLM behind a ModelEndpoint (NVIDIA's reference
//! setup uses Qwen3-1.7B on vLLM) to name the route. The last user message (images removed) is
//! sent with a system prompt listing the routes; the answer may be `{"route": "<name>"}` or a
//! bare route name. Temperature 0.3, at most 32 tokens. A timeout, an error or an answer that
//! names no route is a [`ClassifyError`]: the request then takes the default route and
//! `switchyard_classifier_failures_total` counts it.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use switchyard_crds::config::{ResolvedEndpoint, ResolvedIntent};

use super::PolicyClassifier;
use super::{BuildContext, Classification, ClassifyError, ClassifyInput, IntentScores};
use crate::secrets::SecretsHandle;
use crate::secrets::redact;
use crate::upstream::auth_header;

const DEFAULT_PROMPT: &str = "You route user requests. Read the user's message and pick the \
one route below that fits it best. Reply with JSON only, exactly {\"route\": \"<route name>\"}, \
using a route name from the list and nothing else.";

/// The `llm` classifier.
pub struct LlmClassifier {
    endpoint: ResolvedEndpoint,
    url: String,
    http: reqwest::Client,
    secrets: SecretsHandle,
    system_prompt: String,
    /// `(route name, names it may be called by, lowercase)`.
    routes: Vec<(String, Vec<String>)>,
    timeout: Duration,
}

impl LlmClassifier {
    /// Builds the classifier for an intent policy with `classifier.type: llm`.
    pub fn new(intent: &ResolvedIntent, ctx: &BuildContext) -> Result<Self, ClassifyError> {
        let name = intent.classifier.endpoint.as_deref().ok_or_else(|| {
            ClassifyError::Unavailable("classifier type llm needs an endpoint".into())
        })?;
        let endpoint = ctx.config.endpoint(name).cloned().ok_or_else(|| {
            ClassifyError::Unavailable(format!("classifier endpoint {name:?} is not configured"))
        })?;
        let mut prompt = intent
            .classifier
            .prompt
            .clone()
            .unwrap_or_else(|| DEFAULT_PROMPT.to_owned());
        prompt.push_str("\n\nRoutes:\n");
        for r in &intent.routes {
            let desc = if r.description.is_empty() {
                r.examples.first().map(String::as_str).unwrap_or("")
            } else {
                r.description.as_str()
            };
            prompt.push_str(&format!("- {}: {}\n", r.name, desc.trim()));
        }
        let routes = intent
            .routes
            .iter()
            .map(|r| {
                let mut names = vec![r.name.to_lowercase()];
                names.extend(r.labels.iter().map(|l| l.to_lowercase()));
                (r.name.clone(), names)
            })
            .collect();
        Ok(Self {
            url: endpoint.chat_completions_url(),
            endpoint,
            http: ctx.http.clone(),
            secrets: Arc::clone(&ctx.secrets),
            system_prompt: prompt,
            routes,
            timeout: Duration::from_millis(intent.classifier.timeout_ms),
        })
    }

    async fn ask(&self, text: &str) -> Result<String, ClassifyError> {
        let body = json!({
            "model": self.endpoint.model,
            "messages": [
                {"role": "system", "content": self.system_prompt},
                {"role": "user", "content": text},
            ],
            "temperature": 0.3,
            "max_tokens": 32,
            "stream": false,
        });
        let mut req = self.http.post(&self.url).json(&body);
        let mut key = String::new();
        if let Some(r) = &self.endpoint.api_key {
            key = self
                .secrets
                .load()
                .get(&self.endpoint.namespace, r)
                .map_err(|m| {
                    ClassifyError::MissingApiKey(format!("{}/{}{}", m.secret, m.key, m.hint))
                })?;
            if let Some((name, value)) = auth_header(&self.endpoint, &key) {
                req = req.header(name, value);
            }
        }
        // Upstreams may echo the key in what they answer; none of it reaches a log unredacted.
        let resp = req
            .send()
            .await
            .map_err(|e| ClassifyError::Upstream(e.without_url().to_string()))?;
        let status = resp.status();
        let value: Value = resp.json().await.map_err(|e| {
            ClassifyError::Upstream(format!("status {status}: {}", e.without_url()))
        })?;
        if !status.is_success() {
            return Err(ClassifyError::Upstream(redact(
                &format!("status {status}: {value}"),
                &key,
            )));
        }
        value
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ClassifyError::Unparsable(redact(&value.to_string(), &key)))
    }

    /// Maps the LLM's answer to a route name.
    pub fn parse_answer(&self, answer: &str) -> Option<String> {
        parse_route(answer, &self.routes)
    }
}

/// Finds the route an answer names: `{"route": "..."}` anywhere in it, else a bare name.
/// `<think>...</think>` blocks are ignored.
pub fn parse_route(answer: &str, routes: &[(String, Vec<String>)]) -> Option<String> {
    let text = match answer.rfind("</think>") {
        Some(i) => &answer[i + "</think>".len()..],
        None => answer,
    };
    let find = |name: &str| {
        let name = name.trim().to_lowercase();
        routes
            .iter()
            .find(|(_, names)| names.contains(&name))
            .map(|(r, _)| r.clone())
    };
    if let (Some(start), Some(end)) = (text.find('{'), text.rfind('}'))
        && start < end
        && let Ok(v) = serde_json::from_str::<Value>(&text[start..=end])
        && let Some(r) = v.get("route").and_then(Value::as_str)
    {
        return find(r);
    }
    let bare = text
        .trim()
        .trim_matches(|c: char| c == '"' || c == '\'' || c == '`' || c == '.' || c.is_whitespace());
    find(bare)
}

impl PolicyClassifier for LlmClassifier {
    fn engine(&self) -> &'static str {
        "llm"
    }

    fn warm_up(&self) -> BoxFuture<'_, Result<(), ClassifyError>> {
        // The classifying LLM is an upstream like any other: readiness does not wait for it,
        // and while it is unreachable requests take the default route.
        async { Ok(()) }.boxed()
    }

    fn classify<'a>(
        &'a self,
        input: &'a ClassifyInput,
    ) -> BoxFuture<'a, Result<Classification, ClassifyError>> {
        async move {
            let ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
            let answer = tokio::time::timeout(self.timeout, self.ask(input.last_user_text()))
                .await
                .map_err(|_| ClassifyError::Timeout(ms))??;
            let route = self
                .parse_answer(&answer)
                .ok_or_else(|| ClassifyError::Unparsable(answer.chars().take(200).collect()))?;
            let scores = self
                .routes
                .iter()
                .map(|(r, _)| (r.clone(), if *r == route { 1.0 } else { 0.0 }))
                .collect();
            Ok(Classification::Intent(IntentScores {
                route,
                confidence: 1.0,
                scores,
            }))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Vec<(String, Vec<String>)> {
        vec![
            ("chit_chat".into(), vec!["chit_chat".into()]),
            (
                "hard_question".into(),
                vec!["hard_question".into(), "reasoning".into()],
            ),
        ]
    }

    #[test]
    fn parses_json_bare_and_thinking_answers() {
        let r = routes();
        assert_eq!(
            parse_route(r#"{"route": "hard_question"}"#, &r).as_deref(),
            Some("hard_question")
        );
        assert_eq!(
            parse_route("```json\n{\"route\":\"chit_chat\"}\n```", &r).as_deref(),
            Some("chit_chat")
        );
        assert_eq!(
            parse_route(" Chit_Chat.\n", &r).as_deref(),
            Some("chit_chat")
        );
        assert_eq!(
            parse_route("\"reasoning\"", &r).as_deref(),
            Some("hard_question")
        );
        assert_eq!(
            parse_route(
                "<think>maybe {\"route\": \"chit_chat\"}</think>{\"route\": \"hard_question\"}",
                &r
            )
            .as_deref(),
            Some("hard_question")
        );
        assert_eq!(parse_route("I think it is hard", &r), None);
        assert_eq!(parse_route(r#"{"route": "poetry"}"#, &r), None);
        assert_eq!(parse_route("", &r), None);
    }
}
