//! Resolution: `RoutingPolicy` + `ModelEndpoint`s → [`RouterConfig`]. Pure functions shared by
//! the operator (one policy per router Deployment) and the router's standalone mode (every
//! policy in the given files), so both serve identical configs.
//!
//! Resolution never fails outright on a missing endpoint: the endpoint is dropped from routes
//! and candidates and a [`Severity::Degraded`] problem is reported, so a deleted endpoint
//! degrades a policy instead of taking it down. Everything else that is wrong is a
//! [`Severity::Error`] and yields no config.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use kube::ResourceExt;

use crate::common::{DEFAULT_AUTO_HEAD, DEFAULT_TEXT_ENCODER, DurationString, ModelSource};
use crate::config::{
    Device, Inference, Limits, ModelLocation, ResolvedAuto, ResolvedCandidate, ResolvedClassifier,
    ResolvedEndpoint, ResolvedFallback, ResolvedIntent, ResolvedPolicy, ResolvedRoute,
    ResolvedStrategy, ResolvedTimeouts, RouterConfig, ServerSettings,
};
use crate::endpoint::{ModelEndpoint, Provider};
use crate::policy::{ClassifierType, EmbedderType, RoutingPolicy, Strategy};

/// Where model volumes are mounted in router pods.
pub const MODEL_VOLUME_ROOT: &str = "/models/volumes";

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The policy still serves, with less than it asked for.
    Degraded,
    /// The policy cannot be served as written.
    Error,
}

/// Machine-readable cause of a problem; its name is the condition `reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A referenced ModelEndpoint does not exist.
    EndpointNotFound,
    /// A ModelEndpoint's spec is unusable.
    InvalidEndpoint,
    /// A policy field is invalid.
    InvalidPolicy,
    /// A route lost all its endpoints.
    RouteWithoutEndpoints,
}

impl Reason {
    /// CamelCase name used as the condition reason and as a bounded metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EndpointNotFound => "EndpointNotFound",
            Self::InvalidEndpoint => "InvalidEndpoint",
            Self::InvalidPolicy => "InvalidPolicy",
            Self::RouteWithoutEndpoints => "RouteWithoutEndpoints",
        }
    }
}

/// One thing wrong with the input, precise enough to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// How bad.
    pub severity: Severity,
    /// Why, machine-readable.
    pub reason: Reason,
    /// Object it concerns, e.g. `RoutingPolicy ai/quickstart`.
    pub object: String,
    /// Field path, e.g. `spec.intent.routes[1].endpoints[0]`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.object, self.field, self.message)
    }
}

/// Result of resolving one policy.
#[derive(Clone, Debug)]
pub struct PolicyResolution {
    /// The resolved policy, unless an error prevents it.
    pub policy: Option<ResolvedPolicy>,
    /// Endpoints the policy references that exist and are valid.
    pub endpoints: Vec<ResolvedEndpoint>,
    /// Everything wrong, errors and degradations.
    pub problems: Vec<Problem>,
    /// Referenced endpoint names with their readiness (`None` = usable, else the reason).
    pub endpoint_readiness: BTreeMap<String, Option<Reason>>,
}

impl PolicyResolution {
    /// True when an error prevents serving the policy.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }
}

/// How model references are turned into file locations.
#[derive(Clone, Debug, Default)]
pub struct ResolveOptions {
    /// Mount root of `spec.router.modelVolumes` (in-cluster: [`MODEL_VOLUME_ROOT`]). `None`
    /// (standalone) treats `path` as a local path and rejects `volume`.
    pub model_volume_root: Option<String>,
}

fn object_name(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind} {namespace}/{name}")
}

