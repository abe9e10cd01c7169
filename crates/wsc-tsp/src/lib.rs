//! RFC 3161 Time-Stamp Protocol messages, typed, for every wsc crate that
//! asks a timestamp authority (TSA) for a token.
//!
//! What it is: the DER `TimeStampReq` over the SHA-256 of a signature
//! ([`request`]), and the reading of a DER `TimeStampResp` ([`Reply::parse`]):
//! its status, and the token (a CMS `ContentInfo`) when it was granted.
//! Answers and tokens are bounded ([`MAX_RESPONSE_LEN`], [`MAX_TOKEN_LEN`]).
//!
//! What it is not: no transport (wsc-pinning posts the bytes over its pinned
//! client) and no verification of the token (its CMS signature, message
//! imprint and TSA chain are checked by `sigstore-tsa`, directly in wsc-pki
//! and through `sigstore-verify` in wsc-keyless). It depends on no wsc crate.
//!
//! The request is version 1 with the TSA's certificate asked for, and no
//! nonce and no policy: the imprint of a fresh signature already binds the
//! answer to the request, and every token is verified before it is used.
//! The SHA-256 `AlgorithmIdentifier` has no parameters, as RFC 5754 §2 says
//! implementations must generate (and as sigstore-tsa's own client sends).

use der::asn1::{Any, BitString, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Sequence, Tag, Tagged};
use sha2::{Digest, Sha256};

/// Largest answer read from a timestamp authority.
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// Largest timestamp token accepted.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// SHA-256, 2.16.840.1.101.3.4.2.1.
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// Why a request could not be made or an answer cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TspError {
    /// The request could not be encoded.
    #[error("cannot encode the TimeStampReq")]
    Encode(#[source] der::Error),
    /// The answer is larger than [`MAX_RESPONSE_LEN`].
    #[error("answer of {len} bytes (limit {limit})")]
    ResponseTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The answer is not one DER `TimeStampResp`.
    #[error("the answer is not a DER TimeStampResp")]
    NotTimeStampResp(#[source] der::Error),
    /// The TSA did not grant the request.
    #[error("request not granted (status {status}{}) {}", fail_bits(.fail_info.as_deref()), .text.join("; "))]
    NotGranted {
        /// The PKIStatus (2 rejection, 3 waiting, 4 and 5 revocation).
        status: u8,
        /// The raw failInfo bits, if any.
        fail_info: Option<Vec<u8>>,
        /// The statusString texts, if any.
        text: Vec<String>,
    },
    /// Granted, but the answer holds no token.
    #[error("granted, but no token in the answer")]
    NoToken,
    /// The token is not a SEQUENCE (a CMS `ContentInfo`).
    #[error("the token is not a DER SEQUENCE (a CMS ContentInfo)")]
    TokenNotSequence,
    /// The token is larger than [`MAX_TOKEN_LEN`].
    #[error("token of {len} bytes (limit {limit})")]
    TokenTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

fn fail_bits(bits: Option<&[u8]>) -> String {
    bits.map(|b| format!(", failInfo bits {b:02x?}")).unwrap_or_default()
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

/// RFC 3161 §2.4.1. Extensions are never sent, so they are not modelled.
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

/// RFC 3161 §2.4.2 (PKIStatusInfo from RFC 4210).
#[derive(Clone, Debug, Sequence)]
struct PkiStatusInfo {
    status: u8,
    #[asn1(optional = "true")]
    status_string: Option<Vec<String>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitString>,
}

/// RFC 3161 §2.4.2.
#[derive(Clone, Debug, Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    #[asn1(optional = "true")]
    time_stamp_token: Option<Any>,
}

/// The DER `TimeStampReq` over the SHA-256 of `signature`, asking for the
/// TSA's certificate.
pub fn request(signature: &[u8]) -> Result<Vec<u8>, TspError> {
    let digest = Sha256::digest(signature);
    let req = TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifier { algorithm: OID_SHA256, parameters: None },
            hashed_message: OctetString::new(digest.to_vec()).map_err(TspError::Encode)?,
        },
        req_policy: None,
        nonce: None,
        cert_req: true,
    };
    req.to_der().map_err(TspError::Encode)
}

