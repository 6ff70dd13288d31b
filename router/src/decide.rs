//! The routing decision: a pure function of the classifier's scores, the resolved policy and
//! endpoints, the request's knobs (tolerance, allow-list) and properties (images, estimated
//! prompt tokens, tools), and endpoint health. It returns every candidate, ranked, each marked
//! eligible or not with the reason, so that recommend mode, proxy fallbacks and `/v1/route`
//! all read the same list.
//!
//! Rules:
//! - Capability filters: a request with images only goes to `vision` endpoints; one whose
//!   estimated prompt tokens exceed `maxContextTokens` skips that endpoint; one with `tools`
//!   only goes to endpoints with `capabilities.tools`; an allow-list (`models`) keeps only the
//!   endpoints it names (by endpoint name or model id).
//! - Health: endpoints whose circuit breaker is open are skipped while any other candidate is
//!   usable, and used (marked so) when nothing else is left.
//! - `intent`: image-bearing requests take the first route with `images: true`; otherwise the
//!   classified route, or `defaultRoute` when the confidence is below the floor or the
//!   classifier failed. Candidates are that route's endpoints in order.
//! - `auto`: a candidate is acceptable when `p >= threshold` or `p >= p_best - tolerance`
//!   (`p_best` = highest probability among eligible candidates; the tolerance is an absolute
//!   margin in probability); the cheapest acceptable one (blended input+output price) is
//!   chosen, the others follow by probability. Tolerance 0 is NVIDIA's rule (cheapest above
//!   its threshold, else the most likely); 1 always takes the cheapest. Thresholds: the
//!   policy's, else the head's calibrated ones, else 0.5.

use serde::Serialize;
use switchyard_crds::config::{
    ResolvedAuto, ResolvedEndpoint, ResolvedIntent, ResolvedPolicy, ResolvedStrategy, RouterConfig,
};

use switchyard_crds::auto_rule::{self, AutoCandidate};

use crate::classify::{AutoScores, Classification};

/// Threshold used when neither the policy nor the head gives one.
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// Per-request knobs and request properties the decision filters on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Knobs<'a> {
    /// Overrides the policy's auto tolerance (0..1).
    pub tolerance: Option<f64>,
    /// Only these endpoints (by name or model id) may be chosen.
    pub allow: Option<&'a [String]>,
    /// The request carries images.
    pub has_images: bool,
    /// Estimated prompt tokens.
    pub est_tokens: u64,
    /// The request declares `tools`.
    pub needs_tools: bool,
}

/// One ranked candidate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    /// Upstream model id.
    pub model: String,
    /// ModelEndpoint name.
    pub endpoint: String,
    /// Probability (auto) or route confidence (intent), when known.
    pub score: Option<f64>,
    /// Blended price per million tokens.
    pub cost: f64,
    /// Whether requests may be sent to it.
    pub eligible: bool,
    /// Probability the candidate had to reach (auto).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Why it is not eligible, why it was or was not chosen (auto), or why it is used despite
    /// being unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The outcome of routing one request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// `intent`, `auto` or `manual` (a concrete model was named).
    pub strategy: &'static str,
    /// Route name (intent), `auto`, or `manual`.
    pub route: String,
    /// The classifier's confidence in the route (intent).
    pub confidence: Option<f64>,
    /// Why the route was taken when it was not the classifier's pick.
    pub note: Option<&'static str>,
    /// Eligible candidates first, in the order they are tried; then ineligible ones.
    pub candidates: Vec<Candidate>,
}

impl Decision {
    /// The chosen candidate (the first eligible one).
    pub fn selected(&self) -> Option<&Candidate> {
        self.candidates.first().filter(|c| c.eligible)
    }

    /// Eligible candidates in order.
    pub fn eligible(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates.iter().filter(|c| c.eligible)
    }
}

/// Why no decision could be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    /// The route (or policy) has no usable endpoint configured at all.
    #[error("route {route:?} has no usable endpoint configured")]
    NoEndpoints {
        /// The route.
        route: String,
    },
    /// Every endpoint was filtered out by this request's properties.
    #[error("no endpoint of route {route:?} can serve this request: {detail}")]
    NoEligible {
        /// The route.
        route: String,
        /// `endpoint: reason` for each.
        detail: String,
    },
}

/// Decides for a routed request. `scores` is `None` when the classifier failed; `is_open`
/// tells whether an endpoint's circuit breaker is open.
pub fn decide(
    policy: &ResolvedPolicy,
    config: &RouterConfig,
    scores: Option<&Classification>,
    knobs: &Knobs<'_>,
    is_open: &dyn Fn(&str) -> bool,
) -> Result<Decision, DecideError> {
    match &policy.strategy {
        ResolvedStrategy::Intent(intent) => {
            let scores = match scores {
                Some(Classification::Intent(s)) => Some(s),
                _ => None,
            };
            decide_intent(intent, config, scores, knobs, is_open)
        }
        ResolvedStrategy::Auto(auto) => {
            let scores = match scores {
                Some(Classification::Auto(s)) => Some(s),
                _ => None,
            };
            decide_auto(auto, config, scores, knobs, is_open)
        }
    }
}

