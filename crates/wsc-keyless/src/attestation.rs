//! Attestations: Sigstore bundles whose DSSE envelope carries an in-toto
//! Statement v1 about an artifact named by its SHA-256 digest (cosign v3
//! signatures of OCI manifests, GitHub build provenance).

use sigstore_verify::types::{Artifact, Bundle, SignatureContent};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy};

use crate::bundle::parse_bundle;
use crate::error::KeylessError;
use crate::verifier::{BundleVerifier, Expectation, SignerIdentity};

/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The `_type` of an in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// Most subjects a statement may name.
const MAX_SUBJECTS: usize = 1024;

/// What an attestation's statement says, read (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statement {
    /// `predicateType`.
    pub predicate_type: String,
    /// The SHA-256 digests of its subjects, in order (subjects without
    /// one are left out).
    pub subject_sha256: Vec<[u8; 32]>,
}

impl Statement {
    /// Whether a subject is the artifact of digest `sha256`.
    pub fn names(&self, sha256: &[u8; 32]) -> bool {
        self.subject_sha256.iter().any(|d| d == sha256)
    }
}

/// An attestation whose bundle verified over the subject digest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedAttestation {
    /// The statement.
    pub statement: Statement,
    /// Who signed it, and when.
    pub signer: SignerIdentity,
}

fn not_attestation(why: impl Into<String>) -> KeylessError {
    KeylessError::NotAttestation(why.into())
}

/// Reads the in-toto statement of a bundle (JSON) without verifying it:
/// the bundle must hold a DSSE envelope of type
/// [`IN_TOTO_PAYLOAD_TYPE`] whose payload is a Statement v1 with a
/// `predicateType` and at most 1024 subjects.
pub fn read_statement(bundle_json: &str) -> Result<Statement, KeylessError> {
    statement_of(&parse_bundle(bundle_json)?)
}

fn statement_of(bundle: &Bundle) -> Result<Statement, KeylessError> {
    let SignatureContent::DsseEnvelope(envelope) = &bundle.content else {
        return Err(not_attestation("the bundle holds no DSSE envelope"));
    };
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(not_attestation(format!(
            "the DSSE payload type is {:?}, not {IN_TOTO_PAYLOAD_TYPE:?}",
            envelope.payload_type
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(envelope.payload.as_bytes())
        .map_err(|e| not_attestation(format!("the DSSE payload is not JSON: {e}")))?;
    match v.get("_type").and_then(|t| t.as_str()) {
        Some(STATEMENT_V1) => {}
        other => return Err(not_attestation(format!("_type is {other:?}, not {STATEMENT_V1:?}"))),
    }
    let predicate_type = v
        .get("predicateType")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| not_attestation("the statement has no predicateType"))?
        .to_string();
    let subjects = v
        .get("subject")
        .and_then(|s| s.as_array())
        .ok_or_else(|| not_attestation("the statement has no subject list"))?;
    if subjects.is_empty() || subjects.len() > MAX_SUBJECTS {
        return Err(not_attestation(format!("{} subjects; 1 to {MAX_SUBJECTS} are allowed", subjects.len())));
    }
    let mut subject_sha256 = Vec::new();
    for (i, s) in subjects.iter().enumerate() {
        let Some(hex) = s.pointer("/digest/sha256") else { continue };
        let parsed = hex.as_str().and_then(parse_hex32);
        let Some(d) = parsed else {
            return Err(not_attestation(format!("subject[{i}].digest.sha256 is not 64 lower-case hex digits")));
        };
        subject_sha256.push(d);
    }
    Ok(Statement { predicate_type, subject_sha256 })
}

/// 64 lower-case hex digits (in-toto digests are lower case).
fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    sigstore_verify::types::Sha256Hash::from_hex(s).ok().map(Into::into)
}

impl BundleVerifier {
    /// Verifies an attestation bundle (JSON) about the artifact whose
    /// SHA-256 is `subject_sha256`: the statement is read first (see
    /// [`read_statement`]) and must name that digest as a subject, then
    /// the bundle is verified over it with every Sigstore check of
    /// [`BundleVerifier::verify`] and this verifier's identity.
    ///
    /// `allow_no_tlog` accepts a bundle with no transparency-log entry
    /// when an RFC 3161 timestamp of the trust root verifies (GitHub's
    /// attestations for private repositories); a bundle with neither is
    /// refused either way. The predicate type is the caller's to check.
    pub fn verify_attestation(
        &self,
        subject_sha256: &[u8; 32],
        bundle_json: &str,
        allow_no_tlog: bool,
    ) -> Result<VerifiedAttestation, KeylessError> {
        let bundle = parse_bundle(bundle_json)?;
        let statement = statement_of(&bundle)?;
        if !statement.names(subject_sha256) {
            let found: Vec<String> = statement.subject_sha256.iter().map(|d| wsc_core::keys::hex(d)).collect();
            return Err(KeylessError::WrongSubject {
                found: if found.is_empty() { "none".into() } else { found.join(", ") },
                expected: wsc_core::keys::hex(subject_sha256),
            });
        }
        let artifact = Artifact::from_digest(sigstore_verify::types::Sha256Hash::new(*subject_sha256));
        let signer = if allow_no_tlog {
            let result = match self.expectation() {
                Expectation::Identity(_) => {
                    self.raw().verify(artifact, &bundle, &VerificationPolicy::any_identity().skip_tlog_unsafe())?
                }
                Expectation::Key(key) => self.raw().verify(
                    artifact,
                    &bundle,
                    &PublicKeyVerificationPolicy::new(key.clone()).skip_tlog_unsafe(),
                )?,
            };
            self.identify(result)?
        } else {
            self.verify_parsed(artifact, &bundle)?
        };
        Ok(VerifiedAttestation { statement, signer })
    }
}
