//! The OpenAPI 3.1 document of the router's HTTP API: served at `GET /openapi.json` and
//! committed as `docs/reference/openapi.json` (the router's `openapi` test fails when the two
//! differ, and when a route that [`super::app`] mounts is missing here).
//!
//! The handlers read bodies field by field through `serde_json` (so that an error names the
//! offending field) and write them with `json!`, so there are no request/response structs to
//! annotate. The bodies are described instead by the schema-only types of [`schema`], whose
//! JSON Schemas (draft 2020-12, the dialect of OpenAPI 3.1) `schemars` derives; the tests
//! validate real responses of the router against them.

use std::sync::LazyLock;

use axum::Json;
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

/// `GET /openapi.json`.
pub(super) async fn serve() -> Response {
    Json(DOCUMENT.clone()).into_response()
}

static DOCUMENT: LazyLock<Value> = LazyLock::new(build);

/// The OpenAPI document.
pub fn document() -> Value {
    DOCUMENT.clone()
}

/// The document as committed: pretty JSON with a final newline.
pub fn document_pretty() -> String {
    let mut s = serde_json::to_string_pretty(&*DOCUMENT).unwrap_or_default();
    s.push('\n');
    s
}

/// Collects component schemas while the paths are written.
struct Components {
    generator: SchemaGenerator,
}

impl Components {
    fn new() -> Self {
        let settings = SchemaSettings::draft2020_12().with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        });
        Self {
            generator: settings.into_generator(),
        }
    }

    /// A `$ref` to `T`'s schema (added to the components).
    fn schema<T: JsonSchema>(&mut self) -> Value {
        self.generator.subschema_for::<T>().to_value()
    }

    /// A JSON request or response body of type `T`.
    fn json<T: JsonSchema>(&mut self) -> Value {
        json!({"application/json": {"schema": self.schema::<T>()}})
    }

    fn finish(mut self) -> Value {
        Value::Object(self.generator.take_definitions(true))
    }
}

fn error_response(c: &mut Components, description: &str) -> Value {
    json!({"description": description, "content": c.json::<schema::ErrorResponse>()})
}

/// The `x-switchyard-*` headers of a routed response.
fn routed_headers() -> Value {
    json!({
        "x-switchyard-policy": {"$ref": "#/components/headers/x-switchyard-policy"},
        "x-switchyard-model": {"$ref": "#/components/headers/x-switchyard-model"},
        "x-switchyard-route": {"$ref": "#/components/headers/x-switchyard-route"},
        "x-switchyard-decision-ms": {"$ref": "#/components/headers/x-switchyard-decision-ms"},
    })
}

/// The client errors every API route can answer.
fn api_errors(c: &mut Components, responses: &mut Map<String, Value>) {
    for (status, what) in [
        (
            "400",
            "Bad input: not JSON, a field of the wrong type, a missing field, no eligible endpoint",
        ),
        (
            "401",
            "A client API key is required and was missing or not accepted (only when keys are \
             configured)",
        ),
        ("404", "Unknown policy or model"),
        ("413", "The body, the messages or an image exceed a limit"),
        (
            "422",
            "A value is out of range (e.g. tolerance outside 0..1)",
        ),
        ("431", "The request headers exceed the router's limit"),
        (
            "429",
            "Too many requests in flight (the router's or an endpoint's limit); see Retry-After",
        ),
        (
            "503",
            "No config loaded yet, or every candidate is unavailable",
        ),
    ] {
        let mut r = error_response(c, what);
        if status == "429" {
            r["headers"] = json!({"Retry-After": {"$ref": "#/components/headers/Retry-After"}});
        }
        responses.insert(status.into(), r);
    }
}

fn policy_query() -> Value {
    json!({
        "name": "policy", "in": "query", "required": false,
        "description": "Policy to route with (alternative to the body's `policy` and the \
                        `x-switchyard-policy` header).",
        "schema": {"type": "string"},
    })
}

fn policy_header() -> Value {
    json!({
        "name": "x-switchyard-policy", "in": "header", "required": false,
        "description": "Policy to route with, when the body does not name one.",
        "schema": {"type": "string"},
    })
}

/// Client keys are optional: only policies with `spec.auth` and routers given a keys file ask
/// for them.
fn optional_security() -> Value {
    json!([{}, {"bearerKey": []}, {"apiKeyHeader": []}])
}

