//! Sigstore keyless signatures for WebAssembly, verified offline.
//!
//! A keyless record is a signature record (algorithm id `0x20`) inside the
//! wasmsign2 `signature` section. Its payload is a standard Sigstore bundle
//! (JSON) whose artifact is the signed message of its set
//! (`"wasmsig" ‖ 01 01 01 ‖ hashes`), so keyless signatures get
//! multi-signature, delimiters and partial verification exactly like Ed25519
//! ones. Everything a verifier needs is inside the module and the trust root:
//! verification opens no network connection.
//!
//! What it is: the bridge between wsc-core and the sigstore-rust verification
//! crates (`sigstore-verify` 0.15.1, which checks the Fulcio chain, the SCT,
//! the signature, the Rekor v1 SET, inclusion proof and checkpoint, Rekor v2
//! entries and RFC 3161 timestamps, and log-entry consistency), plus the
//! identity policy (exact or regular-expression identity and issuer, GitHub
//! workflow claims) and the bundle interop helpers (the message to sign,
//! attach, export).
//!
//! A keyless record is a message-signature bundle whose SHA-256
//! `messageDigest` is the digest of its set message: anything else (a DSSE
//! envelope, another digest algorithm, no digest) is refused before
//! `sigstore-verify` sees it. Regular expressions of the policy are
//! anchored by [`anchored_regex`], which no pattern can escape.
//!
//! With the `sign` feature it also signs: identity tokens (explicit, CI
//! providers, browser login), Fulcio, Rekor (v1, v2) and TSA clients over
//! wsc-pinning, and the [`sign::KeylessSigner`] that checks every bundle it
//! makes with the same offline verifier before handing it back. With the
//! `tuf` feature, [`tuf`] keeps the trust root cached per trust domain and
//! updates it through a TUF repository (a pinned client, its own small
//! runtime). Without those features the crate has no network dependency at
//! all.
//!
//! What it is not: it writes no Sigstore cryptography of its own
//! (verification is `sigstore-verify`'s), and it does not log DSSE
//! envelopes in Rekor v2 logs.

use std::fmt;
use std::io::Read;

use regex::Regex;
use regex_syntax::hir::{Hir, Look};
use sha2::{Digest, Sha256};
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::{Artifact, Bundle, DerPublicKey, HashAlgorithm, SignatureContent};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy, VerificationResult, Verifier};
use wsc_core::sigdata::{AlgorithmId, SetEntry, SignatureRecord};
use wsc_core::{
    Evidence, PublicKey, RecordOutcome, RecordVerifier, Signer, SignerError, SignerId, TimeSource, TrustedTime,
};

pub use sigstore_verify;

#[cfg(feature = "sign")]
pub mod sign;
#[cfg(feature = "tuf")]
pub mod tuf;

/// The algorithm id of a keyless record: its payload is a Sigstore bundle.
pub const KEYLESS_ALGORITHM: AlgorithmId = AlgorithmId::SIGSTORE_KEYLESS;