/// A granted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply {
    /// The whole DER `TimeStampResp` (what Sigstore bundles carry).
    pub response: Vec<u8>,
    /// The token alone, a DER CMS `ContentInfo` (what certificate-bound
    /// records carry).
    pub token: Vec<u8>,
}

impl Reply {
    /// Reads a DER `TimeStampResp`: one value and nothing after it, granted
    /// (status 0 or 1), with a token of at most [`MAX_TOKEN_LEN`] bytes.
    pub fn parse(response: &[u8]) -> Result<Reply, TspError> {
        if response.len() > MAX_RESPONSE_LEN {
            return Err(TspError::ResponseTooLarge { len: response.len(), limit: MAX_RESPONSE_LEN });
        }
        let resp = TimeStampResp::from_der(response).map_err(TspError::NotTimeStampResp)?;
        let status = resp.status.status;
        if status > 1 {
            return Err(TspError::NotGranted {
                status,
                fail_info: resp.status.fail_info.map(|b| b.raw_bytes().to_vec()),
                text: resp.status.status_string.unwrap_or_default(),
            });
        }
        let token = resp.time_stamp_token.ok_or(TspError::NoToken)?;
        if token.tag() != Tag::Sequence {
            return Err(TspError::TokenNotSequence);
        }
        let token = token.to_der().map_err(TspError::NotTimeStampResp)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(TspError::TokenTooLarge { len: token.len(), limit: MAX_TOKEN_LEN });
        }
        Ok(Reply { response: response.to_vec(), token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact bytes sent: SEQUENCE { INTEGER 1, imprint { { sha256 }, OCTET STRING digest }, BOOLEAN TRUE }.
    #[test]
    fn the_request_has_the_expected_bytes() {
        let q = request(b"sig").expect("request");
        let mut want = vec![0x30, 0x37, 0x02, 0x01, 0x01, 0x30, 0x2f, 0x30, 0x0b, 0x06, 0x09];
        want.extend_from_slice(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x04, 0x20]);
        want.extend_from_slice(&Sha256::digest(b"sig"));
        want.extend_from_slice(&[0x01, 0x01, 0xff]);
        assert_eq!(q, want);
    }

    #[test]
    fn refusals_and_malformed_answers_are_typed_errors() {
        // status 2 with failInfo badAlg.
        let rejection = [0x30, 0x09, 0x30, 0x07, 0x02, 0x01, 0x02, 0x03, 0x02, 0x07, 0x80];
        let err = Reply::parse(&rejection).expect_err("rejection");
        assert!(matches!(err, TspError::NotGranted { status: 2, .. }), "{err:?}");
        assert!(err.to_string().contains("status 2"), "{err}");
        assert!(matches!(Reply::parse(b"nonsense"), Err(TspError::NotTimeStampResp(_))));
        assert!(matches!(Reply::parse(&[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00]), Err(TspError::NoToken)));
        // A token that is an INTEGER, not a ContentInfo.
        let not_seq = [0x30, 0x08, 0x30, 0x03, 0x02, 0x01, 0x00, 0x02, 0x01, 0x05];
        assert!(matches!(Reply::parse(&not_seq), Err(TspError::TokenNotSequence)));
        // Trailing bytes after the TimeStampResp.
        let trailing = [0x30, 0x07, 0x30, 0x03, 0x02, 0x01, 0x00, 0x30, 0x00, 0x00];
        assert!(matches!(Reply::parse(&trailing), Err(TspError::NotTimeStampResp(_))));
        let big = vec![0u8; MAX_RESPONSE_LEN + 1];
        assert!(matches!(Reply::parse(&big), Err(TspError::ResponseTooLarge { .. })));
    }

    #[test]
    fn a_granted_answer_gives_the_whole_response_and_the_token() {
        let answer = [0x30, 0x09, 0x30, 0x03, 0x02, 0x01, 0x00, 0x30, 0x02, 0x05, 0x00];
        let reply = Reply::parse(&answer).expect("granted");
        assert_eq!(reply.response, answer);
        assert_eq!(reply.token, [0x30, 0x02, 0x05, 0x00]);
        let mut with_mods = answer;
        with_mods[6] = 1;
        assert!(Reply::parse(&with_mods).is_ok());
    }
}