/// Resolves one endpoint on its own, checking what the schema cannot.
pub fn resolve_endpoint(ep: &ModelEndpoint) -> Result<ResolvedEndpoint, Vec<Problem>> {
    let namespace = ep.namespace().unwrap_or_else(|| "default".to_owned());
    let object = object_name("ModelEndpoint", &namespace, &ep.name_any());
    let mut problems = Vec::new();
    let mut bad = |field: &str, message: String| {
        problems.push(Problem {
            severity: Severity::Error,
            reason: Reason::InvalidEndpoint,
            object: object.clone(),
            field: field.to_owned(),
            message,
        });
    };
    let spec = &ep.spec;
    if spec.model.trim().is_empty() {
        bad(
            "spec.model",
            "must not be empty: the model id sent upstream".to_owned(),
        );
    }
    let base_url = spec.base_url.trim_end_matches('/').to_owned();
    if !(base_url.starts_with("http://") || base_url.starts_with("https://"))
        || base_url.contains(char::is_whitespace)
    {
        bad(
            "spec.baseURL",
            format!("{:?} is not an http(s) URL", spec.base_url),
        );
    }
    match (spec.provider, &spec.azure) {
        (Provider::AzureOpenai, None) => bad(
            "spec.azure",
            "provider azure-openai needs spec.azure.deployment and spec.azure.apiVersion"
                .to_owned(),
        ),
        (p, Some(_)) if p != Provider::AzureOpenai => bad(
            "spec.azure",
            "is only used with provider azure-openai".to_owned(),
        ),
        _ => {}
    }
    let defaults = ResolvedTimeouts::default();
    let mut ms = |field: &str, d: &Option<DurationString>, default: u64| -> u64 {
        match d {
            None => default,
            Some(d) => match d.parse() {
                Some(v) if !v.is_zero() => u64::try_from(v.as_millis()).unwrap_or(u64::MAX),
                _ => {
                    bad(
                        field,
                        format!("{:?} is not a positive duration like 500ms, 30s, 5m", d.0),
                    );
                    default
                }
            },
        }
    };
    let t = &spec.timeouts;
    let timeouts = ResolvedTimeouts {
        connect_ms: ms("spec.timeouts.connect", &t.connect, defaults.connect_ms),
        first_byte_ms: ms(
            "spec.timeouts.firstByte",
            &t.first_byte,
            defaults.first_byte_ms,
        ),
        total_ms: ms("spec.timeouts.total", &t.total, defaults.total_ms),
        idle_ms: ms("spec.timeouts.idle", &t.idle, defaults.idle_ms),
    };
    let positive = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0);
    if spec.limits.max_concurrency.is_some() && positive(spec.limits.max_concurrency).is_none() {
        bad(
            "spec.limits.maxConcurrency",
            "must be at least 1".to_owned(),
        );
    }
    if spec.limits.requests_per_minute.is_some()
        && positive(spec.limits.requests_per_minute).is_none()
    {
        bad(
            "spec.limits.requestsPerMinute",
            "must be at least 1".to_owned(),
        );
    }
    for (field, v) in [
        (
            "spec.cost.inputPerMillionTokens",
            spec.cost.input_per_million_tokens,
        ),
        (
            "spec.cost.outputPerMillionTokens",
            spec.cost.output_per_million_tokens,
        ),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            bad(field, format!("{v} is not a price: must be 0 or more"));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ResolvedEndpoint {
        name: ep.name_any(),
        namespace,
        model: spec.model.clone(),
        provider: spec.provider,
        base_url,
        azure: spec.azure.clone(),
        api_key: spec.api_key_secret_ref.clone(),
        capabilities: spec.capabilities.clone(),
        cost: spec.cost.clone(),
        max_concurrency: positive(spec.limits.max_concurrency),
        requests_per_minute: positive(spec.limits.requests_per_minute),
        timeouts,
    })
}

/// Resolves one policy against the endpoints of its namespace (others are ignored).
pub fn resolve_policy(
    policy: &RoutingPolicy,
    endpoints: &[ModelEndpoint],
    opts: &ResolveOptions,
) -> PolicyResolution {
    resolve_policy_with(policy, endpoints, &BTreeMap::new(), opts)
}

