//! `RoutingPolicy`: how requests are routed, and how the router pods that do it are run.

// kube's `printcolumn(...)` repeats `type_ = ...` per column by design.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{DurationString, ModelSource, SecretKeyRef};

/// A routing policy: which models exist for which kind of request, and the router that serves it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "switchyard.dev",
    version = "v1alpha1",
    kind = "RoutingPolicy",
    namespaced,
    status = "RoutingPolicyStatus",
    derive = "PartialEq",
    shortname = "rp",
    shortname = "policy",
    category = "switchyard",
    doc = "A routing policy and the router Deployment that serves it.",
    printcolumn(name = "Strategy", type_ = "string", json_path = ".spec.strategy"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Replicas",
        type_ = "integer",
        json_path = ".status.readyReplicas"
    ),
    printcolumn(name = "Service", type_ = "string", json_path = ".status.serviceURL"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.strategy != 'intent' || has(self.intent)",
     "message": "strategy intent needs spec.intent with at least one route"},
    {"rule": "self.strategy != 'auto' || has(self.auto)",
     "message": "strategy auto needs spec.auto with at least one candidate"},
]))]
pub struct RoutingPolicySpec {
    /// `proxy` (default): forward the request to the chosen model and stream its answer back.
    /// `recommend`: answer with the decision only; the client calls the model itself.
    #[serde(default)]
    pub mode: Mode,
    /// `intent`: classify the request into named routes. `auto`: learned quality/cost routing.
    pub strategy: Strategy,
    /// Settings of the `intent` strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<IntentSpec>,
    /// Settings of the `auto` strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<AutoSpec>,
    /// When and how often to retry on the next candidate.
    #[serde(default)]
    pub fallback: Fallback,
    /// Request limits applied by the router before routing.
    #[serde(default)]
    pub limits: RequestLimits,
    /// Client authentication. Unset: the router accepts any caller that can reach its Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ClientAuth>,
    /// How the router pods run: replicas, image, resources, GPU scheduling, placement.
    #[serde(default)]
    pub router: RouterSpec,
}

/// What the router does with a routed request.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Forward to the chosen model and return its answer.
    #[default]
    Proxy,
    /// Return the decision only.
    Recommend,
}

/// Routing strategy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Classify into named routes, each with an ordered list of endpoints.
    Intent,
    /// Predict per-candidate answer quality with a trained head and trade it against cost.
    Auto,
}

/// The `intent` strategy: routes and the classifier that picks one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.defaultRoute) || self.routes.exists(r, r.name == self.defaultRoute)",
     "message": "defaultRoute must name one of spec.intent.routes"},
    {"rule": "self.routes.all(r, self.routes.exists_one(o, o.name == r.name))",
     "message": "route names in spec.intent.routes must be unique"},
]))]
pub struct IntentSpec {
    /// How requests are classified. Default: the embedding classifier with the built-in encoder.
    #[serde(default)]
    pub classifier: IntentClassifier,
    /// Named routes. Order matters only for ties.
    #[schemars(length(min = 1, max = 64))]
    pub routes: Vec<Route>,
    /// Route used when the classifier is unsure or fails. Default: the first route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub default_route: Option<String>,
}

/// How an intent is recognised.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.type) || self.type != 'llm' || has(self.endpointRef)",
     "message": "classifier type llm needs endpointRef: the ModelEndpoint of the classifying LLM"},
    {"rule": "!has(self.type) || self.type != 'onnx' || has(self.model)",
     "message": "classifier type onnx needs model: the classifier's ONNX file"},
]))]
pub struct IntentClassifier {
    /// `embedding` (default): similarity to each route's description and examples, no training.
    /// `onnx`: a supervised classifier whose labels map to routes. `llm`: a small LLM asked
    /// to name the route (NVIDIA's reference setup uses Qwen3-1.7B).
    #[serde(default, rename = "type")]
    pub kind: ClassifierType,
    /// The encoder (`embedding`) or classifier (`onnx`) model. Default for `embedding`:
    /// the built-in `minilm-l6-v2-int8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSource>,
    /// `llm` only: name of the ModelEndpoint serving the classifying LLM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub endpoint_ref: Option<String>,
    /// `onnx` only: the classifier's output labels in order, when the model's metadata lacks
    /// them. Each label maps to the route of the same name or listing it in `labels`.
    /// At most 256 labels of 1 to 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 128)))]
    pub labels: Option<Vec<String>>,
    /// `embedding`/`onnx`: below this confidence the request goes to `defaultRoute`.
    /// For `embedding` it is a cosine-based score (default 0.15: MiniLM scores clear matches
    /// around 0.2-0.5); for `onnx` a probability (default 0.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence_floor: Option<f64>,
    /// `llm` only: time to wait for the classifier's answer before using `defaultRoute`.
    /// Default 2s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationString>,
    /// `llm` only: replaces the built-in system prompt. The route list is appended to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 8192))]
    pub prompt: Option<String>,
}

