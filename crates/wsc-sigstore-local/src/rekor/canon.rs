//! Validation and canonicalization of Rekor v1 `hashedrekord` and `dsse` 0.0.1 requests.
//!
//! The canonical bodies are byte-for-byte what Rekor stores: JSON with sorted keys and no
//! whitespace, PEM blocks re-encoded with 64-character lines.

use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::ApiError;
use crate::codec::{self, b64, hex, parse_hex32};

/// A validated entry: the canonical body and the digest it is searchable by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalEntry {
    /// The canonical body, as stored in the log.
    pub body: Vec<u8>,
    /// The artifact digest (hashedrekord) or payload hash (dsse).
    pub search_digest: [u8; 32],
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, msg)
}

fn b64_decode_std(s: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    codec::b64_decode(s).map_err(|e| bad(format!("{what}: invalid base64: {e}")))
}

/// Parses PEM leniently (CRLF, any line width, surrounding text ignored), like Go's `pem.Decode`.
fn parse_pem_blocks(text: &[u8]) -> Result<Vec<codec::PemBlock>, ApiError> {
    let text = std::str::from_utf8(text).map_err(|_| bad("PEM is not UTF-8"))?;
    codec::pem_blocks(text).map_err(bad)
}

/// The ECDSA P-256 key of a DER certificate (the only kind of key accepted).
pub(crate) fn certificate_key(der: &[u8]) -> Result<VerifyingKey, ApiError> {
    use der::{Decode as _, Encode as _};
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|e| ApiError::bad_request(format!("certificate: invalid DER: {e}")))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| ApiError::bad_request(format!("certificate: invalid public key: {e}")))?;
    VerifyingKey::from_public_key_der(&spki)
        .map_err(|e| ApiError::bad_request(format!("certificate: only ECDSA P-256 keys are supported: {e}")))
}

/// A verification key from a PEM certificate or public key, with Rekor's canonical PEM.
#[derive(Debug)]
pub struct Verifier {
    /// The P-256 key (a certificate's SPKI).
    pub key: VerifyingKey,
    /// The canonical PEM (certificate DER as given, or a re-encoded SPKI).
    pub canonical_pem: String,
}

/// Parses a PEM `CERTIFICATE` or `PUBLIC KEY` holding a P-256 key.
pub fn parse_verifier(pem: &[u8]) -> Result<Verifier, ApiError> {
    let blocks = parse_pem_blocks(pem)?;
    let block = match blocks.as_slice() {
        [one] => one,
        [] => return Err(bad("public key: no PEM block found")),
        _ => return Err(bad("public key: more than one PEM block is not supported")),
    };
    match block.label.as_str() {
        "CERTIFICATE" => {
            let key = certificate_key(&block.der)?;
            Ok(Verifier { key, canonical_pem: codec::pem("CERTIFICATE", &block.der) })
        }
        "PUBLIC KEY" => {
            let key = VerifyingKey::from_public_key_der(&block.der)
                .map_err(|e| bad(format!("public key: only ECDSA P-256 keys are supported: {e}")))?;
            let der = key.to_public_key_der().map_err(|e| ApiError::new(500, format!("encoding a key: {e}")))?;
            Ok(Verifier { key, canonical_pem: codec::pem("PUBLIC KEY", der.as_bytes()) })
        }
        other => Err(bad(format!("public key: unsupported PEM type {other:?}"))),
    }
}

/// Verifies a DER ECDSA signature over a SHA-256 digest (prehash).
pub(crate) fn verify_prehash(key: &VerifyingKey, digest: &[u8], sig_der: &[u8]) -> bool {
    match Signature::from_der(sig_der) {
        Ok(sig) => key.verify_prehash(digest, &sig).is_ok(),
        Err(_) => false,
    }
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    if cur.is_null() { None } else { Some(cur) }
}

fn get_str<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str, ApiError> {
    get(v, path)
        .ok_or_else(|| bad(format!("missing field {}", path.join("."))))?
        .as_str()
        .ok_or_else(|| bad(format!("field {} must be a string", path.join("."))))
}

/// Validates a `POST /api/v1/log/entries` body, verifies its signatures, and returns the canonical body.
pub fn canonicalize_request(request: &[u8]) -> Result<CanonicalEntry, ApiError> {
    let v: Value = serde_json::from_slice(request).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    if !v.is_object() {
        return Err(bad("the request must be a JSON object"));
    }
    let kind = get_str(&v, &["kind"])?;
    let version = get_str(&v, &["apiVersion"])?;
    match (kind, version) {
        ("hashedrekord", "0.0.1") => hashedrekord(&v),
        ("dsse", "0.0.1") => dsse(&v),
        _ => Err(bad(format!("unsupported entry kind {kind:?} version {version:?}"))),
    }
}

