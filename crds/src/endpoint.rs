//! `ModelEndpoint`: one upstream model that policies route to.

// kube's `printcolumn(...)` repeats `type_ = ...` per column by design.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{DurationString, SecretKeyRef};

/// An upstream LLM served behind an OpenAI-compatible (or Azure OpenAI) chat-completions API.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "switchyard.dev",
    version = "v1alpha1",
    kind = "ModelEndpoint",
    namespaced,
    status = "ModelEndpointStatus",
    derive = "PartialEq",
    shortname = "mep",
    shortname = "endpoint",
    category = "switchyard",
    doc = "An upstream model that RoutingPolicies route requests to.",
    printcolumn(name = "Model", type_ = "string", json_path = ".spec.model"),
    printcolumn(name = "Provider", type_ = "string", json_path = ".spec.provider"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reachable",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Reachable\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.provider) || self.provider != 'azure-openai' || has(self.azure)",
     "message": "provider azure-openai needs spec.azure.deployment and spec.azure.apiVersion"},
    {"rule": "!has(self.azure) || (has(self.provider) && self.provider == 'azure-openai')",
     "message": "spec.azure is only used with provider azure-openai"},
]))]
pub struct ModelEndpointSpec {
    /// Model id sent upstream in the request's `model` field (e.g. `meta/llama-3.1-70b-instruct`).
    /// Clients may also name this id directly to bypass routing.
    #[schemars(length(min = 1, max = 256))]
    pub model: String,
    /// API flavour of the upstream: `openai-compatible` (vLLM, NIM, most servers), `openai`,
    /// `azure-openai`, `nvidia` (NVIDIA hosted API) or `vllm`.
    #[serde(default)]
    pub provider: Provider,
    /// Base URL of the API, up to and including the version segment, e.g.
    /// `https://integrate.api.nvidia.com/v1` or `http://vllm.ai.svc:8000/v1`. For Azure OpenAI,
    /// the resource URL `https://<resource>.openai.azure.com`.
    #[serde(rename = "baseURL")]
    #[schemars(length(min = 8, max = 2048), regex(pattern = r"^https?://[^\s]+$"))]
    pub base_url: String,
    /// Secret key holding the API key. Sent as `Authorization: Bearer` (`api-key` for Azure);
    /// the client's own Authorization header is never forwarded. Omit for unauthenticated
    /// in-cluster servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<SecretKeyRef>,
    /// Azure OpenAI deployment settings; required when provider is `azure-openai`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureSettings>,
    /// What the model can do; routing filters on these.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Price per million tokens, used to prefer cheaper models and in decision output.
    #[serde(default)]
    pub cost: Cost,
    /// Per-endpoint admission limits enforced by every router replica.
    #[serde(default)]
    pub limits: EndpointLimits,
    /// Timeouts for calls to this endpoint.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Active health probing of the upstream by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

/// Upstream API flavour.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// Any server that speaks OpenAI's `/chat/completions` with a Bearer key.
    #[default]
    OpenaiCompatible,
    /// api.openai.com.
    Openai,
    /// Azure OpenAI: `api-key` header, deployment-scoped URL with `api-version`.
    AzureOpenai,
    /// NVIDIA hosted API (integrate.api.nvidia.com) or NIM.
    Nvidia,
    /// vLLM's OpenAI-compatible server.
    Vllm,
}

impl Provider {
    /// The spelling used in YAML and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenaiCompatible => "openai-compatible",
            Self::Openai => "openai",
            Self::AzureOpenai => "azure-openai",
            Self::Nvidia => "nvidia",
            Self::Vllm => "vllm",
        }
    }
}

/// Azure OpenAI deployment addressing.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureSettings {
    /// Deployment name; requests go to `{baseURL}/openai/deployments/{deployment}/chat/completions`.
    #[schemars(length(min = 1, max = 128))]
    pub deployment: String,
    /// Value of the `api-version` query parameter, e.g. `2024-10-21`.
    #[schemars(length(min = 1, max = 64))]
    pub api_version: String,
}

/// Capabilities routing decisions filter on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Capabilities {
    /// Accepts image inputs. Requests carrying images only go to vision endpoints.
    #[serde(default)]
    pub vision: bool,
    /// A reasoning model (long chains of thought); informational, shown in decisions.
    #[serde(default)]
    pub reasoning: bool,
    /// Supports tool/function calling. Requests with `tools` only go to endpoints with tools.
    #[serde(default)]
    pub tools: bool,
    /// Context window in tokens. Requests whose estimated prompt exceeds it skip this endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100_000_000))]
    pub max_context_tokens: Option<i64>,
}

/// Price of the model, in any currency unit as long as all endpoints use the same one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cost {
    /// Price per million prompt tokens.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1_000_000.0))]
    pub input_per_million_tokens: f64,
    /// Price per million completion tokens.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1_000_000.0))]
    pub output_per_million_tokens: f64,
}

impl Cost {
    /// One number to rank endpoints by: input plus output price (equal weights, since the
    /// output length is unknown when routing).
    pub fn blended(&self) -> f64 {
        self.input_per_million_tokens + self.output_per_million_tokens
    }
}

/// Admission limits for one endpoint, per router replica.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointLimits {
    /// Most requests in flight to this endpoint at once; further requests fall back to the next
    /// candidate or get 429. Unset: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_concurrency: Option<i32>,
    /// Most requests started per minute (token bucket). Unset: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100_000_000))]
    pub requests_per_minute: Option<i32>,
}

/// Timeouts for one upstream call. Defaults: connect 5s, firstByte 60s, total 600s.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeouts {
    /// Time to establish the TCP/TLS connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<DurationString>,
    /// Time until the response headers arrive; past it the call counts as failed and the
    /// next candidate is tried (nothing has reached the client yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte: Option<DurationString>,
    /// Time for the whole response, streams included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<DurationString>,
    /// Longest silence between two chunks of a streamed response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<DurationString>,
}

/// Active probing of the upstream, done by the operator and recorded in status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    /// Whether to probe at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Path appended to `baseURL` for the probe (a GET that must answer 2xx).
    #[serde(default = "default_health_path")]
    #[schemars(length(min = 1, max = 512), regex(pattern = r"^/"))]
    pub path: String,
    /// Time between probes.
    #[serde(default = "default_health_interval")]
    pub interval: DurationString,
}

fn default_true() -> bool {
    true
}

fn default_health_path() -> String {
    "/models".to_owned()
}

fn default_health_interval() -> DurationString {
    DurationString::from("30s")
}

/// Observed state of a `ModelEndpoint`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelEndpointStatus {
    /// `Ready` (the spec is valid and usable) and `Reachable` (the last health probe succeeded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = crate::limits::bound_conditions)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the upstream was last probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// Latency of the last probe in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_latency_ms: Option<i64>,
}
