//! What the scenario files share: the fake upstreams, the standard objects (three endpoints,
//! an API-key Secret and an intent policy `p`), and the macro that runs one scenario both
//! hermetically (CI) and against a real cluster (`#[ignore]`d; runs when
//! `SWITCHYARD_E2E_KUBECONFIG` is set).
#![allow(dead_code)]

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use serde_json::{Value, json};
use switchyard_crds::{ModelEndpoint, RoutingPolicy};
use switchyard_e2e::harness::objects::{self, apply};
use switchyard_e2e::harness::{Cluster, HarnessError, Hermetic, HermeticOptions, RealCluster};
use switchyard_router::testing::FakeUpstream;

/// How long a new policy may take to become Ready (operator reconcile, router start with the
/// embedding model, first report). Generous for a loaded 2-core CI machine; a real cluster
/// pulling images may need the larger one.
pub const READY: Duration = Duration::from_secs(120);

/// How long a live edit may take to be served (the promise).
pub const LIVE: Duration = Duration::from_secs(2);

/// The policy every scenario deploys.
pub const POLICY: &str = "p";

/// A prompt the `chat` route takes.
pub const CHAT: &str = "Hello there, how are you doing today?";
/// A prompt the `code` route takes.
pub const CODE: &str = "Write a Python function that sorts a list of numbers.";

/// Starts the hermetic setup, panicking with the reason when it cannot.
pub async fn hermetic(options: HermeticOptions) -> Hermetic {
    match Hermetic::start(options).await {
        Ok(h) => h,
        Err(e) => panic!("starting the hermetic setup failed: {e}"),
    }
}

/// Connects to the configured real cluster, or `None` (with a note) when none is configured.
pub async fn real(name: &str) -> Option<RealCluster> {
    if !RealCluster::configured() {
        eprintln!("skipped: set SWITCHYARD_E2E_KUBECONFIG to run against a real cluster");
        return None;
    }
    match RealCluster::connect(name).await {
        Ok(c) => Some(c),
        Err(e) => panic!("connecting to the real cluster failed: {e}"),
    }
}

/// Defines the hermetic test `$hermetic` and the real-cluster test `$real` of one scenario
/// `$scenario: async fn(&impl Cluster) -> Result<(), HarnessError>`.
macro_rules! scenario {
    ($hermetic:ident, $real:ident, $scenario:path) => {
        scenario!($hermetic, $real, $scenario, |o| o);
    };
    ($hermetic:ident, $real:ident, $scenario:path, $options:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $hermetic() {
            use switchyard_e2e::harness::HermeticOptions as Options;
            let tweak: fn(Options) -> Options = $options;
            let c = support::hermetic(tweak(Options::new(stringify!($hermetic)))).await;
            switchyard_e2e::harness::run_scenario(&c, $scenario(&c)).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "needs a real cluster: set SWITCHYARD_E2E_KUBECONFIG (see e2e/README.md)"]
        async fn $real() {
            let Some(c) = support::real(stringify!($real)).await else {
                return;
            };
            switchyard_e2e::harness::run_scenario(&c, $scenario(&c)).await;
        }
    };
}

/// The fake upstreams: `a` (needs the key from Secret `keys`), `b`, `vl` (vision).
pub struct Upstreams {
    /// Primary of `chat`, fallback of `code`.
    pub a: FakeUpstream,
    /// Primary of `code`, fallback of `chat`.
    pub b: FakeUpstream,
    /// The vision endpoint of the `image` route.
    pub vl: FakeUpstream,
    /// Base URLs the routers reach them at (a, b, vl).
    pub urls: [String; 3],
}

impl Upstreams {
    /// Starts them and asks the cluster how routers reach them.
    pub async fn start(c: &impl Cluster) -> Result<Self, HarnessError> {
        let start = |name: &'static str| async move {
            FakeUpstream::start(name)
                .await
                .map_err(|e| HarnessError::Io(format!("starting upstream {name}"), e))
        };
        let (a, b, vl) = (start("a").await?, start("b").await?, start("vl").await?);
        let urls = [
            c.upstream_url(a.addr()).await?,
            c.upstream_url(b.addr()).await?,
            c.upstream_url(vl.addr()).await?,
        ];
        Ok(Self { a, b, vl, urls })
    }
}

