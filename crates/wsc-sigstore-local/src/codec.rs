//! Hex, base64 and PEM: the one place the services (and the tests) encode and
//! decode them, with the `hex`, `base64` and `der` crates.
//!
//! Sigstore's services mix alphabets on purpose (standard base64 in Rekor v1
//! bodies, base64url in tokens, either in DSSE and protobuf JSON); each rule
//! has a named function here so that a service says which one it follows.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

pub use base64::DecodeError;

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Decodes exactly 64 lowercase hex digits.
pub fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || s.bytes().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Standard base64 with padding.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard base64 with padding.
pub fn b64_decode(s: &str) -> Result<Vec<u8>, DecodeError> {
    STANDARD.decode(s)
}

/// URL-safe base64 without padding (JWT, PKCE).
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes URL-safe base64 without padding.
pub fn b64url_decode(s: &str) -> Result<Vec<u8>, DecodeError> {
    URL_SAFE_NO_PAD.decode(s)
}

/// Go's `b64Decode` in the DSSE library: standard, then URL-safe alphabet (both padded).
pub fn b64_decode_std_or_url(s: &str) -> Result<Vec<u8>, DecodeError> {
    STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s))
}

/// Protobuf-JSON bytes: standard or URL-safe base64, with or without padding.
pub fn b64_decode_any(s: &str) -> Option<Vec<u8>> {
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].iter().find_map(|e| e.decode(s).ok())
}

/// A PEM block the way Go's `pem.EncodeToMemory` writes it: 64-column lines,
/// `\n`, a final newline. Rekor stores keys and certificates in this form.
pub fn pem(label: &str, der: &[u8]) -> String {
    let body = b64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        // The base64 alphabet is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The PEM of a DER certificate.
pub fn cert_pem(der: &[u8]) -> String {
    pem("CERTIFICATE", der)
}

/// A parsed PEM block: its label and DER content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label of the BEGIN and END lines (`CERTIFICATE`, `PUBLIC KEY`, ...).
    pub label: String,
    /// The decoded content.
    pub der: Vec<u8>,
}

/// Every PEM block of `text`, read leniently like Go's `pem.Decode` (CRLF,
/// any line width, text around the blocks ignored). The error says what is wrong.
pub fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, String> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after.find("-----").ok_or("PEM: unterminated BEGIN line")?;
        let label = after[..label_end].to_string();
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let end = body_start.find(&end_marker).ok_or_else(|| format!("PEM: missing END {label}"))?;
        let body: String = body_start[..end].chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = b64_decode(&body).map_err(|e| format!("PEM: invalid base64: {e}"))?;
        blocks.push(PemBlock { label, der });
        rest = &body_start[end + end_marker.len()..];
    }
    Ok(blocks)
}

/// The DER of `text`, which must be exactly one PEM block labelled `label`
/// (strict RFC 7468, surrounding whitespace allowed). The error says what is wrong.
pub fn pem_one(text: &str, label: &str) -> Result<Vec<u8>, String> {
    let (found, der) =
        der::pem::decode_vec(text.trim().as_bytes()).map_err(|e| format!("expected a PEM {label} block: {e}"))?;
    if found != label {
        return Err(format!("expected a PEM {label} block, found {found}"));
    }
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let bytes: [u8; 32] = core::array::from_fn(|i| (i * 7) as u8);
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
        assert_eq!(parse_hex32(&hex(&bytes)), Some(bytes));
        assert_eq!(parse_hex32(&hex(&bytes).to_uppercase()), None);
        assert_eq!(parse_hex32(&format!("{}g", &hex(&bytes)[1..])), None);
        assert_eq!(parse_hex32("00"), None);
    }

    #[test]
    fn base64_alphabets() {
        assert_eq!(b64(&[0xfb, 0xff]), "+/8=");
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(b64_decode("+/8=").ok(), Some(vec![0xfb, 0xff]));
        assert!(b64_decode("-_8=").is_err());
        assert_eq!(b64url_decode("-_8").ok(), Some(vec![0xfb, 0xff]));
        assert!(b64url_decode("-_8=").is_err(), "no padding in base64url");
        assert_eq!(b64_decode_std_or_url("-_8=").ok(), Some(vec![0xfb, 0xff]));
        assert!(b64_decode_std_or_url("-_8").is_err());
        for s in ["+/8=", "+/8", "-_8=", "-_8"] {
            assert_eq!(b64_decode_any(s), Some(vec![0xfb, 0xff]), "{s}");
        }
        assert_eq!(b64_decode_any("*"), None);
    }

    #[test]
    fn pem_lines_are_64_columns_and_read_back() {
        let der = vec![0xabu8; 100];
        let text = cert_pem(&der);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        assert!(text.ends_with("-----\n"));
        let messy = format!("text before\r\n{}{}", text.replace('\n', "\r\n"), pem("PUBLIC KEY", b"k"));
        let blocks = pem_blocks(&messy).unwrap_or_default();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0], PemBlock { label: "CERTIFICATE".into(), der: der.clone() });
        assert_eq!(blocks[1].label, "PUBLIC KEY");
        assert!(pem_blocks("-----BEGIN X-----\nAAAA\n").is_err_and(|e| e.contains("missing END X")));
        assert!(pem_blocks("-----BEGIN X-----\n*\n-----END X-----\n").is_err_and(|e| e.contains("invalid base64")));
        assert_eq!(pem_one(&format!("\n{text}\n"), "CERTIFICATE").ok(), Some(der));
        assert!(pem_one(&text, "PUBLIC KEY").is_err_and(|e| e.contains("found CERTIFICATE")));
        assert!(pem_one(&messy, "CERTIFICATE").is_err(), "one block only");
    }
}
