//! The crate's one error type.

/// A cause kept as an error's source.
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong in wsc-pki.
///
/// Most variants say an input is unusable; the verification variants say
/// a certificate-bound signature was checked and the answer is no
/// ([`PkiError::is_verification_failure`]). [`PkiError::Leaf`] is both:
/// from a verifier a refused record, from a signer nothing signed.
///
/// A cause (a DER, PEM, rcgen or transport error) is the `source`, never
/// part of the message; where wsc has no cause but its own words, the
/// source is that text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// PEM text that does not decode, or holds the wrong kind of block.
    #[error("PEM")]
    Pem(#[source] Cause),
    /// DER that does not parse as what was expected.
    #[error("cannot parse the {what}")]
    Parse {
        /// What was being parsed.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: Cause,
    },
    /// A key that wsc-core cannot read.
    #[error(transparent)]
    Key(#[from] wsc_core::KeyError),
    /// A secret key file that group or others may access.
    #[error(
        "the secret key file may be read by group or others (mode {mode:03o}); run `chmod 600` on it, or allow it explicitly"
    )]
    KeyFileExposed {
        /// The permission bits.
        mode: u32,
    },
    /// A key or signature algorithm wsc-pki does not handle.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The signer failed.
    #[error("the signer failed")]
    Signer(#[from] wsc_core::SignerError),
    /// A CSR whose own signature does not verify.
    #[error("the CSR's signature does not verify with the key it carries")]
    CsrSignature,
    /// A CSR that cannot be used under the device profile.
    #[error("unusable CSR")]
    Csr(#[source] Cause),
    /// A device id that cannot be written as a URI.
    #[error("invalid device id {0:?}: use letters, digits and . _ ~ -, or an absolute URI")]
    DeviceId(String),
    /// The CSR asks for another device id than the issuer gave.
    #[error("the CSR asks for device id {requested:?} but the profile says {expected:?}")]
    DeviceIdMismatch {
        /// In the CSR.
        requested: String,
        /// In the profile.
        expected: String,
    },
    /// A certificate that is not for the signer's key.
    #[error("the leaf certificate is for another key than the signer's")]
    KeyMismatch,
    /// A certificate that should be a CA and is not.
    #[error("not a CA certificate: {0}")]
    NotCa(String),
    /// Issuing failed, or a CA cannot issue.
    #[error("cannot issue")]
    Issue(#[source] Cause),
    /// A time that cannot be represented.
    #[error("time")]
    Time(#[source] Cause),
    /// A time that does not parse.
    #[error("time: {text:?} is not an RFC 3339 time")]
    TimeText {
        /// The text given.
        text: String,
        /// Why it does not parse.
        #[source]
        source: time::error::Parse,
    },
    /// A certificate-bound record whose bytes do not decode.
    #[error("malformed certificate-bound record: {0}")]
    Record(String),
    /// A record or chain with more CA certificates than a record carries.
    #[error("the record carries {count} CA certificates after its leaf; at most {max} are allowed")]
    TooManyIntermediates {
        /// CA certificates after the leaf.
        count: usize,
        /// The most allowed ([`crate::MAX_INTERMEDIATES`]).
        max: usize,
    },
    /// A trust anchor file (or PEM text) with other than one certificate.
    #[error(
        "it holds {count} certificates, and a trust anchor file must hold exactly one: give the root's \
         certificate, or an intermediate's own certificate alone, not a chain"
    )]
    AnchorCount {
        /// Certificates found.
        count: usize,
    },
    /// A leaf certificate that may not sign code: refused by the signer
    /// before anything is written, and by the verifier.
    #[error("leaf certificate {subject} refused")]
    Leaf {
        /// The leaf subject.
        subject: String,
        /// What is wrong with it.
        #[source]
        reason: crate::leaf::LeafError,
    },

    /// Timestamps cannot be set up, or the TSA cannot be reached.
    #[error("timestamp authority")]
    Tsa(#[source] Cause),

    /// The timestamp request could not be made, or the TSA's answer cannot
    /// be used (refused, malformed, no token, too large).
    #[error("timestamp authority")]
    TsaAnswer(#[source] wsc_tsp::TspError),

    /// The record's RFC 3161 timestamp does not verify, is missing, or its
    /// time is outside what the policy allows.
    #[error("timestamp rejected: {0}")]
    Timestamp(String),
    /// The chain does not lead to a trust anchor under the rules.
    #[error("certificate chain rejected: {0}")]
    Chain(String),
    /// A certificate on the path is on a given CRL.
    #[error("certificate chain rejected: a certificate on the path is revoked")]
    Revoked,
    /// Revocation cannot be decided: a CRL is past its nextUpdate, or CRLs
    /// are required and a CA on the path has none.
    #[error("certificate chain rejected: {0}")]
    RevocationUnknown(String),
    /// Timestamps are required and the record carries no RFC 3161 token.
    #[error("timestamp rejected: timestamps are required and the record carries no RFC 3161 token")]
    TimestampRequired,
    /// Path building for one record could cost more than a record may use.
    #[error("certificate path search refused: it could cost more than the {limit} units one record may use")]
    ChainTooComplex {
        /// The per-record limit ([`crate::MAX_RECORD_CHAIN_COST`]).
        limit: u64,
    },
    /// The verification's path-building budget is spent.
    #[error("certificate path search refused: this verification's budget of {budget} units is spent")]
    ChainBudgetExhausted {
        /// The budget's total.
        budget: u64,
    },
    /// The signature over the set message does not verify with the leaf key.
    #[error("the signature does not verify with the leaf certificate's key")]
    BadSignature,
}

impl PkiError {
    /// Whether verification ran and said no, as opposed to unusable input.
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self,
            PkiError::Chain(_)
                | PkiError::Revoked
                | PkiError::RevocationUnknown(_)
                | PkiError::TimestampRequired
                | PkiError::Timestamp(_)
                | PkiError::Leaf { .. }
                | PkiError::ChainTooComplex { .. }
                | PkiError::ChainBudgetExhausted { .. }
                | PkiError::BadSignature
        )
    }

    pub(crate) fn parse(what: &'static str, source: impl Into<Cause>) -> Self {
        PkiError::Parse { what, source: source.into() }
    }
}

/// Result with [`PkiError`].
pub type Result<T, E = PkiError> = std::result::Result<T, E>;
