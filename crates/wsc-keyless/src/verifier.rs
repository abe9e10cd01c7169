//! The offline bundle verifier: the Sigstore checks, the identity policy
//! and the signer and time a verified bundle gives.

use std::fmt;

use sha2::{Digest, Sha256};
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::{Artifact, Bundle, DerPublicKey};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy, VerificationResult, Verifier};
use wsc_core::sigdata::SignatureRecord;
use wsc_core::{Evidence, RecordOutcome, RecordVerifier, SignerId, TimeSource, TrustedTime};

use crate::KEYLESS_ALGORITHM;
use crate::bundle::{parse_bundle, record_digest};
use crate::error::KeylessError;
use crate::identity::IdentityPolicy;

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
        self.verify_parsed(artifact, bundle)
    }

    /// Every Sigstore check, the log included, then [`Self::identify`].
    pub(crate) fn verify_parsed(
        &self,
        artifact: Artifact<'_>,
        bundle: &Bundle,
    ) -> Result<SignerIdentity, KeylessError> {
        // Identity and issuer are matched in `identify` (exact or regex),
        // with the certificate chain, SCT and log checks all left on.
        let result = match &self.expectation {
            Expectation::Identity(_) => self.verifier.verify(artifact, bundle, &VerificationPolicy::any_identity())?,
            Expectation::Key(key) => {
                self.verifier.verify(artifact, bundle, &PublicKeyVerificationPolicy::new(key.clone()))?
            }
        };
        self.identify(result)
    }

    /// The verifier of `sigstore-verify`.
    pub(crate) fn raw(&self) -> &Verifier {
        &self.verifier
    }

    /// What this verifier must see.
    pub(crate) fn expectation(&self) -> &Expectation {
        &self.expectation
    }

    /// Checks a `sigstore-verify` result against the expectation (a
    /// Fulcio certificate whose identity matches, or the key) and a
    /// trusted time (a verified log entry or timestamp), and says who
    /// signed and when.
    pub(crate) fn identify(&self, result: VerificationResult) -> Result<SignerIdentity, KeylessError> {
        if let Expectation::Identity(policy) = &self.expectation {
            if !result.certificate_verified() {
                return Err(KeylessError::Identity("the bundle carries no Fulcio certificate".into()));
            }
            policy.check(&result)?;
        }
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
