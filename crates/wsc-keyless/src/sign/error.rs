//! Errors of the signing side. No variant ever carries an identity token.

use crate::KeylessError;

/// Why keyless signing failed. Nothing is written when it does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// No usable identity token (missing, malformed, expired, or the
    /// provider refused). The message never contains the token.
    #[error("identity token: {0}")]
    Token(String),
    /// A service could not be reached or answered something unusable.
    #[error("{service} at {url}: {reason}")]
    Service {
        /// Which service ("Fulcio", "Rekor", ...).
        service: String,
        /// The URL called.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A service answered with an HTTP error status (after any retries).
    #[error("{service} at {url} answered HTTP {status} after {attempts} attempt(s): {message}")]
    Status {
        /// Which service.
        service: String,
        /// The URL called.
        url: String,
        /// The last status code.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The start of the answer's body.
        message: String,
    },
    /// Fulcio's certificate cannot be used.
    #[error("Fulcio certificate rejected: {0}")]
    Certificate(String),
    /// Rekor's answer cannot be used.
    #[error("Rekor entry rejected: {0}")]
    LogEntry(String),
    /// The timestamp authority's answer cannot be used.
    #[error("timestamp authority: {0}")]
    Timestamp(String),
    /// The finished bundle did not verify against the trust root.
    #[error("the new signature does not verify against the trust root, so nothing is written: {0}")]
    Verify(#[from] KeylessError),
    /// The signing configuration or options cannot be used.
    #[error("signing configuration: {0}")]
    Config(String),
}
