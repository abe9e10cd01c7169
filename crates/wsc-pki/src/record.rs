//! Certificate-bound signature records (algorithm id `0x11`) and the
//! signer that writes them.
//!
//! The record's signature bytes are:
//!
//! ```text
//! version      byte       0x01, or 0x02 with a timestamp token
//! inner_alg    byte       0x01 Ed25519 | 0x10 ECDSA P-256 SHA-256
//! sig_len      varuint32
//! signature    sig_len bytes (Ed25519: 64; P-256: r ‖ s, 64) over the set message
//! cert_count   varuint32  1..=8 (a leaf, then at most 7 CA certificates)
//! per cert:    varuint32 length, then the DER certificate (leaf first)
//! (0x02 only)  varuint32 length, then an RFC 3161 TimeStampToken (DER CMS
//!              ContentInfo) over SHA-256 of `signature`
//! ```
//!
//! varuint32 is minimal unsigned LEB128; nothing may follow the last
//! field.

use std::time::SystemTime;

use wsc_core::sigdata::AlgorithmId;
use wsc_core::{PublicKey, Signer, SignerError};

use crate::error::{PkiError, Result};
use crate::leaf::check_leaf;
use crate::timestamp::{MAX_TOKEN_LEN, Timestamper, TsaTrust};
use crate::x509::{self, CertInfo};

/// The algorithm id of certificate-bound records.
pub const CERT_BOUND: AlgorithmId = AlgorithmId::CERTIFICATE_BOUND;

/// Version byte of the record encoding.
pub const RECORD_VERSION: u8 = 0x01;

/// Version byte of a record that carries an RFC 3161 timestamp token.
pub const RECORD_VERSION_TIMESTAMPED: u8 = 0x02;

/// Most certificates one record may carry.
pub const MAX_CHAIN: usize = 8;

/// Most CA certificates one record may carry after its leaf. webpki puts
/// at most six on a path; the seventh place is for a root that is sent too.
pub const MAX_INTERMEDIATES: usize = MAX_CHAIN - 1;

/// Largest certificate one record may carry.
pub const MAX_CERT_LEN: usize = 16 * 1024;

/// The decoded signature bytes of a certificate-bound record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertRecord {
    /// The algorithm of the signature over the set message.
    pub inner_algorithm: AlgorithmId,
    /// The signature, in wsc-core's encoding for `inner_algorithm`.
    pub signature: Vec<u8>,
    /// DER certificates, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// An RFC 3161 timestamp token (DER) over SHA-256 of `signature`.
    pub timestamp: Option<Vec<u8>>,
}

impl CertRecord {
    /// A record from its parts.
    pub fn new(inner_algorithm: AlgorithmId, signature: Vec<u8>, chain: Vec<Vec<u8>>) -> Self {
        CertRecord { inner_algorithm, signature, chain, timestamp: None }
    }

    /// The record with a timestamp token.
    pub fn with_timestamp(mut self, token: Vec<u8>) -> Self {
        self.timestamp = Some(token);
        self
    }

