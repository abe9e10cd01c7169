//! Fulcio v2 `signingCert`: a short-lived certificate for the ephemeral key,
//! bound to the token's identity by a proof of possession.

use base64::Engine as _;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::EncodePublicKey as _;
use sigstore_verify::types::DerCertificate;

use super::{IdentityToken, SignError};
use wsc_pinning::ServiceClient;

/// Asks Fulcio for a certificate; returns the chain as DER, leaf first.
pub(crate) fn signing_certificate(
    client: &ServiceClient,
    token: &IdentityToken,
    key: &SigningKey,
) -> Result<Vec<Vec<u8>>, SignError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let challenge = token.challenge()?;
    // Proof of possession: the key signs the token's subject (DER ECDSA-SHA256).
    let pop: p256::ecdsa::Signature = key.sign(challenge.as_bytes());
    let pem = key
        .verifying_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .map_err(|e| SignError::certificate("cannot encode the public key").because(e))?;
    let key_request = serde_json::json!({
        "publicKey": { "algorithm": "ECDSA", "content": pem },
        "proofOfPossession": b64.encode(pop.to_der().as_bytes()),
    });
    // The token goes straight into a buffer that is wiped (a JWT needs no
    // JSON escaping: base64url and dots only, checked when it was read).
    let mut body = zeroize::Zeroizing::new(Vec::with_capacity(token.secret().len() + 512));
    body.extend_from_slice(b"{\"credentials\":{\"oidcIdentityToken\":\"");
    body.extend_from_slice(token.secret().as_bytes());
    body.extend_from_slice(b"\"},\"publicKeyRequest\":");
    body.extend_from_slice(key_request.to_string().as_bytes());
    body.push(b'}');
    let url = format!("{}/api/v2/signingCert", client.url());
    let answer = client.send(&url, &|c| {
        c.post(&url)
            .bearer_auth(token.secret())
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(body.to_vec())
    })?;
    let answer = client.expect(&url, answer, &[200, 201])?;
    let v: serde_json::Value = serde_json::from_slice(&answer.body)
        .map_err(|e| SignError::certificate("the answer is not JSON").because(e))?;
    let chain = if let Some(e) = v.get("signedCertificateEmbeddedSct") {
        e.pointer("/chain/certificates")
    } else if v.get("signedCertificateDetachedSct").is_some() {
        // A bundle carries no detached SCT, so no offline verifier could check it.
        return Err(SignError::certificate(
            "Fulcio answered with a detached SCT; wsc needs the certificate with its SCT embedded, \
             which offline verifiers check (is this a Fulcio without a CT log?)",
        ));
    } else {
        return Err(SignError::certificate("the answer has neither signedCertificateEmbeddedSct nor …DetachedSct"));
    };
    let pems = chain
        .and_then(|c| c.as_array())
        .ok_or_else(|| SignError::certificate("the answer has no certificate chain"))?;
    if pems.is_empty() || pems.len() > 10 {
        return Err(SignError::certificate(format!("a chain of {} certificates", pems.len())));
    }
    let mut ders = Vec::with_capacity(pems.len());
    for (i, p) in pems.iter().enumerate() {
        let text = p.as_str().ok_or_else(|| SignError::certificate(format!("certificate {i} is not a string")))?;
        let der = DerCertificate::from_pem(text)
            .map_err(|e| SignError::certificate(format!("certificate {i} is not a PEM certificate")).because(e))?;
        ders.push(der.as_bytes().to_vec());
    }
    Ok(ders)
}
