//! A private CA: roots, intermediates, device certificates and CRLs.

use std::time::{Duration, SystemTime};

use rand_core::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod,
    KeyUsagePurpose, SanType, SerialNumber,
};
use wsc_core::{KeyAlgorithm, SecretKey};
use zeroize::Zeroizing;

use crate::csr::{Csr, device_uri};
use crate::error::{PkiError, Result};
use crate::x509::{self, CertInfo, RawPublicKey, SignerKey};

/// One day.
pub const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Default validity of a device certificate: one day.
pub const DEFAULT_DEVICE_VALIDITY: Duration = DAY;

/// How a CA certificate is made.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CaProfile {
    /// Subject common name.
    pub common_name: String,
    /// Key algorithm of the new CA key.
    pub algorithm: KeyAlgorithm,
    /// Most CA certificates allowed below this one (`None`: no limit).
    pub path_len: Option<u8>,
    /// How long the certificate is valid.
    pub validity: Duration,
    /// Start of validity (`None`: now).
    pub not_before: Option<SystemTime>,
}

impl CaProfile {
    /// A root: path length 1 (one level of intermediates), ten years.
    pub fn root(common_name: &str, algorithm: KeyAlgorithm) -> Self {
        CaProfile {
            common_name: common_name.into(),
            algorithm,
            path_len: Some(1),
            validity: 3650 * DAY,
            not_before: None,
        }
    }

    /// An intermediate: path length 0 (issues device certificates only),
    /// five years (cut to the issuer's end of validity).
    pub fn intermediate(common_name: &str, algorithm: KeyAlgorithm) -> Self {
        CaProfile {
            common_name: common_name.into(),
            algorithm,
            path_len: Some(0),
            validity: 1825 * DAY,
            not_before: None,
        }
    }
}

/// How a device certificate is made.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeviceProfile {
    /// The device id; `None` takes the one the CSR asks for. When both are
    /// given they must agree.
    pub device_id: Option<String>,
    /// How long the certificate is valid (default one day).
    pub validity: Duration,
    /// Start of validity (`None`: now).
    pub not_before: Option<SystemTime>,
}

impl Default for DeviceProfile {
    fn default() -> Self {
        DeviceProfile { device_id: None, validity: DEFAULT_DEVICE_VALIDITY, not_before: None }
    }
}

impl DeviceProfile {
    /// A profile for this device id, one day.
    pub fn for_device(device_id: &str) -> Self {
        DeviceProfile { device_id: Some(device_id.into()), ..Default::default() }
    }

    /// The same profile with another validity.
    pub fn valid_for(mut self, validity: Duration) -> Self {
        self.validity = validity;
        self
    }

    /// The same profile starting at `t`.
    pub fn starting(mut self, t: SystemTime) -> Self {
        self.not_before = Some(t);
        self
    }
}

/// A CA: its certificate, the issuers above it, and its key.
pub struct Ca {
    /// This CA's certificate first, then its issuers up to the root.
    chain: Vec<CertInfo>,
    key: SecretKey,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").field("subject", &self.chain[0].subject).finish_non_exhaustive()
    }
}

impl Ca {
    /// Makes a self-signed root with a new key.
    pub fn new_root(profile: &CaProfile) -> Result<Ca> {
        let key = SecretKey::generate(profile.algorithm, &mut rand_core::OsRng);
        Ca::root_with_key(profile, key)
    }

    /// Makes a self-signed root for an existing key.
    pub fn root_with_key(profile: &CaProfile, key: SecretKey) -> Result<Ca> {
        let signer = SignerKey::new(&key)?;
        let params = ca_params(profile, &rcgen::PublicKeyData::subject_public_key_info(&signer))?;
        let cert = params.self_signed(&signer).map_err(|e| signer.error(e))?;
        drop(signer);
        let info = CertInfo::parse(cert.der())?;
        Ok(Ca { chain: vec![info], key })
    }

    /// Makes an intermediate CA below this one, with a new key.
    pub fn new_intermediate(&self, profile: &CaProfile) -> Result<Ca> {
        let key = SecretKey::generate(profile.algorithm, &mut rand_core::OsRng);
        self.intermediate_with_key(profile, key)
    }