    /// Encodes the record's signature bytes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        check_chain_len(self.chain.len())?;
        let version = if self.timestamp.is_some() { RECORD_VERSION_TIMESTAMPED } else { RECORD_VERSION };
        let mut out = vec![version, self.inner_algorithm.0];
        put_bytes(&mut out, &self.signature)?;
        put_len(&mut out, self.chain.len())?;
        for c in &self.chain {
            if c.len() > MAX_CERT_LEN {
                return Err(PkiError::Record(format!("a certificate is larger than {MAX_CERT_LEN} bytes")));
            }
            put_bytes(&mut out, c)?;
        }
        if let Some(t) = &self.timestamp {
            if t.is_empty() || t.len() > MAX_TOKEN_LEN {
                return Err(PkiError::Record(format!("a timestamp token has 1 to {MAX_TOKEN_LEN} bytes")));
            }
            put_bytes(&mut out, t)?;
        }
        Ok(out)
    }

    /// Decodes a record's signature bytes.
    pub fn decode(bytes: &[u8]) -> Result<CertRecord> {
        let mut pos = 0;
        let version = take(bytes, &mut pos, 1, "version")?[0];
        if version != RECORD_VERSION && version != RECORD_VERSION_TIMESTAMPED {
            return Err(PkiError::Record(format!("unknown version {version:#04x}")));
        }
        let inner_algorithm = AlgorithmId(take(bytes, &mut pos, 1, "inner algorithm")?[0]);
        let sig_len = get_len(bytes, &mut pos, "signature length")?;
        let signature = take(bytes, &mut pos, sig_len, "signature")?.to_vec();
        let count = get_len(bytes, &mut pos, "certificate count")?;
        // Refused before any certificate is read.
        check_chain_len(count)?;
        let mut chain = Vec::with_capacity(count);
        for _ in 0..count {
            let len = get_len(bytes, &mut pos, "certificate length")?;
            if len > MAX_CERT_LEN {
                return Err(PkiError::Record(format!("a certificate is larger than {MAX_CERT_LEN} bytes")));
            }
            chain.push(take(bytes, &mut pos, len, "certificate")?.to_vec());
        }
        let timestamp = if version == RECORD_VERSION_TIMESTAMPED {
            let len = get_len(bytes, &mut pos, "timestamp length")?;
            if len == 0 || len > MAX_TOKEN_LEN {
                return Err(PkiError::Record(format!("a timestamp token of {len} bytes (1 to {MAX_TOKEN_LEN})")));
            }
            Some(take(bytes, &mut pos, len, "timestamp token")?.to_vec())
        } else {
            None
        };
        if pos != bytes.len() {
            return Err(PkiError::Record(format!("{} bytes after the last field", bytes.len() - pos)));
        }
        Ok(CertRecord { inner_algorithm, signature, chain, timestamp })
    }
}

/// A chain of `count` certificates: a leaf, then at most [`MAX_INTERMEDIATES`].
fn check_chain_len(count: usize) -> Result<()> {
    if count == 0 {
        return Err(PkiError::Record("no certificate: a record carries its leaf certificate first".into()));
    }
    if count - 1 > MAX_INTERMEDIATES {
        return Err(PkiError::TooManyIntermediates { count: count - 1, max: MAX_INTERMEDIATES });
    }
    Ok(())
}

fn put_len(out: &mut Vec<u8>, n: usize) -> Result<()> {
    let mut v = u32::try_from(n).map_err(|_| PkiError::Record("length over 32 bits".into()))?;
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return Ok(());
        }
        out.push(b | 0x80);
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) -> Result<()> {
    put_len(out, b.len())?;
    out.extend_from_slice(b);
    Ok(())
}

fn get_len(buf: &[u8], pos: &mut usize, what: &str) -> Result<usize> {
    let mut v: u64 = 0;
    for i in 0..5 {
        let b = *buf.get(*pos).ok_or_else(|| PkiError::Record(format!("{what}: truncated")))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err(PkiError::Record(format!("{what}: not minimally encoded")));
            }
            return u32::try_from(v).map(|v| v as usize).map_err(|_| PkiError::Record(format!("{what}: over 32 bits")));
        }
    }
    Err(PkiError::Record(format!("{what}: longer than 5 bytes")))
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize, what: &str) -> Result<&'a [u8]> {
    let end =
        pos.checked_add(n).filter(|e| *e <= buf.len()).ok_or_else(|| PkiError::Record(format!("{what}: truncated")))?;
    let s = &buf[*pos..end];
    *pos = end;
    Ok(s)
}

/// Signs through any inner [`Signer`] and writes certificate-bound
/// records carrying the chain. Use it with `wsc_core::sign_embedded` or
/// `wsc_core::sign_detached` like any other signer.
pub struct CertSigner<S> {
    inner: S,
    chain: Vec<Vec<u8>>,
    leaf: CertInfo,
    key: PublicKey,
    timestamps: Option<(Box<dyn Timestamper>, TsaTrust)>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for CertSigner<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertSigner")
            .field("inner", &self.inner)
            .field("leaf", &self.leaf.subject)
            .field("chain", &self.chain.len())
            .field("timestamps", &self.timestamps.as_ref().map(|(_, t)| t))
            .finish()
    }
}

