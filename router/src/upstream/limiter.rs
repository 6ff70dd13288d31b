//! Token-bucket rate limiter for an endpoint's `requestsPerMinute` (per router process).

use std::sync::Mutex;
use std::time::Instant;

/// Allows `per_minute` requests per minute with bursts up to `per_minute`.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(per_minute: u32) -> Self {
        let cap = f64::from(per_minute.max(1));
        Self {
            per_minute: cap,
            state: Mutex::new((cap, Instant::now())),
        }
    }

    /// Takes a token if one is available.
    pub fn try_take(&self) -> bool {
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let now = Instant::now();
        let (tokens, last) = *guard;
        let refill = now.duration_since(last).as_secs_f64() * self.per_minute / 60.0;
        let tokens = (tokens + refill).min(self.per_minute);
        if tokens >= 1.0 {
            *guard = (tokens - 1.0, now);
            true
        } else {
            *guard = (tokens, now);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_refuses() {
        let l = RateLimiter::new(3);
        assert!(l.try_take() && l.try_take() && l.try_take());
        assert!(!l.try_take());
    }
}
