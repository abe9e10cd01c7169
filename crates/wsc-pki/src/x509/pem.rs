//! PEM and DER: encoding one block, decoding every block, reading
//! certificates given either way.

use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::pem::LineEnding;

use crate::error::{PkiError, Result};

/// Encodes DER as one PEM block.
pub fn pem_encode(label: &str, der: &[u8]) -> Result<String> {
    x509_cert::der::pem::encode_string(label, LineEnding::LF, der)
        .map_err(|e| PkiError::Pem(Box::new(x509_cert::der::Error::from(e))))
}

/// Decodes every PEM block in `text` with one of `labels`, in order.
/// Text outside the blocks (comments, `openssl x509 -text` output) is ignored.
pub fn pem_decode_all(text: &[u8], labels: &[&str]) -> Result<Vec<Vec<u8>>> {
    let text = std::str::from_utf8(text).map_err(|_| PkiError::Pem("not UTF-8 text".into()))?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after.find("-----").ok_or_else(|| PkiError::Pem("unterminated BEGIN line".into()))?;
        let label = &after[..label_end];
        let end_marker = format!("-----END {label}-----");
        let end =
            rest[start..].find(&end_marker).ok_or_else(|| PkiError::Pem(format!("no END line for {label}").into()))?;
        let block = &rest[start..start + end + end_marker.len()];
        if !labels.contains(&label) {
            return Err(PkiError::Pem(
                format!("unexpected PEM block {label:?}; expected {}", labels.join(" or ")).into(),
            ));
        }
        let (_, der) = x509_cert::der::pem::decode_vec(block.as_bytes())
            .map_err(|e| PkiError::Pem(Box::new(x509_cert::der::Error::from(e))))?;
        out.push(der);
        rest = &rest[start + end + end_marker.len()..];
    }
    if out.is_empty() {
        return Err(PkiError::Pem(format!("no {} block found", labels.join(" or ")).into()));
    }
    Ok(out)
}

/// Reads certificates from PEM (any number of blocks) or one DER certificate.
pub fn certificates_from_pem_or_der(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    if bytes.first() == Some(&0x30) {
        Certificate::from_der(bytes).map_err(|e| PkiError::parse("certificate", e))?;
        return Ok(vec![bytes.to_vec()]);
    }
    pem_decode_all(bytes, &["CERTIFICATE"])
}
