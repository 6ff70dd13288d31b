//! Per-endpoint circuit breaker. After `failure_threshold` consecutive failures the endpoint
//! is open (skipped while other candidates are healthy) for `cooldown`; then one request is let
//! through as a probe (half-open): success closes the circuit, failure opens it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Breaker tuning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long an open circuit stays open before a probe.
    pub cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown: Duration::from_secs(10),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// State of the circuit, as reported in metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Requests flow.
    Closed,
    /// Requests are skipped.
    Open,
    /// One probe request is allowed.
    HalfOpen,
}

impl CircuitState {
    /// Gauge value: 0 closed, 1 open, 2 half-open.
    pub fn code(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
        }
    }
}

/// A circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    phase: Mutex<Phase>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            phase: Mutex::new(Phase::Closed { failures: 0 }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Phase) -> T) -> T {
        let mut guard = match self.phase.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Whether routing should skip this endpoint now (open and still cooling down, or a probe
    /// is already in flight).
    pub fn is_open(&self) -> bool {
        let now = Instant::now();
        self.with(|p| match *p {
            Phase::Open { until } => now < until,
            Phase::HalfOpen { probing } => probing,
            Phase::Closed { .. } => false,
        })
    }

    /// Asks to send a request: true when closed, or as the half-open probe.
    pub fn try_acquire(&self) -> bool {
        let now = Instant::now();
        self.with(|p| match *p {
            Phase::Closed { .. } => true,
            Phase::Open { until } if now >= until => {
                *p = Phase::HalfOpen { probing: true };
                true
            }
            Phase::HalfOpen { probing: false } => {
                *p = Phase::HalfOpen { probing: true };
                true
            }
            _ => false,
        })
    }

    /// Records a success.
    pub fn success(&self) {
        self.with(|p| *p = Phase::Closed { failures: 0 });
    }

    /// Records a failure.
    pub fn failure(&self) {
        let open = Phase::Open {
            until: Instant::now() + self.settings.cooldown,
        };
        let threshold = self.settings.failure_threshold.max(1);
        self.with(|p| match *p {
            Phase::Closed { failures } if failures + 1 < threshold => {
                *p = Phase::Closed {
                    failures: failures + 1,
                };
            }
            _ => *p = open,
        });
    }

    /// Releases a probe that ended without a verdict (e.g. the client went away).
    pub fn release_probe(&self) {
        self.with(|p| {
            if let Phase::HalfOpen { probing: true } = *p {
                *p = Phase::HalfOpen { probing: false };
            }
        });
    }

    /// The current state.
    pub fn state(&self) -> CircuitState {
        let now = Instant::now();
        self.with(|p| match *p {
            Phase::Closed { .. } => CircuitState::Closed,
            Phase::Open { until } if now < until => CircuitState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => CircuitState::HalfOpen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_recovers_through_a_probe() {
        let b = Breaker::new(BreakerSettings {
            failure_threshold: 2,
            cooldown: Duration::ZERO,
        });
        assert!(b.try_acquire());
        b.failure();
        assert_eq!(b.state(), CircuitState::Closed);
        b.failure();
        // Zero cooldown: immediately half-open; exactly one probe is admitted.
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert!(b.try_acquire());
        assert!(!b.try_acquire(), "only one probe at a time");
        assert!(b.is_open());
        b.failure();
        assert!(b.try_acquire(), "next probe after the (zero) cooldown");
        b.success();
        assert_eq!(b.state(), CircuitState::Closed);
        assert!(b.try_acquire() && b.try_acquire());
    }

    #[test]
    fn stays_open_during_cooldown() {
        let b = Breaker::new(BreakerSettings {
            failure_threshold: 1,
            cooldown: Duration::from_secs(3600),
        });
        b.failure();
        assert!(b.is_open());
        assert!(!b.try_acquire());
        assert_eq!(b.state().code(), 1);
    }

    #[test]
    fn success_resets_the_failure_count() {
        let b = Breaker::new(BreakerSettings {
            failure_threshold: 2,
            cooldown: Duration::from_secs(3600),
        });
        b.failure();
        b.success();
        b.failure();
        assert!(!b.is_open());
    }
}