fn paths(c: &mut Components) -> Value {
    let mut paths = Map::new();

    // POST /v1/chat/completions
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "In proxy mode, the chosen upstream's answer, passed through (JSON, \
                            or server-sent events when `stream` is true, ending with \
                            `data: [DONE]`). In recommend mode, a chat completion whose content \
                            is the chosen model id (see `RecommendationCompletion`).",
            "headers": routed_headers(),
            "content": {
                "application/json": {"schema": {"oneOf": [
                    c.schema::<schema::ChatCompletion>(),
                    c.schema::<schema::RecommendationCompletion>(),
                ]}},
                "text/event-stream": {"schema": {
                    "type": "string",
                    "description": "`data: <ChatCompletionChunk JSON>` events, then \
                                    `data: [DONE]`. An upstream failure after the first byte \
                                    becomes a `data: {\"error\": ...}` event.",
                }},
            },
        }),
    );
    api_errors(c, &mut responses);
    for (status, what) in [
        ("502", "The upstream failed (after every fallback)"),
        ("504", "The upstream timed out (after every fallback)"),
    ] {
        responses.insert(status.into(), error_response(c, what));
    }
    paths.insert(
        "/v1/chat/completions".into(),
        json!({"post": {
            "operationId": "chatCompletions",
            "tags": ["OpenAI-compatible"],
            "summary": "Route a chat completion, then forward it or recommend a model",
            "description": "`model` selects: `switchyard/<policy>` (or a policy name) routes \
                            with that policy; a model id served by a ModelEndpoint is passed \
                            straight through (manual routing). The `switchyard` body extension \
                            (policy, tolerance, models, mode) and NVIDIA LLM Router v1's \
                            `nim-llm-router` extension are removed before forwarding. Requests \
                            that use `nim-llm-router` get errors in NVIDIA v1's shape \
                            (`NvidiaV1Error`) and the `X-Chosen-Classifier` header.",
            "parameters": [policy_header()],
            "requestBody": {"required": true, "content": c.json::<schema::ChatCompletionRequest>()},
            "responses": responses,
            "security": optional_security(),
        }}),
    );

    // POST /v1/route
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The decision: the chosen model and every candidate with its score, \
                            cost and eligibility.",
            "headers": routed_headers(),
            "content": c.json::<schema::RouteDecision>(),
        }),
    );
    api_errors(c, &mut responses);
    paths.insert(
        "/v1/route".into(),
        json!({"post": {
            "operationId": "route",
            "tags": ["Switchyard"],
            "summary": "Decide which model should answer, without calling it",
            "description": "The policy comes from the body's `policy`, `?policy=`, the \
                            `x-switchyard-policy` header, or the only policy served.",
            "parameters": [policy_query(), policy_header()],
            "requestBody": {"required": true, "content": c.json::<schema::RouteRequest>()},
            "responses": responses,
            "security": optional_security(),
        }}),
    );

    // POST /route
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The eligible candidates with their confidences and costs.",
            "headers": routed_headers(),
            "content": c.json::<schema::ToolkitRouteResponse>(),
        }),
    );
    api_errors(c, &mut responses);
    paths.insert(
        "/route".into(),
        json!({"post": {
            "operationId": "toolkitRoute",
            "tags": ["NVIDIA-compatible"],
            "summary": "NVIDIA Model Router Toolkit's decision API",
            "description": "The policy comes from `?policy=`, the `x-switchyard-policy` header, \
                            the only policy served, or the first `auto` policy.",
            "parameters": [policy_query(), policy_header()],
            "requestBody": {"required": true, "content": c.json::<schema::ToolkitRouteRequest>()},
            "responses": responses,
            "security": optional_security(),
        }}),
    );

    // POST /{policy}/chat/completions
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "A chat completion whose `choices[0].message.content` is the chosen \
                            model id, `model` the policy and usage zero; one SSE chunk plus \
                            `data: [DONE]` when `stream` is true.",
            "headers": routed_headers(),
            "content": {
                "application/json": {"schema": c.schema::<schema::RecommendationCompletion>()},
                "text/event-stream": {"schema": {"type": "string"}},
            },
        }),
    );
    api_errors(c, &mut responses);
    paths.insert(
        "/{policy}/chat/completions".into(),
        json!({"post": {
            "operationId": "recommendAsChatCompletion",
            "tags": ["NVIDIA-compatible"],
            "summary": "NVIDIA LLM Router v2's recommendation route",
            "parameters": [{
                "name": "policy", "in": "path", "required": true,
                "description": "Policy name (the v2 blueprint's objective).",
                "schema": {"type": "string"},
            }],
            "requestBody": {"required": true, "content": c.json::<schema::ChatCompletionRequest>()},
            "responses": responses,
            "security": optional_security(),
        }}),
    );

    // GET /v1/models
    paths.insert(
        "/v1/models".into(),
        json!({"get": {
            "operationId": "listModels",
            "tags": ["OpenAI-compatible"],
            "summary": "Policies (as `switchyard/<name>`), then every served model id",
            "responses": {
                "200": {"description": "The list.", "content": c.json::<schema::ModelList>()},
                "401": error_response(c, "A client API key is required (only when every route is protected)"),
            },
            "security": optional_security(),
        }}),
    );

    // Probes and metrics.
    paths.insert(
        "/healthz".into(),
        json!({"get": {
            "operationId": "healthz",
            "tags": ["Operations"],
            "summary": "Liveness: the process is up",
            "responses": {"200": {
                "description": "`{\"status\": \"ok\"}`",
                "content": c.json::<schema::Liveness>(),
            }},
        }}),
    );
    paths.insert(
        "/health".into(),
        json!({"get": {
            "operationId": "healthNvidiaV1",
            "tags": ["NVIDIA-compatible"],
            "summary": "Liveness in NVIDIA LLM Router v1's shape (`{\"status\": \"OK\"}`)",
            "responses": {"200": {
                "description": "`{\"status\": \"OK\"}`",
                "content": c.json::<schema::Liveness>(),
            }},
        }}),
    );
    paths.insert(
        "/readyz".into(),
        json!({"get": {
            "operationId": "readyz",
            "tags": ["Operations"],
            "summary": "Readiness: a config is loaded and its classifiers are warm",
            "responses": {
                "200": {
                    "description": "Serving; `degraded` lists what is missing (e.g. an API key).",
                    "content": c.json::<schema::Readiness>(),
                },
                "503": {
                    "description": "No config loaded yet.",
                    "content": c.json::<schema::NotReady>(),
                },
            },
        }}),
    );
    paths.insert(
        "/metrics".into(),
        json!({"get": {
            "operationId": "metrics",
            "tags": ["Operations"],
            "summary": "Prometheus metrics (OpenMetrics text); see docs/reference/metrics.md",
            "responses": {"200": {
                "description": "The metrics.",
                "content": {"application/openmetrics-text": {"schema": {"type": "string"}}},
            }},
        }}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({"get": {
            "operationId": "openapi",
            "tags": ["Operations"],
            "summary": "This document",
            "responses": {"200": {
                "description": "The OpenAPI 3.1 document of this API.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }},
        }}),
    );

    // The demo page.
    paths.insert(
        "/ui".into(),
        json!({"get": {
            "operationId": "ui",
            "tags": ["Demo page"],
            "summary": "The demo page (unless the router runs with --no-ui)",
            "responses": {"200": {
                "description": "The page.",
                "content": {"text/html": {"schema": {"type": "string"}}},
            }},
        }}),
    );
    paths.insert(
        "/ui/".into(),
        json!({"get": {
            "operationId": "uiSlash",
            "tags": ["Demo page"],
            "summary": "Redirects to /ui (the page's links are relative to it)",
            "responses": {"308": {
                "description": "Redirect to /ui.",
                "headers": {"Location": {"schema": {"type": "string", "const": "/ui"}}},
            }},
        }}),
    );
    paths.insert(
        "/ui/{file}".into(),
        json!({"get": {
            "operationId": "uiAsset",
            "tags": ["Demo page"],
            "summary": "A script or stylesheet of the demo page",
            "parameters": [{
                "name": "file", "in": "path", "required": true,
                "schema": {"type": "string", "examples": ["app.js", "app.css"]},
            }],
            "responses": {
                "200": {
                    "description": "The file.",
                    "content": {
                        "text/javascript": {"schema": {"type": "string"}},
                        "text/css": {"schema": {"type": "string"}},
                    },
                },
                "404": error_response(c, "No such file"),
            },
        }}),
    );
    Value::Object(paths)
}

fn header(description: &str, schema: Value) -> Value {
    json!({"description": description, "schema": schema})
}

fn build() -> Value {
    let mut c = Components::new();
    let paths = paths(&mut c);
    // Referenced from descriptions only; listed so clients can generate them.
    c.schema::<schema::ChatCompletionChunk>();
    c.schema::<schema::NvidiaV1Error>();
    let schemas = c.finish();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Switchyard router API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HTTP API of `switchyard-router`: OpenAI-compatible chat \
                            completions with per-request routing, Switchyard's decision API, \
                            the NVIDIA LLM Router v1/v2 and Model Router Toolkit shapes, probes, \
                            metrics and the demo page. Errors are OpenAI-shaped \
                            (`ErrorResponse`). Generated from the router's code; see \
                            docs/reference/openapi.json.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "OpenAI-compatible"},
            {"name": "Switchyard"},
            {"name": "NVIDIA-compatible"},
            {"name": "Operations"},
            {"name": "Demo page"},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "headers": {
                "x-switchyard-policy": header("Policy that routed the request (`none` for manual routing).", json!({"type": "string"})),
                "x-switchyard-model": header("Model id that answered (or was recommended).", json!({"type": "string"})),
                "x-switchyard-route": header("Intent route, `auto` or `manual`.", json!({"type": "string"})),
                "x-switchyard-decision-ms": header("Milliseconds spent classifying and deciding.", json!({"type": "string", "pattern": "^[0-9]+\\.[0-9]{3}$"})),
                "Retry-After": header("Seconds to wait before retrying.", json!({"type": "string"})),
            },
            "securitySchemes": {
                "bearerKey": {
                    "type": "http", "scheme": "bearer",
                    "description": "A client API key (`Authorization: Bearer <key>`); required \
                                    only for policies with `spec.auth` and when the router is \
                                    given a keys file.",
                },
                "apiKeyHeader": {
                    "type": "apiKey", "in": "header", "name": "api-key",
                    "description": "The same key as Azure OpenAI clients send it.",
                },
            },
        },
    })
}

