//! Import of NVIDIA LLM Router v1 configuration (`config.yaml` of the Rust router-controller)
//! into Switchyard resources: each v1 `llms` entry becomes a `ModelEndpoint`, each v1 policy an
//! `intent` `RoutingPolicy` whose `onnx` classifier has the v1 classifier's labels, and API
//! keys become Secret references. A pure function of the file's text, so that the
//! `switchyard-router import nvidia-v1` command is a thin wrapper that prints the result.
//!
//! The v1 classifier (a Triton ensemble) returns one score per `llms` entry and the router
//! picks the argmax, so output `i` means `llms[i]`: route `i` carries label `i` and sends to
//! the endpoint of `llms[i]`.

mod docs;
mod fields;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::common::{ModelSource, SecretKeyRef};
use crate::manifest::API_VERSION;
use crate::policy::ModelVolume;
use docs::{
    ClassifierOut, Doc, EndpointDoc, EndpointSpecOut, IntentOut, PolicyDoc, PolicySpecOut,
    RouteOut, RouterOut, SecretDoc, doc, meta, render,
};
use fields::{
    KeySource, base_url, dns_name, key_source, provider_of, route_name, substitute, unique,
};

/// Output labels of NVIDIA's task classifier, in output order (v1 policies with 12 `llms`).
pub const NVIDIA_V1_TASK_LABELS: [&str; 12] = [
    "Brainstorming",
    "Chatbot",
    "Classification",
    "Closed QA",
    "Code Generation",
    "Extraction",
    "Open QA",
    "Other",
    "Rewrite",
    "Summarization",
    "Text Generation",
    "Unknown",
];

/// Output labels of NVIDIA's complexity classifier, in output order (v1 policies with 7 `llms`).
pub const NVIDIA_V1_COMPLEXITY_LABELS: [&str; 7] = [
    "Creativity",
    "Reasoning",
    "Contextual-Knowledge",
    "Few-Shot",
    "Domain-Knowledge",
    "No-Label-Reason",
    "Constraint",
];

/// Annotation recording the v1 policy name a RoutingPolicy was imported from.
pub const V1_POLICY_ANNOTATION: &str = "switchyard.dev/nvidia-v1-policy";
/// Annotation recording the v1 classifier URL (the Triton endpoint) of an imported policy.
pub const V1_CLASSIFIER_URL_ANNOTATION: &str = "switchyard.dev/nvidia-v1-classifier-url";

/// How the imported objects are placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// Namespace written into every object; `None` leaves it to `kubectl -n`.
    pub namespace: Option<String>,
    /// Name of the model volume (in `spec.router.modelVolumes`) holding the exported classifiers.
    pub model_volume: String,
    /// PersistentVolumeClaim backing that volume.
    pub model_claim: String,
    /// Values for `${VAR}` references outside `api_key` (v1 substitutes them from its
    /// environment). API keys are never substituted: they become Secret references.
    pub env: BTreeMap<String, String>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            namespace: None,
            model_volume: "classifiers".to_owned(),
            model_claim: "llm-router-classifiers".to_owned(),
            env: BTreeMap::new(),
        }
    }
}

impl ImportOptions {
    /// Default options with the given namespace.
    pub fn in_namespace(namespace: &str) -> Self {
        Self {
            namespace: Some(namespace.to_owned()),
            ..Self::default()
        }
    }
}

/// What an import produced.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportOutput {
    /// The objects as one commented multi-document YAML file, ready for `kubectl apply -f`.
    pub yaml: String,
    /// The same objects as JSON values, in file order (Secrets, endpoints, policies).
    pub objects: Vec<Value>,
    /// Things that need attention before applying (literal keys written into a Secret,
    /// renamed policies, llm names that differ from the classifier's labels).
    pub warnings: Vec<String>,
    /// Steps left to the user (Secrets to create, classifiers to export).
    pub notes: Vec<String>,
}

