//! Signature data: the payload of the `signature` section, or a whole
//! detached signature file. Encoding is byte-identical with wasmsign2 0.2.8.
//!
//! Each set and each record keeps its raw bytes, so records that wsc cannot
//! read (unknown algorithms, malformed records) are written back unchanged
//! when a module is signed again.

use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::error::{Error, Result};
use crate::keys::KeyId;
use crate::leb;

/// Length of a SHA-256 hash.
pub const HASH_LEN: usize = 32;
/// One SHA-256 hash.
pub type Hash = [u8; HASH_LEN];

/// Signature data version.
pub const SPEC_VERSION: u8 = 0x01;
/// Content type (modules and components alike).
pub const CONTENT_TYPE: u8 = 0x01;
/// Hash function: SHA-256.
pub const HASH_FN_SHA256: u8 = 0x01;

/// Most sets in one signature data (wasmsign2's limit).
pub const MAX_SETS: u32 = 64;
/// Most hashes in one set (wasmsign2's limit).
pub const MAX_HASHES: u32 = 64;
/// Most signature records in one set (wasmsign2's limit).
pub const MAX_RECORDS: u32 = 256;
/// Largest signature data wsc reads (the section payload or detached file).
pub const MAX_SIGNATURE_DATA: usize = 4 * 1024 * 1024;

/// A signature algorithm identifier (the `alg_id` byte of a record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlgorithmId(pub u8);

impl AlgorithmId {
    /// Ed25519 (RFC 8032, pure), as in wasmsign2.
    pub const ED25519: AlgorithmId = AlgorithmId(0x01);
    /// ECDSA over P-256 with SHA-256; the signature is `r ‖ s` (64 bytes).
    pub const ECDSA_P256_SHA256: AlgorithmId = AlgorithmId(0x10);
    /// A signature with its X.509 certificate chain (verified by wsc-pki).
    pub const CERTIFICATE_BOUND: AlgorithmId = AlgorithmId(0x11);
    /// A Sigstore keyless bundle (verified by wsc-keyless).
    pub const SIGSTORE_KEYLESS: AlgorithmId = AlgorithmId(0x20);

    /// A short name for known ids.
    pub fn name(self) -> Option<&'static str> {
        match self {
            AlgorithmId::ED25519 => Some("ed25519"),
            AlgorithmId::ECDSA_P256_SHA256 => Some("ecdsa-p256-sha256"),
            AlgorithmId::CERTIFICATE_BOUND => Some("certificate-bound"),
            AlgorithmId::SIGSTORE_KEYLESS => Some("sigstore-keyless"),
            _ => None,
        }
    }
}

impl fmt::Display for AlgorithmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} ({:#04x})", self.0),
            None => write!(f, "unknown ({:#04x})", self.0),
        }
    }
}

/// A parsed signature record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignatureRecord {
    /// The key id, if the record has one.
    pub key_id: Option<KeyId>,
    /// The algorithm.
    pub algorithm: AlgorithmId,
    /// The signature bytes (for keyless and certificate records, their payload).
    pub signature: Vec<u8>,
}

impl SignatureRecord {
    /// Creates a record.
    pub fn new(key_id: Option<KeyId>, algorithm: AlgorithmId, signature: Vec<u8>) -> Self {
        SignatureRecord { key_id, algorithm, signature }
    }

    /// Encodes the record body (without its outer length).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let kid = self.key_id.as_ref().map_or(&[][..], KeyId::as_bytes);
        let mut out = Vec::with_capacity(kid.len() + self.signature.len() + 12);
        leb::write_len(&mut out, kid.len())?;
        out.extend_from_slice(kid);
        out.push(self.algorithm.0);
        leb::write_len(&mut out, self.signature.len())?;
        out.extend_from_slice(&self.signature);
        Ok(out)
    }

    fn decode(buf: &[u8], base: u64) -> Result<(Self, usize)> {
        let mut pos = 0;
        let kid_len = leb::read_slice(buf, &mut pos, base, "key id length")?.value as usize;
        let kid = take(buf, &mut pos, kid_len, base, "key id")?;
        let alg = take(buf, &mut pos, 1, base, "algorithm id")?[0];
        let sig_len = leb::read_slice(buf, &mut pos, base, "signature length")?.value as usize;
        let sig = take(buf, &mut pos, sig_len, base, "signature")?;
        let key_id = (!kid.is_empty()).then(|| KeyId::new(kid));
        Ok((SignatureRecord { key_id, algorithm: AlgorithmId(alg), signature: sig.to_vec() }, pos))
    }
}

