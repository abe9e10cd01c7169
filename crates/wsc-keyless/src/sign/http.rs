//! One pinned HTTP client per service, with retries (exponential backoff
//! with full jitter, `Retry-After` honoured) and an optional client-side
//! rate limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand_core::RngCore;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::HeaderMap;
use wsc_pinning::{ClientBuilder, Service};

use super::SignError;

/// Largest answer read from a service.
pub const MAX_ANSWER: u64 = 4 * 1024 * 1024;

/// When and how often to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The first backoff; it doubles at each retry.
    pub base_delay: Duration,
    /// The longest backoff.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one fails at once.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// A client-side limit: at most one request per interval to a service,
/// shared by every module of a batch.
#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimit {
    /// At most `per_second` requests per second (must be positive).
    pub fn per_second(per_second: f64) -> Result<Self, SignError> {
        if !(per_second.is_finite() && (0.001..=1_000_000.0).contains(&per_second)) {
            return Err(SignError::Config(format!(
                "rate limit {per_second}: give 0.001 to 1000000 requests per second"
            )));
        }
        Ok(RateLimit { interval: Duration::from_secs_f64(1.0 / per_second), next: Mutex::new(Instant::now()) })
    }

    fn wait(&self) {
        let slot = {
            let mut next = match self.next.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot.checked_add(self.interval).unwrap_or(slot);
            slot
        };
        let now = Instant::now();
        if slot > now {
            std::thread::sleep(slot - now);
        }
    }
}

/// Options shared by the clients of a signing run.
#[derive(Debug, Clone, Default)]
pub struct ServiceOptions {
    /// Retries.
    pub retry: RetryPolicy,
    /// Rate limit per service, if any.
    pub rate_limit_per_second: Option<f64>,
}

/// An answer: status, headers and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) attempts: u32,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// A pinned client for one service.
#[derive(Debug)]
pub(crate) struct ServiceClient {
    name: &'static str,
    pub(crate) url: String,
    client: Client,
    retry: RetryPolicy,
    limit: Option<Arc<RateLimit>>,
    retries: AtomicU64,
}

impl ServiceClient {
    /// A client for `service` at `url`, built by `builder` (pins, roots, timeouts).
    pub(crate) fn new(
        builder: &ClientBuilder,
        service: Service,
        name: &'static str,
        url: &str,
        options: &ServiceOptions,
    ) -> Result<Self, SignError> {
        let pinned = builder.build(service, url).map_err(|e| SignError::Service {
            service: name.into(),
            url: url.into(),
            reason: e.to_string(),
        })?;
        let limit = options.rate_limit_per_second.map(RateLimit::per_second).transpose()?.map(Arc::new);
        Ok(ServiceClient {
            name,
            url: url.trim_end_matches('/').to_string(),
            client: pinned.client,
            retry: options.retry,
            limit,
            retries: AtomicU64::new(0),
        })
    }

    /// Retries made so far.
    pub(crate) fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    fn fail(&self, url: &str, reason: impl Into<String>) -> SignError {
        SignError::Service { service: self.name.into(), url: url.into(), reason: reason.into() }
    }

    /// Sends the request `make` builds, retrying connection failures, 429
    /// and 5xx answers. Returns the first other answer, whatever its status.
    pub(crate) fn send(&self, url: &str, make: &dyn Fn(&Client) -> RequestBuilder) -> Result<Answer, SignError> {
        let attempts = self.retry.attempts.max(1);
        let mut last_status: Option<Answer> = None;
        let mut last_error = String::new();
        for attempt in 1..=attempts {
            if let Some(l) = &self.limit {
                l.wait();
            }
            let wait = match make(&self.client).send() {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    let body = read_limited(resp).map_err(|e| self.fail(url, e))?;
                    let answer = Answer { status, attempts: attempt, headers, body };
                    if !(status == 429 || (500..=599).contains(&status) && status != 501) {
                        return Ok(answer);
                    }
                    let after = retry_after(&answer.headers);
                    if let Some(a) = after {
                        if a > self.retry.max_retry_after {
                            return Err(self.status_error(url, &answer, attempt, " (Retry-After too long)"));
                        }
                    }
                    last_status = Some(answer);
                    after
                }
                Err(e) if e.is_builder() => return Err(self.fail(url, e.to_string())),
                Err(e) => {
                    last_error = describe(&e);
                    last_status = None;
                    None
                }
            };
            if attempt == attempts {
                break;
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(wait.unwrap_or_else(|| self.backoff(attempt)));
        }
        match last_status {
            Some(a) => Err(self.status_error(url, &a, attempts, "")),
            None => Err(self.fail(url, format!("{last_error} (after {attempts} attempt(s))"))),
        }
    }

    /// Fails unless the answer's status is one of `ok`.
    pub(crate) fn expect(&self, url: &str, answer: Answer, ok: &[u16]) -> Result<Answer, SignError> {
        if ok.contains(&answer.status) { Ok(answer) } else { Err(self.unexpected(url, &answer)) }
    }

    /// The error for an answer whose status the caller cannot use.
    pub(crate) fn unexpected(&self, url: &str, answer: &Answer) -> SignError {
        self.status_error(url, answer, answer.attempts, "")
    }

    fn status_error(&self, url: &str, a: &Answer, attempts: u32, note: &str) -> SignError {
        SignError::Status {
            service: self.name.into(),
            url: url.into(),
            status: a.status,
            attempts,
            message: format!("{}{note}", body_excerpt(&a.body)),
        }
    }

    /// Full jitter: a random delay up to base × 2^(attempt−1), capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap =
            self.retry.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(self.retry.max_delay);
        let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX).min(3_600_000);
        if ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand_core::OsRng.next_u64() % (ms + 1))
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Sigstore services).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A short, printable excerpt of an answer body.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    let text: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.trim().is_empty() { "(empty body)".into() } else { text.trim().to_string() }
}

fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn read_limited(resp: reqwest::blocking::Response) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut buf = Vec::new();
    resp.take(MAX_ANSWER + 1).read_to_end(&mut buf).map_err(|e| format!("reading the answer: {e}"))?;
    if buf.len() as u64 > MAX_ANSWER {
        return Err(format!("answer larger than {MAX_ANSWER} bytes"));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_out_of_range_are_refused() {
        for bad in [0.0, -1.0, 1e-300, f64::NAN, f64::INFINITY, 1e12] {
            assert!(RateLimit::per_second(bad).is_err(), "{bad}");
        }
        for ok in [0.001, 1.0, 20.0, 1e6] {
            assert!(RateLimit::per_second(ok).is_ok(), "{ok}");
        }
    }
}
