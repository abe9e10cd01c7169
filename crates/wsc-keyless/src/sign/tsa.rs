//! RFC 3161 timestamps over the signature, from a timestamp authority: the
//! request and the answer are wsc-tsp's, the transport is wsc-pinning's.

use sigstore_verify::types::TimestampToken;
use wsc_pinning::ServiceClient;

use super::SignError;

/// Asks the TSA for a timestamp over `signature`. The token is verified
/// with the rest of the bundle before anything is written.
pub(crate) fn timestamp(client: &ServiceClient, signature: &[u8]) -> Result<TimestampToken, SignError> {
    let answer = client.timestamp(&wsc_tsp::request(signature)?)?;
    // Bundles carry the whole TimeStampResp (as Sigstore's clients write it;
    // sigstore-python reads nothing else), not the bare token.
    Ok(TimestampToken::new(wsc_tsp::Reply::parse(&answer)?.response))
}
