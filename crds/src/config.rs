//! The resolved router configuration: one policy (or several, in standalone mode) with the
//! endpoints it references, validated and with every default filled in. It is the one contract
//! between the operator (which writes it into a ConfigMap) and the router (which serves it).
//! Secrets are referenced, never inlined.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::common::SecretKeyRef;
use crate::endpoint::{AzureSettings, Capabilities, Cost, Provider};
use crate::policy::{ClassifierType, EmbedderType, FallbackTrigger, Mode};

/// `apiVersion` of a serialized [`RouterConfig`].
pub const CONFIG_API_VERSION: &str = "switchyard.dev/v1alpha1";
/// `kind` of a serialized [`RouterConfig`].
pub const CONFIG_KIND: &str = "RouterConfig";
/// Key of the resolved config inside the operator's ConfigMap.
pub const CONFIG_MAP_KEY: &str = "router.yaml";

/// Everything a router process serves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouterConfig {
    /// Always [`CONFIG_API_VERSION`].
    pub api_version: String,
    /// Always [`CONFIG_KIND`].
    pub kind: String,
    /// Process-wide settings.
    pub server: ServerSettings,
    /// Policies served, by name.
    pub policies: Vec<ResolvedPolicy>,
    /// Endpoints referenced by the policies (and, in standalone mode, every endpoint given).
    pub endpoints: Vec<ResolvedEndpoint>,
}

impl RouterConfig {
    /// A config with no policies or endpoints and default server settings.
    pub fn empty() -> Self {
        Self {
            api_version: CONFIG_API_VERSION.to_owned(),
            kind: CONFIG_KIND.to_owned(),
            server: ServerSettings::default(),
            policies: Vec::new(),
            endpoints: Vec::new(),
        }
    }

    /// Stable short hash of the config (sha256 of its JSON, first 16 hex digits). Routers report
    /// the hash they serve; the operator compares it with what it wrote.
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&json);
        hex::encode(&digest[..8])
    }

    /// Looks up an endpoint by name.
    pub fn endpoint(&self, name: &str) -> Option<&ResolvedEndpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }

    /// Looks up a policy by name.
    pub fn policy(&self, name: &str) -> Option<&ResolvedPolicy> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// Serializes to the YAML stored in the ConfigMap.
    pub fn to_yaml(&self) -> Result<String, serde_saphyr::SerializeError> {
        serde_saphyr::to_string(self)
    }

    /// Parses the YAML (or JSON) written by [`RouterConfig::to_yaml`].
    pub fn from_yaml(text: &str) -> Result<Self, serde_saphyr::Error> {
        serde_saphyr::from_str(text)
    }
}

/// Settings of the router process rather than of one policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerSettings {
    /// Request limits.
    pub limits: Limits,
    /// Inference engine settings.
    pub inference: Inference,
}

/// Request limits with defaults applied.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// Largest request body in bytes.
    pub max_body_bytes: u64,
    /// Most messages per request.
    pub max_messages: u32,
    /// Most images per request.
    pub max_images: u32,
    /// Largest decoded image in bytes.
    pub max_image_bytes: u64,
    /// Largest image in pixels.
    pub max_image_pixels: u64,
    /// Whether http(s) image URLs are fetched for classification.
    pub allow_image_urls: bool,
    /// Most requests in flight per process.
    pub max_inflight: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 20 * 1024 * 1024,
            max_messages: 1000,
            max_images: 16,
            max_image_bytes: 10 * 1024 * 1024,
            max_image_pixels: 40_000_000,
            allow_image_urls: false,
            max_inflight: 1024,
        }
    }
}

/// Execution provider for ONNX inference.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// CPU execution provider.
    #[default]
    Cpu,
    /// CUDA execution provider, falling back to CPU when unavailable.
    Cuda,
}

/// Inference engine settings with defaults applied.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inference {
    /// Requested execution provider.
    pub device: Device,
    /// Worker threads; 0 means "choose from the CPU count".
    pub workers: u32,
    /// Largest batch per inference call.
    pub max_batch: u32,
    /// Batch collection window in microseconds.
    pub batch_window_us: u64,
    /// Queue depth beyond which requests are refused with 429.
    pub queue_depth: u32,
}

impl Default for Inference {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            workers: 0,
            max_batch: 32,
            batch_window_us: 2000,
            queue_depth: 256,
        }
    }
}

/// One policy, resolved.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolvedPolicy {
    /// Policy name (`switchyard/<name>` selects it).
    pub name: String,
    /// Namespace of the policy; secrets are read from it.
    pub namespace: String,
    /// Proxy or recommend.
    pub mode: Mode,
    /// The routing strategy with its settings.
    pub strategy: ResolvedStrategy,
    /// Fallback behaviour.
    pub fallback: ResolvedFallback,
    /// Client API keys, if authentication is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<SecretKeyRef>,
}

