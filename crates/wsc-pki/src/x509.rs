//! X.509 reading (x509-cert), PEM, times, and the bridge from wsc keys and
//! signers to rcgen.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use wsc_core::keys::hex;
use wsc_core::sigdata::AlgorithmId;
use wsc_core::{KeyAlgorithm, PublicKey, Signer};
use x509_cert::Certificate;
use x509_cert::der::asn1::{AnyRef, ObjectIdentifier};
use x509_cert::der::oid::AssociatedOid;
use x509_cert::der::pem::LineEnding;
use x509_cert::der::{Decode, Encode, Tag, Tagged};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};
use x509_cert::name::Name;

use crate::error::{PkiError, Result};

/// OID of the Ed25519 key and signature algorithm (RFC 8410).
pub(crate) const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// OID of ECDSA with SHA-256.
pub(crate) const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// OID of the codeSigning extended key usage.
pub const OID_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

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

/// Converts a system time to whole seconds since the epoch.
pub(crate) fn unix_secs(t: SystemTime) -> Result<u64> {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).map_err(|_| PkiError::Time("time before 1970".into()))
}

/// Converts a system time to what rcgen takes, truncated to whole seconds.
pub(crate) fn offset_date_time(t: SystemTime) -> Result<time::OffsetDateTime> {
    let secs = i64::try_from(unix_secs(t)?).map_err(|_| PkiError::Time("time out of range".into()))?;
    time::OffsetDateTime::from_unix_timestamp(secs).map_err(|e| PkiError::Time(e.into()))
}

/// Parses an RFC 3339 time such as `2026-01-31T12:00:00Z`.
pub fn parse_rfc3339(text: &str) -> Result<SystemTime> {
    let t = time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|source| PkiError::TimeText { text: text.to_string(), source })?;
    Ok(SystemTime::from(t))
}

/// Formats a time as RFC 3339 in UTC, whole seconds.
pub fn format_rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{secs} seconds after the epoch"))
}

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

/// Converts a parsed name to rcgen's form, keeping each value's string
/// type so the encoding comes out byte for byte the same.
pub(crate) fn rcgen_name(name_der: &[u8]) -> Result<rcgen::DistinguishedName> {
    let name = Name::from_der(name_der).map_err(|e| PkiError::parse("name", e))?;
    let mut dn = rcgen::DistinguishedName::new();
    for rdn in name.0.iter() {
        let [atv] = rdn.0.as_slice() else {
            return Err(PkiError::Issue("the CA's subject has a multi-valued RDN, which wsc cannot reproduce".into()));
        };
        let arcs: Vec<u64> = atv.oid.arcs().map(u64::from).collect();
        let ty = rcgen::DnType::from_oid(&arcs);
        let value: AnyRef<'_> = (&atv.value).into();
        let text = || {
            std::str::from_utf8(value.value())
                .map(str::to_owned)
                .map_err(|_| PkiError::Issue("the CA's subject holds a string that is not UTF-8".into()))
        };
        let bad = |e: rcgen::Error| PkiError::Issue(format!("the CA's subject cannot be reproduced: {e}").into());
        let v = match value.tag() {
            Tag::Utf8String => rcgen::DnValue::Utf8String(text()?),
            Tag::PrintableString => rcgen::DnValue::PrintableString(text()?.try_into().map_err(bad)?),
            Tag::Ia5String => rcgen::DnValue::Ia5String(text()?.try_into().map_err(bad)?),
            other => {
                return Err(PkiError::Issue(
                    format!("the CA's subject holds a {other} value, which wsc cannot reproduce").into(),
                ));
            }
        };
        dn.push(ty, v);
    }
    Ok(dn)
}

/// The rcgen signature algorithm for a wsc key algorithm.
pub(crate) fn rcgen_algorithm(alg: KeyAlgorithm) -> Result<&'static rcgen::SignatureAlgorithm> {
    match alg {
        KeyAlgorithm::Ed25519 => Ok(&rcgen::PKCS_ED25519),
        KeyAlgorithm::P256 => Ok(&rcgen::PKCS_ECDSA_P256_SHA256),
        other => Err(PkiError::UnsupportedAlgorithm(format!("{other:?}"))),
    }
}

