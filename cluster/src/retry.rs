//! Retry classification and bounded retries with injectable time.
//!
//! Daemons never sleep directly in their logic: every wait goes through a [`Sleeper`]
//! ([`TokioSleeper`] in production, [`InstantSleeper`] in tests, which records the waits and
//! returns at once).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

/// What to do after a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Permanent: retrying cannot help (validation, permissions, not found…).
    Never,
    /// The server said when to come back (`Retry-After` / `Status.details.retryAfterSeconds`).
    After(Duration),
    /// Transient: retry with jittered exponential backoff.
    Backoff,
}

/// Classify a kube error:
///
/// * 429 and 5xx: [`Retry::After`] when the server gave `retryAfterSeconds` (kube surfaces the
///   `Retry-After` of a Status response there), else [`Retry::Backoff`];
/// * 409 (resourceVersion or ownership conflict) and transport errors: [`Retry::Backoff`];
/// * every other status (400, 403, 404, 410, 422…) and client-side errors: [`Retry::Never`].
pub fn classify(err: &kube::Error) -> Retry {
    match err {
        kube::Error::Api(s) => match s.code {
            429 | 500..=599 => match s.details.as_ref().map(|d| d.retry_after_seconds) {
                Some(secs) if secs > 0 => Retry::After(Duration::from_secs(u64::from(secs))),
                _ => Retry::Backoff,
            },
            409 => Retry::Backoff,
            _ => Retry::Never,
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            Retry::Backoff
        }
        _ => Retry::Never,
    }
}

/// Errors that know whether they are worth retrying.
pub trait Classify {
    fn retry(&self) -> Retry;
}

impl Classify for kube::Error {
    fn retry(&self) -> Retry {
        classify(self)
    }
}

/// A boxed, sendable future of nothing.
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Injectable waiting.
pub trait Sleeper: Send + Sync {
    fn sleep(&self, d: Duration) -> SleepFuture;
}

/// Real time (`tokio::time::sleep`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, d: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(d))
    }
}

/// No waiting at all; records what would have been slept (for tests and dry runs).
#[derive(Debug, Default)]
pub struct InstantSleeper {
    slept: Mutex<Vec<Duration>>,
}

impl InstantSleeper {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every wait requested so far, in order.
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Sleeper for InstantSleeper {
    fn sleep(&self, d: Duration) -> SleepFuture {
        self.slept.lock().unwrap_or_else(|p| p.into_inner()).push(d);
        Box::pin(std::future::ready(()))
    }
}

/// How hard to try.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (at least 1).
    pub max_attempts: u32,
    /// Backoff before the first retry.
    pub base_delay: Duration,
    /// Cap of any single wait (server-requested waits included).
    pub max_delay: Duration,
    /// Random spread: each backoff is scaled by a factor in `[1 - jitter, 1 + jitter]`.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// 5 attempts, 200ms doubling to at most 30s, ±20% jitter.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (0-based) for a failure classified `r`, or `None`
    /// when it must not be retried.
    pub fn delay(&self, retry: u32, r: Retry) -> Option<Duration> {
        match r {
            Retry::Never => None,
            Retry::After(d) => Some(d.min(self.max_delay)),
            Retry::Backoff => {
                let exp = self
                    .base_delay
                    .saturating_mul(2u32.saturating_pow(retry.min(31)))
                    .min(self.max_delay);
                let j = self.jitter.clamp(0.0, 1.0);
                let factor = 1.0 - j + 2.0 * j * fastrand::f64();
                Some(exp.mul_f64(factor).min(self.max_delay))
            }
        }
    }
}

/// The result of [`with_retries`] and how many retries it took.
#[derive(Debug)]
pub struct Attempts<T, E> {
    pub result: Result<T, E>,
    /// Retries made (attempts beyond the first).
    pub retries: u32,
}

/// Run `op` until it succeeds, fails permanently, or `policy.max_attempts` is reached,
/// waiting through `sleeper` between attempts.
pub async fn with_retries<T, E, F, Fut>(
    policy: &RetryPolicy,
    sleeper: &dyn Sleeper,
    mut op: F,
) -> Attempts<T, E>
where
    E: Classify + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut retries = 0;
    loop {
        match op().await {
            Ok(v) => {
                return Attempts {
                    result: Ok(v),
                    retries,
                };
            }
            Err(e) => {
                let wait = if retries + 1 < policy.max_attempts.max(1) {
                    policy.delay(retries, e.retry())
                } else {
                    None
                };
                let Some(wait) = wait else {
                    return Attempts {
                        result: Err(e),
                        retries,
                    };
                };
                tracing::debug!(error = %e, retry = retries + 1, ?wait, "retrying");
                sleeper.sleep(wait).await;
                retries += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, retry_after: Option<u32>) -> kube::Error {
        let mut s = kube::core::Status::failure("x", "Reason").with_code(code);
        if let Some(secs) = retry_after {
            s.details = serde_json::from_value(serde_json::json!({"retryAfterSeconds": secs})).ok();
        }
        kube::Error::Api(Box::new(s))
    }

    #[test]
    fn classification() {
        assert_eq!(
            classify(&api(429, Some(3))),
            Retry::After(Duration::from_secs(3))
        );
        assert_eq!(classify(&api(429, None)), Retry::Backoff);
        assert_eq!(classify(&api(503, None)), Retry::Backoff);
        assert_eq!(classify(&api(500, None)), Retry::Backoff);
        assert_eq!(classify(&api(409, None)), Retry::Backoff);
        for code in [400, 403, 404, 410, 422] {
            assert_eq!(classify(&api(code, None)), Retry::Never, "{code}");
        }
        assert_eq!(
            classify(&kube::Error::Service("refused".into())),
            Retry::Backoff
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            jitter: 0.0,
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay(0, Retry::Backoff), Some(Duration::from_millis(200)));
        assert_eq!(
            p.delay(3, Retry::Backoff),
            Some(Duration::from_millis(1600))
        );
        assert_eq!(p.delay(40, Retry::Backoff), Some(Duration::from_secs(30)));
        assert_eq!(
            p.delay(0, Retry::After(Duration::from_secs(999))),
            Some(Duration::from_secs(30))
        );
        assert_eq!(p.delay(0, Retry::Never), None);
        let j = RetryPolicy::default();
        for _ in 0..100 {
            let d = j.delay(1, Retry::Backoff).unwrap();
            assert!(d >= Duration::from_millis(320) && d <= Duration::from_millis(480));
        }
    }

    #[tokio::test]
    async fn bounded_attempts() {
        let sleeper = InstantSleeper::new();
        let mut calls = 0;
        let out: Attempts<(), kube::Error> =
            with_retries(&RetryPolicy::default(), &sleeper, || {
                calls += 1;
                std::future::ready(Err(api(503, None)))
            })
            .await;
        assert!(out.result.is_err());
        assert_eq!((calls, out.retries, sleeper.slept().len()), (5, 4, 4));

        let mut calls = 0;
        let out: Attempts<(), kube::Error> =
            with_retries(&RetryPolicy::default(), &sleeper, || {
                calls += 1;
                std::future::ready(Err(api(422, None)))
            })
            .await;
        assert!(out.result.is_err());
        assert_eq!((calls, out.retries), (1, 0));
    }
}