/// Decision for a request naming a concrete model id (or endpoint name): every endpoint
/// serving it, healthy ones first. Capability filters do not apply: the client chose.
pub fn decide_manual(
    config: &RouterConfig,
    model: &str,
    is_open: &dyn Fn(&str) -> bool,
) -> Result<Decision, DecideError> {
    let mut rows: Vec<Row> = config
        .endpoints
        .iter()
        .filter(|e| e.model == model)
        .chain(
            config
                .endpoints
                .iter()
                .filter(|e| e.name == model && e.model != model),
        )
        .map(|e| Row::new(e, None, None))
        .collect();
    for r in &mut rows {
        r.open = is_open(&r.c.endpoint);
    }
    let (pool, rest) = split(rows, "manual")?;
    Ok(Decision {
        strategy: "manual",
        route: "manual".to_owned(),
        confidence: None,
        note: None,
        candidates: join(pool, rest),
    })
}

/// A candidate under construction.
struct Row {
    c: Candidate,
    threshold: f64,
    open: bool,
}

impl Row {
    fn new(ep: &ResolvedEndpoint, score: Option<f64>, reason: Option<String>) -> Self {
        Self {
            c: Candidate {
                model: ep.model.clone(),
                endpoint: ep.name.clone(),
                score,
                cost: ep.cost.blended(),
                eligible: reason.is_none(),
                threshold: None,
                reason,
            },
            threshold: DEFAULT_THRESHOLD,
            open: false,
        }
    }
}

/// Why `ep` cannot take this request, if it cannot.
fn capability_problem(ep: &ResolvedEndpoint, knobs: &Knobs<'_>) -> Option<String> {
    if let Some(allow) = knobs.allow
        && !allow.iter().any(|a| *a == ep.name || *a == ep.model)
    {
        return Some("not in the request's allow-list".to_owned());
    }
    if knobs.has_images && !ep.capabilities.vision {
        return Some("request has images; endpoint lacks vision".to_owned());
    }
    if knobs.needs_tools && !ep.capabilities.tools {
        return Some("request has tools; endpoint lacks tools".to_owned());
    }
    if let Some(max) = ep.capabilities.max_context_tokens
        && i64::try_from(knobs.est_tokens).unwrap_or(i64::MAX) > max
    {
        return Some(format!(
            "estimated prompt of {} tokens exceeds maxContextTokens {max}",
            knobs.est_tokens
        ));
    }
    None
}

