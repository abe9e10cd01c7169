//! RFC 3161 timestamps for certificate-bound records.
//!
//! A timestamp authority (TSA) signs the SHA-256 digest of the record's
//! inner signature. A verifier that trusts the TSA then checks the
//! certificate chain at the TSA's time instead of now, so a module signed
//! while its certificate was valid stays valid after the certificate
//! expires. The token's CMS signature, message imprint and TSA chain are
//! checked by `sigstore-tsa`; the request and the answer are wsc-tsp's
//! (the codec wsc-keyless uses too); wsc-pki decides what the time means.
//!
//! wsc-pki opens no connection: the transport is a [`Timestamper`] the
//! caller provides (the CLI's posts through wsc-pinning's RFC 3161 transport).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sigstore_tsa::TsaAuthority;
use sigstore_types::{DerCertificate, SignatureBytes, TimestampToken};
use wsc_core::SignerError;
pub use wsc_tsp::{MAX_RESPONSE_LEN, MAX_TOKEN_LEN};

use crate::error::{PkiError, Result};
use crate::x509::{self, CertInfo};

/// Sends a DER `TimeStampReq` to a timestamp authority and returns its DER
/// `TimeStampResp`, unchecked. Implementations carry the transport only.
pub trait Timestamper: Send + Sync {
    /// Posts `request` and returns the answer's body.
    fn timestamp(&self, request: &[u8]) -> std::result::Result<Vec<u8>, SignerError>;
}

/// The timestamp authorities a signer or verifier trusts. Each one is a
/// certificate chain, TSA certificate first and root last; a token counts
/// only when signed by one of those TSA certificates, chaining to its own
/// root (as Sigstore trusted roots pin them).
#[derive(Debug, Clone, Default)]
pub struct TsaTrust {
    authorities: Vec<(String, TsaAuthority)>,
}

impl TsaTrust {
    /// No authority yet.
    pub fn new() -> Self {
        TsaTrust::default()
    }

    /// Adds an authority from its chain (PEM text or one DER certificate),
    /// TSA certificate first and root last. A single self-signed
    /// certificate is its own root.
    pub fn add_chain(&mut self, chain: &[u8]) -> Result<()> {
        let certs = x509::certificates_from_pem_or_der(chain)?;
        let (first, rest) = certs.split_first().ok_or_else(|| PkiError::Tsa("an empty TSA chain".into()))?;
        let leaf = CertInfo::parse(first)?;
        let root = rest.last().unwrap_or(first);
        let intermediates = match rest.len() {
            0 | 1 => Vec::new(),
            n => rest[..n - 1].iter().map(|c| DerCertificate::new(c.clone())).collect(),
        };
        for c in rest {
            CertInfo::parse(c)?;
        }
        let authority = TsaAuthority::new(
            DerCertificate::new(first.clone()),
            intermediates,
            DerCertificate::new(root.clone()),
            None,
        );
        self.authorities.push((leaf.subject, authority));
        Ok(())
    }

    /// Whether no authority is trusted.
    pub fn is_empty(&self) -> bool {
        self.authorities.is_empty()
    }

    /// Verifies `token` over `signature` with each trusted authority in
    /// turn and returns the time the first one that accepts it signed.
    pub fn verify(&self, token: &[u8], signature: &[u8]) -> Result<SystemTime> {
        if self.authorities.is_empty() {
            return Err(PkiError::Timestamp("no timestamp authority is trusted".into()));
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(PkiError::Timestamp(format!("token of {} bytes (limit {MAX_TOKEN_LEN})", token.len())));
        }
        let token = TimestampToken::new(token.to_vec());
        let signature = SignatureBytes::new(signature.to_vec());
        let mut reasons = Vec::new();
        for (name, authority) in &self.authorities {
            match sigstore_tsa::verify_timestamp_for_authority(&token, &signature, authority) {
                Ok(t) => {
                    let secs =
                        u64::try_from(t.as_second()).map_err(|_| PkiError::Timestamp("a time before 1970".into()))?;
                    return Ok(UNIX_EPOCH + Duration::from_secs(secs));
                }
                Err(e) => reasons.push(format!("{name}: {e}")),
            }
        }
        Err(PkiError::Timestamp(format!("no trusted timestamp authority accepts the token ({})", reasons.join("; "))))
    }
}