/// Schema-only types: what the bodies look like on the wire. Never constructed.
#[allow(dead_code)]
pub mod schema {
    use schemars::JsonSchema;
    use serde_json::Value;

    /// An OpenAI chat-completions request. Fields not listed here (temperature, max_tokens,
    /// ...) are forwarded to the upstream unchanged.
    #[derive(JsonSchema)]
    pub struct ChatCompletionRequest {
        /// `switchyard/<policy>`, a policy name, or a served model id (manual routing).
        /// Optional when the router serves one policy or the policy is named elsewhere.
        pub model: Option<String>,
        /// The conversation.
        #[schemars(length(min = 1))]
        pub messages: Vec<ChatMessage>,
        /// Stream the answer as server-sent events.
        pub stream: Option<bool>,
        /// Tool definitions; a request with tools only goes to endpoints with the `tools`
        /// capability.
        pub tools: Option<Vec<Value>>,
        /// Switchyard's per-request knobs (removed before forwarding).
        pub switchyard: Option<SwitchyardExtension>,
        /// NVIDIA LLM Router v1's extension (removed before forwarding).
        #[schemars(rename = "nim-llm-router")]
        pub nim_llm_router: Option<NimLlmRouterExtension>,
    }

    /// One chat message.
    #[derive(JsonSchema)]
    pub struct ChatMessage {
        /// Author.
        pub role: Role,
        /// Text, or content parts (text and images). Required for user, system and developer
        /// messages.
        pub content: Option<MessageContent>,
    }

