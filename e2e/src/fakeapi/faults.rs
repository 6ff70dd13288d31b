//! Fault injection: make the next N requests that match a verb and resource fail with a
//! chosen status, or stall for a while first, so tests can check an operator's backoff and
//! that it survives API errors.

use std::sync::Mutex;
use std::time::Duration;

use super::counters::Verb;
use super::lock;

/// One fault rule. Built with [`Fault::status`] or [`Fault::delay`], narrowed with
/// [`Fault::on`], repeated with [`Fault::times`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    verb: Option<Verb>,
    resource: Option<String>,
    times: usize,
    delay: Option<Duration>,
    status: Option<u16>,
    message: Option<String>,
}

impl Fault {
    /// Answer with this HTTP status (and the matching `Status` reason) instead of serving.
    pub fn status(code: u16) -> Self {
        Self {
            verb: None,
            resource: None,
            times: 1,
            delay: None,
            status: Some(code),
            message: None,
        }
    }

    /// Stall the request this long, then serve it normally (or fail it, with
    /// [`Fault::then_status`]). A server shutdown ends the stall.
    pub fn delay(duration: Duration) -> Self {
        Self {
            status: None,
            delay: Some(duration),
            ..Self::status(0)
        }
    }

    /// After the delay, fail with this status.
    pub fn then_status(mut self, code: u16) -> Self {
        self.status = Some(code);
        self
    }

    /// Only requests of this verb on this resource (plural, `x/status` for the status
    /// subresource). Without it the fault matches every resource request.
    pub fn on(mut self, verb: Verb, resource: &str) -> Self {
        self.verb = Some(verb);
        self.resource = Some(resource.to_owned());
        self
    }

    /// Only requests on this resource, any verb.
    pub fn on_resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_owned());
        self
    }

    /// Apply to the next `n` matching requests (default 1).
    pub fn times(mut self, n: usize) -> Self {
        self.times = n;
        self
    }

    /// The message of the `Status` body.
    pub fn message(mut self, message: &str) -> Self {
        self.message = Some(message.to_owned());
        self
    }

    fn matches(&self, verb: Verb, resource: &str) -> bool {
        self.times > 0
            && self.verb.is_none_or(|v| v == verb)
            && self.resource.as_deref().is_none_or(|r| r == resource)
    }
}

/// What the HTTP layer must do with a request a fault matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FaultAction {
    pub delay: Option<Duration>,
    pub status: Option<(u16, String)>,
}

/// The installed fault rules.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Mutex<Vec<Fault>>,
    triggered: Mutex<u64>,
}

impl Faults {
    pub fn add(&self, fault: Fault) {
        lock(&self.rules).push(fault);
    }

    pub fn clear(&self) {
        lock(&self.rules).clear();
    }

    /// Matching requests still to be faulted, over all rules.
    pub fn pending(&self) -> usize {
        lock(&self.rules).iter().map(|f| f.times).sum()
    }

    pub fn triggered(&self) -> u64 {
        *lock(&self.triggered)
    }

    /// Consumes one use of the first rule matching this request.
    pub fn take(&self, verb: Verb, resource: &str) -> Option<FaultAction> {
        let mut rules = lock(&self.rules);
        let rule = rules.iter_mut().find(|f| f.matches(verb, resource))?;
        rule.times -= 1;
        let action = FaultAction {
            delay: rule.delay,
            status: rule.status.map(|code| {
                let message = rule
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("injected fault: {code} on {resource}"));
                (code, message)
            }),
        };
        rules.retain(|f| f.times > 0);
        drop(rules);
        *lock(&self.triggered) += 1;
        Some(action)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_fires_the_configured_number_of_times_on_matching_requests() {
        let faults = Faults::default();
        faults.add(Fault::status(500).on(Verb::Patch, "deployments").times(2));
        assert_eq!(faults.take(Verb::Get, "deployments"), None);
        assert_eq!(faults.take(Verb::Patch, "configmaps"), None);
        let a = faults.take(Verb::Patch, "deployments").unwrap();
        assert_eq!(a.status.unwrap().0, 500);
        assert!(faults.take(Verb::Patch, "deployments").is_some());
        assert_eq!(faults.take(Verb::Patch, "deployments"), None);
        assert_eq!(faults.pending(), 0);
        assert_eq!(faults.triggered(), 2);
    }

    #[test]
    fn delays_can_end_in_a_failure() {
        let faults = Faults::default();
        faults.add(Fault::delay(Duration::from_millis(5)).then_status(503));
        let a = faults.take(Verb::List, "pods").unwrap();
        assert_eq!(a.delay, Some(Duration::from_millis(5)));
        assert_eq!(a.status.unwrap().0, 503);
    }
}