/// Intent classifier kind.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClassifierType {
    /// Embedding similarity to route descriptions and examples.
    #[default]
    Embedding,
    /// A supervised ONNX classifier with a label list.
    Onnx,
    /// A small LLM behind a ModelEndpoint.
    Llm,
}

/// One named route of the `intent` strategy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    /// Route name, reported as `x-switchyard-route` and in metrics.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    )]
    pub name: String,
    /// What requests on this route look like, in a sentence. Embedded by the `embedding`
    /// classifier and shown to the `llm` classifier.
    #[serde(default)]
    #[schemars(length(max = 2048))]
    pub description: String,
    /// Example user messages for this route (embedding classifier).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 4096)))]
    pub examples: Vec<String>,
    /// ModelEndpoint names in preference order; later ones are fallbacks.
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 253)))]
    pub endpoints: Vec<String>,
    /// `onnx` classifier: extra classifier labels that map to this route.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 128)))]
    pub labels: Vec<String>,
    /// Requests carrying images are sent to this route regardless of their text (first such
    /// route wins). Its endpoints should have `capabilities.vision`.
    #[serde(default)]
    pub images: bool,
}

/// The `auto` strategy: a learned head predicts each candidate's chance of a good answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.candidates.all(c, self.candidates.exists_one(o, o.endpoint == c.endpoint))",
     "message": "each endpoint may appear once in spec.auto.candidates"},
]))]
pub struct AutoSpec {
    /// The embedder whose output feeds the head. Default: the built-in text encoder.
    #[serde(default)]
    pub embedder: Embedder,
    /// The trained head (`switchyard-router train` output). Default: the built-in head trained
    /// on MMLU for the built-in text encoder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<ModelSource>,
    /// Candidate endpoints with their quality thresholds. The head must predict exactly these.
    #[schemars(length(min = 1, max = 32))]
    pub candidates: Vec<Candidate>,
    /// Default quality/cost trade-off, 0 to 1. A candidate is acceptable when its predicted
    /// probability reaches its threshold or is at most `tolerance` below the best candidate's
    /// (absolute difference of probabilities); the cheapest acceptable candidate wins. 0 is NVIDIA's rule (cheapest above
    /// its threshold, else the most likely); 1 always picks the cheapest. Clients may override
    /// it per request. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub tolerance: Option<f64>,
    /// Endpoint used for requests with images when no candidate has vision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub vision_endpoint: Option<String>,
}

/// Embedder feeding the auto head.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.type) || self.type != 'clip' || (has(self.text) && has(self.vision))",
     "message": "embedder type clip needs both text and vision towers"},
]))]
pub struct Embedder {
    /// `text` (default): a sentence encoder. `clip`: CLIP text and vision towers, concatenated
    /// (image half zero when there is no image), as in NVIDIA's reference router.
    #[serde(default, rename = "type")]
    pub kind: EmbedderType,
    /// Text encoder or CLIP text tower. Default: the built-in `minilm-l6-v2-int8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<ModelSource>,
    /// CLIP vision tower (`clip` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision: Option<ModelSource>,
}

/// Embedder kind.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EmbedderType {
    /// A sentence encoder (mean-pooled, L2-normalised).
    #[default]
    Text,
    /// CLIP text + vision towers.
    Clip,
}

