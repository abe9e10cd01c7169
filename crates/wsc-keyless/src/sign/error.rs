//! Errors of the signing side. No variant ever carries an identity token.

use crate::KeylessError;

/// A cause kept as the error's source.
type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why keyless signing failed. Nothing is written when it does.
///
/// The variants with a `reason` say in wsc's words what failed; the error
/// that caused it, if any, is the `source`, not part of the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// No usable identity token (missing, malformed, expired, or the
    /// provider refused). The message never contains the token.
    #[error("identity token: {reason}")]
    Token {
        /// What is wrong.
        reason: String,
        /// The cause.
        #[source]
        source: Option<Cause>,
    },
    /// A service could not be reached, answered with an HTTP error status
    /// (after any retries), or answered too much.
    #[error(transparent)]
    Service(#[from] wsc_pinning::ServiceError),
    /// Fulcio's certificate cannot be used.
    #[error("Fulcio certificate rejected: {reason}")]
    Certificate {
        /// What is wrong.
        reason: String,
        /// The cause.
        #[source]
        source: Option<Cause>,
    },
    /// Rekor's answer cannot be used.
    #[error("Rekor entry rejected: {reason}")]
    LogEntry {
        /// What is wrong.
        reason: String,
        /// The cause.
        #[source]
        source: Option<Cause>,
    },
    /// The timestamp request could not be made, or the answer cannot be used.
    #[error("timestamp authority")]
    Timestamp(#[from] wsc_tsp::TspError),
    /// The finished bundle did not verify against the trust root.
    #[error("the new signature does not verify against the trust root, so nothing is written")]
    Verify(#[from] KeylessError),
    /// The signing key (a key file, a key in hardware) could not sign.
    #[error("the signing key could not sign")]
    Signer(#[source] wsc_core::SignerError),
    /// The signing configuration or options cannot be used.
    #[error("signing configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
        /// The cause.
        #[source]
        source: Option<Cause>,
    },
}

impl SignError {
    /// An unusable identity token.
    pub fn token(reason: impl Into<String>) -> Self {
        SignError::Token { reason: reason.into(), source: None }
    }

    /// An unusable Fulcio certificate.
    pub fn certificate(reason: impl Into<String>) -> Self {
        SignError::Certificate { reason: reason.into(), source: None }
    }

    /// An unusable Rekor answer.
    pub fn log_entry(reason: impl Into<String>) -> Self {
        SignError::LogEntry { reason: reason.into(), source: None }
    }

    /// An unusable signing configuration.
    pub fn config(reason: impl Into<String>) -> Self {
        SignError::Config { reason: reason.into(), source: None }
    }

    /// The same error, caused by `cause` (kept as the source). Variants
    /// without a `reason` are returned unchanged.
    pub fn because(mut self, cause: impl Into<Cause>) -> Self {
        if let SignError::Token { source, .. }
        | SignError::Certificate { source, .. }
        | SignError::LogEntry { source, .. }
        | SignError::Config { source, .. } = &mut self
        {
            *source = Some(cause.into());
        }
        self
    }
}
