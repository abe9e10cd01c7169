//! Validation and canonicalization of Rekor v1 `hashedrekord` and `dsse` 0.0.1 requests.
//!
//! The canonical bodies are byte-for-byte what Rekor stores: JSON with sorted keys and no
//! whitespace, PEM blocks re-encoded with 64-character lines.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::ApiError;

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

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Decodes exactly 64 lowercase hex digits.
pub fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// Standard base64 with padding.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn b64_decode_std(s: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD.decode(s).map_err(|e| bad(format!("{what}: invalid base64: {e}")))
}

/// A parsed PEM block: its label and DER content.
struct PemBlock {
    label: String,
    der: Vec<u8>,
}

/// Parses PEM leniently (CRLF, any line width, surrounding text ignored), like Go's `pem.Decode`.
fn parse_pem_blocks(text: &[u8]) -> Result<Vec<PemBlock>, ApiError> {
    let text = std::str::from_utf8(text).map_err(|_| bad("PEM is not UTF-8"))?;
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after.find("-----").ok_or_else(|| bad("PEM: unterminated BEGIN line"))?;
        let label = after[..label_end].to_string();
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let end = body_start.find(&end_marker).ok_or_else(|| bad(format!("PEM: missing END {label}")))?;
        let b64body: String = body_start[..end].chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD.decode(b64body.as_bytes()).map_err(|e| bad(format!("PEM: invalid base64: {e}")))?;
        blocks.push(PemBlock { label, der });
        rest = &body_start[end + end_marker.len()..];
    }
    Ok(blocks)
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

/// Encodes a PEM block the way Go's `pem.EncodeToMemory` does: 64-column lines, `\n`, final newline.
pub fn encode_pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        // The base64 alphabet is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
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
            Ok(Verifier { key, canonical_pem: encode_pem("CERTIFICATE", &block.der) })
        }
        "PUBLIC KEY" => {
            let key = VerifyingKey::from_public_key_der(&block.der)
                .map_err(|e| bad(format!("public key: only ECDSA P-256 keys are supported: {e}")))?;
            let der = key.to_public_key_der().map_err(|e| ApiError::new(500, format!("encoding a key: {e}")))?;
            Ok(Verifier { key, canonical_pem: encode_pem("PUBLIC KEY", der.as_bytes()) })
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
    STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s)).map_err(|e| bad(format!("{what}: invalid base64: {e}")))
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
    fn hex_round_trip() {
        let bytes: [u8; 32] = core::array::from_fn(|i| (i * 7) as u8);
        assert_eq!(parse_hex32(&hex(&bytes)), Some(bytes));
        assert_eq!(parse_hex32(&hex(&bytes).to_uppercase()), None);
        assert_eq!(parse_hex32("00"), None);
    }

    #[test]
    fn pem_lines_are_64_columns() {
        let der = vec![0xabu8; 100];
        let pem = encode_pem("CERTIFICATE", &der);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        assert!(pem.ends_with("-----\n"));
        let parsed = parse_pem_blocks(pem.replace('\n', "\r\n").as_bytes()).unwrap_or_default();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].der, der);
    }

    #[test]
    fn pae_matches_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }
}
