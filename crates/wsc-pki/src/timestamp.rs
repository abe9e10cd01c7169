//! RFC 3161 timestamps for certificate-bound records.
//!
//! A timestamp authority (TSA) signs the SHA-256 digest of the record's
//! inner signature. A verifier that trusts the TSA then checks the
//! certificate chain at the TSA's time instead of now, so a module signed
//! while its certificate was valid stays valid after the certificate
//! expires. The token's CMS signature, message imprint and TSA chain are
//! checked by `sigstore-tsa`; wsc-pki builds the request, reads the answer
//! and decides what the time means.
//!
//! wsc-pki opens no connection: the transport is a [`Timestamper`] the
//! caller provides (the CLI posts over its pinned HTTPS client).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::{Any, BitString, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Sequence};
use sha2::{Digest, Sha256};
use sigstore_tsa::TsaAuthority;
use sigstore_types::{DerCertificate, SignatureBytes, TimestampToken};
use wsc_core::SignerError;

use crate::error::{PkiError, Result};
use crate::x509::{self, CertInfo};

/// Largest timestamp token a record may carry.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Largest answer read from a timestamp authority.
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// The media type of a request body.
pub const TIMESTAMP_QUERY_TYPE: &str = "application/timestamp-query";

/// The media type of an answer body.
pub const TIMESTAMP_REPLY_TYPE: &str = "application/timestamp-reply";

const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// Sends a DER `TimeStampReq` to a timestamp authority and returns its DER
/// `TimeStampResp`, unchecked. Implementations carry the transport only.
pub trait Timestamper: Send + Sync {
    /// Posts `request` and returns the answer's body.
    fn timestamp(&self, request: &[u8]) -> std::result::Result<Vec<u8>, SignerError>;
}

#[derive(Clone, Debug, Sequence)]
struct AlgorithmIdentifier {
    algorithm: ObjectIdentifier,
    #[asn1(optional = "true")]
    parameters: Option<Any>,
}

#[derive(Clone, Debug, Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifier,
    hashed_message: OctetString,
}

#[derive(Clone, Debug, Sequence)]
struct TimeStampReq {
    version: u8,
    message_imprint: MessageImprint,
    #[asn1(optional = "true")]
    req_policy: Option<ObjectIdentifier>,
    #[asn1(optional = "true")]
    nonce: Option<der::asn1::Int>,
    cert_req: bool,
}

#[derive(Clone, Debug, Sequence)]
struct PkiStatusInfo {
    status: u8,
    #[asn1(optional = "true")]
    status_string: Option<Vec<String>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitString>,
}

#[derive(Clone, Debug, Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    #[asn1(optional = "true")]
    time_stamp_token: Option<Any>,
}

/// The DER `TimeStampReq` for a record's inner signature: SHA-256 of the
/// signature bytes, asking for the TSA's certificate.
pub fn timestamp_request(signature: &[u8]) -> Result<Vec<u8>> {
    let digest = Sha256::digest(signature);
    let req = TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifier { algorithm: OID_SHA256, parameters: None },
            hashed_message: OctetString::new(digest.to_vec()).map_err(|e| PkiError::Tsa(e.to_string()))?,
        },
        req_policy: None,
        nonce: None,
        cert_req: true,
    };
    req.to_der().map_err(|e| PkiError::Tsa(format!("cannot encode the request: {e}")))
}

/// The token (DER CMS `ContentInfo`) inside a DER `TimeStampResp`; fails
/// unless the status is granted.
pub fn token_from_response(response: &[u8]) -> Result<Vec<u8>> {
    if response.len() > MAX_RESPONSE_LEN {
        return Err(PkiError::Tsa(format!("answer of {} bytes (limit {MAX_RESPONSE_LEN})", response.len())));
    }
    let resp = TimeStampResp::from_der(response)
        .map_err(|e| PkiError::Tsa(format!("the answer is not a DER TimeStampResp: {e}")))?;
    let status = resp.status.status;
    if status > 1 {
        let text = resp.status.status_string.map(|s| s.join("; ")).unwrap_or_default();
        let fail = resp.status.fail_info.map(|b| format!(", failInfo bits {:02x?}", b.raw_bytes())).unwrap_or_default();
        return Err(PkiError::Tsa(format!("request not granted (status {status}{fail}) {text}")));
    }
    let token = resp.time_stamp_token.ok_or_else(|| PkiError::Tsa("granted, but no token in the answer".into()))?;
    let der = token.to_der().map_err(|e| PkiError::Tsa(e.to_string()))?;
    if der.len() > MAX_TOKEN_LEN {
        return Err(PkiError::Tsa(format!("token of {} bytes (limit {MAX_TOKEN_LEN})", der.len())));
    }
    Ok(der)
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