    /// Chat roles.
    #[derive(JsonSchema)]
    #[schemars(rename_all = "lowercase")]
    pub enum Role {
        /// System prompt.
        System,
        /// Developer prompt.
        Developer,
        /// The user.
        User,
        /// The model.
        Assistant,
        /// A tool result.
        Tool,
        /// A function result (legacy).
        Function,
    }

    /// Message content.
    #[derive(JsonSchema)]
    #[schemars(untagged)]
    pub enum MessageContent {
        /// Plain text.
        Text(String),
        /// Text and image parts.
        Parts(Vec<ContentPart>),
    }

    /// A content part.
    #[derive(JsonSchema)]
    #[schemars(tag = "type", rename_all = "snake_case")]
    pub enum ContentPart {
        /// Text.
        Text {
            /// The text.
            text: String,
        },
        /// An image: a `data:image/...;base64,...` URL, or an http(s) URL where the policy
        /// allows fetching.
        ImageUrl {
            /// The image.
            image_url: ImageUrl,
        },
    }

    /// An image reference.
    #[derive(JsonSchema)]
    #[schemars(untagged)]
    pub enum ImageUrl {
        /// The OpenAI shape.
        Object {
            /// `data:` or http(s) URL.
            url: String,
            /// Passed through to the upstream.
            detail: Option<String>,
        },
        /// A bare URL.
        Url(String),
    }