/// The subjectPublicKey bits rcgen writes for a wsc key: the 32-byte
/// Ed25519 key, or the uncompressed P-256 point.
pub(crate) fn public_key_bits(key: &PublicKey) -> Result<Vec<u8>> {
    match key {
        PublicKey::Ed25519(k) => Ok(k.to_bytes().to_vec()),
        PublicKey::P256(k) => Ok(k.to_encoded_point(false).as_bytes().to_vec()),
        other => Err(PkiError::UnsupportedAlgorithm(format!("{:?}", other.algorithm()))),
    }
}

/// A public key as rcgen wants it: algorithm and subjectPublicKey bits.
#[derive(Debug)]
pub(crate) struct RawPublicKey {
    pub(crate) alg: &'static rcgen::SignatureAlgorithm,
    pub(crate) bits: Vec<u8>,
}

impl rcgen::PublicKeyData for RawPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.bits
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.alg
    }
}

/// Any wsc [`Signer`] as an rcgen signing key. P-256 `r ‖ s` signatures
/// are DER-encoded for X.509; Ed25519 signatures are used as they are.
pub(crate) struct SignerKey<'a> {
    signer: &'a dyn Signer,
    key: RawPublicKey,
    public: PublicKey,
    failure: std::cell::RefCell<Option<PkiError>>,
}

impl std::fmt::Debug for SignerKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerKey").field("public", &self.public).finish_non_exhaustive()
    }
}

impl<'a> SignerKey<'a> {
    /// Wraps a signer that reports an Ed25519 or P-256 key and signs with it.
    pub(crate) fn new(signer: &'a dyn Signer) -> Result<Self> {
        let public = signer
            .public_key()
            .ok_or_else(|| PkiError::UnsupportedAlgorithm("the signer reports no public key".into()))?;
        let expected = public.algorithm().algorithm_id();
        if signer.algorithm() != expected
            || !matches!(signer.algorithm(), AlgorithmId::ED25519 | AlgorithmId::ECDSA_P256_SHA256)
        {
            return Err(PkiError::UnsupportedAlgorithm(format!(
                "signer algorithm {} with a {} key (wsc-pki needs Ed25519 or P-256 signers)",
                signer.algorithm(),
                public.algorithm().as_str()
            )));
        }
        let key = RawPublicKey { alg: rcgen_algorithm(public.algorithm())?, bits: public_key_bits(&public)? };
        Ok(SignerKey { signer, key, public, failure: Default::default() })
    }
}

impl rcgen::PublicKeyData for SignerKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.key.bits
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.key.alg
    }
}

impl rcgen::SigningKey for SignerKey<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let fail = |why: PkiError| {
            *self.failure.borrow_mut() = Some(why);
            rcgen::Error::RemoteKeyError
        };
        let sig = self.signer.try_sign(msg).map_err(|e| fail(PkiError::Issue(Box::new(PkiError::Signer(e)))))?;
        if !self.public.verify(msg, &sig) {
            return Err(fail(PkiError::Issue("the signature does not verify with the signer's own public key".into())));
        }
        match self.public {
            PublicKey::P256(_) => p256::ecdsa::Signature::from_slice(&sig)
                .map(|s| s.to_der().as_bytes().to_vec())
                .map_err(|_| fail(PkiError::Issue("the signer returned no 64-byte r || s".into()))),
            _ => Ok(sig),
        }
    }
}

impl SignerKey<'_> {
    /// Turns an rcgen error into ours, with the signer's failure when there was one.
    pub(crate) fn error(&self, e: rcgen::Error) -> PkiError {
        match self.failure.borrow_mut().take() {
            Some(why) => why,
            None => PkiError::Issue(e.into()),
        }
    }
}

/// A DER ECDSA signature as the 64-byte `r ‖ s` wsc uses.
pub(crate) fn ecdsa_der_to_fixed(der: &[u8]) -> Option<Vec<u8>> {
    p256::ecdsa::Signature::from_der(der).ok().map(|s| s.to_bytes().to_vec())
}
