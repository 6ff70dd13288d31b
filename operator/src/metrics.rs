//! Prometheus metrics of the operator. Every label comes from a bounded enum.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::{Error, ErrorCategory};

/// Which controller a sample is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EncodeLabelValue)]
pub enum ControllerKind {
    /// The RoutingPolicy controller.
    RoutingPolicy,
    /// The ModelEndpoint controller.
    ModelEndpoint,
}

/// Outcome of one reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EncodeLabelValue)]
pub enum Outcome {
    /// Reconciled (the spec may still be invalid: that is a status, not an error).
    Success,
    /// Failed; retried with backoff.
    Error,
}

/// Labels of the reconcile counter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// Controller.
    pub controller: ControllerKind,
    /// Outcome.
    pub result: Outcome,
}

/// Labels of per-controller metrics.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ControllerLabels {
    /// Controller.
    pub controller: ControllerKind,
}

/// Labels of the error counter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ErrorLabels {
    /// Controller.
    pub controller: ControllerKind,
    /// Bounded error category.
    pub category: ErrorCategory,
}

type HistogramFamily = Family<ControllerLabels, Histogram, fn() -> Histogram>;

/// The operator's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    duration: HistogramFamily,
    errors: Family<ErrorLabels, Counter>,
    status_patches: Family<ControllerLabels, Counter>,
    /// 1 while this replica holds the leader lease (or runs without election).
    pub leader: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn duration_histogram() -> Histogram {
    // 0.5 ms .. ~8 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("switchyard_operator");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let duration: HistogramFamily = Family::new_with_constructor(duration_histogram);
        let errors = Family::<ErrorLabels, Counter>::default();
        let status_patches = Family::<ControllerLabels, Counter>::default();
        let leader = Gauge::default();
        registry.register(
            "reconciles",
            "Reconciles by controller and result",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile",
            duration.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles by controller and error category",
            errors.clone(),
        );
        registry.register(
            "status_patches",
            "Status writes (only made when the status changed)",
            status_patches.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica runs the controllers",
            leader.clone(),
        );
        Self {
            registry,
            reconciles,
            duration,
            errors,
            status_patches,
            leader,
        }
    }

    /// Records the outcome and duration of one reconcile.
    pub fn observe<T>(
        &self,
        controller: ControllerKind,
        result: &Result<T, Error>,
        took: Duration,
    ) {
        let outcome = if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Error
        };
        self.reconciles
            .get_or_create(&ReconcileLabels {
                controller,
                result: outcome,
            })
            .inc();
        self.duration
            .get_or_create(&ControllerLabels { controller })
            .observe(took.as_secs_f64());
        if let Err(e) = result {
            self.errors
                .get_or_create(&ErrorLabels {
                    controller,
                    category: e.category(),
                })
                .inc();
        }
    }

    /// Counts one status write.
    pub fn status_patched(&self, controller: ControllerKind) {
        self.status_patches
            .get_or_create(&ControllerLabels { controller })
            .inc();
    }

    /// Current count of failed reconciles in one category (for tests and diagnostics).
    pub fn error_count(&self, controller: ControllerKind, category: ErrorCategory) -> u64 {
        self.errors
            .get_or_create(&ErrorLabels {
                controller,
                category,
            })
            .get()
    }

    /// Current count of reconciles with this outcome (for tests and diagnostics).
    pub fn reconcile_count(&self, controller: ControllerKind, result: Outcome) -> u64 {
        self.reconciles
            .get_or_create(&ReconcileLabels { controller, result })
            .get()
    }

    /// Current count of status writes (for tests and diagnostics).
    pub fn status_patch_count(&self, controller: ControllerKind) -> u64 {
        self.status_patches
            .get_or_create(&ControllerLabels { controller })
            .get()
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