/// One candidate of the `auto` strategy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Candidate {
    /// ModelEndpoint name.
    #[schemars(length(min = 1, max = 253))]
    pub endpoint: String,
    /// Name of the head output that predicts this endpoint (a model of the training data,
    /// e.g. `gpt-4-1106-preview`). Default: the endpoint name, then the endpoint's model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub head_output: Option<String>,
    /// Probability of a good answer this candidate must reach to be chosen over a more
    /// expensive one. Default: the calibrated threshold stored in the head, else 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub threshold: Option<f64>,
}

/// Retry policy across candidates.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fallback {
    /// Most upstream attempts per request, the first included. Default 3.
    #[serde(default = "default_max_attempts")]
    #[schemars(range(min = 1, max = 10))]
    pub max_attempts: i32,
    /// Failures that move on to the next candidate (only before any byte reached the client).
    #[serde(default = "default_fallback_on")]
    #[schemars(length(max = 8))]
    pub on: Vec<FallbackTrigger>,
}

impl Default for Fallback {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            on: default_fallback_on(),
        }
    }
}

fn default_max_attempts() -> i32 {
    3
}

fn default_fallback_on() -> Vec<FallbackTrigger> {
    vec![
        FallbackTrigger::ConnectError,
        FallbackTrigger::Timeout,
        FallbackTrigger::RateLimited,
        FallbackTrigger::ServerError,
    ]
}

/// A kind of upstream failure.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FallbackTrigger {
    /// Connection refused, reset or TLS failure.
    ConnectError,
    /// No response headers within the endpoint's `firstByte` timeout.
    Timeout,
    /// Upstream answered 429, or the endpoint's own limits are exhausted.
    RateLimited,
    /// Upstream answered 5xx.
    ServerError,
}

/// Limits on incoming requests, checked before any routing work.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestLimits {
    /// Largest request body in bytes. Default 20 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 1_073_741_824))]
    pub max_body_bytes: Option<i64>,
    /// Most messages in one request. Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100_000))]
    pub max_messages: Option<i32>,
    /// Most images in one request. Default 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1024))]
    pub max_images: Option<i32>,
    /// Largest decoded image in bytes. Default 10 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 1_073_741_824))]
    pub max_image_bytes: Option<i64>,
    /// Largest image in pixels (width × height), against decompression bombs. Default 40 M.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000_000))]
    pub max_image_pixels: Option<i64>,
    /// Fetch `http(s)` image URLs for classification (off by default: a request could make
    /// the router fetch arbitrary URLs). Data URLs always work.
    #[serde(default)]
    pub allow_image_urls: bool,
    /// Most requests in flight per router replica; beyond it the router answers 429.
    /// Default 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_inflight: Option<i32>,
}

/// Client authentication with static API keys.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientAuth {
    /// Secret key holding accepted client API keys, one per line. Clients send
    /// `Authorization: Bearer <key>`.
    pub api_keys_secret_ref: SecretKeyRef,
}

/// How the router pods of this policy run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.autoscaling) || !has(self.autoscaling.minReplicas) || self.autoscaling.minReplicas <= self.autoscaling.maxReplicas",
     "message": "router.autoscaling.minReplicas must not exceed maxReplicas"},
]))]
pub struct RouterSpec {
    /// Number of router pods (ignored while `autoscaling` is set). Default 1.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: i32,
    /// Router image. Default: the image the operator was started with (`--router-image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
    /// CPU/memory (and other) requests and limits of the router container. Like every
    /// Kubernetes type embedded here, its lists, maps and strings are bounded (64 items,
    /// 64 entries, 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::limits::bound_embedded)]
    pub resources: Option<ResourceRequirements>,
    /// GPU scheduling. Unset: CPU inference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuSpec>,
    /// Node labels the router pods must match. At most 64 entries; values up to 1024
    /// characters (Kubernetes itself allows 63 in a label value).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = crate::limits::bound_embedded)]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations added to the router pods (GPU pods also get the standard
    /// `nvidia.com/gpu` toleration). At most 32.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), transform = crate::limits::bound_embedded)]
    pub tolerations: Vec<Toleration>,
    /// Affinity rules of the router pods. Every list inside holds at most 64 items, every
    /// map at most 64 entries, every string at most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::limits::bound_embedded)]
    pub affinity: Option<Affinity>,
    /// Horizontal autoscaling. Unset: fixed `replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// Volumes holding your own models, mounted read-only at `/models/volumes/<name>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub model_volumes: Vec<ModelVolume>,
    /// Inference engine tuning.
    #[serde(default)]
    pub inference: InferenceSpec,
}