/// Largest bundle wsc reads from a file.
pub const MAX_BUNDLE_LEN: usize = 1024 * 1024;

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
    fn mismatch(what: Mismatch, message: String) -> Self {
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

/// The SHA-256 message digest of a bundle that may be a keyless record.
fn record_digest(bundle: &Bundle) -> Result<[u8; 32], KeylessError> {
    let ms = match &bundle.content {
        SignatureContent::MessageSignature(ms) => ms,
        SignatureContent::DsseEnvelope(_) => return Err(KeylessError::NotKeylessRecord(RecordShape::Dsse)),
        _ => return Err(KeylessError::NotKeylessRecord(RecordShape::UnknownContent)),
    };
    let md = ms.message_digest.as_ref().ok_or(KeylessError::NotKeylessRecord(RecordShape::NoDigest))?;
    if md.algorithm != HashAlgorithm::Sha2256 {
        return Err(KeylessError::NotKeylessRecord(RecordShape::NotSha256));
    }
    md.digest.as_bytes().try_into().map_err(|_| KeylessError::NotKeylessRecord(RecordShape::DigestLength))
}

fn parse_bundle(json: &str) -> Result<Bundle, KeylessError> {
    Bundle::from_json(json).map_err(|e| KeylessError::Bundle(e.into()))
}

/// A regular expression that must match a whole value: `^(?:pattern)$`,
/// built so that nothing in `pattern` can escape the anchors.
///
/// The pattern is parsed on its own first: an unbalanced `)`, a trailing
/// `\` or any other error refuses it. The anchors are then added to the
/// parsed tree, not to the text, and the regex compiled is one whose own
/// parse is exactly that anchored tree: the text `^(?:pattern)$` when it
/// parses to it (most patterns, and it reads as written), else the tree's
/// printed form, which has no verbose mode and closes every group. So
/// `nomatch)|(?:` is refused, and `(?x)a#` (whose comment would swallow a
/// textual `)$`) matches exactly `a`.
pub fn anchored_regex(pattern: &str) -> Result<Regex, KeylessError> {
    let refuse =
        |source: Box<dyn std::error::Error + Send + Sync>| KeylessError::Regex { pattern: pattern.to_string(), source };
    let parse = |p: &str| regex_syntax::Parser::new().parse(p).map_err(|e| refuse(e.into()));
    let anchored = Hir::concat(vec![Hir::look(Look::Start), parse(pattern)?, Hir::look(Look::End)]);
    let textual = format!("^(?:{pattern})$");
    let chosen = match parse(&textual) {
        Ok(hir) if hir == anchored => textual,
        _ => {
            let printed = anchored.to_string();
            // Fail closed should the printer ever disagree with the parser.
            if parse(&printed)? != anchored {
                return Err(refuse("the anchored pattern does not parse back to the same expression".into()));
            }
            printed
        }
    };
    Regex::new(&chosen).map_err(|e| refuse(e.into()))
}

/// The Sigstore public-good production trust root embedded in the crate
/// (as shipped by `sigstore-trust-root` 0.15.1).
pub fn production_root() -> Result<TrustedRoot, KeylessError> {
    root_from_json(sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT)
}

/// The Sigstore staging trust root embedded in the crate.
pub fn staging_root() -> Result<TrustedRoot, KeylessError> {
    root_from_json(sigstore_verify::trust_root::SIGSTORE_STAGING_TRUSTED_ROOT)
}

/// A trust root from its JSON (`application/vnd.dev.sigstore.trustedroot+json`).
pub fn root_from_json(json: &str) -> Result<TrustedRoot, KeylessError> {
    TrustedRoot::from_json(json).map_err(|e| KeylessError::TrustRoot(e.into()))
}

/// How a string claim is matched.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Matcher {
    /// Equal to this string.
    Exact(String),
    /// Matches this regular expression over the whole value (anchored,
    /// unlike cosign's unanchored search); made by [`Matcher::regex`].
    Regex(AnchoredRegex),
}

/// A regular expression from [`anchored_regex`]. Only this crate makes
/// one, so a [`Matcher::Regex`] is always anchored.
#[derive(Debug, Clone)]
pub struct AnchoredRegex(Regex);

impl AnchoredRegex {
    /// The anchored expression.
    pub fn as_regex(&self) -> &Regex {
        &self.0
    }
}

impl Matcher {
    /// A regular expression over the whole value ([`anchored_regex`]).
    pub fn regex(pattern: &str) -> Result<Self, KeylessError> {
        anchored_regex(pattern).map(|r| Matcher::Regex(AnchoredRegex(r)))
    }

    /// Whether `value` equals the string, or the expression matches it.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == value,
            Matcher::Regex(r) => r.0.is_match(value),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "{s:?}"),
            Matcher::Regex(r) => write!(f, "/{}/", r.0.as_str()),
        }
    }
}

/// Optional checks on the GitHub Actions claims Fulcio copies into the
/// certificate (cosign's `--certificate-github-workflow-*` flags).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct GithubClaims {
    /// `owner/repository`.
    pub repository: Option<String>,
    /// The git ref, e.g. `refs/heads/main`.
    pub git_ref: Option<String>,
    /// The triggering event, e.g. `push`.
    pub trigger: Option<String>,
    /// The commit SHA.
    pub sha: Option<String>,
    /// The workflow's name.
    pub name: Option<String>,
    /// The runner environment (`github-hosted` or `self-hosted`).
    pub runner: Option<String>,
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    identity: Matcher,
    issuer: Matcher,
    github: GithubClaims,
}

impl IdentityPolicy {
    /// The certificate's SAN must match `identity`, and its Fulcio OIDC
    /// issuer extension must match `issuer`. There is no fallback to other
    /// certificate fields.
    pub fn new(identity: Matcher, issuer: Matcher) -> Self {
        IdentityPolicy { identity, issuer, github: GithubClaims::default() }
    }

    /// Adds checks on GitHub workflow claims.
    pub fn with_github(mut self, github: GithubClaims) -> Self {
        self.github = github;
        self
    }