    /// Makes an intermediate CA below this one for an existing key.
    pub fn intermediate_with_key(&self, profile: &CaProfile, key: SecretKey) -> Result<Ca> {
        match (self.certificate().basic_constraints, profile.path_len) {
            (Some((true, Some(0))), _) => {
                return Err(PkiError::Issue(
                    format!("{} has path length 0: it may issue device certificates only", self.certificate().subject)
                        .into(),
                ));
            }
            (Some((true, Some(max))), Some(n)) if n >= max => {
                return Err(PkiError::Issue(
                    format!("path length {n} is not below the issuer's {max}; use at most {}", max - 1).into(),
                ));
            }
            (Some((true, Some(_))), None) => {
                return Err(PkiError::Issue("the issuer has a path length, so the new CA needs a smaller one".into()));
            }
            _ => {}
        }
        let mut profile = profile.clone();
        let start = profile.not_before.unwrap_or_else(SystemTime::now);
        profile.validity = self.clamp(start, profile.validity)?;
        let subject = SignerKey::new(&key)?;
        let mut params = ca_params(&profile, &rcgen::PublicKeyData::subject_public_key_info(&subject))?;
        params.use_authority_key_identifier_extension = true;
        let issuer_key = SignerKey::new(&self.key)?;
        let issuer = Issuer::new(self.issuer_params()?, &issuer_key);
        let cert = params.signed_by(&subject, &issuer).map_err(|e| issuer_key.error(e))?;
        drop(subject);
        let info = CertInfo::parse(cert.der())?;
        self.check_issued(&info)?;
        // Two CAs of one name on a path make it ambiguous (and the second
        // would look self-issued, like a root): refused.
        if let Some(same) = self.chain.iter().find(|c| c.subject_der == info.subject_der) {
            return Err(PkiError::Issue(
                format!("the new CA would have the same name as {} above it; give it another name", same.subject)
                    .into(),
            ));
        }
        let mut chain = vec![info];
        chain.extend(self.chain.iter().cloned());
        Ok(Ca { chain, key })
    }

    /// Loads a CA from its certificate file (this CA's certificate first,
    /// then its issuers) and its key. Checks that the certificate is a CA
    /// that may sign certificates, and that the key is its key.
    pub fn from_pem(chain_pem: &[u8], key: SecretKey) -> Result<Ca> {
        let chain = x509::certificates_from_pem_or_der(chain_pem)?
            .iter()
            .map(|d| CertInfo::parse(d))
            .collect::<Result<Vec<_>>>()?;
        let first = &chain[0];
        if !first.is_ca() {
            return Err(PkiError::NotCa(format!("{} has no basicConstraints cA=TRUE", first.subject)));
        }
        if first.key_usage.is_some_and(|ku| !ku.key_cert_sign) {
            return Err(PkiError::NotCa(format!("the key usage of {} does not include keyCertSign", first.subject)));
        }
        if first.key()? != key.public_key() {
            return Err(PkiError::KeyMismatch);
        }
        Ok(Ca { chain, key })
    }

    /// This CA's certificate, then its issuers, as PEM: what
    /// [`Ca::from_pem`] reads to issue certificates with the chain above.
    pub fn chain_pem(&self) -> Result<String> {
        chain_to_pem(self.chain.iter().map(|c| c.der.as_slice()))
    }

    /// This CA's certificate alone, as PEM: a file fit to be a trust anchor.
    pub fn certificate_pem(&self) -> Result<String> {
        x509::pem_encode("CERTIFICATE", &self.chain[0].der)
    }

    /// The key as PKCS#8 PEM.
    pub fn key_pem(&self) -> Result<Zeroizing<String>> {
        Ok(self.key.to_pem()?)
    }

    /// This CA's certificate.
    pub fn certificate(&self) -> &CertInfo {
        &self.chain[0]
    }

    /// This CA's certificate, then its issuers.
    pub fn chain(&self) -> &[CertInfo] {
        &self.chain
    }

    /// The last certificate of the chain (the root, when the file has it).
    pub fn root(&self) -> &CertInfo {
        &self.chain[self.chain.len() - 1]
    }

    /// The CA's key.
    pub fn secret_key(&self) -> &SecretKey {
        &self.key
    }

    /// Issues a device certificate for the key in `csr` (whose signature
    /// was checked when it was read). The certificate has the device URI
    /// as its only SAN, `CN=<device id>`, key usage digitalSignature, EKU
    /// codeSigning, and is not a CA. Returns the chain, leaf first, without
    /// the root: what a signer embeds in its records.
    pub fn issue(&self, csr: &Csr, profile: &DeviceProfile) -> Result<Vec<Vec<u8>>> {
        let requested = match csr.uris() {
            [] => None,
            [one] => Some(one.as_str()),
            _ => return Err(PkiError::Csr("it asks for more than one URI".into())),
        };
        let (id, uri) = match (&profile.device_id, requested) {
            (Some(id), req) => {
                let uri = device_uri(id)?;
                if let Some(r) = req.filter(|r| *r != uri) {
                    return Err(PkiError::DeviceIdMismatch { requested: r.into(), expected: uri });
                }
                (id.clone(), uri)
            }
            (None, Some(r)) => {
                let uri = device_uri(r)?;
                (r.strip_prefix(crate::csr::DEVICE_URI_PREFIX).unwrap_or(r).to_string(), uri)
            }
            (None, None) => {
                return Err(PkiError::Csr("no device id: the CSR has no URI SAN and none was given".into()));
            }
        };
        let start = profile.not_before.unwrap_or_else(SystemTime::now);
        let validity = self.clamp(start, profile.validity)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, DnValue::Utf8String(id));
        params.subject_alt_names =
            vec![SanType::URI(uri.try_into().map_err(|e: rcgen::Error| PkiError::Issue(e.into()))?)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::PreSpecified(x509::key_identifier(csr.spki_der()));
        params.serial_number = Some(random_serial());
        params.not_before = x509::offset_date_time(start)?;
        params.not_after = x509::offset_date_time(start + validity)?;
        let subject =
            RawPublicKey { alg: x509::rcgen_algorithm(csr.public_key().algorithm())?, bits: csr.spki_bits().to_vec() };
        let issuer_key = SignerKey::new(&self.key)?;
        let issuer = Issuer::new(self.issuer_params()?, &issuer_key);
        let cert = params.signed_by(&subject, &issuer).map_err(|e| issuer_key.error(e))?;
        let info = CertInfo::parse(cert.der())?;
        self.check_issued(&info)?;
        if info.spki_der != csr.spki_der() {
            return Err(PkiError::Issue("the certificate's key differs from the CSR's".into()));
        }
        // Every CA above the leaf, without a self-issued root at the end.
        let cas = match self.chain.split_last() {
            Some((last, above)) if last.is_self_issued() => above,
            _ => &self.chain[..],
        };
        let mut chain = vec![info.der];
        chain.extend(cas.iter().map(|c| c.der.clone()));
        Ok(chain)
    }