    /// The `switchyard` body extension. Unknown keys are refused.
    #[derive(JsonSchema)]
    #[schemars(deny_unknown_fields)]
    pub struct SwitchyardExtension {
        /// Policy to route with.
        pub policy: Option<String>,
        /// Trade quality for cost (auto policies): 0 keeps the calibrated thresholds, 1 always
        /// picks the cheapest eligible candidate.
        #[schemars(range(min = 0.0, max = 1.0))]
        pub tolerance: Option<f64>,
        /// Allow-list of endpoint names or model ids.
        pub models: Option<Vec<String>>,
        /// Forward the call (`proxy`) or answer with the recommendation (`recommend`);
        /// default: the policy's mode.
        pub mode: Option<Mode>,
    }

    /// Policy mode.
    #[derive(JsonSchema)]
    #[schemars(rename_all = "lowercase")]
    pub enum Mode {
        /// Forward to the chosen model.
        Proxy,
        /// Return the decision only.
        Recommend,
    }

    /// NVIDIA LLM Router v1's `nim-llm-router` extension.
    #[derive(JsonSchema)]
    pub struct NimLlmRouterExtension {
        /// Policy name.
        pub policy: String,
        /// `triton` (route with the policy, the default) or `manual` (use `model`).
        pub routing_strategy: Option<NimStrategy>,
        /// The LLM to use with `manual`: an endpoint name or model id of the policy.
        pub model: Option<String>,
        /// Accepted and ignored, as by v1.
        pub threshold: Option<f64>,
    }

    /// v1 routing strategies.
    #[derive(JsonSchema)]
    #[schemars(rename_all = "lowercase")]
    pub enum NimStrategy {
        /// Classify and route.
        Triton,
        /// Use the named model.
        Manual,
    }

    /// `POST /v1/route` body: `messages` or `prompt`.
    #[derive(JsonSchema)]
    #[schemars(extend("anyOf" = [{"required": ["messages"]}, {"required": ["prompt"]}]))]
    pub struct RouteRequest {
        /// The conversation.
        pub messages: Option<Vec<ChatMessage>>,
        /// A single user prompt instead of `messages`.
        pub prompt: Option<String>,
        /// Policy name (`switchyard/` prefix allowed).
        pub policy: Option<String>,
        /// See `SwitchyardExtension.tolerance`.
        #[schemars(range(min = 0.0, max = 1.0))]
        pub tolerance: Option<f64>,
        /// Allow-list of endpoint names or model ids.
        pub models: Option<Vec<String>>,
    }

    /// `POST /v1/route` answer.
    #[derive(JsonSchema)]
    pub struct RouteDecision {
        /// Model id of the chosen candidate; null when none is eligible.
        #[schemars(required, extend("type" = ["string", "null"]))]
        pub selected_model: Option<String>,
        /// ModelEndpoint name of the chosen candidate.
        #[schemars(required, extend("type" = ["string", "null"]))]
        pub endpoint: Option<String>,
        /// Policy that decided.
        pub policy: String,
        /// `intent` or `auto`.
        pub strategy: String,
        /// Intent route name, or `auto`.
        pub route: String,
        /// Eligible candidates first, in the order they would be tried; then ineligible ones.
        pub candidates: Vec<Candidate>,
        /// Milliseconds spent classifying and deciding.
        pub decision_ms: f64,
        /// Classifier engine that produced the scores.
        pub classifier: String,
        /// The route (intent policies).
        pub intent: Option<String>,
        /// The classifier's confidence in the route (intent policies).
        pub confidence: Option<f64>,
        /// Why the route was taken when it was not the classifier's pick.
        pub note: Option<String>,
    }

