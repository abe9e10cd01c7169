//! RFC 3161 timestamps over the signature, from a timestamp authority.

use sha2::{Digest, Sha256};
use sigstore_verify::types::TimestampToken;

use super::SignError;
use wsc_pinning::ServiceClient;

/// DER `TimeStampReq`: version 1, SHA-256 imprint of `signature`, the TSA's
/// certificate requested, no nonce: the imprint of a fresh signature from a
/// fresh key already binds the answer to this request, and the token is
/// verified with the bundle before anything is written.
pub(crate) fn request(signature: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(signature);
    let mut imprint = Vec::new();
    // AlgorithmIdentifier { sha256, NULL }
    imprint
        .extend_from_slice(&[0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00]);
    imprint.extend_from_slice(&[0x04, 0x20]);
    imprint.extend_from_slice(&digest);
    let mut body = vec![0x02, 0x01, 0x01, 0x30, imprint.len() as u8];
    body.extend_from_slice(&imprint);
    body.extend_from_slice(&[0x01, 0x01, 0xff]);
    let mut out = vec![0x30, body.len() as u8];
    out.extend_from_slice(&body);
    out
}

/// Asks the TSA for a timestamp over `signature`. The token is verified
/// with the rest of the bundle before anything is written.
pub(crate) fn timestamp(client: &ServiceClient, signature: &[u8]) -> Result<TimestampToken, SignError> {
    let answer = client.timestamp(&request(signature))?;
    token_from_response(&answer)
}

/// A granted DER `TimeStampResp` (checked to carry a token), as bundles store it.
fn token_from_response(resp: &[u8]) -> Result<TimestampToken, SignError> {
    let bad = |why: &str| SignError::Timestamp(format!("the answer is not a usable TimeStampResp: {why}"));
    let (tag, outer, _) = der_tlv(resp).ok_or_else(|| bad("not DER"))?;
    if tag != 0x30 {
        return Err(bad("not a SEQUENCE"));
    }
    let (tag, status_info, rest) = der_tlv(outer).ok_or_else(|| bad("no PKIStatusInfo"))?;
    if tag != 0x30 {
        return Err(bad("no PKIStatusInfo"));
    }
    let (tag, status, _) = der_tlv(status_info).ok_or_else(|| bad("no status"))?;
    if tag != 0x02 || status.len() != 1 {
        return Err(bad("bad status"));
    }
    if status[0] > 1 {
        return Err(SignError::Timestamp(format!("the TSA refused the request (status {})", status[0])));
    }
    let (tag, _, after) = der_tlv(rest).ok_or_else(|| bad("granted without a token"))?;
    if tag != 0x30 || !after.is_empty() {
        return Err(bad("the token is not one SEQUENCE"));
    }
    // Bundles carry the whole TimeStampResp (as Sigstore's clients write it;
    // sigstore-python reads nothing else), not the bare token.
    let whole = resp.len() - der_tlv(resp).map_or(0, |(_, _, trailing)| trailing.len());
    Ok(TimestampToken::new(resp[..whole].to_vec()))
}

/// One DER TLV: (tag, contents, what follows). Definite lengths only.
fn der_tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, head) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = head.checked_add(len)?;
    Some((tag, b.get(head..end)?, b.get(end..)?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_request_is_well_formed_der() {
        let q = super::request(b"sig");
        let (tag, body, rest) = super::der_tlv(&q).expect("tlv");
        assert_eq!((tag, rest.len()), (0x30, 0));
        assert_eq!(body.len() + 2, q.len());
        assert!(super::token_from_response(b"\x30\x03\x30\x01").is_err());
        // Exactly: version 1, the imprint, certReq TRUE.
        assert_eq!(q.len(), 2 + 3 + 2 + 49 + 3);
        assert_eq!(&q[q.len() - 3..], &[0x01, 0x01, 0xff]);
        let refused = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02];
        assert!(super::token_from_response(&refused).expect_err("refused").to_string().contains("status 2"));
    }
}
