//! Pins and the fingerprints of certificates.

use std::fmt;
use std::str::FromStr;

use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use x509_cert::der::{Decode, Encode};

/// A SHA-256 pin: of a leaf certificate's DER, or of a certificate's
/// SubjectPublicKeyInfo DER.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pin(pub [u8; 32]);

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pin({self})")
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for Pin {
    type Err = ();

    /// 64 hex digits; colons between bytes and a `sha256:` prefix are allowed.
    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s.trim();
        let s = s.strip_prefix("sha256:").unwrap_or(s);
        let hex: String = s.chars().filter(|c| *c != ':').collect();
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(());
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| ())?;
        }
        Ok(Pin(out))
    }
}

impl Pin {
    /// The pin of a certificate's DER bytes (a leaf pin).
    pub fn of_certificate(der: &[u8]) -> Pin {
        Pin(Sha256::digest(der).into())
    }

    /// The pin of a SubjectPublicKeyInfo DER.
    pub fn of_spki_der(spki: &[u8]) -> Pin {
        Pin(Sha256::digest(spki).into())
    }

    /// The pin of a certificate's SubjectPublicKeyInfo, if it parses.
    pub fn of_spki(cert_der: &[u8]) -> Option<Pin> {
        let cert = x509_cert::Certificate::from_der(cert_der).ok()?;
        let spki = cert.tbs_certificate.subject_public_key_info.to_der().ok()?;
        Some(Pin(Sha256::digest(&spki).into()))
    }
}

/// One presented certificate and its pins.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateInfo {
    /// Subject distinguished name (RFC 4514 text), or `?` when it does not parse.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// SHA-256 of the certificate DER.
    pub certificate_sha256: Pin,
    /// SHA-256 of the SubjectPublicKeyInfo DER.
    pub spki_sha256: Option<Pin>,
}

/// Describes a chain, leaf first.
pub fn describe_chain(chain: &[CertificateDer<'_>]) -> Vec<CertificateInfo> {
    chain
        .iter()
        .map(|c| {
            let parsed = x509_cert::Certificate::from_der(c.as_ref()).ok();
            CertificateInfo {
                subject: parsed.as_ref().map_or_else(|| "?".into(), |p| p.tbs_certificate.subject.to_string()),
                issuer: parsed.as_ref().map_or_else(|| "?".into(), |p| p.tbs_certificate.issuer.to_string()),
                certificate_sha256: Pin::of_certificate(c.as_ref()),
                spki_sha256: Pin::of_spki(c.as_ref()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_forms() {
        let h = "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef";
        let p: Pin = h.parse().expect("plain");
        assert_eq!(p.to_string(), h.to_ascii_lowercase());
        let colons: String =
            h.as_bytes().chunks(2).map(|c| std::str::from_utf8(c).unwrap_or("")).collect::<Vec<_>>().join(":");
        assert_eq!(colons.parse::<Pin>(), Ok(p));
        assert_eq!(format!("sha256:{h}").parse::<Pin>(), Ok(p));
        for bad in ["", "00", &h[1..], &format!("{h}00"), &h.replace('0', "g"), "é"] {
            assert!(bad.parse::<Pin>().is_err(), "{bad}");
        }
    }
}
