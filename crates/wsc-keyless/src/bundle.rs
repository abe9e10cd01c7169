//! Bundle helpers: the shape a keyless record's bundle must have, the
//! message it signs, attaching a bundle through the signer seam, and
//! exporting the keyless records of a module.

use std::io::Read;

use sha2::{Digest, Sha256};
use sigstore_verify::types::{Bundle, HashAlgorithm, SignatureContent};
use wsc_core::sigdata::{AlgorithmId, SetEntry};
use wsc_core::{PublicKey, Signer, SignerError};

use crate::KEYLESS_ALGORITHM;
use crate::error::{KeylessError, RecordShape};

/// The SHA-256 message digest of a bundle that may be a keyless record.
pub(crate) fn record_digest(bundle: &Bundle) -> Result<[u8; 32], KeylessError> {
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

pub(crate) fn parse_bundle(json: &str) -> Result<Bundle, KeylessError> {
    Bundle::from_json(json).map_err(|e| KeylessError::Bundle(e.into()))
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