    fn check(&self, result: &VerificationResult) -> Result<(), KeylessError> {
        let san = result.identity().map(|s| s.as_str().to_string());
        let iss = result.issuer().map(str::to_string);
        match &san {
            Some(s) if self.identity.matches(s) => {}
            _ => {
                return Err(KeylessError::mismatch(
                    Mismatch::Identity,
                    format!(
                        "certificate identity {} does not match {}",
                        san.as_deref().map_or("(none)".to_string(), |s| format!("{s:?}")),
                        self.identity
                    ),
                ));
            }
        }
        match &iss {
            Some(s) if self.issuer.matches(s) => {}
            _ => {
                return Err(KeylessError::mismatch(
                    Mismatch::Issuer,
                    format!(
                        "certificate OIDC issuer {} does not match {}",
                        iss.as_deref().map_or("(none)".to_string(), |s| format!("{s:?}")),
                        self.issuer
                    ),
                ));
            }
        }
        let claims = result.certificate().map(|c| &c.ci_claims);
        let gh = claims.map(|c| &c.deprecated_github);
        type Check<'a> = (&'a str, &'a Option<String>, Option<&'a Option<String>>);
        let runner = claims.map(|c| &c.runner_environment);
        let checks: [Check<'_>; 6] = [
            ("workflow repository", &self.github.repository, gh.map(|g| &g.workflow_repository)),
            ("workflow ref", &self.github.git_ref, gh.map(|g| &g.workflow_ref)),
            ("workflow trigger", &self.github.trigger, gh.map(|g| &g.workflow_trigger)),
            ("workflow sha", &self.github.sha, gh.map(|g| &g.workflow_sha)),
            ("workflow name", &self.github.name, gh.map(|g| &g.workflow_name)),
            ("runner environment", &self.github.runner, runner),
        ];
        for (what, want, got) in checks {
            if let Some(want) = want {
                let got = got.and_then(Option::as_deref);
                if got != Some(want.as_str()) {
                    return Err(KeylessError::mismatch(
                        Mismatch::Claim,
                        format!(
                            "GitHub {what} is {}, expected {want:?}",
                            got.map_or("absent".to_string(), |g| format!("{g:?}"))
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What a keyless verifier must see.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Expectation {
    /// A Fulcio certificate for this identity.
    Identity(IdentityPolicy),
    /// A managed key: the bundle carries a key hint, verified with this key.
    Key(DerPublicKey),
}

impl Expectation {
    /// A managed key from its PEM (SubjectPublicKeyInfo).
    pub fn key_from_pem(pem: &str) -> Result<Self, KeylessError> {
        DerPublicKey::from_pem(pem).map(Expectation::Key).map_err(KeylessError::PublicKey)
    }
}

/// What a verified bundle says about its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignerIdentity {
    /// The certificate SAN (identity), or `None` for a managed key.
    pub identity: Option<String>,
    /// The OIDC issuer.
    pub issuer: Option<String>,
    /// The Rekor v1 integrated time (RFC 3339), when the log entry has one.
    pub integrated_time: Option<String>,
    /// Verified RFC 3161 and log times (RFC 3339).
    pub verified_times: Vec<String>,
    /// Whether the transparency-log evidence was verified.
    pub tlog_verified: bool,
    /// Who signed, as the verified certificate (issuer and SAN) or the
    /// managed key (SHA-256 of its SPKI) says.
    pub signer: SignerId,
    /// The signing time the verified log entry (Rekor integrated time) or,
    /// failing that, the first verified RFC 3161 timestamp gives.
    pub time: Option<TrustedTime>,
}

impl fmt::Display for SignerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.identity, &self.issuer) {
            (Some(id), Some(iss)) => write!(f, "{id} (issuer {iss})")?,
            (Some(id), None) => write!(f, "{id}")?,
            _ => f.write_str("managed key")?,
        }
        if let Some(t) = self.verified_times.first() {
            write!(f, ", signed at {t}")?;
        }
        if self.tlog_verified {
            f.write_str(", logged in Rekor")?;
        }
        Ok(())
    }
}

/// Verifies Sigstore bundles offline against one trust root and expectation.
pub struct BundleVerifier {
    verifier: Verifier,
    expectation: Expectation,
}

impl fmt::Debug for BundleVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundleVerifier").field("expectation", &self.expectation).finish_non_exhaustive()
    }
}

impl BundleVerifier {
    /// Prepares the trust root's keys and certificates.
    pub fn new(root: &TrustedRoot, expectation: Expectation) -> Result<Self, KeylessError> {
        let verifier = Verifier::new(root).map_err(|e| KeylessError::TrustRoot(e.into()))?;
        Ok(BundleVerifier { verifier, expectation })
    }