fn hashedrekord(v: &Value) -> Result<CanonicalEntry, ApiError> {
    let alg = get_str(v, &["spec", "data", "hash", "algorithm"])?;
    if alg != "sha256" {
        return Err(bad(format!("unsupported hash algorithm {alg:?}: only sha256")));
    }
    let value = get_str(v, &["spec", "data", "hash", "value"])?;
    let digest = parse_hex32(value).ok_or_else(|| bad("spec.data.hash.value must be 64 lowercase hex digits"))?;
    let sig = b64_decode_std(get_str(v, &["spec", "signature", "content"])?, "spec.signature.content")?;
    let pem = b64_decode_std(
        get_str(v, &["spec", "signature", "publicKey", "content"])?,
        "spec.signature.publicKey.content",
    )?;
    let verifier = parse_verifier(&pem)?;
    if !verify_prehash(&verifier.key, &digest, &sig) {
        return Err(bad("signature verification failed"));
    }
    let body = format!(
        concat!(
            r#"{{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{{"data":{{"hash":{{"algorithm":"sha256","value":"{}"}}}},"#,
            r#""signature":{{"content":"{}","publicKey":{{"content":"{}"}}}}}}}}"#
        ),
        hex(&digest),
        b64(&sig),
        b64(verifier.canonical_pem.as_bytes()),
    );
    Ok(CanonicalEntry { body: body.into_bytes(), search_digest: digest })
}

/// DSSE v1 pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Go's `b64Decode` in the DSSE library: standard, then URL-safe alphabet.
fn dsse_b64(s: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    codec::b64_decode_std_or_url(s).map_err(|e| bad(format!("{what}: invalid base64: {e}")))
}

fn dsse(v: &Value) -> Result<CanonicalEntry, ApiError> {
    for field in ["signatures", "envelopeHash", "payloadHash"] {
        if get(v, &["spec", field]).is_some() {
            return Err(bad(format!("spec.{field} is computed by the log and must not be sent")));
        }
    }
    let envelope_text = get_str(v, &["spec", "proposedContent", "envelope"])?;
    let verifiers = get(v, &["spec", "proposedContent", "verifiers"])
        .or_else(|| get(v, &["spec", "proposedContent", "publicKeys"]))
        .ok_or_else(|| bad("missing field spec.proposedContent.verifiers"))?
        .as_array()
        .ok_or_else(|| bad("spec.proposedContent.verifiers must be an array"))?;
    if verifiers.is_empty() {
        return Err(bad("spec.proposedContent.verifiers must not be empty"));
    }
    let mut keys = Vec::new();
    for item in verifiers {
        let s = item.as_str().ok_or_else(|| bad("each verifier must be a base64 string"))?;
        keys.push(parse_verifier(&b64_decode_std(s, "verifier")?)?);
    }

    let env: Value = serde_json::from_str(envelope_text).map_err(|e| bad(format!("envelope: invalid JSON: {e}")))?;
    let payload_type = get_str(&env, &["payloadType"]).map_err(|e| bad(format!("envelope: {}", e.message)))?;
    let payload =
        dsse_b64(get_str(&env, &["payload"]).map_err(|e| bad(format!("envelope: {}", e.message)))?, "payload")?;
    let sigs = get(&env, &["signatures"])
        .and_then(Value::as_array)
        .ok_or_else(|| bad("envelope: signatures must be an array"))?;
    if sigs.is_empty() {
        return Err(bad("envelope: no signatures"));
    }
    let pae_digest = Sha256::digest(pae(payload_type, &payload));
    // Every signature needs a key that verifies it, and every key must verify some signature.
    let mut key_used = vec![false; keys.len()];
    let mut sig_to_key: Vec<(String, Option<usize>)> = Vec::new();
    for s in sigs {
        let text = get_str(s, &["sig"]).map_err(|e| bad(format!("envelope: {}", e.message)))?;
        // Rekor's schema requires standard base64 for the stored signature.
        let der = b64_decode_std(text, "envelope signature")?;
        let mut verified_by = None;
        for (i, k) in keys.iter().enumerate() {
            if verify_prehash(&k.key, &pae_digest, &der) {
                verified_by = Some(i);
                key_used[i] = true;
            }
        }
        sig_to_key.push((text.to_string(), verified_by));
    }
    if let Some(i) = key_used.iter().position(|used| !used) {
        return Err(bad(format!("could not verify envelope: verifier {i} matches no signature")));
    }
    let mut entries: Vec<(String, String)> = Vec::new();
    for (sig, key) in sig_to_key {
        let k = key.ok_or_else(|| bad("all signatures must have a key that verifies it"))?;
        if !entries.iter().any(|(s, _)| *s == sig) {
            entries.push((sig, b64(keys[k].canonical_pem.as_bytes())));
        }
    }
    entries.sort();
    let payload_hash: [u8; 32] = Sha256::digest(&payload).into();
    let envelope_hash: [u8; 32] = Sha256::digest(envelope_text.as_bytes()).into();
    let signatures: Vec<String> =
        entries.iter().map(|(s, k)| format!(r#"{{"signature":"{s}","verifier":"{k}"}}"#)).collect();
    let body = format!(
        concat!(
            r#"{{"apiVersion":"0.0.1","kind":"dsse","spec":{{"envelopeHash":{{"algorithm":"sha256","value":"{}"}},"#,
            r#""payloadHash":{{"algorithm":"sha256","value":"{}"}},"signatures":[{}]}}}}"#
        ),
        hex(&envelope_hash),
        hex(&payload_hash),
        signatures.join(","),
    );
    Ok(CanonicalEntry { body: body.into_bytes(), search_digest: payload_hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }
}
