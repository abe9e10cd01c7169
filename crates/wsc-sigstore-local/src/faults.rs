//! Runtime switches that make the Fulcio, Rekor and TSA answers wrong on purpose.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Fault switches, all off by default. Shared by every request; safe from any thread.
#[derive(Debug, Default)]
pub struct Faults {
    bad_sct: AtomicBool,
    bad_set: AtomicBool,
    foreign_chain: AtomicBool,
    detached_sct: AtomicBool,
    rate_limit_count: AtomicU64,
    retry_after: AtomicU64,
    server_error_count: AtomicU64,
    slow_ms: AtomicU64,
    drop_count: AtomicU64,
}

/// A rate-limit fault: how many answers and the `Retry-After` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// How many of the next API requests answer 429.
    pub count: u64,
    /// The `Retry-After` header value, in seconds.
    pub retry_after_seconds: u64,
}

/// The fault switches as JSON (`POST /__wsc/faults`); absent fields are left unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSettings {
    /// Turn every switch off first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear: Option<bool>,
    /// Embedded SCTs whose signature does not verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad_sct: Option<bool>,
    /// Rekor entries whose SET does not verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad_set: Option<bool>,
    /// Fulcio chains from a CA that is not in the trusted root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreign_chain: Option<bool>,
    /// Fulcio answers `signedCertificateDetachedSct`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detached_sct: Option<bool>,
    /// The next requests answer 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// How many of the next requests answer 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_error: Option<u64>,
    /// Delay before every answer, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_ms: Option<u64>,
    /// How many of the next requests lose their connection without an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_connection: Option<u64>,
}

/// Takes one from a counter unless it is zero; true when it was taken.
fn take(counter: &AtomicU64) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

/// What the server must do with the next API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injected {
    /// Close the connection without an answer.
    Drop,
    /// Answer 429 with this `Retry-After`.
    RateLimit(u64),
    /// Answer 500.
    ServerError,
}

impl Faults {
    /// Embedded (or detached) SCTs whose signature does not verify.
    pub fn bad_sct(&self, on: bool) {
        self.bad_sct.store(on, Ordering::SeqCst);
    }
    /// Rekor entries whose signed entry timestamp does not verify.
    pub fn bad_set(&self, on: bool) {
        self.bad_set.store(on, Ordering::SeqCst);
    }
    /// Fulcio issues from a CA that is not in the trusted root.
    pub fn foreign_chain(&self, on: bool) {
        self.foreign_chain.store(on, Ordering::SeqCst);
    }
    /// Fulcio answers `signedCertificateDetachedSct` (SCT over the final certificate).
    pub fn detached_sct(&self, on: bool) {
        self.detached_sct.store(on, Ordering::SeqCst);
    }
    /// The next `count` API requests answer 429 with `Retry-After: retry_after_seconds`.
    pub fn rate_limit(&self, count: u64, retry_after_seconds: u64) {
        self.retry_after.store(retry_after_seconds, Ordering::SeqCst);
        self.rate_limit_count.store(count, Ordering::SeqCst);
    }
    /// The next `count` API requests answer 500.
    pub fn server_error(&self, count: u64) {
        self.server_error_count.store(count, Ordering::SeqCst);
    }
    /// Delays every API answer by `ms` milliseconds (0 = off).
    pub fn slow(&self, ms: u64) {
        self.slow_ms.store(ms, Ordering::SeqCst);
    }
    /// The next `count` API requests lose their connection without any answer.
    pub fn drop_connection(&self, count: u64) {
        self.drop_count.store(count, Ordering::SeqCst);
    }
    /// Turns every fault off.
    pub fn clear(&self) {
        self.apply(&FaultSettings {
            bad_sct: Some(false),
            bad_set: Some(false),
            foreign_chain: Some(false),
            detached_sct: Some(false),
            rate_limit: Some(RateLimit { count: 0, retry_after_seconds: 0 }),
            server_error: Some(0),
            slow_ms: Some(0),
            drop_connection: Some(0),
            clear: None,
        });
    }

    /// Applies settings received as JSON.
    pub fn apply(&self, s: &FaultSettings) {
        if s.clear == Some(true) {
            self.clear();
        }
        let set = |flag: &AtomicBool, v: Option<bool>| {
            if let Some(v) = v {
                flag.store(v, Ordering::SeqCst);
            }
        };
        set(&self.bad_sct, s.bad_sct);
        set(&self.bad_set, s.bad_set);
        set(&self.foreign_chain, s.foreign_chain);
        set(&self.detached_sct, s.detached_sct);
        if let Some(r) = s.rate_limit {
            self.rate_limit(r.count, r.retry_after_seconds);
        }
        if let Some(n) = s.server_error {
            self.server_error(n);
        }
        if let Some(ms) = s.slow_ms {
            self.slow(ms);
        }
        if let Some(n) = s.drop_connection {
            self.drop_connection(n);
        }
    }

    /// The current settings.
    pub fn snapshot(&self) -> FaultSettings {
        FaultSettings {
            clear: None,
            bad_sct: Some(self.bad_sct.load(Ordering::SeqCst)),
            bad_set: Some(self.bad_set.load(Ordering::SeqCst)),
            foreign_chain: Some(self.foreign_chain.load(Ordering::SeqCst)),
            detached_sct: Some(self.detached_sct.load(Ordering::SeqCst)),
            rate_limit: Some(RateLimit {
                count: self.rate_limit_count.load(Ordering::SeqCst),
                retry_after_seconds: self.retry_after.load(Ordering::SeqCst),
            }),
            server_error: Some(self.server_error_count.load(Ordering::SeqCst)),
            slow_ms: Some(self.slow_ms.load(Ordering::SeqCst)),
            drop_connection: Some(self.drop_count.load(Ordering::SeqCst)),
        }
    }

    pub(crate) fn is_bad_sct(&self) -> bool {
        self.bad_sct.load(Ordering::SeqCst)
    }
    pub(crate) fn is_bad_set(&self) -> bool {
        self.bad_set.load(Ordering::SeqCst)
    }
    pub(crate) fn is_foreign_chain(&self) -> bool {
        self.foreign_chain.load(Ordering::SeqCst)
    }
    pub(crate) fn is_detached_sct(&self) -> bool {
        self.detached_sct.load(Ordering::SeqCst)
    }
    pub(crate) fn slow_ms(&self) -> u64 {
        self.slow_ms.load(Ordering::SeqCst)
    }

    /// Consumes one injected failure for an API request, if any is pending.
    pub(crate) fn next_injected(&self) -> Option<Injected> {
        if take(&self.drop_count) {
            return Some(Injected::Drop);
        }
        if take(&self.rate_limit_count) {
            return Some(Injected::RateLimit(self.retry_after.load(Ordering::SeqCst)));
        }
        if take(&self.server_error_count) {
            return Some(Injected::ServerError);
        }
        None
    }
}