    /// Verifies a plain bundle (JSON) over an artifact, given as bytes or as
    /// a SHA-256 digest. Any bundle content `sigstore-verify` accepts is
    /// accepted here, DSSE included: a keyless record goes through
    /// [`BundleVerifier::verify_record_bundle`] instead.
    pub fn verify(&self, artifact: Artifact<'_>, bundle_json: &str) -> Result<SignerIdentity, KeylessError> {
        self.verify_bundle(artifact, &parse_bundle(bundle_json)?)
    }

    /// Verifies a keyless record's bundle (JSON) over its set message.
    ///
    /// The bundle must be a message signature whose SHA-256
    /// `messageDigest` equals the SHA-256 of `message`; a DSSE envelope (even
    /// one whose statement names the message's digest as a subject) and any
    /// other content are refused before the Sigstore checks run.
    pub fn verify_record_bundle(&self, message: &[u8], bundle_json: &str) -> Result<SignerIdentity, KeylessError> {
        let bundle = parse_bundle(bundle_json)?;
        let found = record_digest(&bundle)?;
        let expected: [u8; 32] = Sha256::digest(message).into();
        if found != expected {
            return Err(KeylessError::WrongArtifact {
                found: wsc_core::keys::hex(&found),
                expected: wsc_core::keys::hex(&expected),
            });
        }
        self.verify_bundle(Artifact::Blob(message), &bundle)
    }

    fn verify_bundle(&self, artifact: Artifact<'_>, bundle: &Bundle) -> Result<SignerIdentity, KeylessError> {
        let result = match &self.expectation {
            Expectation::Identity(policy) => {
                // Identity and issuer are matched below (exact or regex), with the
                // certificate chain, SCT and log checks all left on.
                let r = self.verifier.verify(artifact, bundle, &VerificationPolicy::any_identity())?;
                if !r.certificate_verified() {
                    return Err(KeylessError::Identity("the bundle carries no Fulcio certificate".into()));
                }
                policy.check(&r)?;
                r
            }
            Expectation::Key(key) => {
                self.verifier.verify(artifact, bundle, &PublicKeyVerificationPolicy::new(key.clone()))?
            }
        };
        if !result.tlog_verified() && result.verified_timestamps().is_empty() {
            return Err(KeylessError::NoTrustedTime);
        }
        let signer = match &self.expectation {
            Expectation::Identity(_) => match (result.issuer(), result.identity()) {
                (Some(issuer), Some(san)) => {
                    SignerId::Keyless { issuer: issuer.to_string(), identity: san.as_str().to_string() }
                }
                // Fail closed: a certificate without both names is nobody.
                _ => return Err(KeylessError::Identity("the certificate has no issuer or no identity".into())),
            },
            Expectation::Key(key) => SignerId::Key { spki_sha256: Sha256::digest(key.as_bytes()).into() },
        };
        // The Rekor time only counts when the log evidence was verified.
        let time = match result.integrated_time() {
            Some(t) if result.tlog_verified() => Some(TrustedTime::new(TimeSource::Rekor, t.as_second())),
            _ => result.verified_timestamps().first().map(|t| TrustedTime::new(TimeSource::Tsa, t.as_second())),
        };
        Ok(SignerIdentity {
            signer,
            time,
            identity: result.identity().map(|s| s.as_str().to_string()),
            issuer: result.issuer().map(str::to_string),
            integrated_time: result.integrated_time().map(|t| t.to_string()),
            verified_times: result.verified_timestamps().iter().map(ToString::to_string).collect(),
            tlog_verified: result.tlog_verified(),
        })
    }
}

impl BundleVerifier {
    /// Checks a bundle that has no log entry yet, only an RFC 3161
    /// timestamp: the certificate chain at the timestamp's time, the SCT,
    /// the timestamp, the signature and the identity. The signer's check of
    /// a fresh Fulcio certificate before anything is logged; never a
    /// verification result on its own (the log evidence is not checked).
    #[cfg(feature = "sign")]
    pub(crate) fn check_certificate_before_logging(
        &self,
        artifact: Artifact<'_>,
        bundle_json: &str,
    ) -> Result<(), KeylessError> {
        let bundle = parse_bundle(bundle_json)?;
        let Expectation::Identity(policy) = &self.expectation else {
            return Err(KeylessError::Policy("a certificate check needs an identity".into()));
        };
        let r = self.verifier.verify(artifact, &bundle, &VerificationPolicy::any_identity().skip_tlog_unsafe())?;
        if !r.certificate_verified() || !r.sct_verified() || r.verified_timestamps().is_empty() {
            return Err(KeylessError::Identity("the certificate, its SCT or the timestamp was not verified".into()));
        }
        policy.check(&r)
    }
}

impl RecordVerifier for BundleVerifier {
    fn wants(&self, record: &SignatureRecord) -> bool {
        record.algorithm == KEYLESS_ALGORITHM
    }

