//! Small X.509 building blocks on x509-cert, signing with P-256 keys.

use std::str::FromStr;
use std::time::SystemTime;

use der::asn1::{BitString, GeneralizedTime, OctetString, UtcTime};
use der::oid::ObjectIdentifier;
use der::{Decode, Encode};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::LocalError;
use crate::keys::spki_der;

/// ecdsa-with-SHA256.
pub(crate) const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// id-kp-codeSigning.
pub(crate) const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// id-ce-basicConstraints.
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
/// id-ce-keyUsage.
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
/// id-ce-extKeyUsage.
const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
/// id-ce-subjectKeyIdentifier.
const SKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
/// id-ce-authorityKeyIdentifier.
const AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");

/// The ecdsa-with-SHA256 algorithm identifier (no parameters).
pub(crate) fn ecdsa_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid: ECDSA_SHA256, parameters: None }
}

/// A name from an RFC 4514 string.
pub(crate) fn name(s: &str) -> Result<Name, LocalError> {
    Name::from_str(s).map_err(LocalError::crypto)
}

/// A random positive 20-byte serial number.
pub(crate) fn random_serial() -> Result<SerialNumber, LocalError> {
    let mut bytes = [0u8; 20];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        bytes[0] = 0x01;
    }
    SerialNumber::new(&bytes).map_err(LocalError::crypto)
}

/// The SPKI structure of a signing key's public half.
pub(crate) fn spki_of(key: &SigningKey) -> Result<SubjectPublicKeyInfoOwned, LocalError> {
    SubjectPublicKeyInfoOwned::from_der(&spki_der(key)?).map_err(LocalError::crypto)
}

/// Key identifier: the first 20 bytes of SHA-256 over the subject public key bits.
pub(crate) fn key_id(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha256::digest(spki.subject_public_key.raw_bytes())[..20].to_vec()
}

/// An extension whose value is the DER of `value`.
pub(crate) fn ext<T: Encode>(oid: ObjectIdentifier, critical: bool, value: &T) -> Result<Extension, LocalError> {
    raw_ext(oid, critical, value.to_der().map_err(LocalError::crypto)?)
}

/// An extension whose value is `bytes` as they are.
pub(crate) fn raw_ext(oid: ObjectIdentifier, critical: bool, bytes: Vec<u8>) -> Result<Extension, LocalError> {
    Ok(Extension { extn_id: oid, critical, extn_value: OctetString::new(bytes).map_err(LocalError::crypto)? })
}

/// A certificate time: UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5).
fn x509_time(t: SystemTime) -> Result<Time, LocalError> {
    match UtcTime::from_system_time(t) {
        Ok(u) => Ok(Time::UtcTime(u)),
        Err(_) => GeneralizedTime::from_system_time(t).map(Time::GeneralTime).map_err(LocalError::crypto),
    }
}

/// A validity period.
pub(crate) fn validity(not_before: SystemTime, not_after: SystemTime) -> Result<Validity, LocalError> {
    Ok(Validity { not_before: x509_time(not_before)?, not_after: x509_time(not_after)? })
}

/// A v3 TBSCertificate signed with ecdsa-with-SHA256.
pub(crate) fn tbs(
    issuer: Name,
    subject: Name,
    validity: Validity,
    spki: SubjectPublicKeyInfoOwned,
    extensions: Vec<Extension>,
) -> Result<TbsCertificate, LocalError> {
    Ok(TbsCertificate {
        version: Version::V3,
        serial_number: random_serial()?,
        signature: ecdsa_sha256(),
        issuer,
        validity,
        subject,
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    })
}

/// Signs a TBSCertificate and returns the certificate's DER.
pub(crate) fn sign(tbs: TbsCertificate, key: &SigningKey) -> Result<Vec<u8>, LocalError> {
    let tbs_der = tbs.to_der().map_err(LocalError::crypto)?;
    let sig: DerSignature = key.sign(&tbs_der);
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_sha256(),
        signature: BitString::from_bytes(sig.as_bytes()).map_err(LocalError::crypto)?,
    };
    cert.to_der().map_err(LocalError::crypto)
}

/// A CA certificate's DER; self-signed when `issuer` is `None`.
pub(crate) fn ca_cert(
    subject: &Name,
    key: &SigningKey,
    issuer: Option<(&Name, &SigningKey)>,
    path_len: Option<u8>,
    code_signing: bool,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<Vec<u8>, LocalError> {
    let spki = spki_of(key)?;
    let ski = key_id(&spki);
    let (issuer_name, issuer_key) = issuer.unwrap_or((subject, key));
    let aki = key_id(&spki_of(issuer_key)?);
    let mut exts = vec![
        ext(KEY_USAGE, true, &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign))?,
        ext(BASIC_CONSTRAINTS, true, &BasicConstraints { ca: true, path_len_constraint: path_len })?,
        ext(SKI, false, &SubjectKeyIdentifier(OctetString::new(ski).map_err(LocalError::crypto)?))?,
        ext(AKI, false, &aki_value(aki)?)?,
    ];
    if code_signing {
        exts.push(ext(EXT_KEY_USAGE, false, &ExtendedKeyUsage(vec![CODE_SIGNING]))?);
    }
    let t = tbs(issuer_name.clone(), subject.clone(), validity(not_before, not_after)?, spki, exts)?;
    sign(t, issuer_key)
}

/// An AuthorityKeyIdentifier with only the key identifier.
pub(crate) fn aki_value(id: Vec<u8>) -> Result<AuthorityKeyIdentifier, LocalError> {
    Ok(AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(id).map_err(LocalError::crypto)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    })
}

/// Leaf extensions shared by every Fulcio leaf: KU, EKU, SKI, AKI.
pub(crate) fn leaf_base_extensions(
    spki: &SubjectPublicKeyInfoOwned,
    issuer_key_id: Vec<u8>,
) -> Result<Vec<Extension>, LocalError> {
    Ok(vec![
        ext(KEY_USAGE, true, &KeyUsage(KeyUsages::DigitalSignature.into()))?,
        ext(EXT_KEY_USAGE, false, &ExtendedKeyUsage(vec![CODE_SIGNING]))?,
        ext(SKI, false, &SubjectKeyIdentifier(OctetString::new(key_id(spki)).map_err(LocalError::crypto)?))?,
        ext(AKI, false, &aki_value(issuer_key_id)?)?,
    ])
}
