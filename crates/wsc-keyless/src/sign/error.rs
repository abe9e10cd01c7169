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
    /// A service could not be reached, answered with an HTTP error status
    /// (after any retries), or answered too much.
    #[error(transparent)]
    Service(#[from] wsc_pinning::ServiceError),
    /// Fulcio's certificate cannot be used.
    #[error("Fulcio certificate rejected: {0}")]
    Certificate(String),
    /// Rekor's answer cannot be used.
    #[error("Rekor entry rejected: {0}")]
    LogEntry(String),
    /// The timestamp request could not be made, or the answer cannot be used.
    #[error("timestamp authority: {0}")]
    Timestamp(wsc_tsp::TspError),
    /// The finished bundle did not verify against the trust root.
    #[error("the new signature does not verify against the trust root, so nothing is written: {0}")]
    Verify(#[from] KeylessError),
    /// The signing configuration or options cannot be used.
    #[error("signing configuration: {0}")]
    Config(String),
}

impl From<wsc_tsp::TspError> for SignError {
    fn from(e: wsc_tsp::TspError) -> Self {
        SignError::Timestamp(e)
    }
}
