//! Registry evidence: the OCI manifest a module was pulled by and the
//! Sigstore bundles its referrers hold, judged for `attestation`
//! principals.

use sha2::{Digest, Sha256};
use wsc_keyless::{KeylessError, Mismatch};

use crate::verdict::ReasonCode;

/// Most attestation bundles one evaluation verifies (each is a full
/// Sigstore verification); referrers past it are reported, never counted.
pub const MAX_ATTESTATION_CHECKS: usize = 256;

/// What a registry gave for a pulled module: the bytes of the manifest it
/// was pulled by, and what each referrer of that manifest held.
#[derive(Debug, Clone, Copy)]
pub struct RegistryEvidence<'a> {
    /// The OCI image manifest, as the registry served it (its SHA-256 is
    /// the digest attestations must name; its one layer must be the
    /// module evaluated).
    pub manifest: &'a [u8],
    /// The referrers, in the order of the list.
    pub referrers: &'a [Referrer],
}

/// One referrer of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// The referrer manifest's digest (`sha256:<hex>`).
    pub digest: String,
    /// Its `artifactType`, as listed.
    pub artifact_type: Option<String>,
    /// What it held.
    pub content: ReferrerContent,
}

/// What a referrer held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferrerContent {
    /// A Sigstore bundle (JSON) in its one layer, and whose `subject` is
    /// the manifest: the fetcher checked both.
    Bundle(String),
    /// Not a Sigstore bundle (another artifact type, such as an SBOM):
    /// it counts for no principal.
    Other(String),
    /// A Sigstore referrer that could not be used (a `subject` naming
    /// another manifest, a missing or oversized child, a blob whose digest
    /// does not match): why.
    Broken(String),
}

/// How one referrer fared, in the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReferrerResult {
    /// The referrer manifest's digest.
    pub digest: String,
    /// The attestation principal it was checked for, when it was.
    pub principal: Option<String>,
    /// The statement's predicate type, when the bundle could be read.
    pub predicate_type: Option<String>,
    /// Who signed it, when it verified.
    pub signer: Option<String>,
    /// `verified`, `failed` or `ignored`.
    pub outcome: &'static str,
    /// Why it failed or was ignored.
    pub reason: Option<String>,
}

/// The manifest's digest, and whether its one layer is the module whose
/// SHA-256 is `module_sha256` (`Err`: why not).
pub(crate) fn manifest_binding(manifest: &[u8], module_sha256: &[u8; 32]) -> ([u8; 32], Result<(), String>) {
    let digest: [u8; 32] = Sha256::digest(manifest).into();
    let check = || -> Result<(), String> {
        let v: serde_json::Value =
            serde_json::from_slice(manifest).map_err(|e| format!("the manifest is not JSON: {e}"))?;
        let layers = v.get("layers").and_then(|l| l.as_array()).ok_or("the manifest has no layers")?;
        let [layer] = layers.as_slice() else {
            return Err(format!("the manifest has {} layers, not one", layers.len()));
        };
        let want = format!("sha256:{}", wsc_core::keys::hex(module_sha256));
        match layer.get("digest").and_then(|d| d.as_str()) {
            Some(d) if d == want => Ok(()),
            other => Err(format!("the manifest's layer is {other:?}, not the module evaluated ({want})")),
        }
    };
    (digest, check())
}

/// The reason code of a failed attestation.
pub(crate) fn failure_code(e: &KeylessError) -> ReasonCode {
    match e {
        KeylessError::Mismatch { what: Mismatch::Identity, .. } => ReasonCode::IdentityMismatch,
        KeylessError::Mismatch { what: Mismatch::Issuer, .. } => ReasonCode::IssuerMismatch,
        KeylessError::Mismatch { what: Mismatch::Claim, .. } => ReasonCode::ClaimMismatch,
        KeylessError::NoTrustedTime => ReasonCode::NoTrustedTime,
        _ => ReasonCode::AttestationInvalid,
    }
}