/// [`resolve_policy`], where `unreadable` names endpoints of the policy's namespace that
/// exist but are unusable for a reason found outside resolution (they did not decode, or
/// break the CRD schema), with that reason: they count as invalid endpoints.
pub fn resolve_policy_with(
    policy: &RoutingPolicy,
    endpoints: &[ModelEndpoint],
    unreadable: &BTreeMap<String, String>,
    opts: &ResolveOptions,
) -> PolicyResolution {
    let namespace = policy.namespace().unwrap_or_else(|| "default".to_owned());
    let object = object_name("RoutingPolicy", &namespace, &policy.name_any());
    let mut available: BTreeMap<String, Result<ResolvedEndpoint, Vec<Problem>>> = endpoints
        .iter()
        .filter(|e| e.namespace().unwrap_or_else(|| "default".to_owned()) == namespace)
        .map(|e| (e.name_any(), resolve_endpoint(e)))
        .collect();
    for (name, error) in unreadable {
        available.insert(
            name.clone(),
            Err(vec![Problem {
                severity: Severity::Error,
                reason: Reason::InvalidEndpoint,
                object: object_name("ModelEndpoint", &namespace, name),
                field: "spec".to_owned(),
                message: error.clone(),
            }]),
        );
    }
    let mut r = Resolver {
        object,
        namespace: namespace.clone(),
        available,
        used: BTreeMap::new(),
        readiness: BTreeMap::new(),
        problems: Vec::new(),
        opts,
        volumes: policy
            .spec
            .router
            .model_volumes
            .iter()
            .map(|v| v.name.clone())
            .collect(),
    };
    let spec = &policy.spec;
    let strategy = match spec.strategy {
        Strategy::Intent => r.intent(policy).map(ResolvedStrategy::Intent),
        Strategy::Auto => r.auto(policy).map(ResolvedStrategy::Auto),
    };
    let fallback = ResolvedFallback {
        max_attempts: u32::try_from(spec.fallback.max_attempts.clamp(1, 10)).unwrap_or(1),
        on: spec.fallback.on.clone(),
    };
    if !(1..=10).contains(&spec.fallback.max_attempts) {
        r.error(
            "spec.fallback.maxAttempts",
            format!("{} is out of range: 1 to 10", spec.fallback.max_attempts),
        );
    }
    let has_errors = r.problems.iter().any(|p| p.severity == Severity::Error);
    let policy_out = match strategy {
        Some(strategy) if !has_errors => Some(ResolvedPolicy {
            name: policy.name_any(),
            namespace,
            mode: spec.mode,
            strategy,
            fallback,
            auth: spec.auth.as_ref().map(|a| a.api_keys_secret_ref.clone()),
        }),
        _ => None,
    };
    PolicyResolution {
        policy: policy_out,
        endpoints: r.used.into_values().collect(),
        problems: r.problems,
        endpoint_readiness: r.readiness,
    }
}

/// Server settings a policy asks for.
pub fn server_settings(policy: &RoutingPolicy) -> ServerSettings {
    let l = &policy.spec.limits;
    let d = Limits::default();
    let pos_u64 = |v: Option<i64>, def: u64| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(def);
    let pos_u32 = |v: Option<i32>, def: u32| v.and_then(|v| u32::try_from(v).ok()).unwrap_or(def);
    let i = &policy.spec.router.inference;
    let di = Inference::default();
    ServerSettings {
        limits: Limits {
            max_body_bytes: pos_u64(l.max_body_bytes, d.max_body_bytes),
            max_messages: pos_u32(l.max_messages, d.max_messages),
            max_images: pos_u32(l.max_images, d.max_images),
            max_image_bytes: pos_u64(l.max_image_bytes, d.max_image_bytes),
            max_image_pixels: pos_u64(l.max_image_pixels, d.max_image_pixels),
            allow_image_urls: l.allow_image_urls,
            max_inflight: pos_u32(l.max_inflight, d.max_inflight),
        },
        inference: Inference {
            device: if policy.spec.router.gpu.is_some() {
                Device::Cuda
            } else {
                Device::Cpu
            },
            workers: pos_u32(i.workers, di.workers),
            max_batch: pos_u32(i.max_batch, di.max_batch),
            batch_window_us: i
                .batch_window
                .as_ref()
                .and_then(DurationString::parse)
                .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
                .unwrap_or(di.batch_window_us),
            queue_depth: pos_u32(i.queue_depth, di.queue_depth),
        },
    }
}

/// Result of resolving a whole set of objects (standalone mode).
#[derive(Clone, Debug)]
pub struct Resolution {
    /// The config, unless an error prevents it.
    pub config: Option<RouterConfig>,
    /// Everything wrong.
    pub problems: Vec<Problem>,
}

