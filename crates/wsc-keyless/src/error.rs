//! The crate's errors: [`KeylessError`] and the kinds it names.

use std::fmt;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeylessError {
    /// The bundle does not parse; the source says why.
    #[error("invalid bundle")]
    Bundle(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The trust root does not parse or cannot be used; the source says why.
    #[error("invalid trust root")]
    TrustRoot(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A policy setting is invalid; the source says why.
    #[error("invalid policy")]
    Policy(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The policy's public key does not parse.
    #[error("invalid policy: invalid public key")]
    PublicKey(#[source] sigstore_verify::types::Error),
    /// A regular expression of the policy does not parse on its own.
    #[error("invalid regular expression {pattern:?}")]
    Regex {
        /// The pattern as given.
        pattern: String,
        /// Why it was refused.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The bundle is not of the one shape a keyless record may have: a
    /// message signature with a SHA-256 `messageDigest`.
    #[error("not a keyless record: {0}; a keyless record is a message-signature bundle with a SHA-256 messageDigest")]
    NotKeylessRecord(RecordShape),
    /// The signature, certificate, log or timestamp evidence was rejected.
    #[error(transparent)]
    Verify(#[from] sigstore_verify::Error),
    /// The certificate verified, but its identity or claims do not satisfy the policy.
    #[error("identity policy not met: {0}")]
    Identity(String),
    /// Neither a transparency-log entry nor an RFC 3161 timestamp of the
    /// bundle verified, so there is no trusted signing time.
    #[error("no verified transparency-log entry or timestamp")]
    NoTrustedTime,
    /// The certificate verified, but one of its names or claims is not the
    /// one the policy asks for.
    #[error("identity policy not met: {message}")]
    Mismatch {
        /// Which name or claim.
        what: Mismatch,
        /// What was found and what was expected.
        message: String,
    },
    /// The bundle's artifact is not this module's message.
    #[error("the bundle signs another artifact (digest {found}), not this module's message (digest {expected})")]
    WrongArtifact {
        /// The bundle's message digest.
        found: String,
        /// The module message's digest.
        expected: String,
    },
    /// The bundle is not an in-toto attestation (a DSSE envelope holding
    /// a Statement v1); the text says which part is off.
    #[error("not an in-toto attestation: {0}")]
    NotAttestation(String),
    /// The attestation's statement names other artifacts than the one
    /// verified.
    #[error("the statement is about {found}, not the artifact of SHA-256 {expected}")]
    WrongSubject {
        /// The statement's subject digests (SHA-256, hex).
        found: String,
        /// The artifact's digest.
        expected: String,
    },
    /// A module-level error.
    #[error(transparent)]
    Core(#[from] wsc_core::Error),
}

/// Which part of a verified certificate did not match the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The SAN (identity).
    Identity,
    /// The OIDC issuer.
    Issuer,
    /// A GitHub workflow claim.
    Claim,
}

impl KeylessError {
    pub(crate) fn mismatch(what: Mismatch, message: String) -> Self {
        KeylessError::Mismatch { what, message }
    }
}

/// Why a bundle cannot be a keyless record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordShape {
    /// A DSSE envelope: it signs a statement about artifacts, not the set
    /// message itself.
    Dsse,
    /// Content that is neither a message signature nor DSSE.
    UnknownContent,
    /// A message signature without a `messageDigest`.
    NoDigest,
    /// A `messageDigest` with another algorithm than SHA-256.
    NotSha256,
    /// A SHA-256 `messageDigest` that is not 32 bytes long.
    DigestLength,
}

impl fmt::Display for RecordShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordShape::Dsse => "the bundle is a DSSE envelope (an attestation), not a message signature",
            RecordShape::UnknownContent => "the bundle's content is neither a message signature nor DSSE",
            RecordShape::NoDigest => "the bundle has no messageDigest",
            RecordShape::NotSha256 => "the bundle's messageDigest is not SHA-256",
            RecordShape::DigestLength => "the bundle's SHA-256 messageDigest is not 32 bytes",
        })
    }
}