    /// One candidate of a decision.
    #[derive(JsonSchema)]
    pub struct Candidate {
        /// Upstream model id.
        pub model: String,
        /// ModelEndpoint name.
        pub endpoint: String,
        /// Probability of a good answer (auto) or the route's confidence (intent); null when
        /// not known.
        #[schemars(required, extend("type" = ["number", "null"]))]
        pub score: Option<f64>,
        /// Blended price per million tokens.
        pub cost: f64,
        /// Whether requests may be sent to it.
        pub eligible: bool,
        /// Probability it had to reach (auto).
        pub threshold: Option<f64>,
        /// Why it is not eligible, or why it was or was not chosen.
        pub reason: Option<String>,
    }

    /// `POST /route` body (NVIDIA Model Router Toolkit).
    #[derive(JsonSchema)]
    #[schemars(extend("anyOf" = [{"required": ["messages"]}, {"required": ["question"]}, {"required": ["model"]}]))]
    pub struct ToolkitRouteRequest {
        /// The conversation.
        pub messages: Option<Vec<ChatMessage>>,
        /// A single question instead of `messages`.
        pub question: Option<String>,
        /// Bypass: answer with this model (endpoint name or model id) without routing.
        pub model: Option<String>,
        /// Allow-list of endpoint names or model ids.
        pub models: Option<Vec<String>>,
        /// See `SwitchyardExtension.tolerance`.
        #[schemars(range(min = 0.0, max = 1.0))]
        pub tolerance: Option<f64>,
    }

    /// `POST /route` answer.
    #[derive(JsonSchema)]
    pub struct ToolkitRouteResponse {
        /// The chosen model id.
        #[schemars(required, extend("type" = ["string", "null"]))]
        pub selected_model: Option<String>,
        /// Eligible candidates' model ids, in order.
        pub model_names: Vec<String>,
        /// Their scores, same order.
        pub confidences: Vec<f64>,
        /// Their blended prices per million tokens, same order.
        pub costs: Vec<f64>,
        /// Timing and provenance.
        pub metadata: ToolkitMetadata,
    }

    /// `POST /route` metadata.
    #[derive(JsonSchema)]
    pub struct ToolkitMetadata {
        /// Milliseconds spent deciding.
        pub route_ms: f64,
        /// Policy that decided.
        pub policy: Option<String>,
        /// Route taken.
        pub route: Option<String>,
        /// True when `model` bypassed routing.
        pub bypass: Option<bool>,
    }

    /// An upstream's chat completion (passed through; only the common fields are listed).
    #[derive(JsonSchema)]
    pub struct ChatCompletion {
        /// Completion id.
        pub id: String,
        /// `chat.completion`.
        pub object: String,
        /// Unix seconds.
        pub created: i64,
        /// The model that answered (as the upstream names it).
        pub model: String,
        /// Answers.
        pub choices: Vec<Choice>,
        /// Token counts.
        pub usage: Option<Usage>,
    }

    /// One answer.
    #[derive(JsonSchema)]
    pub struct Choice {
        /// Index.
        pub index: u32,
        /// The message.
        pub message: AssistantMessage,
        /// `stop`, `length`, `tool_calls`, ...
        #[schemars(required, extend("type" = ["string", "null"]))]
        pub finish_reason: Option<String>,
    }

    /// The model's message.
    #[derive(JsonSchema)]
    pub struct AssistantMessage {
        /// `assistant`.
        pub role: String,
        /// The text.
        #[schemars(required, extend("type" = ["string", "null"]))]
        pub content: Option<String>,
    }

    /// Token counts.
    #[derive(JsonSchema)]
    pub struct Usage {
        /// Prompt tokens.
        pub prompt_tokens: u64,
        /// Completion tokens.
        pub completion_tokens: u64,
        /// Both.
        pub total_tokens: u64,
    }

    /// One streamed chunk (`data: {...}` event).
    #[derive(JsonSchema)]
    pub struct ChatCompletionChunk {
        /// Completion id.
        pub id: String,
        /// `chat.completion.chunk`.
        pub object: String,
        /// Unix seconds.
        pub created: i64,
        /// The model.
        pub model: String,
        /// Deltas.
        pub choices: Vec<ChunkChoice>,
        /// Token counts (final chunk, when asked for with `stream_options.include_usage`).
        pub usage: Option<Usage>,
    }

    /// One streamed delta.
    #[derive(JsonSchema)]
    pub struct ChunkChoice {
        /// Index.
        pub index: u32,
        /// New content.
        pub delta: Delta,
        /// Set on the last chunk.
        pub finish_reason: Option<String>,
    }