impl ResolvedPolicy {
    /// Short name of the strategy, for headers and metrics.
    pub fn strategy_name(&self) -> &'static str {
        match self.strategy {
            ResolvedStrategy::Intent(_) => "intent",
            ResolvedStrategy::Auto(_) => "auto",
        }
    }

    /// Every endpoint this policy may send requests to, in first-mention order.
    pub fn endpoint_names(&self) -> Vec<&str> {
        let listed: Vec<&str> = match &self.strategy {
            ResolvedStrategy::Intent(intent) => intent
                .routes
                .iter()
                .flat_map(|r| r.endpoints.iter().map(String::as_str))
                .collect(),
            ResolvedStrategy::Auto(auto) => auto
                .candidates
                .iter()
                .map(|c| c.endpoint.as_str())
                .chain(auto.vision_endpoint.as_deref())
                .collect(),
        };
        let mut names: Vec<&str> = Vec::with_capacity(listed.len());
        for name in listed {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// Strategy settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum ResolvedStrategy {
    /// Intent routing.
    Intent(ResolvedIntent),
    /// Learned routing.
    Auto(ResolvedAuto),
}

/// Intent strategy, resolved.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolvedIntent {
    /// The classifier.
    pub classifier: ResolvedClassifier,
    /// Routes in declaration order.
    pub routes: Vec<ResolvedRoute>,
    /// Route used when classification is unsure or fails.
    pub default_route: String,
}

/// Intent classifier, resolved.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolvedClassifier {
    /// Classifier kind.
    #[serde(rename = "type")]
    pub kind: ClassifierType,
    /// Encoder or classifier model (absent for `llm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelLocation>,
    /// Endpoint of the classifying LLM (`llm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Output labels of an `onnx` classifier when given in the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Confidence below which the default route is used.
    pub confidence_floor: f64,
    /// `llm` answer timeout in milliseconds.
    pub timeout_ms: u64,
    /// `llm` system prompt override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// One intent route, resolved.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolvedRoute {
    /// Route name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Example utterances.
    pub examples: Vec<String>,
    /// Endpoint names in preference order (missing endpoints already removed).
    pub endpoints: Vec<String>,
    /// Extra classifier labels mapped to this route.
    pub labels: Vec<String>,
    /// Whether image-bearing requests go here.
    pub images: bool,
}

/// Auto strategy, resolved.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolvedAuto {
    /// Embedder kind.
    pub embedder: EmbedderType,
    /// Text encoder (or CLIP text tower).
    pub text_model: ModelLocation,
    /// CLIP vision tower.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision_model: Option<ModelLocation>,
    /// The trained head.
    pub head: ModelLocation,
    /// Candidates (missing endpoints already removed).
    pub candidates: Vec<ResolvedCandidate>,
    /// Default tolerance.
    pub tolerance: f64,
    /// Endpoint for image requests when no candidate has vision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision_endpoint: Option<String>,
}

/// One auto candidate.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolvedCandidate {
    /// Endpoint name.
    pub endpoint: String,
    /// Head output predicting this endpoint (defaults applied: endpoint name, then model id,
    /// are tried by the loader when this is `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_output: Option<String>,
    /// Threshold from the spec; `None` uses the head's calibrated one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

/// Fallback settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolvedFallback {
    /// Most attempts per request.
    pub max_attempts: u32,
    /// Failures that trigger a fallback.
    pub on: Vec<FallbackTrigger>,
}

/// Where a model's files are.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelLocation {
    /// Built-in model name, looked up in the router's `--models` directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<String>,
    /// Path of the ONNX file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Path of `tokenizer.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
}

impl ModelLocation {
    /// A built-in model.
    pub fn builtin(name: &str) -> Self {
        Self {
            builtin: Some(name.to_owned()),
            path: None,
            tokenizer: None,
        }
    }

    /// Human-readable description for messages.
    pub fn describe(&self) -> String {
        match (&self.builtin, &self.path) {
            (Some(b), _) => format!("built-in model {b:?}"),
            (None, Some(p)) => format!("model file {p:?}"),
            (None, None) => "unspecified model".to_owned(),
        }
    }
}

/// One endpoint, resolved.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolvedEndpoint {
    /// ModelEndpoint name.
    pub name: String,
    /// Namespace (secrets are read from it).
    pub namespace: String,
    /// Upstream model id.
    pub model: String,
    /// API flavour.
    pub provider: Provider,
    /// Base URL without a trailing slash.
    #[serde(rename = "baseURL")]
    pub base_url: String,
    /// Azure addressing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureSettings>,
    /// API key reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretKeyRef>,
    /// Capabilities.
    pub capabilities: Capabilities,
    /// Cost.
    pub cost: Cost,
    /// Most concurrent requests (per process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// Most requests per minute (per process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    /// Timeouts in milliseconds.
    pub timeouts: ResolvedTimeouts,
}

impl ResolvedEndpoint {
    /// URL of the chat-completions call for this endpoint.
    pub fn chat_completions_url(&self) -> String {
        match (&self.provider, &self.azure) {
            (Provider::AzureOpenai, Some(az)) => format!(
                "{}/openai/deployments/{}/chat/completions?api-version={}",
                self.base_url, az.deployment, az.api_version
            ),
            _ => format!("{}/chat/completions", self.base_url),
        }
    }
}

/// Timeouts in milliseconds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolvedTimeouts {
    /// Connect timeout.
    pub connect_ms: u64,
    /// Time to response headers.
    pub first_byte_ms: u64,
    /// Whole response.
    pub total_ms: u64,
    /// Longest gap between streamed chunks.
    pub idle_ms: u64,
}

impl Default for ResolvedTimeouts {
    fn default() -> Self {
        Self {
            connect_ms: 5_000,
            first_byte_ms: 60_000,
            total_ms: 600_000,
            idle_ms: 60_000,
        }
    }
}
