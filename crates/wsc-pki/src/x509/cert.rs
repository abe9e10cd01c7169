//! [`CertInfo`]: the parts of a certificate wsc looks at.

use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wsc_core::PublicKey;
use wsc_core::keys::hex;
use x509_cert::Certificate;
use x509_cert::der::oid::AssociatedOid;
use x509_cert::der::{Decode, Encode, Tag, Tagged};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};
use x509_cert::name::Name;

use super::times::format_rfc3339;
use crate::error::{PkiError, Result};

/// The parts of a certificate wsc looks at.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CertInfo {
    /// The certificate as given.
    pub der: Vec<u8>,
    /// Subject, RFC 4514 style.
    pub subject: String,
    /// The subject's attributes of the kinds a policy can name (`C`,
    /// `ST`, `L`, `O`, `OU`, `CN`, `serialNumber`), in order; a value
    /// that is no string is left out.
    pub subject_attributes: Vec<(String, String)>,
    /// Issuer, RFC 4514 style.
    pub issuer: String,
    /// DER of the subject name.
    pub subject_der: Vec<u8>,
    /// DER of the issuer name.
    pub issuer_der: Vec<u8>,
    /// Serial number bytes (big-endian, as encoded).
    pub serial: Vec<u8>,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// DER of the SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// The subject key, when it is Ed25519 or P-256.
    pub public_key: Option<PublicKey>,
    /// URI subject alternative names.
    pub uris: Vec<String>,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// Basic constraints: `Some((ca, path_len))` when present.
    pub basic_constraints: Option<(bool, Option<u8>)>,
    /// Key usage, when present.
    pub key_usage: Option<KeyUsageBits>,
    /// Extended key usages (dotted OIDs), when present.
    pub extended_key_usage: Option<Vec<String>>,
    /// Subject key identifier, when present.
    pub subject_key_id: Option<Vec<u8>>,
    /// Signature algorithm (dotted OID).
    pub signature_algorithm: String,
}

/// The key usage bits wsc cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyUsageBits {
    /// digitalSignature.
    pub digital_signature: bool,
    /// keyCertSign.
    pub key_cert_sign: bool,
    /// cRLSign.
    pub crl_sign: bool,
}

/// The attributes of `name` a policy can name, as (short name, value).
fn attributes(name: &Name) -> Vec<(String, String)> {
    use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
    const KINDS: [(&str, &str); 7] = [
        ("2.5.4.6", "C"),
        ("2.5.4.8", "ST"),
        ("2.5.4.7", "L"),
        ("2.5.4.10", "O"),
        ("2.5.4.11", "OU"),
        ("2.5.4.3", "CN"),
        ("2.5.4.5", "serialNumber"),
    ];
    let mut out = Vec::new();
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            let oid = atv.oid.to_string();
            let Some((_, short)) = KINDS.iter().find(|(o, _)| *o == oid) else { continue };
            let value = match atv.value.tag() {
                Tag::Utf8String => atv.value.decode_as::<Utf8StringRef<'_>>().ok().map(|v| v.as_str().to_string()),
                Tag::PrintableString => {
                    atv.value.decode_as::<PrintableStringRef<'_>>().ok().map(|v| v.as_str().to_string())
                }
                Tag::Ia5String => atv.value.decode_as::<Ia5StringRef<'_>>().ok().map(|v| v.as_str().to_string()),
                _ => None,
            };
            if let Some(v) = value {
                out.push((short.to_string(), v));
            }
        }
    }
    out
}