    /// Makes a CRL of this CA listing `revoked` serial numbers (big-endian
    /// bytes, as `wsc pki show` prints them), valid from `this_update` to
    /// `next_update`. The CRL number is `this_update` in seconds.
    pub fn crl(&self, revoked: &[Vec<u8>], this_update: SystemTime, next_update: SystemTime) -> Result<Vec<u8>> {
        let at = x509::offset_date_time(this_update)?;
        let crl_number = x509::unix_secs(this_update)?.to_be_bytes();
        let params = rcgen::CertificateRevocationListParams {
            this_update: at,
            next_update: x509::offset_date_time(next_update)?,
            crl_number: SerialNumber::from_slice(trim_zeros(&crl_number)),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|s| rcgen::RevokedCertParams {
                    serial_number: SerialNumber::from_slice(trim_zeros(s)),
                    revocation_time: at,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::PreSpecified(self.certificate().key_id_or_derived()),
        };
        let issuer_key = SignerKey::new(&self.key)?;
        let issuer = Issuer::new(self.issuer_params()?, &issuer_key);
        let crl = params.signed_by(&issuer).map_err(|e| issuer_key.error(e))?;
        Ok(crl.der().to_vec())
    }

    /// The validity to use from `start`: `want`, cut to the CA's own end.
    fn clamp(&self, start: SystemTime, want: Duration) -> Result<Duration> {
        let me = self.certificate();
        if !me.valid_at(start) {
            return Err(PkiError::Issue(me.not_valid_at(start).into()));
        }
        let left = me.not_after.duration_since(start).unwrap_or(Duration::ZERO);
        Ok(want.min(left))
    }

    /// rcgen's view of this CA as an issuer: its exact subject and key id.
    fn issuer_params(&self) -> Result<CertificateParams> {
        let me = self.certificate();
        let mut p = CertificateParams::default();
        p.distinguished_name = x509::rcgen_name(&me.subject_der)?;
        p.key_identifier_method = KeyIdMethod::PreSpecified(me.key_id_or_derived());
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ok(p)
    }

    /// Checks that a certificate this CA made names it as issuer, byte for byte.
    fn check_issued(&self, info: &CertInfo) -> Result<()> {
        if info.issuer_der != self.certificate().subject_der {
            return Err(PkiError::Issue("the issuer name could not be reproduced exactly".into()));
        }
        Ok(())
    }
}

/// Certificates as PEM, one block each, in order.
pub fn chain_to_pem<'a>(ders: impl IntoIterator<Item = &'a [u8]>) -> Result<String> {
    ders.into_iter().map(|d| x509::pem_encode("CERTIFICATE", d)).collect()
}

/// A CRL as PEM.
pub fn crl_to_pem(der: &[u8]) -> Result<String> {
    x509::pem_encode("X509 CRL", der)
}

/// Parses a serial number written in hex (`:` separators allowed).
pub fn parse_serial(text: &str) -> Result<Vec<u8>> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    let digits = digits.strip_prefix("0x").unwrap_or(&digits);
    if digits.is_empty() || digits.len() % 2 != 0 || digits.len() > 42 {
        return Err(PkiError::parse("serial number", "expected an even number of hex digits, at most 21 bytes"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16))
        .collect::<std::result::Result<Vec<u8>, _>>()
        .map_err(|e| PkiError::parse("serial number", e))
}

fn ca_params(profile: &CaProfile, spki_der: &[u8]) -> Result<CertificateParams> {
    let start = profile.not_before.unwrap_or_else(SystemTime::now);
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, DnValue::Utf8String(profile.common_name.clone()));
    params.is_ca = IsCa::Ca(match profile.path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.key_identifier_method = KeyIdMethod::PreSpecified(x509::key_identifier(spki_der));
    params.serial_number = Some(random_serial());
    params.not_before = x509::offset_date_time(start)?;
    params.not_after = x509::offset_date_time(start + profile.validity)?;
    Ok(params)
}

/// A random positive 16-byte serial number.
fn random_serial() -> SerialNumber {
    let mut b = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut b);
    b[0] = (b[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&b)
}

fn trim_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len().saturating_sub(1));
    &b[first..]
}
