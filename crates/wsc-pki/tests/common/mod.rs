//! Helpers shared by the wsc-pki tests: a module, a non-file signer, and
//! rcgen access for certificates the CA refuses to make.

#![allow(dead_code, unreachable_pub)]

pub mod worst;

use std::time::SystemTime;

use wsc_core::Verification;
use wsc_core::sigdata::AlgorithmId;
use wsc_core::{KeyAlgorithm, PublicKey, RecordVerifier, SecretKey, Signer, SignerError};
use wsc_pki::{CERT_BOUND, Ca, CaProfile, CertRecord, CertSigner, CertVerifier, Csr, DeviceProfile};

/// A small valid module: one type section.
pub const MODULE: &[u8] = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0";

/// A signer that is not a `SecretKey`: it stands for a hardware key. For
/// P-256 it returns `r ‖ s` like an ATECC608.
#[derive(Debug)]
pub struct ChipSigner {
    key: p256::ecdsa::SigningKey,
}

impl ChipSigner {
    pub fn new() -> Self {
        ChipSigner { key: p256::ecdsa::SigningKey::random(&mut rand_core::OsRng) }
    }
}

impl Signer for ChipSigner {
    fn algorithm(&self) -> AlgorithmId {
        AlgorithmId::ECDSA_P256_SHA256
    }
    fn public_key(&self) -> Option<PublicKey> {
        Some(PublicKey::from_sec1(self.key.verifying_key().to_encoded_point(false).as_bytes()).expect("point"))
    }
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        use p256::ecdsa::signature::Signer as _;
        let s: p256::ecdsa::Signature = self.key.try_sign(message).map_err(SignerError::new)?;
        Ok(s.to_bytes().to_vec())
    }
}

pub fn key(alg: KeyAlgorithm) -> SecretKey {
    SecretKey::generate(alg, &mut rand_core::OsRng)
}

/// Root and intermediate, both of `alg`.
pub fn root_and_intermediate(alg: KeyAlgorithm) -> (Ca, Ca) {
    let root = Ca::new_root(&CaProfile::root("Test Root", alg)).expect("root");
    let inter = root.new_intermediate(&CaProfile::intermediate("Test Issuing CA", alg)).expect("intermediate");
    (root, inter)
}

/// A device certificate chain for `signer`, issued by `ca`.
pub fn device_chain(ca: &Ca, signer: &dyn Signer, id: &str, profile: &DeviceProfile) -> Vec<Vec<u8>> {
    let csr = Csr::create(signer, id).expect("csr");
    ca.issue(&csr, profile).expect("issue")
}

/// Signs `module` with `inner` bound to `chain`.
pub fn sign_with<S: Signer>(module: &[u8], inner: S, chain: Vec<Vec<u8>>) -> Vec<u8> {
    let signer = CertSigner::new(inner, chain).expect("cert signer");
    wsc_core::sign(module, &signer).expect("sign")
}

/// Signs `module` with a certificate-bound record that skips
/// `CertSigner`'s leaf checks, as another tool (or an attacker) could: for
/// testing what the verifier does with leaves the signer refuses.
pub fn sign_unchecked(module: &[u8], key: &SecretKey, chain: Vec<Vec<u8>>) -> Vec<u8> {
    #[derive(Debug)]
    struct Unchecked<'a> {
        key: &'a SecretKey,
        chain: Vec<Vec<u8>>,
    }
    impl Signer for Unchecked<'_> {
        fn algorithm(&self) -> AlgorithmId {
            CERT_BOUND
        }
        fn public_key(&self) -> Option<PublicKey> {
            None
        }
        fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
            let alg = self.key.public_key().algorithm().algorithm_id();
            CertRecord::new(alg, self.key.sign(message), self.chain.clone()).encode().map_err(SignerError::new)
        }
    }
    wsc_core::sign(module, &Unchecked { key, chain }).expect("sign")
}

/// Verifies a whole module: `Ok(signer description)` or `Err(reasons)`.
pub fn verify(module: &[u8], v: &CertVerifier) -> Result<String, String> {
    let vs: [&dyn RecordVerifier; 1] = [v];
    let report = wsc_core::verify_embedded(module, &Verification::new(&vs).total_len(Some(module.len() as u64)))
        .map_err(|e| wsc_core::Chain(&e).to_string())?;
    let reasons: Vec<String> = report.rejected.iter().map(|r| r.reason.clone()).collect();
    match report.single() {
        Ok(v) => Ok(v.signatures[0].evidence.description.clone().unwrap_or_default()),
        Err(e) => Err(format!("{}: {}", wsc_core::Chain(&e), reasons.join("; "))),
    }
}