/// One record as stored: its raw bytes and what they decode to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordEntry {
    /// Offset of the record body in the signature data.
    pub offset: u64,
    /// The raw record body.
    pub raw: Vec<u8>,
    /// The decoded record, or why it could not be decoded.
    pub parsed: core::result::Result<SignatureRecord, DecodeError>,
    /// Bytes after the record's fields, inside its length window.
    pub trailing: usize,
}

/// One set of hashes and the records that sign them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedHashes {
    /// Offset of the set in the signature data.
    pub offset: u64,
    /// The hashes, in order (delimiter snapshots, then the final digest).
    pub hashes: Vec<Hash>,
    /// The signature records.
    pub records: Vec<RecordEntry>,
}

/// A set that could not be decoded; kept so it can be written back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MalformedSet {
    /// Offset of the set in the signature data.
    pub offset: u64,
    /// The raw set bytes.
    pub raw: Vec<u8>,
    /// Why it was rejected.
    pub reason: DecodeError,
}

/// Why a set or a record could not be decoded: the format error, kept
/// (shared) so the entry stays cheap to clone.
///
/// It prints as the error it holds. Two are equal when they say the same
/// thing.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct DecodeError(Arc<Error>);

impl DecodeError {
    /// The format error.
    pub fn error(&self) -> &Error {
        &self.0
    }
}

impl From<Error> for DecodeError {
    fn from(e: Error) -> Self {
        DecodeError(Arc::new(e))
    }
}

impl PartialEq for DecodeError {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for DecodeError {}

/// A set entry: decoded, or kept raw because it was malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetEntry {
    /// A decoded set.
    Valid(SignedHashes),
    /// A set whose contents are malformed; skipped when verifying.
    Malformed(MalformedSet),
}

/// Decoded signature data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SignatureData {
    /// The sets, in order.
    pub sets: Vec<SetEntry>,
    /// Bytes after the last set (wasmsign2 ignores them; so does wsc, and says so).
    pub trailing_bytes: usize,
}

impl SignatureData {
    /// Decodes signature data. `base` is its offset in the file, for errors.
    pub fn decode(buf: &[u8], base: u64) -> Result<Self> {
        if buf.len() > MAX_SIGNATURE_DATA {
            return Err(Error::TooLarge {
                offset: base,
                what: "signature data",
                len: buf.len() as u64,
                limit: MAX_SIGNATURE_DATA as u64,
            });
        }
        let mut pos = 0;
        for what in ["spec_version", "content_type", "hash_fn"] {
            let at = base + pos as u64;
            let b = take(buf, &mut pos, 1, base, what)?[0];
            if b != 0x01 {
                return Err(Error::Unsupported { offset: at, what, value: b });
            }
        }
        let count_at = base + pos as u64;
        let count = leb::read_slice(buf, &mut pos, base, "set count")?.value;
        if count > MAX_SETS {
            return Err(Error::TooMany {
                offset: count_at,
                what: "hash sets",
                count: count.into(),
                limit: MAX_SETS.into(),
            });
        }
        let mut sets = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let len = leb::read_slice(buf, &mut pos, base, "hash set length")?.value as usize;
            let set_at = base + pos as u64;
            let raw = take(buf, &mut pos, len, base, "hash set")?;
            sets.push(match SignedHashes::decode(raw, set_at) {
                Ok(s) => SetEntry::Valid(s),
                Err(e) => SetEntry::Malformed(MalformedSet { offset: set_at, raw: raw.to_vec(), reason: e.into() }),
            });
        }
        Ok(SignatureData { sets, trailing_bytes: buf.len() - pos })
    }

    /// Encodes the signature data (trailing bytes are not written back).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = vec![SPEC_VERSION, CONTENT_TYPE, HASH_FN_SHA256];
        leb::write_len(&mut out, self.sets.len())?;
        for set in &self.sets {
            let body = match set {
                SetEntry::Valid(s) => s.encode()?,
                SetEntry::Malformed(m) => m.raw.clone(),
            };
            leb::write_len(&mut out, body.len())?;
            out.extend_from_slice(&body);
        }
        Ok(out)
    }

    /// The decoded sets, with their index among all sets.
    pub fn valid_sets(&self) -> impl Iterator<Item = (usize, &SignedHashes)> {
        self.sets.iter().enumerate().filter_map(|(i, s)| match s {
            SetEntry::Valid(v) => Some((i, v)),
            SetEntry::Malformed(_) => None,
        })
    }

    /// Adds a record for `hashes`: to the set with exactly these hashes if
    /// there is one (multi-signature), else to a new set.
    pub fn add_signature(&mut self, hashes: &[Hash], record: &SignatureRecord) -> Result<()> {
        let raw = record.encode()?;
        let parsed = Ok(record.clone());
        for set in &mut self.sets {
            if let SetEntry::Valid(s) = set {
                if s.hashes == hashes {
                    if s.records.iter().any(|r| r.raw == raw) {
                        return Err(Error::DuplicateSignature);
                    }
                    if s.records.len() >= MAX_RECORDS as usize {
                        return Err(Error::TooMany {
                            offset: s.offset,
                            what: "signatures in a set",
                            count: s.records.len() as u64 + 1,
                            limit: MAX_RECORDS.into(),
                        });
                    }
                    s.records.push(RecordEntry { offset: 0, raw, parsed, trailing: 0 });
                    return Ok(());
                }
            }
        }
        if self.sets.len() >= MAX_SETS as usize {
            return Err(Error::TooMany {
                offset: 0,
                what: "hash sets",
                count: self.sets.len() as u64 + 1,
                limit: MAX_SETS.into(),
            });
        }
        if hashes.len() > MAX_HASHES as usize {
            return Err(Error::TooMany {
                offset: 0,
                what: "hashes in a set (delimiters)",
                count: hashes.len() as u64,
                limit: MAX_HASHES.into(),
            });
        }
        self.sets.push(SetEntry::Valid(SignedHashes {
            offset: 0,
            hashes: hashes.to_vec(),
            records: vec![RecordEntry { offset: 0, raw, parsed, trailing: 0 }],
        }));
        Ok(())
    }
}