    fn verify_record(&self, message: &[u8], record: &SignatureRecord) -> RecordOutcome {
        let outcome = std::str::from_utf8(&record.signature)
            .map_err(|_| KeylessError::Bundle("the keyless record is not UTF-8 JSON".into()))
            .and_then(|json| self.verify_record_bundle(message, json));
        match outcome {
            Ok(id) => RecordOutcome::Valid(
                Evidence::new(id.signer.clone()).with_time(id.time.clone()).with_description(id.to_string()),
            ),
            Err(e) => RecordOutcome::Invalid { reason: wsc_core::Chain(&e).to_string() },
        }
    }
}

/// The message a keyless record of this module must sign: the set message
/// of the module's content hashes (as `wsc sign` would sign them).
pub fn module_message<R: Read>(module: R) -> Result<Vec<u8>, KeylessError> {
    let hashes = wsc_core::content_hashes(module)?;
    Ok(wsc_core::sigdata::signed_message(&hashes))
}

/// A "signer" that contributes an existing bundle as a keyless record. It
/// refuses to sign any message but the one the bundle's digest names.
#[derive(Debug, Clone)]
pub struct BundleRecord {
    bundle: Vec<u8>,
    digest: [u8; 32],
}

impl BundleRecord {
    /// Reads a message-signature bundle with a SHA-256 message digest.
    pub fn new(bundle_json: &[u8]) -> Result<Self, KeylessError> {
        let text = std::str::from_utf8(bundle_json).map_err(|_| KeylessError::Bundle("not UTF-8".into()))?;
        let digest = record_digest(&parse_bundle(text)?)?;
        // Stored compact, so the record does not carry the file's formatting.
        let compact = serde_json::to_vec(
            &serde_json::from_str::<serde_json::Value>(text).map_err(|e| KeylessError::Bundle(e.into()))?,
        )
        .map_err(|e| KeylessError::Bundle(e.into()))?;
        Ok(BundleRecord { bundle: compact, digest })
    }
}

impl Signer for BundleRecord {
    fn algorithm(&self) -> AlgorithmId {
        KEYLESS_ALGORITHM
    }

    fn public_key(&self) -> Option<PublicKey> {
        None
    }

    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let expected: [u8; 32] = Sha256::digest(message).into();
        if expected != self.digest {
            return Err(SignerError::new(KeylessError::WrongArtifact {
                found: wsc_core::keys::hex(&self.digest),
                expected: wsc_core::keys::hex(&expected),
            }));
        }
        Ok(self.bundle.clone())
    }
}

/// A keyless record taken out of a module, with the message it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportedRecord {
    /// Set index.
    pub set: usize,
    /// Record index in the set.
    pub record: usize,
    /// The bundle JSON.
    pub bundle: Vec<u8>,
    /// The set message: the bundle's artifact.
    pub message: Vec<u8>,
}

/// Every keyless record of a module, with its set's message.
///
/// The whole module is walked (a malformed one is refused), one section at
/// a time: memory stays flat however many sections it has.
pub fn export_records<R: Read>(module: R) -> Result<Vec<ExportedRecord>, KeylessError> {
    let mut sections = wsc_core::Sections::new(module, None)?;
    for section in sections.by_ref() {
        section?;
    }
    let mut out = Vec::new();
    if let Some(data) = sections.take_signature() {
        for (si, set) in data.sets.iter().enumerate() {
            let SetEntry::Valid(s) = set else { continue };
            for (ri, r) in s.records.iter().enumerate() {
                if let Ok(rec) = &r.parsed {
                    if rec.algorithm == KEYLESS_ALGORITHM {
                        out.push(ExportedRecord {
                            set: si,
                            record: ri,
                            bundle: rec.signature.clone(),
                            message: s.message(),
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}