impl<S: Signer> CertSigner<S> {
    /// Wraps `inner` with `chain` (DER, leaf first; the root may be left
    /// out). Fails unless the leaf may sign code now (the verifier's leaf
    /// rules, [`check_leaf`]: not a CA, digitalSignature, codeSigning,
    /// valid) and is for the inner signer's own Ed25519 or P-256 key: a
    /// record that could never verify is not written.
    pub fn new(inner: S, chain: Vec<Vec<u8>>) -> Result<Self> {
        check_chain_len(chain.len())?;
        for c in &chain[1..] {
            CertInfo::parse(c)?;
        }
        let leaf = CertInfo::parse(&chain[0])?;
        check_leaf(&leaf, SystemTime::now())?;
        let key = leaf.key()?;
        let signer_key = inner
            .public_key()
            .ok_or_else(|| PkiError::UnsupportedAlgorithm("the signer reports no public key".into()))?;
        if signer_key != key {
            return Err(PkiError::KeyMismatch);
        }
        if inner.algorithm() != key.algorithm().algorithm_id() {
            return Err(PkiError::UnsupportedAlgorithm(format!(
                "signer algorithm {} with a {} key",
                inner.algorithm(),
                key.algorithm().as_str()
            )));
        }
        CertRecord::new(inner.algorithm(), Vec::new(), chain.clone()).encode()?;
        Ok(CertSigner { inner, chain, leaf, key, timestamps: None })
    }

    /// Adds an RFC 3161 timestamp to every record: `transport` reaches the
    /// TSA, and each token must verify against `trust` and fall inside the
    /// leaf certificate's validity before the record is written.
    pub fn with_timestamps(mut self, transport: Box<dyn Timestamper>, trust: TsaTrust) -> Result<Self> {
        if trust.is_empty() {
            return Err(PkiError::Tsa("timestamps need at least one trusted TSA chain".into()));
        }
        self.timestamps = Some((transport, trust));
        Ok(self)
    }

    /// Asks the TSA for a token over `sig` and checks it.
    fn timestamp(&self, sig: &[u8], transport: &dyn Timestamper, trust: &TsaTrust) -> Result<Vec<u8>> {
        let request = wsc_tsp::request(sig).map_err(PkiError::TsaAnswer)?;
        let answer = transport.timestamp(&request).map_err(|e| PkiError::Tsa(e.into()))?;
        let token = wsc_tsp::Reply::parse(&answer).map_err(PkiError::TsaAnswer)?.token;
        let t = trust.verify(&token, sig)?;
        if !self.leaf.valid_at(t) {
            return Err(PkiError::Timestamp(format!(
                "the TSA's time {} is outside the certificate's validity ({} to {})",
                x509::format_rfc3339(t),
                x509::format_rfc3339(self.leaf.not_before),
                x509::format_rfc3339(self.leaf.not_after)
            )));
        }
        Ok(token)
    }

    /// Reads the chain from PEM (leaf first).
    pub fn from_pem(inner: S, chain_pem: &[u8]) -> Result<Self> {
        CertSigner::new(inner, x509::certificates_from_pem_or_der(chain_pem)?)
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertInfo {
        &self.leaf
    }

    /// The chain, DER, leaf first.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The inner signer.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Signer> Signer for CertSigner<S> {
    fn algorithm(&self) -> AlgorithmId {
        CERT_BOUND
    }

    fn public_key(&self) -> Option<PublicKey> {
        Some(self.key.clone())
    }

    /// The leaf key's wsc key id (not signed; a hint for readers).
    fn key_id(&self) -> Option<wsc_core::KeyId> {
        Some(self.key.key_id())
    }

    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, SignerError> {
        // The leaf may have expired since the signer was made.
        check_leaf(&self.leaf, SystemTime::now()).map_err(SignerError::new)?;
        let sig = self.inner.try_sign(message)?;
        if !self.key.verify(message, &sig) {
            return Err(SignerError::new("the signature does not verify with the leaf certificate's key"));
        }
        let mut record = CertRecord::new(self.inner.algorithm(), sig, self.chain.clone());
        if let Some((transport, trust)) = &self.timestamps {
            let token = self.timestamp(&record.signature, transport.as_ref(), trust).map_err(SignerError::new)?;
            record = record.with_timestamp(token);
        }
        record.encode().map_err(SignerError::new)
    }
}
