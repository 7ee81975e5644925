//! Retries: the backoff for reads and verified writes, the total wait a request may spend, and
//! the server's `Retry-After`.

use std::time::Duration;

use super::ApiError;

/// The longest `Retry-After` honoured; a server asking for more gets this.
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Backoff for retried reads and verified writes: 0.25 s doubling to 8 s, jittered, at most
/// 6 retries and 90 s of waiting.
pub fn retry_policy() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(8))
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(6)
        .with_total_delay(Some(Duration::from_secs(90)))
}

/// The documented bound on waiting between retries (90 s in all), kept whatever the server
/// asks for in `Retry-After`: each wait is the backoff's, or the server's (clamped to 30 s), and
/// the retries stop when the next wait would pass the total.
#[derive(Debug, Default)]
pub struct RetryBudget {
    waited: std::sync::Mutex<Duration>,
}

/// The total wait across retries of one request.
pub const RETRY_BUDGET: Duration = Duration::from_secs(90);

impl RetryBudget {
    /// The next wait, or `None` to stop retrying.
    pub fn next(&self, error: &ApiError, backoff: Option<Duration>) -> Option<Duration> {
        let backoff = backoff?;
        let wait = match error.retry_after() {
            Some(wait) => wait.max(Duration::from_millis(100)),
            None => backoff,
        };
        let mut waited = self
            .waited
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *waited + wait > RETRY_BUDGET {
            return None;
        }
        *waited += wait;
        Some(wait)
    }
}

pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}