/// Resolves every policy with the given endpoints into one config (standalone mode). Server
/// settings come from the first policy (others may only differ in routing); every valid
/// endpoint is included so that clients can name any served model directly.
pub fn resolve_all(
    policies: &[RoutingPolicy],
    endpoints: &[ModelEndpoint],
    opts: &ResolveOptions,
) -> Resolution {
    let mut problems = Vec::new();
    let mut config = RouterConfig::empty();
    if let Some(first) = policies.first() {
        config.server = server_settings(first);
    }
    let mut seen_policies = BTreeMap::new();
    for p in policies {
        let ns = p.namespace().unwrap_or_else(|| "default".to_owned());
        if let Some(other_ns) = seen_policies.insert(p.name_any(), ns.clone()) {
            problems.push(Problem {
                severity: Severity::Error,
                reason: Reason::InvalidPolicy,
                object: object_name(
                    "RoutingPolicy",
                    &p.namespace().unwrap_or_else(|| "default".to_owned()),
                    &p.name_any(),
                ),
                field: "metadata.name".to_owned(),
                message: format!(
                    "a RoutingPolicy of this name is also given in namespace {other_ns:?}; \
                     policy names must be unique within one router"
                ),
            });
            continue;
        }
        let res = resolve_policy(p, endpoints, opts);
        problems.extend(res.problems);
        if let Some(policy) = res.policy {
            config.policies.push(policy);
        }
    }
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for ep in endpoints {
        match resolve_endpoint(ep) {
            Ok(resolved) => {
                if let Some(other_ns) =
                    names.insert(resolved.name.clone(), resolved.namespace.clone())
                {
                    problems.push(Problem {
                        severity: Severity::Error,
                        reason: Reason::InvalidEndpoint,
                        object: object_name("ModelEndpoint", &resolved.namespace, &resolved.name),
                        field: "metadata.name".to_owned(),
                        message: format!(
                            "a ModelEndpoint of this name is also given in namespace \
                             {other_ns:?}; endpoint names must be unique within one router"
                        ),
                    });
                } else {
                    config.endpoints.push(resolved);
                }
            }
            Err(errs) => {
                // Policies referencing it already report it; report it once on its own too.
                for e in errs {
                    if !problems.contains(&e) {
                        problems.push(e);
                    }
                }
            }
        }
    }
    let failed = problems.iter().any(|p| p.severity == Severity::Error);
    Resolution {
        config: (!failed).then_some(config),
        problems,
    }
}

struct Resolver<'a> {
    object: String,
    namespace: String,
    available: BTreeMap<String, Result<ResolvedEndpoint, Vec<Problem>>>,
    used: BTreeMap<String, ResolvedEndpoint>,
    readiness: BTreeMap<String, Option<Reason>>,
    problems: Vec<Problem>,
    opts: &'a ResolveOptions,
    volumes: BTreeSet<String>,
}

