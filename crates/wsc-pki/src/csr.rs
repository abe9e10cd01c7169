//! PKCS#10 certificate signing requests: made by any [`Signer`], and
//! checked (their own signature) whenever they are read.

use wsc_core::{KeyAlgorithm, PublicKey, Signer};
use x509_cert::der::oid::AssociatedOid;
use x509_cert::der::{Decode, Encode, Reader, SliceReader};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::request::{CertReq, ExtensionReq};

use crate::error::{PkiError, Result};
use crate::x509::{self, OID_ECDSA_SHA256, OID_ED25519, SignerKey};

/// Prefix of the URI wsc makes from a plain device id.
pub const DEVICE_URI_PREFIX: &str = "urn:wsc:device:";

/// Longest device id wsc accepts.
const MAX_DEVICE_ID: usize = 200;

/// The URI SAN for a device id: an absolute URI is kept as it is; a plain
/// id (letters, digits, `.`, `_`, `~`, `-`) becomes `urn:wsc:device:<id>`.
pub fn device_uri(id: &str) -> Result<String> {
    let bad = || PkiError::DeviceId(id.to_string());
    if id.is_empty() || id.len() > MAX_DEVICE_ID {
        return Err(bad());
    }
    match id.split_once(':') {
        Some((scheme, rest)) => {
            let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
            let rest_ok = !rest.is_empty() && rest.chars().all(|c| c.is_ascii_graphic());
            if scheme_ok && rest_ok { Ok(id.to_string()) } else { Err(bad()) }
        }
        None if id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-')) => {
            Ok(format!("{DEVICE_URI_PREFIX}{id}"))
        }
        None => Err(bad()),
    }
}

/// A CSR whose signature has been checked.
#[derive(Debug, Clone)]
pub struct Csr {
    der: Vec<u8>,
    subject: String,
    spki_der: Vec<u8>,
    spki_bits: Vec<u8>,
    public_key: PublicKey,
    uris: Vec<String>,
}

impl Csr {
    /// Makes a CSR for `device_id` signed by `signer`, which may be a
    /// hardware key: the private key never leaves it. The subject is
    /// `CN=<device id>` and the device URI is requested as a SAN.
    pub fn create(signer: &dyn Signer, device_id: &str) -> Result<Csr> {
        let uri = device_uri(device_id)?;
        let key = SignerKey::new(signer)?;
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, rcgen::DnValue::Utf8String(device_id.into()));
        let ia5 = uri.clone().try_into().map_err(|e: rcgen::Error| PkiError::Csr(e.into()))?;
        params.subject_alt_names = vec![rcgen::SanType::URI(ia5)];
        let csr = params.serialize_request(&key).map_err(|e| key.error(e))?;
        Csr::from_der(csr.der())
    }

    /// Reads a DER CSR and checks its signature.
    pub fn from_der(der: &[u8]) -> Result<Csr> {
        let req = CertReq::from_der(der).map_err(|e| PkiError::parse("CSR", e))?;
        let info_der = first_element(der)?;
        let spki = &req.info.public_key;
        let spki_der = spki.to_der().map_err(|e| PkiError::parse("CSR public key", e))?;
        let public_key = PublicKey::from_any(&spki_der).map_err(|_| {
            PkiError::UnsupportedAlgorithm(format!(
                "CSR key algorithm {} (wsc-pki takes Ed25519 and P-256)",
                spki.algorithm.oid
            ))
        })?;
        let sig = req.signature.as_bytes().ok_or(PkiError::CsrSignature)?;
        let ok = match (public_key.algorithm(), req.algorithm.oid) {
            (KeyAlgorithm::Ed25519, oid) if oid == OID_ED25519 => public_key.verify(info_der, sig),
            (KeyAlgorithm::P256, oid) if oid == OID_ECDSA_SHA256 => {
                x509::ecdsa_der_to_fixed(sig).is_some_and(|rs| public_key.verify(info_der, &rs))
            }
            (_, oid) => {
                return Err(PkiError::UnsupportedAlgorithm(format!(
                    "CSR signature algorithm {oid} with a {} key",
                    public_key.algorithm().as_str()
                )));
            }
        };
        if !ok {
            return Err(PkiError::CsrSignature);
        }
        let mut uris = Vec::new();
        for attr in req.info.attributes.iter().filter(|a| a.oid == ExtensionReq::OID) {
            for value in attr.values.iter() {
                let exts: ExtensionReq = value.decode_as().map_err(|e| PkiError::parse("CSR extension request", e))?;
                for ext in exts.0.iter().filter(|e| e.extn_id == SubjectAltName::OID) {
                    let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
                        .map_err(|e| PkiError::parse("CSR subject alternative name", e))?;
                    uris.extend(x509::general_names(&san.0).0);
                }
            }
        }
        Ok(Csr {
            der: der.to_vec(),
            subject: req.info.subject.to_string(),
            spki_bits: spki.subject_public_key.raw_bytes().to_vec(),
            spki_der,
            public_key,
            uris,
        })
    }

    /// Reads a PEM CSR (`CERTIFICATE REQUEST`) and checks its signature.
    pub fn from_pem(pem: &[u8]) -> Result<Csr> {
        let blocks = x509::pem_decode_all(pem, &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"])?;
        match blocks.as_slice() {
            [der] => Csr::from_der(der),
            _ => Err(PkiError::Pem("expected exactly one CERTIFICATE REQUEST block".into())),
        }
    }

    /// Reads PEM or DER.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Csr> {
        if bytes.first() == Some(&0x30) { Csr::from_der(bytes) } else { Csr::from_pem(bytes) }
    }

    /// The CSR as PEM.
    pub fn to_pem(&self) -> Result<String> {
        x509::pem_encode("CERTIFICATE REQUEST", &self.der)
    }

    /// The CSR as DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The requested subject, RFC 4514 style.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The key the CSR asks a certificate for.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The SubjectPublicKeyInfo DER, as in the CSR.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The subjectPublicKey bits, as in the CSR.
    pub(crate) fn spki_bits(&self) -> &[u8] {
        &self.spki_bits
    }

    /// The URI SANs the CSR requests.
    pub fn uris(&self) -> &[String] {
        &self.uris
    }
}

/// The raw bytes of the first element inside the outer SEQUENCE: the signed
/// part, exactly as it was signed.
fn first_element(der: &[u8]) -> Result<&[u8]> {
    let mut outer = SliceReader::new(der).map_err(|e| PkiError::parse("CSR", e))?;
    outer
        .sequence(|r| {
            let tlv = r.tlv_bytes()?;
            // The rest (algorithm, signature) was parsed already.
            r.read_slice(r.remaining_len())?;
            Ok(tlv)
        })
        .map_err(|e| PkiError::parse("CSR", e))
}
