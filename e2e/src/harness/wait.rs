//! Waiting for conditions with a deadline, instead of sleeping: the condition is checked
//! every few milliseconds and the wait ends as soon as it holds.

use std::future::Future;
use std::time::Duration;

use super::HarnessError;

/// How often conditions are re-checked.
const POLL: Duration = Duration::from_millis(25);

/// Waits until `check` returns `Some`, at most `timeout`; `what` names the condition in the
/// timeout error, together with the last `Err` the check gave (if any).
pub async fn poll_until<T, F, Fut>(
    timeout: Duration,
    what: &str,
    check: F,
) -> Result<T, HarnessError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, HarnessError>>,
{
    poll_every(POLL, timeout, what, check).await
}

/// [`poll_until`], re-checking every `interval`.
pub async fn poll_every<T, F, Fut>(
    interval: Duration,
    timeout: Duration,
    what: &str,
    mut check: F,
) -> Result<T, HarnessError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, HarnessError>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_err = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e.to_string()),
        }
        if tokio::time::Instant::now() >= deadline {
            let detail = last_err.map(|e| format!(" (last error: {e})"));
            return Err(HarnessError::Timeout(
                timeout,
                format!("{what}{}", detail.unwrap_or_default()),
            ));
        }
        tokio::time::sleep(interval).await;
    }
}

/// Waits until `check` returns `true`, at most `timeout`.
pub async fn wait_until<F, Fut>(
    timeout: Duration,
    what: &str,
    mut check: F,
) -> Result<(), HarnessError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    poll_until(timeout, what, || {
        let fut = check();
        async move { Ok(fut.await.then_some(())) }
    })
    .await
}