impl Resolver<'_> {
    fn error(&mut self, field: &str, message: String) {
        self.problems.push(Problem {
            severity: Severity::Error,
            reason: Reason::InvalidPolicy,
            object: self.object.clone(),
            field: field.to_owned(),
            message,
        });
    }

    /// Looks up an endpoint; records readiness and problems. `true` if usable.
    fn endpoint(&mut self, field: &str, name: &str) -> bool {
        match self.available.get(name) {
            Some(Ok(ep)) => {
                self.used.insert(name.to_owned(), ep.clone());
                self.readiness.insert(name.to_owned(), None);
                true
            }
            Some(Err(errs)) => {
                let detail = errs
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                self.readiness
                    .insert(name.to_owned(), Some(Reason::InvalidEndpoint));
                self.problems.push(Problem {
                    severity: Severity::Degraded,
                    reason: Reason::InvalidEndpoint,
                    object: self.object.clone(),
                    field: field.to_owned(),
                    message: format!("ModelEndpoint {name:?} is invalid ({detail}); skipped"),
                });
                false
            }
            None => {
                self.readiness
                    .insert(name.to_owned(), Some(Reason::EndpointNotFound));
                self.problems.push(Problem {
                    severity: Severity::Degraded,
                    reason: Reason::EndpointNotFound,
                    object: self.object.clone(),
                    field: field.to_owned(),
                    message: format!(
                        "ModelEndpoint {name:?} does not exist in namespace {:?}; skipped",
                        self.namespace
                    ),
                });
                false
            }
        }
    }

    fn model(&mut self, field: &str, src: &ModelSource) -> Option<ModelLocation> {
        match (&src.builtin, &src.path) {
            (Some(b), None) => {
                if src.volume.is_some() || src.tokenizer.is_some() {
                    self.error(
                        field,
                        "builtin models take no volume or tokenizer: they carry their own"
                            .to_owned(),
                    );
                    return None;
                }
                Some(ModelLocation::builtin(b))
            }
            (None, Some(path)) => {
                let join = |root: &str, vol: &str, p: &str| {
                    format!("{root}/{vol}/{}", p.trim_start_matches('/'))
                };
                let (path, tokenizer) = match (&src.volume, &self.opts.model_volume_root) {
                    (Some(vol), Some(root)) => {
                        if !self.volumes.contains(vol) {
                            self.error(
                                &format!("{field}.volume"),
                                format!(
                                    "{vol:?} is not listed in spec.router.modelVolumes; add it there"
                                ),
                            );
                            return None;
                        }
                        if path.split('/').any(|seg| seg == "..") {
                            self.error(
                                &format!("{field}.path"),
                                "must stay inside the volume (no '..')".to_owned(),
                            );
                            return None;
                        }
                        (
                            join(root, vol, path),
                            src.tokenizer.as_deref().map(|t| join(root, vol, t)),
                        )
                    }
                    (Some(_), None) => {
                        self.error(
                            &format!("{field}.volume"),
                            "model volumes exist only in a cluster; in standalone mode give a \
                             local path without volume"
                                .to_owned(),
                        );
                        return None;
                    }
                    (None, _) => (path.clone(), src.tokenizer.clone()),
                };
                Some(ModelLocation {
                    builtin: None,
                    path: Some(path),
                    tokenizer,
                })
            }
            _ => {
                self.error(field, "set exactly one of builtin or path".to_owned());
                None
            }
        }
    }

    fn unit_interval(&mut self, field: &str, v: f64) -> bool {
        if (0.0..=1.0).contains(&v) {
            true
        } else {
            self.error(
                field,
                format!("{v} is out of range: must be between 0 and 1"),
            );
            false
        }
    }

    fn intent(&mut self, policy: &RoutingPolicy) -> Option<ResolvedIntent> {
        let Some(spec) = &policy.spec.intent else {
            self.error(
                "spec.intent",
                "strategy intent needs spec.intent with at least one route".to_owned(),
            );
            return None;
        };
        if spec.routes.is_empty() {
            self.error("spec.intent.routes", "needs at least one route".to_owned());
            return None;
        }
        let c = &spec.classifier;
        let model = match (c.kind, &c.model) {
            (ClassifierType::Llm, _) => None,
            (ClassifierType::Embedding, None) => Some(ModelLocation::builtin(DEFAULT_TEXT_ENCODER)),
            (ClassifierType::Onnx, None) => {
                self.error(
                    "spec.intent.classifier.model",
                    "classifier type onnx needs model: the classifier's ONNX file".to_owned(),
                );
                None
            }
            (_, Some(src)) => self.model("spec.intent.classifier.model", src),
        };
        let endpoint = match (c.kind, &c.endpoint_ref) {
            (ClassifierType::Llm, None) => {
                self.error(
                    "spec.intent.classifier.endpointRef",
                    "classifier type llm needs endpointRef: the ModelEndpoint of the \
                     classifying LLM"
                        .to_owned(),
                );
                None
            }
            (ClassifierType::Llm, Some(name)) => {
                if self.endpoint("spec.intent.classifier.endpointRef", name) {
                    Some(name.clone())
                } else {
                    None
                }
            }
            _ => None,
        };
        let confidence_floor = c.confidence_floor.unwrap_or(match c.kind {
            ClassifierType::Embedding => 0.15,
            _ => 0.3,
        });
        self.unit_interval("spec.intent.classifier.confidenceFloor", confidence_floor);
        let timeout_ms = match &c.timeout {
            None => 2000,
            Some(d) => match d.parse() {
                Some(v) if !v.is_zero() => u64::try_from(v.as_millis()).unwrap_or(u64::MAX),
                _ => {
                    self.error(
                        "spec.intent.classifier.timeout",
                        format!("{:?} is not a positive duration like 500ms or 2s", d.0),
                    );
                    2000
                }
            },
        };
        let mut names = BTreeSet::new();
        let mut routes = Vec::new();
        for (i, route) in spec.routes.iter().enumerate() {
            let field = format!("spec.intent.routes[{i}]");
            if !names.insert(route.name.clone()) {
                self.error(
                    &format!("{field}.name"),
                    format!(
                        "route {:?} is defined twice; route names must be unique",
                        route.name
                    ),
                );
            }
            if route.endpoints.is_empty() {
                self.error(
                    &format!("{field}.endpoints"),
                    "needs at least one ModelEndpoint name".to_owned(),
                );
            }
            if c.kind == ClassifierType::Embedding
                && route.description.trim().is_empty()
                && route.examples.iter().all(|e| e.trim().is_empty())
            {
                self.error(
                    &format!("{field}.description"),
                    "the embedding classifier needs a description or examples for every route"
                        .to_owned(),
                );
            }
            let mut eps = Vec::new();
            for (j, name) in route.endpoints.iter().enumerate() {
                if self.endpoint(&format!("{field}.endpoints[{j}]"), name) && !eps.contains(name) {
                    eps.push(name.clone());
                }
            }
            if eps.is_empty() && !route.endpoints.is_empty() {
                self.problems.push(Problem {
                    severity: Severity::Degraded,
                    reason: Reason::RouteWithoutEndpoints,
                    object: self.object.clone(),
                    field: format!("{field}.endpoints"),
                    message: format!(
                        "route {:?} has no usable endpoint; its requests fail with 503",
                        route.name
                    ),
                });
            }
            routes.push(ResolvedRoute {
                name: route.name.clone(),
                description: route.description.clone(),
                examples: route.examples.clone(),
                endpoints: eps,
                labels: route.labels.clone(),
                images: route.images,
            });
        }
        let default_route = match &spec.default_route {
            Some(d) if !names.contains(d) => {
                self.error(
                    "spec.intent.defaultRoute",
                    format!(
                        "{d:?} is not a route; use one of: {}",
                        names.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
                return None;
            }
            Some(d) => d.clone(),
            None => spec.routes[0].name.clone(),
        };
        Some(ResolvedIntent {
            classifier: ResolvedClassifier {
                kind: c.kind,
                model,
                endpoint,
                labels: c.labels.clone(),
                confidence_floor,
                timeout_ms,
                prompt: c.prompt.clone(),
            },
            routes,
            default_route,
        })
    }

    fn auto(&mut self, policy: &RoutingPolicy) -> Option<ResolvedAuto> {
        let Some(spec) = &policy.spec.auto else {
            self.error(
                "spec.auto",
                "strategy auto needs spec.auto with at least one candidate".to_owned(),
            );
            return None;
        };
        if spec.candidates.is_empty() {
            self.error(
                "spec.auto.candidates",
                "needs at least one candidate".to_owned(),
            );
            return None;
        }
        let text_model = match &spec.embedder.text {
            None => Some(ModelLocation::builtin(DEFAULT_TEXT_ENCODER)),
            Some(src) => self.model("spec.auto.embedder.text", src),
        };
        let vision_model = match (spec.embedder.kind, &spec.embedder.vision) {
            (EmbedderType::Clip, None) => {
                self.error(
                    "spec.auto.embedder.vision",
                    "embedder type clip needs both text and vision towers".to_owned(),
                );
                None
            }
            (EmbedderType::Clip, Some(src)) => self.model("spec.auto.embedder.vision", src),
            (EmbedderType::Text, Some(_)) => {
                self.error(
                    "spec.auto.embedder.vision",
                    "is only used with embedder type clip".to_owned(),
                );
                None
            }
            (EmbedderType::Text, None) => None,
        };
        if spec.embedder.kind == EmbedderType::Clip && spec.embedder.text.is_none() {
            self.error(
                "spec.auto.embedder.text",
                "embedder type clip needs both text and vision towers".to_owned(),
            );
        }
        let head = match &spec.head {
            None => Some(ModelLocation::builtin(DEFAULT_AUTO_HEAD)),
            Some(src) => self.model("spec.auto.head", src),
        };
        let tolerance = spec.tolerance.unwrap_or(0.0);
        self.unit_interval("spec.auto.tolerance", tolerance);
        let mut seen = BTreeSet::new();
        let mut candidates = Vec::new();
        for (i, c) in spec.candidates.iter().enumerate() {
            let field = format!("spec.auto.candidates[{i}]");
            if !seen.insert(c.endpoint.clone()) {
                self.error(
                    &format!("{field}.endpoint"),
                    format!(
                        "{:?} is listed twice; each endpoint may appear once",
                        c.endpoint
                    ),
                );
                continue;
            }
            if let Some(t) = c.threshold {
                self.unit_interval(&format!("{field}.threshold"), t);
            }
            if self.endpoint(&format!("{field}.endpoint"), &c.endpoint) {
                candidates.push(ResolvedCandidate {
                    endpoint: c.endpoint.clone(),
                    head_output: c.head_output.clone(),
                    threshold: c.threshold,
                });
            }
        }
        let vision_endpoint = match &spec.vision_endpoint {
            Some(v) if self.endpoint("spec.auto.visionEndpoint", v) => Some(v.clone()),
            _ => None,
        };
        Some(ResolvedAuto {
            embedder: spec.embedder.kind,
            text_model: text_model?,
            vision_model,
            head: head?,
            candidates,
            tolerance,
            vision_endpoint,
        })
    }
}