/// Why a v1 config could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The text is not YAML.
    #[error("not valid YAML: {0}")]
    Yaml(#[source] serde_saphyr::Error),
    /// A field is missing, has the wrong type or an unusable value.
    #[error("{field}: {message}")]
    Invalid {
        /// Path of the field, e.g. `policies[0].llms[2].api_base`.
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The objects could not be written as YAML.
    #[error("cannot write the imported objects as YAML: {0}")]
    Serialize(#[source] serde_saphyr::SerializeError),
    /// The objects could not be converted to JSON values.
    #[error("cannot convert the imported objects: {0}")]
    Json(#[source] serde_json::Error),
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The v1 `config.yaml`.
#[derive(Deserialize)]
struct V1Config {
    policies: Vec<V1Policy>,
}

#[derive(Deserialize)]
struct V1Policy {
    name: String,
    url: String,
    llms: Vec<V1Llm>,
}

#[derive(Deserialize)]
struct V1Llm {
    name: String,
    api_base: String,
    #[serde(default)]
    api_key: Option<String>,
    model: String,
}

/// One ModelEndpoint to write: a distinct `(api_base, model, api_key)` of the v1 `llms`.
struct Endpoint {
    name: String,
    base_url: String,
    model: String,
    key: KeySource,
}

/// Imports a v1 `config.yaml` (its text) into Switchyard objects.
pub fn import_nvidia_v1(
    config_yaml: &str,
    opts: &ImportOptions,
) -> Result<ImportOutput, ImportError> {
    let config = parse(config_yaml)?;
    let mut out = Importer {
        opts,
        docs: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
    };
    let (endpoints, llm_endpoints) = collect_endpoints(&config, opts)?;
    out.endpoints(&endpoints)?;
    let mut policy_names = Vec::new();
    for (p, policy) in config.policies.iter().enumerate() {
        out.policy(p, policy, &llm_endpoints[p], &mut policy_names)?;
    }
    Ok(ImportOutput {
        yaml: render(&out.notes, &out.docs),
        objects: out.docs.into_iter().map(|d| d.value).collect(),
        warnings: out.warnings,
        notes: out.notes,
    })
}

fn parse(config_yaml: &str) -> Result<V1Config, ImportError> {
    let raw: Value = serde_saphyr::from_str(config_yaml).map_err(ImportError::Yaml)?;
    if !raw.is_object() {
        return Err(invalid(
            "policies",
            "missing: a v1 config is a mapping with a `policies` list",
        ));
    }
    let config: V1Config = serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        invalid(
            if path == "." { "policies".into() } else { path },
            e.into_inner().to_string(),
        )
    })?;
    if config.policies.is_empty() {
        return Err(invalid("policies", "needs at least one policy"));
    }
    for (p, policy) in config.policies.iter().enumerate() {
        if policy.llms.is_empty() {
            return Err(invalid(
                format!("policies[{p}].llms"),
                "needs at least one llm",
            ));
        }
        if policy.llms.len() > 64 {
            return Err(invalid(
                format!("policies[{p}].llms"),
                format!(
                    "has {} entries; a RoutingPolicy holds at most 64 routes",
                    policy.llms.len()
                ),
            ));
        }
    }
    Ok(config)
}

/// The endpoints, one per distinct `(api_base, model, key)` in order of first use, and for each
/// policy the endpoint name of each of its `llms`.
fn collect_endpoints(
    config: &V1Config,
    opts: &ImportOptions,
) -> Result<(Vec<Endpoint>, Vec<Vec<String>>), ImportError> {
    let mut endpoints: Vec<Endpoint> = Vec::new();
    let mut per_policy = Vec::new();
    for (p, policy) in config.policies.iter().enumerate() {
        let mut names = Vec::new();
        for (l, llm) in policy.llms.iter().enumerate() {
            let field = format!("policies[{p}].llms[{l}]");
            let base = substitute(&llm.api_base, &format!("{field}.api_base"), &opts.env)?;
            let base_url = base_url(&base, &format!("{field}.api_base"))?;
            let model = substitute(&llm.model, &format!("{field}.model"), &opts.env)?;
            if model.trim().is_empty() {
                return Err(invalid(format!("{field}.model"), "must not be empty"));
            }
            let key = key_source(llm.api_key.as_deref(), &format!("{field}.api_key"))?;
            let existing = endpoints
                .iter()
                .find(|e| e.base_url == base_url && e.model == model && e.key == key);
            let name = match existing {
                Some(e) => e.name.clone(),
                None => {
                    let short = model.rsplit('/').next().unwrap_or(&model);
                    let name = unique(dns_name(short, 63, "endpoint", true), |c| {
                        endpoints.iter().any(|e| e.name == c)
                    });
                    endpoints.push(Endpoint {
                        name: name.clone(),
                        base_url,
                        model,
                        key,
                    });
                    name
                }
            };
            names.push(name);
        }
        per_policy.push(names);
    }
    Ok((endpoints, per_policy))
}

/// Accumulates the output documents, warnings and notes.
struct Importer<'a> {
    opts: &'a ImportOptions,
    docs: Vec<Doc>,
    warnings: Vec<String>,
    notes: Vec<String>,
}

impl Importer<'_> {
    /// ModelEndpoints (after the Secrets that literal keys need) and the Secret notes.
    fn endpoints(&mut self, endpoints: &[Endpoint]) -> Result<(), ImportError> {
        let mut env_secrets: BTreeMap<String, String> = BTreeMap::new();
        let mut endpoint_docs = Vec::new();
        for ep in endpoints {
            let secret_ref = match &ep.key {
                KeySource::None => None,
                KeySource::Env(var) => {
                    let secret = dns_name(var, 253, "api-key", true);
                    env_secrets.insert(var.clone(), secret.clone());
                    Some(SecretKeyRef {
                        name: secret,
                        key: var.clone(),
                    })
                }
                KeySource::Literal(value) => Some(self.literal_key_secret(&ep.name, value)?),
            };
            endpoint_docs.push(doc(
                vec![format!("v1 llm model {:?} at {}", ep.model, ep.base_url)],
                &EndpointDoc {
                    api_version: API_VERSION,
                    kind: "ModelEndpoint",
                    metadata: meta(&ep.name, self.opts, BTreeMap::new()),
                    spec: EndpointSpecOut {
                        model: ep.model.clone(),
                        provider: provider_of(&ep.base_url),
                        base_url: ep.base_url.clone(),
                        api_key_secret_ref: secret_ref,
                    },
                },
            )?);
        }
        self.docs.extend(endpoint_docs);
        let ns_flag = self
            .opts
            .namespace
            .as_deref()
            .map(|n| format!("-n {n} "))
            .unwrap_or_default();
        for (var, secret) in &env_secrets {
            self.notes.push(format!(
                "create the Secret holding ${{{var}}}: kubectl {ns_flag}create secret generic \
                 {secret} --from-literal={var}=\"${var}\""
            ));
        }
        Ok(())
    }

    /// A Secret document holding a literal key from the config, with a loud warning.
    fn literal_key_secret(
        &mut self,
        endpoint: &str,
        value: &str,
    ) -> Result<SecretKeyRef, ImportError> {
        let secret = format!("{endpoint}-api-key");
        self.warnings.push(format!(
            "ModelEndpoint {endpoint:?}: the v1 config holds a literal API key; it was written \
             into Secret {secret:?} in the output. Do not commit that file; prefer \
             `api_key: ${{VAR}}` and a Secret created with kubectl"
        ));
        self.docs.push(doc(
            vec![
                "WARNING: holds a literal API key copied from the v1 config.".to_owned(),
                "Do not commit it; create the Secret with kubectl instead.".to_owned(),
            ],
            &SecretDoc {
                api_version: "v1",
                kind: "Secret",
                metadata: meta(&secret, self.opts, BTreeMap::new()),
                kind_of_secret: "Opaque",
                string_data: BTreeMap::from([("API_KEY".to_owned(), value.to_owned())]),
            },
        )?);
        Ok(SecretKeyRef {
            name: secret,
            key: "API_KEY".to_owned(),
        })
    }

    /// The RoutingPolicy of v1 policy `p`: route `i` carries label `i` and sends to the
    /// endpoint of `llms[i]`.
    fn policy(
        &mut self,
        p: usize,
        policy: &V1Policy,
        llm_endpoints: &[String],
        taken: &mut Vec<String>,
    ) -> Result<(), ImportError> {
        let field = format!("policies[{p}]");
        let v1_name = substitute(&policy.name, &format!("{field}.name"), &self.opts.env)?;
        let name = dns_name(&v1_name, 56, "", false);
        if name.is_empty() {
            return Err(invalid(
                format!("{field}.name"),
                format!("{v1_name:?} has no letters or digits to name a RoutingPolicy with"),
            ));
        }
        if taken.contains(&name) {
            return Err(invalid(
                format!("{field}.name"),
                format!("{v1_name:?} names a policy twice (as RoutingPolicy {name:?})"),
            ));
        }
        taken.push(name.clone());
        if name != v1_name {
            self.warnings.push(format!(
                "v1 policy {v1_name:?} is RoutingPolicy {name:?} (Kubernetes names allow only \
                 lowercase letters, digits and '-'); clients that send \
                 \"nim-llm-router\": {{\"policy\": {v1_name:?}}} must name {name:?}"
            ));
        }
        let labels = labels_for(&policy.llms);
        let mut routes: Vec<RouteOut> = Vec::new();
        for (l, (llm, label)) in policy.llms.iter().zip(&labels).enumerate() {
            if !llm.name.eq_ignore_ascii_case(label) {
                self.warnings.push(format!(
                    "{field}.llms[{l}].name {:?} differs from the classifier's label {label:?} \
                     at output {l}; routing follows the output index, as in v1",
                    llm.name
                ));
            }
            let route = unique(route_name(label), |c| routes.iter().any(|r| r.name == c));
            let mut description = format!("v1 classifier output {l}: {label:?}");
            if llm.name != *label {
                description.push_str(&format!(" (v1 llm {:?})", llm.name));
            }
            routes.push(RouteOut {
                labels: if route == *label {
                    Vec::new()
                } else {
                    vec![label.clone()]
                },
                name: route,
                description,
                endpoints: vec![llm_endpoints[l].clone()],
            });
        }
        let dir = dns_name(&v1_name, 63, "classifier", false);
        let claim = &self.opts.model_claim;
        self.notes.push(format!(
            "export the Triton classifier of v1 policy {v1_name:?} to ONNX and copy model.onnx \
             and tokenizer.json to {dir}/ in PersistentVolumeClaim {claim:?}"
        ));
        let annotations = BTreeMap::from([
            (V1_POLICY_ANNOTATION.to_owned(), v1_name.clone()),
            (V1_CLASSIFIER_URL_ANNOTATION.to_owned(), policy.url.clone()),
        ]);
        let comments = vec![
            format!(
                "v1 policy {v1_name:?}; its classifier ran on Triton at {}",
                policy.url
            ),
            "Switchyard runs the classifier in the router with ONNX Runtime: export the Triton"
                .to_owned(),
            format!(
                "model to ONNX and copy model.onnx and tokenizer.json to {dir}/ in the \
                 PersistentVolumeClaim {claim:?}."
            ),
            "Output i of the classifier selects route i (argmax, as in v1).".to_owned(),
        ];
        let classifier = ClassifierOut {
            kind: "onnx",
            model: ModelSource {
                builtin: None,
                volume: Some(self.opts.model_volume.clone()),
                path: Some(format!("{dir}/model.onnx")),
                tokenizer: Some(format!("{dir}/tokenizer.json")),
            },
            labels,
            confidence_floor: 0.0,
        };
        let spec = PolicySpecOut {
            strategy: "intent",
            intent: IntentOut { classifier, routes },
            router: RouterOut {
                model_volumes: vec![ModelVolume {
                    name: self.opts.model_volume.clone(),
                    persistent_volume_claim: Some(claim.clone()),
                    image: None,
                }],
            },
        };
        self.docs.push(doc(
            comments,
            &PolicyDoc {
                api_version: API_VERSION,
                kind: "RoutingPolicy",
                metadata: meta(&name, self.opts, annotations),
                spec,
            },
        )?);
        Ok(())
    }
}

/// The classifier's labels: NVIDIA's task or complexity labels when the count matches,
/// else the llm names.
fn labels_for(llms: &[V1Llm]) -> Vec<String> {
    let known: &[&str] = match llms.len() {
        12 => &NVIDIA_V1_TASK_LABELS,
        7 => &NVIDIA_V1_COMPLEXITY_LABELS,
        _ => &[],
    };
    if known.is_empty() {
        llms.iter().map(|l| l.name.clone()).collect()
    } else {
        known.iter().map(|l| (*l).to_owned()).collect()
    }
}