impl CertInfo {
    /// Parses a DER certificate.
    pub fn parse(der: &[u8]) -> Result<Self> {
        let cert = Certificate::from_der(der).map_err(|e| PkiError::parse("certificate", e))?;
        let tbs = &cert.tbs_certificate;
        let enc = |n: &Name| n.to_der().map_err(|e| PkiError::parse("name", e));
        let spki_der =
            tbs.subject_public_key_info.to_der().map_err(|e| PkiError::parse("subject public key info", e))?;
        let mut info = CertInfo {
            der: der.to_vec(),
            subject: tbs.subject.to_string(),
            subject_attributes: attributes(&tbs.subject),
            issuer: tbs.issuer.to_string(),
            subject_der: enc(&tbs.subject)?,
            issuer_der: enc(&tbs.issuer)?,
            serial: tbs.serial_number.as_bytes().to_vec(),
            not_before: tbs.validity.not_before.to_system_time(),
            not_after: tbs.validity.not_after.to_system_time(),
            public_key: PublicKey::from_any(&spki_der).ok(),
            spki_der,
            uris: Vec::new(),
            dns_names: Vec::new(),
            basic_constraints: None,
            key_usage: None,
            extended_key_usage: None,
            subject_key_id: None,
            signature_algorithm: cert.signature_algorithm.oid.to_string(),
        };
        for ext in tbs.extensions.iter().flatten() {
            let v = ext.extn_value.as_bytes();
            let bad = |e: x509_cert::der::Error| PkiError::parse("certificate extension", e);
            if ext.extn_id == SubjectAltName::OID {
                let (uris, dns) = general_names(&SubjectAltName::from_der(v).map_err(bad)?.0);
                info.uris = uris;
                info.dns_names = dns;
            } else if ext.extn_id == BasicConstraints::OID {
                let bc = BasicConstraints::from_der(v).map_err(bad)?;
                info.basic_constraints = Some((bc.ca, bc.path_len_constraint));
            } else if ext.extn_id == KeyUsage::OID {
                let ku = KeyUsage::from_der(v).map_err(bad)?;
                info.key_usage = Some(KeyUsageBits {
                    digital_signature: ku.digital_signature(),
                    key_cert_sign: ku.key_cert_sign(),
                    crl_sign: ku.crl_sign(),
                });
            } else if ext.extn_id == ExtendedKeyUsage::OID {
                let eku = ExtendedKeyUsage::from_der(v).map_err(bad)?;
                info.extended_key_usage = Some(eku.0.iter().map(ToString::to_string).collect());
            } else if ext.extn_id == x509_cert::ext::pkix::SubjectKeyIdentifier::OID {
                let ski = x509_cert::ext::pkix::SubjectKeyIdentifier::from_der(v).map_err(bad)?;
                info.subject_key_id = Some(ski.0.as_bytes().to_vec());
            }
        }
        Ok(info)
    }

    /// Whether basic constraints say this is a CA.
    pub fn is_ca(&self) -> bool {
        matches!(self.basic_constraints, Some((true, _)))
    }

    /// Whether the subject and issuer names are the same.
    pub fn is_self_issued(&self) -> bool {
        self.subject_der == self.issuer_der
    }

    /// The subject key, or why it cannot be used.
    pub fn key(&self) -> Result<PublicKey> {
        self.public_key.clone().ok_or_else(|| {
            PkiError::UnsupportedAlgorithm(format!("the key of {} is neither Ed25519 nor P-256", self.subject))
        })
    }

    /// SHA-256 of the certificate, lower-case hex.
    pub fn fingerprint(&self) -> String {
        hex(&Sha256::digest(&self.der))
    }

    /// Whether the certificate is valid at `t`.
    pub fn valid_at(&self, t: SystemTime) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// "`subject` is not valid at `t` (valid … to …)".
    pub(crate) fn not_valid_at(&self, t: SystemTime) -> String {
        format!(
            "{} is not valid at {} (valid {} to {})",
            self.subject,
            format_rfc3339(t),
            format_rfc3339(self.not_before),
            format_rfc3339(self.not_after)
        )
    }

    /// The subject key identifier, or one derived from the SPKI.
    pub(crate) fn key_id_or_derived(&self) -> Vec<u8> {
        self.subject_key_id.clone().unwrap_or_else(|| key_identifier(&self.spki_der))
    }

    /// A one-line description: subject, URIs, serial.
    pub fn describe(&self) -> String {
        let mut s = self.subject.clone();
        if !self.uris.is_empty() {
            s.push_str(&format!(" ({})", self.uris.join(", ")));
        }
        s.push_str(&format!(", serial {}", hex(&self.serial)));
        s
    }
}

/// URIs and DNS names among general names.
pub(crate) fn general_names(names: &[GeneralName]) -> (Vec<String>, Vec<String>) {
    let mut uris = Vec::new();
    let mut dns = Vec::new();
    for n in names {
        match n {
            GeneralName::UniformResourceIdentifier(u) => uris.push(u.to_string()),
            GeneralName::DnsName(d) => dns.push(d.to_string()),
            _ => {}
        }
    }
    (uris, dns)
}

/// The key identifier wsc writes: SHA-256 of the SPKI DER, first 20 bytes.
pub(crate) fn key_identifier(spki_der: &[u8]) -> Vec<u8> {
    Sha256::digest(spki_der)[..20].to_vec()
}