    /// A delta.
    #[derive(JsonSchema)]
    pub struct Delta {
        /// `assistant` on the first chunk.
        pub role: Option<String>,
        /// More text.
        pub content: Option<String>,
    }

    /// A recommendation as a chat completion: the content is the chosen model id.
    #[derive(JsonSchema)]
    pub struct RecommendationCompletion {
        /// `chatcmpl-switchyard-<n>`.
        pub id: String,
        /// `chat.completion`.
        #[schemars(extend("const" = "chat.completion"))]
        pub object: String,
        /// Unix seconds.
        pub created: i64,
        /// The policy name.
        pub model: String,
        /// One choice whose message content is the chosen model id.
        pub choices: Vec<Choice>,
        /// All zero.
        pub usage: Usage,
    }

    /// `GET /v1/models` answer.
    #[derive(JsonSchema)]
    pub struct ModelList {
        /// `list`.
        #[schemars(extend("const" = "list"))]
        pub object: String,
        /// Policies first (`switchyard/<name>`, owned by `switchyard`), then model ids.
        pub data: Vec<ModelInfo>,
    }

    /// One model or policy.
    #[derive(JsonSchema)]
    pub struct ModelInfo {
        /// `switchyard/<policy>` or an upstream model id.
        pub id: String,
        /// `model`.
        pub object: String,
        /// Always 0.
        pub created: i64,
        /// `switchyard` for policies, the endpoint's provider for models.
        pub owned_by: String,
    }

    /// Liveness answer.
    #[derive(JsonSchema)]
    pub struct Liveness {
        /// `ok` (`/healthz`) or `OK` (`/health`).
        pub status: String,
    }

    /// `GET /readyz` when serving.
    #[derive(JsonSchema)]
    pub struct Readiness {
        /// True.
        pub ready: bool,
        /// Hash of the served config (what the operator compares with the desired one).
        pub config_hash: String,
        /// Served policies.
        pub policies: Vec<PolicyReadiness>,
        /// Number of endpoints.
        pub endpoints: u64,
        /// Endpoints whose circuit breaker is open.
        pub open_circuits: Vec<String>,
        /// What is missing while serving (API keys, CUDA, classifier problems).
        pub degraded: Vec<String>,
    }

    /// A served policy.
    #[derive(JsonSchema)]
    pub struct PolicyReadiness {
        /// Name.
        pub name: String,
        /// `intent` or `auto`.
        pub strategy: String,
        /// `proxy` or `recommend`.
        pub mode: Mode,
        /// Classifier engine.
        #[schemars(required, extend("type" = ["string", "null"]))]
        pub classifier: Option<String>,
    }

    /// `GET /readyz` before a config is loaded.
    #[derive(JsonSchema)]
    pub struct NotReady {
        /// False.
        pub ready: bool,
        /// Why.
        pub reason: String,
    }

    /// An OpenAI-shaped error.
    #[derive(JsonSchema)]
    pub struct ErrorResponse {
        /// The error.
        pub error: ErrorDetail,
    }

    /// Error details.
    #[derive(JsonSchema)]
    pub struct ErrorDetail {
        /// What went wrong and how to fix it.
        pub message: String,
        /// `invalid_request_error`, `rate_limit_error`, `upstream_error`,
        /// `service_unavailable` or `server_error`.
        #[schemars(rename = "type")]
        pub kind: String,
        /// Stable code, e.g. `invalid_request`, `invalid_value`, `request_too_large`,
        /// `invalid_api_key`, `policy_not_found`, `model_not_found`, `no_eligible_endpoint`,
        /// `overloaded`, `missing_api_key`, `unavailable`, `upstream_timeout`,
        /// `upstream_server_error`.
        pub code: String,
        /// Always null (OpenAI compatibility).
        pub param: Option<String>,
        /// Endpoint that failed last (upstream errors).
        pub endpoint: Option<String>,
        /// The upstream's HTTP status, when it answered (upstream errors).
        pub upstream_status: Option<u16>,
    }

    /// An error in NVIDIA LLM Router v1's shape (requests with `nim-llm-router`).
    #[derive(JsonSchema)]
    pub struct NvidiaV1Error {
        /// The error.
        pub error: NvidiaV1ErrorDetail,
    }

    /// v1 error details.
    #[derive(JsonSchema)]
    pub struct NvidiaV1ErrorDetail {
        /// What went wrong.
        pub message: String,
        /// The HTTP status.
        pub status: u16,
    }
}
