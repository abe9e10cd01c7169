//! The client for one service: a pinned blocking client from
//! [`ClientBuilder`], retries (exponential backoff with full jitter,
//! `Retry-After` honoured), an optional client-side rate limit, answers read
//! under a cap, and the RFC 3161 transport.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::HeaderMap;

use crate::{ClientBuilder, PinningError, Service};

/// Largest answer read from a service, unless the client sets another cap.
pub const MAX_ANSWER: u64 = 4 * 1024 * 1024;

/// The media type of an RFC 3161 request body.
pub const TIMESTAMP_QUERY_TYPE: &str = "application/timestamp-query";

/// The media type of an RFC 3161 answer body.
pub const TIMESTAMP_REPLY_TYPE: &str = "application/timestamp-reply";

/// Why a call to a service failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The client could not be built (URL policy, pins, TLS).
    #[error("{service} at {url}")]
    Client {
        /// Which service.
        service: Service,
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: PinningError,
    },
    /// The request could not be built (a bad URL or header).
    #[error("{service} at {url}: the request cannot be built")]
    Request {
        /// Which service.
        service: Service,
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// No answer after every attempt (connection, TLS, timeout). The last
    /// failure (a wrong pin, a refused connection) is the source.
    #[error("{service} at {url}: no answer after {attempts} attempt(s)")]
    Unreachable {
        /// Which service.
        service: Service,
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: reqwest::Error,
    },
    /// The answer could not be read.
    #[error("{service} at {url}: reading the answer")]
    Read {
        /// Which service.
        service: Service,
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The answer is larger than the client's cap.
    #[error("{service} at {url}: answer larger than {limit} bytes")]
    TooLarge {
        /// Which service.
        service: Service,
        /// The URL.
        url: String,
        /// The cap.
        limit: u64,
    },
    /// An HTTP status the caller cannot use (after any retries).
    #[error("{service} at {url} answered HTTP {status} after {attempts} attempt(s): {message}")]
    Status {
        /// Which service.
        service: Service,
        /// The URL.
        url: String,
        /// The last status code.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The start of the answer's body, and why it was not retried.
        message: String,
    },
    /// A rate limit out of range.
    #[error("rate limit {per_second}: give 0.001 to 1000000 requests per second")]
    RateLimit {
        /// The limit given.
        per_second: f64,
    },
}

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
    /// At most `per_second` requests per second (0.001 to 1000000).
    pub fn per_second(per_second: f64) -> Result<Self, ServiceError> {
        if !(per_second.is_finite() && (0.001..=1_000_000.0).contains(&per_second)) {
            return Err(ServiceError::RateLimit { per_second });
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

/// Options shared by the clients of a run.
#[derive(Debug, Clone, Default)]
pub struct ServiceOptions {
    /// Retries.
    pub retry: RetryPolicy,
    /// Rate limit per service, if any.
    pub rate_limit_per_second: Option<f64>,
}

/// An answer: status, headers and body.
#[derive(Debug)]
#[non_exhaustive]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The attempts it took.
    pub attempts: u32,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, read under the client's cap.
    pub body: Vec<u8>,
}

/// An answer whose body is still to be read: status, headers and the
/// response to read the body from (it implements `std::io::Read`).
#[derive(Debug)]
#[non_exhaustive]
pub struct StreamingAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The attempts it took.
    pub attempts: u32,
    /// The headers.
    pub headers: HeaderMap,
    /// The response, its body unread. Read it under a cap of your own.
    pub response: reqwest::blocking::Response,
}

/// A pinned client for one service, with retries and a rate limit.
#[derive(Debug)]
pub struct ServiceClient {
    service: Service,
    url: String,
    client: Client,
    pinned: bool,
    host: String,
    retry: RetryPolicy,
    limit: Option<Arc<RateLimit>>,
    max_answer: u64,
    retries: AtomicU64,
}

impl ServiceClient {
    /// A client for `service` at `url`, built by `builder` (pins, roots,
    /// timeouts, the plain-http rule).
    pub fn new(
        builder: &ClientBuilder,
        service: Service,
        url: &str,
        options: &ServiceOptions,
    ) -> Result<Self, ServiceError> {
        let pinned =
            builder.build(service, url).map_err(|source| ServiceError::Client { service, url: url.into(), source })?;
        let limit = options.rate_limit_per_second.map(RateLimit::per_second).transpose()?.map(Arc::new);
        Ok(ServiceClient {
            service,
            url: url.trim_end_matches('/').to_string(),
            client: pinned.client,
            pinned: pinned.pinned,
            host: pinned.host,
            retry: options.retry,
            limit,
            max_answer: MAX_ANSWER,
            retries: AtomicU64::new(0),
        })
    }

    /// Reads at most `bytes` of any answer (default [`MAX_ANSWER`]).
    pub fn with_max_answer(mut self, bytes: u64) -> Self {
        self.max_answer = bytes;
        self
    }

    /// The service's URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether at least one pin is enforced for the service's host.
    pub fn pinned(&self) -> bool {
        self.pinned
    }

    /// The host name pins apply to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Retries made so far.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Sends the request `make` builds, retrying connection failures, 429
    /// and 5xx answers (501 excepted). Returns the first other answer,
    /// whatever its status, with its body read under the client's cap.
    pub fn send(&self, url: &str, make: &dyn Fn(&Client) -> RequestBuilder) -> Result<Answer, ServiceError> {
        let streaming = self.send_streaming(url, make)?;
        let (status, attempts, headers) = (streaming.status, streaming.attempts, streaming.headers);
        let body = self.read_body(url, streaming.response)?;
        Ok(Answer { status, attempts, headers, body })
    }

    /// [`send`](Self::send) without reading the body of the answer it
    /// returns: the caller streams it (a large download) and caps what it
    /// reads itself. Retried answers are still read under the client's cap.
    pub fn send_streaming(
        &self,
        url: &str,
        make: &dyn Fn(&Client) -> RequestBuilder,
    ) -> Result<StreamingAnswer, ServiceError> {
        let attempts = self.retry.attempts.max(1);
        let mut attempt = 1;
        loop {
            if let Some(l) = &self.limit {
                l.wait();
            }
            let (failure, wait) = match make(&self.client).send() {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if !(status == 429 || (500..=599).contains(&status) && status != 501) {
                        let headers = resp.headers().clone();
                        return Ok(StreamingAnswer { status, attempts: attempt, headers, response: resp });
                    }
                    let headers = resp.headers().clone();
                    let body = self.read_body(url, resp)?;
                    let answer = Answer { status, attempts: attempt, headers, body };
                    let after = retry_after(&answer.headers);
                    if after.is_some_and(|a| a > self.retry.max_retry_after) {
                        return Err(self.status_error(url, &answer, attempt, " (Retry-After too long)"));
                    }
                    (self.status_error(url, &answer, attempt, ""), after)
                }
                Err(source) if source.is_builder() => {
                    return Err(ServiceError::Request { service: self.service, url: url.into(), source });
                }
                Err(source) => (
                    ServiceError::Unreachable { service: self.service, url: url.into(), attempts: attempt, source },
                    None,
                ),
            };
            if attempt >= attempts {
                return Err(failure);
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(wait.unwrap_or_else(|| self.backoff(attempt)));
            attempt += 1;
        }
    }

    /// Fails unless the answer's status is one of `ok`.
    pub fn expect(&self, url: &str, answer: Answer, ok: &[u16]) -> Result<Answer, ServiceError> {
        if ok.contains(&answer.status) { Ok(answer) } else { Err(self.unexpected(url, &answer)) }
    }

    /// The error for an answer whose status the caller cannot use.
    pub fn unexpected(&self, url: &str, answer: &Answer) -> ServiceError {
        self.status_error(url, answer, answer.attempts, "")
    }

    /// The RFC 3161 transport: posts a DER `TimeStampReq` to the client's
    /// URL and returns the body of the `200` answer, a DER `TimeStampResp`
    /// that the caller still has to check.
    pub fn timestamp(&self, query: &[u8]) -> Result<Vec<u8>, ServiceError> {
        let url = self.url.clone();
        let answer = self.send(&url, &|c| {
            c.post(&url)
                .header(reqwest::header::CONTENT_TYPE, TIMESTAMP_QUERY_TYPE)
                .header(reqwest::header::ACCEPT, TIMESTAMP_REPLY_TYPE)
                .body(query.to_vec())
        })?;
        Ok(self.expect(&url, answer, &[200])?.body)
    }

    fn read_body(&self, url: &str, resp: reqwest::blocking::Response) -> Result<Vec<u8>, ServiceError> {
        read_capped(resp, self.max_answer).map_err(|source| {
            if source.kind() == std::io::ErrorKind::FileTooLarge {
                ServiceError::TooLarge { service: self.service, url: url.into(), limit: self.max_answer }
            } else {
                ServiceError::Read { service: self.service, url: url.into(), source }
            }
        })
    }

    fn status_error(&self, url: &str, a: &Answer, attempts: u32, note: &str) -> ServiceError {
        ServiceError::Status {
            service: self.service,
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
        Duration::from_millis(random_u64() % (ms + 1))
    }
}

/// A random number for the jitter, from the operating system through the
/// crypto provider wsc uses for TLS.
fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // Without randomness the jitter is zero: the cap still bounds the wait.
    let _ = crate::crypto_provider().secure_random.fill(&mut b);
    u64::from_le_bytes(b)
}

/// Reads a stream (an HTTP body), refusing more than `limit` bytes: the
/// error then has the kind `FileTooLarge`. Never holds more than
/// `limit + 1` bytes.
pub fn read_capped(r: impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(std::io::Error::new(std::io::ErrorKind::FileTooLarge, format!("more than {limit} bytes")));
    }
    Ok(buf)
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Sigstore services).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A short, printable excerpt of an answer body.
fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    let text: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.trim().is_empty() { "(empty body)".into() } else { text.trim().to_string() }
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

    #[test]
    fn capped_reads_stop_at_the_limit() {
        assert_eq!(read_capped(&b"abcd"[..], 4).expect("at the limit"), b"abcd");
        let err = read_capped(&b"abcde"[..], 4).expect_err("over the limit");
        assert_eq!(err.kind(), std::io::ErrorKind::FileTooLarge);
        assert!(read_capped(&b""[..], 0).expect("empty").is_empty());
    }
}