impl SignedHashes {
    fn decode(buf: &[u8], base: u64) -> Result<Self> {
        let mut pos = 0;
        let count_at = base;
        let count = leb::read_slice(buf, &mut pos, base, "hash count")?.value;
        if count > MAX_HASHES {
            return Err(Error::TooMany {
                offset: count_at,
                what: "hashes",
                count: count.into(),
                limit: MAX_HASHES.into(),
            });
        }
        let mut hashes = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let h = take(buf, &mut pos, HASH_LEN, base, "hash")?;
            let mut a = [0u8; HASH_LEN];
            a.copy_from_slice(h);
            hashes.push(a);
        }
        let rc_at = base + pos as u64;
        let rcount = leb::read_slice(buf, &mut pos, base, "signature count")?.value;
        if rcount > MAX_RECORDS {
            return Err(Error::TooMany {
                offset: rc_at,
                what: "signatures",
                count: rcount.into(),
                limit: MAX_RECORDS.into(),
            });
        }
        let mut records = Vec::with_capacity(rcount as usize);
        for _ in 0..rcount {
            let len = leb::read_slice(buf, &mut pos, base, "signature record length")?.value as usize;
            let at = base + pos as u64;
            let raw = take(buf, &mut pos, len, base, "signature record")?;
            let (parsed, trailing) = match SignatureRecord::decode(raw, at) {
                Ok((r, used)) => (Ok(r), raw.len() - used),
                Err(e) => (Err(e.into()), 0),
            };
            records.push(RecordEntry { offset: at, raw: raw.to_vec(), parsed, trailing });
        }
        Ok(SignedHashes { offset: base, hashes, records })
    }

    fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        leb::write_len(&mut out, self.hashes.len())?;
        for h in &self.hashes {
            out.extend_from_slice(h);
        }
        leb::write_len(&mut out, self.records.len())?;
        for r in &self.records {
            leb::write_len(&mut out, r.raw.len())?;
            out.extend_from_slice(&r.raw);
        }
        Ok(out)
    }

    /// The message a record of this set signs:
    /// `"wasmsig" ‖ 01 ‖ 01 ‖ 01 ‖ h1 ‖ … ‖ hn`.
    pub fn message(&self) -> Vec<u8> {
        signed_message(&self.hashes)
    }
}

/// The message signed for a list of hashes (wasmsign2 §1.5).
pub fn signed_message(hashes: &[Hash]) -> Vec<u8> {
    let mut m = Vec::with_capacity(10 + hashes.len() * HASH_LEN);
    m.extend_from_slice(b"wasmsig");
    m.extend_from_slice(&[SPEC_VERSION, CONTENT_TYPE, HASH_FN_SHA256]);
    for h in hashes {
        m.extend_from_slice(h);
    }
    m
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, len: usize, base: u64, what: &'static str) -> Result<&'a [u8]> {
    let left = buf.len() - *pos;
    if len > left {
        return Err(Error::TooLarge { offset: base + *pos as u64, what, len: len as u64, limit: left as u64 });
    }
    let s = &buf[*pos..*pos + len];
    *pos += len;
    Ok(s)
}