/// Starts one more fake upstream and returns it with the URL routers reach it at.
pub async fn upstream(
    c: &impl Cluster,
    name: &str,
) -> Result<(FakeUpstream, String), HarnessError> {
    let u = FakeUpstream::start(name)
        .await
        .map_err(|e| HarnessError::Io(format!("starting upstream {name}"), e))?;
    let url = c.upstream_url(u.addr()).await?;
    Ok((u, url))
}

/// Endpoint `a`: model `org/model-a`, key from Secret `keys` (key `A_KEY`), 1 s first byte.
pub fn endpoint_a(url: &str) -> ModelEndpoint {
    objects::endpoint(
        "a",
        "org/model-a",
        url,
        json!({"apiKeySecretRef": {"name": "keys", "key": "A_KEY"},
               "timeouts": {"connect": "1s", "firstByte": "1s", "total": "30s"}}),
    )
}

/// The spec of policy `p`: intent routing with the embedding classifier.
/// `chat` → [a, b], `code` → [b, a], `special` (cooking) → [b], images → [vl].
pub fn policy_spec() -> Value {
    json!({
        "strategy": "intent",
        "intent": {
            "classifier": {"type": "embedding", "confidenceFloor": 0.2},
            "defaultRoute": "chat",
            "routes": [
                {"name": "chat",
                 "description": "Casual conversation, greetings and small talk.",
                 "examples": ["Hello there, how are you?", "Good morning!", "Tell me a joke.",
                              "Thanks, that was helpful!"],
                 "endpoints": ["a", "b"]},
                {"name": "code",
                 "description": "Writing, explaining or debugging source code.",
                 "examples": ["Write a Python function that reverses a list.",
                              "Why does this Rust code fail to compile?",
                              "Fix the bug in my JavaScript loop."],
                 "endpoints": ["b", "a"]},
                {"name": "special",
                 "description": "Special requests.",
                 "examples": ["How do I bake sourdough bread?",
                              "Give me a recipe for vegetable lasagna."],
                 "endpoints": ["b"]},
                {"name": "image",
                 "description": "Questions about an attached picture.",
                 "examples": ["What is in this picture?"],
                 "images": true,
                 "endpoints": ["vl"]}
            ]
        },
        "fallback": {"maxAttempts": 3}
    })
}

/// The standard objects, deployed.
pub struct Fixture {
    /// The fake upstreams.
    pub up: Upstreams,
}

impl Fixture {
    /// Starts the upstreams and applies Secret `keys`, endpoints `a`, `b`, `vl` and policy
    /// `p` (with `policy_patch` merged into its spec).
    pub async fn deploy(c: &impl Cluster, policy_patch: Value) -> Result<Self, HarnessError> {
        let up = Upstreams::start(c).await?;
        apply::<Secret>(c, &objects::secret("keys", &[("A_KEY", "sk-a")])).await?;
        apply(c, &endpoint_a(&up.urls[0])).await?;
        apply(
            c,
            &objects::endpoint(
                "b",
                "org/model-b",
                &up.urls[1],
                json!({"cost": {"inputPerMillionTokens": 1, "outputPerMillionTokens": 2}}),
            ),
        )
        .await?;
        apply(
            c,
            &objects::endpoint(
                "vl",
                "org/model-vl",
                &up.urls[2],
                json!({"capabilities": {"vision": true}}),
            ),
        )
        .await?;
        let mut spec = policy_spec();
        objects::merge(&mut spec, policy_patch);
        apply::<RoutingPolicy>(c, &objects::policy(POLICY, spec)).await?;
        Ok(Self { up })
    }
}

/// The `Authorization` header of the last request `u` received.
pub fn last_auth(u: &FakeUpstream) -> Option<String> {
    u.requests().last().and_then(|r| {
        r.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })
}