/// Splits rows into the pool to choose from (healthy eligible ones, else the eligible ones
/// with an open breaker) and the rest (ineligible, and open ones when healthy ones exist).
fn split(rows: Vec<Row>, route: &str) -> Result<(Vec<Row>, Vec<Row>), DecideError> {
    if rows.is_empty() {
        return Err(DecideError::NoEndpoints {
            route: route.to_owned(),
        });
    }
    // The usual case, without the allocations of the partitions below.
    if rows.iter().all(|r| r.c.eligible && !r.open) {
        return Ok((rows, Vec::new()));
    }
    let (capable, mut ineligible): (Vec<Row>, Vec<Row>) =
        rows.into_iter().partition(|r| r.c.eligible);
    if capable.is_empty() {
        let detail = ineligible
            .iter()
            .map(|r| format!("{}: {}", r.c.endpoint, r.c.reason.as_deref().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(DecideError::NoEligible {
            route: route.to_owned(),
            detail,
        });
    }
    let (healthy, mut open): (Vec<Row>, Vec<Row>) = capable.into_iter().partition(|r| !r.open);
    if healthy.is_empty() {
        for r in &mut open {
            r.c.reason = Some("circuit open; used because no healthy endpoint is left".into());
        }
        return Ok((open, ineligible));
    }
    for r in &mut open {
        r.c.eligible = false;
        r.c.reason = Some("circuit open (endpoint is cooling down after failures)".into());
    }
    open.append(&mut ineligible);
    Ok((healthy, open))
}

fn join(pool: Vec<Row>, rest: Vec<Row>) -> Vec<Candidate> {
    pool.into_iter().chain(rest).map(|r| r.c).collect()
}

fn decide_intent(
    intent: &ResolvedIntent,
    config: &RouterConfig,
    scores: Option<&crate::classify::IntentScores>,
    knobs: &Knobs<'_>,
    is_open: &dyn Fn(&str) -> bool,
) -> Result<Decision, DecideError> {
    let by_label = |label: &str| {
        intent.routes.iter().find(|r| r.name == label).or_else(|| {
            intent
                .routes
                .iter()
                .find(|r| r.labels.iter().any(|l| l == label))
        })
    };
    let default = by_label(&intent.default_route);
    let image_route = intent.routes.iter().find(|r| r.images);
    let (route, confidence, note) = match (knobs.has_images, image_route, scores) {
        (true, Some(r), s) => (Some(r), s.map(|s| s.confidence), Some("images")),
        (_, _, None) => (default, None, Some("classifier_failed")),
        (_, _, Some(s)) => match by_label(&s.route) {
            Some(r) if s.confidence >= intent.classifier.confidence_floor => {
                (Some(r), Some(s.confidence), None)
            }
            Some(_) => (default, Some(s.confidence), Some("below_confidence_floor")),
            None => (default, Some(s.confidence), Some("unknown_label")),
        },
    };
    let Some(route) = route else {
        return Err(DecideError::NoEndpoints {
            route: intent.default_route.clone(),
        });
    };
    let rows: Vec<Row> = route
        .endpoints
        .iter()
        .filter_map(|name| config.endpoint(name))
        .map(|ep| {
            let mut r = Row::new(ep, confidence, capability_problem(ep, knobs));
            r.open = is_open(&ep.name);
            r
        })
        .collect();
    let (pool, rest) = split(rows, &route.name)?;
    Ok(Decision {
        strategy: "intent",
        route: route.name.clone(),
        confidence,
        note,
        candidates: join(pool, rest),
    })
}

fn decide_auto(
    auto: &ResolvedAuto,
    config: &RouterConfig,
    scores: Option<&AutoScores>,
    knobs: &Knobs<'_>,
    is_open: &dyn Fn(&str) -> bool,
) -> Result<Decision, DecideError> {
    let tolerance = knobs.tolerance.unwrap_or(auto.tolerance).clamp(0.0, 1.0);
    let lookup = |list: &[(String, f64)], name: &str| {
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .filter(|v| v.is_finite())
    };
    let mut rows: Vec<Row> = Vec::new();
    for c in &auto.candidates {
        let Some(ep) = config.endpoint(&c.endpoint) else {
            continue;
        };
        let p = scores.and_then(|s| lookup(&s.probabilities, &ep.name));
        let mut row = Row::new(ep, p, capability_problem(ep, knobs));
        row.threshold = c
            .threshold
            .or_else(|| scores.and_then(|s| lookup(&s.thresholds, &ep.name)))
            .unwrap_or(DEFAULT_THRESHOLD);
        row.open = is_open(&ep.name);
        rows.push(row);
    }
    if knobs.has_images
        && let Some(v) = &auto.vision_endpoint
        && !auto.candidates.iter().any(|c| c.endpoint == *v)
        && let Some(ep) = config.endpoint(v)
    {
        let mut row = Row::new(ep, None, capability_problem(ep, knobs));
        row.open = is_open(&ep.name);
        rows.push(row);
    }
    let (mut pool, rest) = split(rows, "auto")?;
    let rule: Vec<AutoCandidate> = pool
        .iter()
        .map(|r| AutoCandidate {
            p: r.c.score,
            threshold: r.threshold,
            cost: r.c.cost,
        })
        .collect();
    let p_best = auto_rule::best_probability(&rule);
    let chosen = auto_rule::choose(&rule, tolerance);
    let bar = p_best - tolerance;
    for (i, r) in pool.iter_mut().enumerate() {
        r.c.threshold = Some(r.threshold);
        let Some(p) = r.c.score else {
            if r.c.reason.is_none() {
                r.c.reason = Some("no prediction for this candidate".to_owned());
            }
            continue;
        };
        let basis = if p >= r.threshold {
            format!("p {p:.3} >= threshold {:.3}", r.threshold)
        } else if p >= bar {
            format!("p {p:.3} within tolerance {tolerance:.2} of the best ({p_best:.3})")
        } else {
            format!(
                "p {p:.3} below threshold {:.3} and below best - tolerance = {bar:.3}",
                r.threshold
            )
        };
        let why = if Some(i) == chosen {
            format!("chosen: cheapest acceptable ({basis})")
        } else if auto_rule::acceptable(&rule[i], p_best, tolerance) {
            format!("acceptable but costlier ({basis}); fallback")
        } else {
            format!("not acceptable ({basis}); fallback")
        };
        // Keep what split() said (a last-resort open circuit).
        r.c.reason = Some(match r.c.reason.take() {
            Some(prev) => format!("{prev}; {why}"),
            None => why,
        });
    }
    let note = match chosen {
        Some(i) => {
            let first = pool.remove(i);
            // Fallbacks by probability, highest first; unscored ones keep their order last.
            pool.sort_by(|a, b| match (a.c.score, b.c.score) {
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
            pool.insert(0, first);
            None
        }
        None if scores.is_none() => Some("classifier_failed"),
        None => Some("no_scores"),
    };
    Ok(Decision {
        strategy: "auto",
        route: "auto".to_owned(),
        confidence: None,
        note,
        candidates: join(pool, rest),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "decide_tests.rs"]
mod tests;