impl Default for RouterSpec {
    fn default() -> Self {
        Self {
            replicas: default_replicas(),
            image: None,
            resources: None,
            gpu: None,
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            affinity: None,
            autoscaling: None,
            model_volumes: Vec::new(),
            inference: InferenceSpec::default(),
        }
    }
}

fn default_replicas() -> i32 {
    1
}

/// GPU scheduling of router pods; inference then uses the CUDA execution provider.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GpuSpec {
    /// GPUs per pod. Default 1.
    #[serde(default = "default_gpu_count")]
    #[schemars(range(min = 1, max = 16))]
    pub count: i32,
    /// Extended resource name requested. Default `nvidia.com/gpu`.
    #[serde(default = "default_gpu_resource")]
    #[schemars(length(min = 1, max = 253))]
    pub resource_name: String,
    /// RuntimeClass of the pods (e.g. `nvidia`), where the cluster needs one for GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub runtime_class_name: Option<String>,
    /// GPU product to schedule on, matched against the `nvidia.com/gpu.product` node label
    /// (e.g. `NVIDIA-H100-80GB-HBM3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub product: Option<String>,
}

fn default_gpu_count() -> i32 {
    1
}

fn default_gpu_resource() -> String {
    "nvidia.com/gpu".to_owned()
}

/// Horizontal pod autoscaling of the router.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Autoscaling {
    /// Fewest replicas. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub min_replicas: Option<i32>,
    /// Most replicas.
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,
    /// Target average CPU utilisation in percent. Default 70.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization: Option<i32>,
    /// Target average in-flight requests per pod (needs a custom-metrics adapter serving
    /// `switchyard_inflight_requests`). Unset: CPU only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100_000))]
    pub target_inflight_requests: Option<i32>,
}

/// A volume with model files.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.persistentVolumeClaim) != has(self.image)",
     "message": "set exactly one of persistentVolumeClaim or image"},
]))]
pub struct ModelVolume {
    /// Name used by `volume` in model references.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,
    /// Name of a PersistentVolumeClaim in the policy's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub persistent_volume_claim: Option<String>,
    /// OCI image holding the files (Kubernetes image volumes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
}

/// Inference engine tuning.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InferenceSpec {
    /// Worker threads owning model sessions. Default: 1 per 2 CPUs, at least 1 (1 on GPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub workers: Option<i32>,
    /// Largest batch one inference call takes. Default 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub max_batch: Option<i32>,
    /// How long a worker waits for more requests to fill a batch. Default 2ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_window: Option<DurationString>,
    /// Requests waiting for inference beyond which the router answers 429. Default 256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100_000))]
    pub queue_depth: Option<i32>,
}

/// Observed state of a `RoutingPolicy`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoutingPolicyStatus {
    /// `Ready` (routers serve the current config), `Resolved` (every reference resolved) and
    /// `Degraded` (serving, but with something missing or on a fallback such as CPU).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = crate::limits::bound_conditions)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Router pods ready to serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// In-cluster URL applications call (OpenAI base URL).
    #[serde(
        default,
        rename = "serviceURL",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(max = 512))]
    pub service_url: Option<String>,
    /// Readiness of each referenced endpoint. At most 2048 entries, more than a spec can
    /// name (64 routes × 16 endpoints, 32 candidates and two single references).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2048))]
    pub endpoints: Vec<EndpointReadiness>,
    /// Hash of the resolved router config the routers are told to serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub config_hash: Option<String>,
}

/// Readiness of one endpoint referenced by a policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointReadiness {
    /// ModelEndpoint name.
    #[schemars(length(max = 253))]
    pub name: String,
    /// Whether it exists, is valid and (if probed) reachable.
    pub ready: bool,
    /// Why not, as a CamelCase reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub reason: Option<String>,
}