/// Asserts a verification failure whose text contains `needle`.
pub fn assert_rejected(module: &[u8], v: &CertVerifier, needle: &str) {
    match verify(module, v) {
        Ok(s) => panic!("expected a rejection containing {needle:?}, but it verified as {s}"),
        Err(e) => assert!(e.contains(needle), "expected {needle:?} in {e:?}"),
    }
}

pub fn anchor(ca: &Ca) -> CertVerifier {
    CertVerifier::new([ca.root().der.clone()]).expect("verifier")
}

/// A wsc secret key as an rcgen signing key, for certificates that the
/// library refuses to make.
pub struct RcKey<'a> {
    key: &'a SecretKey,
    bits: Vec<u8>,
}

impl<'a> RcKey<'a> {
    pub fn new(key: &'a SecretKey) -> Self {
        let bits = key.public_key().public_bits();
        RcKey { key, bits }
    }
}

impl rcgen::PublicKeyData for RcKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.bits
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.key.public_key().algorithm() {
            KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
            _ => &rcgen::PKCS_ECDSA_P256_SHA256,
        }
    }
}

impl rcgen::SigningKey for RcKey<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let sig = self.key.sign(msg);
        Ok(if self.key.public_key().algorithm() == KeyAlgorithm::P256 {
            p256::ecdsa::Signature::from_slice(&sig).expect("r||s").to_der().as_bytes().to_vec()
        } else {
            sig
        })
    }
}

/// Parameters as the CA writes them for a subject with this common name.
pub fn params(cn: &str, start: SystemTime, days: u64) -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(rcgen::DnType::CommonName, rcgen::DnValue::Utf8String(cn.into()));
    let secs = start.duration_since(SystemTime::UNIX_EPOCH).expect("time").as_secs() as i64;
    p.not_before = time::OffsetDateTime::from_unix_timestamp(secs).expect("time");
    p.not_after = p.not_before + time::Duration::days(days as i64);
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&rand_serial()));
    p.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(rand_serial()[..8].to_vec());
    p.use_authority_key_identifier_extension = true;
    p
}

fn rand_serial() -> Vec<u8> {
    use rand_core::RngCore;
    let mut b = [0u8; 12];
    rand_core::OsRng.fill_bytes(&mut b);
    b[0] = (b[0] & 0x7f) | 0x40;
    b.to_vec()
}

/// Signs `params` for `subject` as `ca` (whose subject is `CN=<ca_cn>`).
pub fn issue_raw(ca: &Ca, ca_cn: &str, subject: &SecretKey, params: &rcgen::CertificateParams) -> Vec<u8> {
    let mut ip = rcgen::CertificateParams::default();
    ip.distinguished_name = rcgen::DistinguishedName::new();
    ip.distinguished_name.push(rcgen::DnType::CommonName, rcgen::DnValue::Utf8String(ca_cn.into()));
    ip.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(ca.certificate().subject_key_id.clone().expect("ski"));
    let issuer_key = RcKey::new(ca.secret_key());
    let issuer = rcgen::Issuer::new(ip, &issuer_key);
    params.signed_by(&RcKey::new(subject), &issuer).expect("rcgen").der().to_vec()
}

/// Rebuilds a signed module with one certificate-bound record carrying
/// `payload`, over the same hashes.
pub fn replace_record_payload(signed: &[u8], payload: &[u8]) -> Vec<u8> {
    #[derive(Debug)]
    struct Fixed(Vec<u8>);
    impl Signer for Fixed {
        fn algorithm(&self) -> AlgorithmId {
            CERT_BOUND
        }
        fn public_key(&self) -> Option<wsc_core::PublicKey> {
            None
        }
        fn try_sign(&self, _: &[u8]) -> Result<Vec<u8>, SignerError> {
            Ok(self.0.clone())
        }
    }
    let mut unsigned = Vec::new();
    wsc_core::detach(signed, &mut unsigned).expect("detach");
    wsc_core::sign(&unsigned, &Fixed(payload.to_vec())).expect("sign")
}
