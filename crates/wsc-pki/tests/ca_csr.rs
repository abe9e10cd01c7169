//! The CA and CSRs: certificate contents, save and load, key file modes,
//! CSRs from a non-file signer, and issuing exactly the CSR's key.

mod common;

use std::time::{Duration, SystemTime};

use common::{ChipSigner, key, root_and_intermediate};
use wsc_core::{KeyAlgorithm, Signer};
use wsc_pki::{Ca, CaProfile, CertInfo, Csr, DAY, DeviceProfile, PkiError, load_secret_key};

const CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";

#[test]
fn ca_certificates_have_constraints_and_key_usage() {
    for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::P256] {
        let (root, inter) = root_and_intermediate(alg);
        let r = root.certificate();
        assert!(r.is_self_issued());
        assert_eq!(r.basic_constraints, Some((true, Some(1))));
        let ku = r.key_usage.expect("root key usage");
        assert!(ku.key_cert_sign && ku.crl_sign && !ku.digital_signature);
        assert!(r.subject_key_id.is_some());
        let i = inter.certificate();
        assert_eq!(i.basic_constraints, Some((true, Some(0))));
        assert!(i.key_usage.expect("ku").key_cert_sign);
        assert_eq!(i.issuer_der, r.subject_der);
        assert_eq!(inter.chain().len(), 2);
        assert_eq!(inter.root().der, r.der);
        assert_eq!(i.key().expect("key"), inter.secret_key().public_key());
    }
}

#[test]
fn device_certificate_profile() {
    let (_, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::Ed25519);
    let before = SystemTime::now() - Duration::from_secs(1);
    let chain = common::device_chain(&inter, &dev, "sensor-42", &DeviceProfile::default());
    assert_eq!(chain.len(), 2, "leaf and intermediate, no root");
    let leaf = CertInfo::parse(&chain[0]).expect("leaf");
    assert_eq!(leaf.uris, vec!["urn:wsc:device:sensor-42".to_string()]);
    assert_eq!(leaf.subject, "CN=sensor-42");
    assert_eq!(leaf.basic_constraints, Some((false, None)));
    let ku = leaf.key_usage.expect("leaf key usage");
    assert!(ku.digital_signature && !ku.key_cert_sign);
    assert_eq!(leaf.extended_key_usage, Some(vec![CODE_SIGNING.to_string()]));
    assert!(leaf.not_before >= before);
    assert_eq!(leaf.not_after.duration_since(leaf.not_before).expect("order"), DAY);
    assert_eq!(leaf.key().expect("key"), dev.public_key());
    assert_eq!(chain[1], inter.certificate().der);
}

#[test]
fn issued_certificate_carries_exactly_the_csr_key() {
    let (_, inter) = root_and_intermediate(KeyAlgorithm::Ed25519);
    let chip = ChipSigner::new();
    let csr = Csr::create(&chip, "urn:example:fleet:unit-7").expect("csr from a non-file signer");
    assert_eq!(csr.public_key(), &chip.public_key().expect("pk"));
    assert_eq!(csr.uris(), ["urn:example:fleet:unit-7".to_string()]);
    let chain = inter.issue(&csr, &DeviceProfile::default().valid_for(3 * DAY)).expect("issue");
    let leaf = CertInfo::parse(&chain[0]).expect("leaf");
    assert_eq!(leaf.spki_der, csr.spki_der(), "SPKI of the certificate equals the CSR's");
    assert_eq!(leaf.uris, csr.uris());
    assert_eq!(leaf.not_after.duration_since(leaf.not_before).expect("order"), 3 * DAY);
    // The CSR round-trips through PEM and is checked again on reading.
    let again = Csr::from_pem(csr.to_pem().expect("pem").as_bytes()).expect("reread");
    assert_eq!(again.der(), csr.der());
}

#[test]
fn csr_with_a_bad_signature_is_refused() {
    let dev = key(KeyAlgorithm::P256);
    let csr = Csr::create(&dev, "d1").expect("csr");
    let mut der = csr.der().to_vec();
    // The subject's last byte sits well inside the signed part.
    let pos = der.windows(2).position(|w| w == b"d1").expect("subject bytes");
    der[pos + 1] = b'2';
    assert!(matches!(Csr::from_der(&der), Err(PkiError::CsrSignature)));
}

#[test]
fn device_id_rules() {
    let (_, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    let csr = Csr::create(&dev, "unit-1").expect("csr");
    // The issuer may name the device; it must agree with the CSR.
    let err = inter.issue(&csr, &DeviceProfile::for_device("unit-2")).expect_err("mismatch");
    assert!(matches!(err, PkiError::DeviceIdMismatch { .. }), "{err}");
    inter.issue(&csr, &DeviceProfile::for_device("unit-1")).expect("same id");
    for bad in ["", "has space", "a/b", "é"] {
        assert!(wsc_pki::device_uri(bad).is_err(), "{bad:?}");
    }
    assert_eq!(wsc_pki::device_uri("x-1.2_3~").expect("ok"), "urn:wsc:device:x-1.2_3~");
    assert_eq!(wsc_pki::device_uri("spiffe://fleet/dev/9").expect("ok"), "spiffe://fleet/dev/9");
}

#[test]
fn save_and_load_a_ca() {
    let (_, inter) = root_and_intermediate(KeyAlgorithm::Ed25519);
    let chain_pem = inter.chain_pem().expect("pem");
    assert_eq!(chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
    let key_pem = inter.key_pem().expect("key pem");
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let sk = load_secret_key(key_pem.as_bytes(), Some(0o600), false).expect("0600 is fine");
    let loaded = Ca::from_pem(chain_pem.as_bytes(), sk).expect("load");
    assert_eq!(loaded.certificate().der, inter.certificate().der);
    // The loaded CA issues certificates that name it exactly.
    let chain = common::device_chain(&loaded, &key(KeyAlgorithm::P256), "d", &DeviceProfile::default());
    assert_eq!(CertInfo::parse(&chain[0]).expect("leaf").issuer_der, inter.certificate().subject_der);
    // Another key does not load with this certificate.
    let other = key(KeyAlgorithm::Ed25519);
    assert!(matches!(Ca::from_pem(chain_pem.as_bytes(), other), Err(PkiError::KeyMismatch)));
}

#[test]
fn secret_key_files_readable_by_others_are_refused_unless_allowed() {
    let pem = key(KeyAlgorithm::P256).to_pem().expect("pem");
    for mode in [0o640, 0o604, 0o644, 0o660] {
        let err = load_secret_key(pem.as_bytes(), Some(mode), false).expect_err("exposed");
        assert!(matches!(err, PkiError::KeyFileExposed { .. }), "{err}");
        load_secret_key(pem.as_bytes(), Some(mode), true).expect("explicitly allowed");
    }
    load_secret_key(pem.as_bytes(), Some(0o400), false).expect("owner only");
    load_secret_key(pem.as_bytes(), None, false).expect("mode unknown");
}

#[test]
fn a_device_certificate_cannot_act_as_a_ca() {
    let (_, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    let chain = common::device_chain(&inter, &dev, "d", &DeviceProfile::default());
    let pem = wsc_pki::chain_to_pem(chain.iter().map(Vec::as_slice)).expect("pem");
    assert!(matches!(Ca::from_pem(pem.as_bytes(), dev), Err(PkiError::NotCa(_))));
}

#[test]
fn path_length_is_enforced_when_issuing() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::Ed25519);
    let err = inter.new_intermediate(&CaProfile::intermediate("Sub", KeyAlgorithm::Ed25519)).expect_err("pathlen 0");
    assert!(wsc_core::Chain(&err).to_string().contains("path length 0"), "{err}");
    let mut p = CaProfile::intermediate("Wide", KeyAlgorithm::Ed25519);
    p.path_len = Some(1);
    assert!(root.new_intermediate(&p).is_err(), "not below the root's 1");
}

#[test]
fn validity_is_cut_to_the_issuer_and_refused_outside_it() {
    let mut p = CaProfile::root("Short Root", KeyAlgorithm::P256);
    p.validity = 2 * DAY;
    let root = Ca::new_root(&p).expect("root");
    let dev = key(KeyAlgorithm::P256);
    let csr = Csr::create(&dev, "d").expect("csr");
    let chain = root.issue(&csr, &DeviceProfile::default().valid_for(30 * DAY)).expect("issue");
    let leaf = CertInfo::parse(&chain[0]).expect("leaf");
    assert!(leaf.not_after <= root.certificate().not_after);
    assert_eq!(chain.len(), 1, "the root is left out");
    let late = DeviceProfile::default().starting(SystemTime::now() + 3 * DAY);
    assert!(matches!(root.issue(&csr, &late), Err(PkiError::Issue(_))));
}

#[test]
fn crl_lists_serials() {
    let (_, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let now = SystemTime::now();
    let serial = wsc_pki::parse_serial("4a:0b:7c").expect("hex");
    assert_eq!(serial, vec![0x4a, 0x0b, 0x7c]);
    let crl = inter.crl(&[serial], now, now + 7 * DAY).expect("crl");
    let pem = wsc_pki::crl_to_pem(&crl).expect("pem");
    assert!(pem.starts_with("-----BEGIN X509 CRL-----"));
    assert!(wsc_pki::parse_serial("abc").is_err());
}

/// A P-256 signer that always returns the high-S form of its signature,
/// as half of all ECDSA implementations' signatures are.
#[derive(Debug)]
struct HighS(p256::ecdsa::SigningKey);

impl Signer for HighS {
    fn algorithm(&self) -> wsc_core::sigdata::AlgorithmId {
        wsc_core::sigdata::AlgorithmId::ECDSA_P256_SHA256
    }
    fn public_key(&self) -> Option<wsc_core::PublicKey> {
        Some(wsc_core::PublicKey::from_sec1(self.0.verifying_key().to_encoded_point(false).as_bytes()).expect("point"))
    }
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, wsc_core::SignerError> {
        use p256::ecdsa::signature::Signer as _;
        let s: p256::ecdsa::Signature = self.0.sign(message);
        let low = s.normalize_s().unwrap_or(s);
        let (r, s) = low.split_scalars();
        let high = p256::ecdsa::Signature::from_scalars(r, -*s).map_err(wsc_core::SignerError::new)?;
        Ok(high.to_bytes().to_vec())
    }
}

#[test]
fn high_s_p256_signatures_are_accepted_in_csrs() {
    let chip = HighS(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng));
    let csr = Csr::create(&chip, "high-s").expect("a high-S CSR signature verifies");
    Csr::from_der(csr.der()).expect("and reads back");
}

/// Fail closed: a CA named like one above it made an ambiguous path, and
/// its certificate looked self-issued, so issuing left it out of device
/// chains. Such a CA is refused.
#[test]
fn an_intermediate_named_like_a_ca_above_it_is_refused() {
    let mut rp = CaProfile::root("Deep Root", KeyAlgorithm::Ed25519);
    rp.path_len = Some(2);
    let root = Ca::new_root(&rp).expect("root");
    let mut mp = CaProfile::intermediate("Mid", KeyAlgorithm::Ed25519);
    mp.path_len = Some(1);
    let mid = root.new_intermediate(&mp).expect("mid");
    for name in ["Mid", "Deep Root"] {
        let err = mid.new_intermediate(&CaProfile::intermediate(name, KeyAlgorithm::Ed25519)).expect_err("same name");
        assert!(wsc_core::Chain(&err).to_string().contains("same name as CN="), "{err}");
    }
    // Below two CAs, a device chain carries both, without the root.
    let line = mid.new_intermediate(&CaProfile::intermediate("Line", KeyAlgorithm::Ed25519)).expect("line");
    let dev = common::key(KeyAlgorithm::Ed25519);
    let chain = line.issue(&Csr::create(&dev, "d").expect("csr"), &DeviceProfile::default()).expect("issue");
    assert_eq!(chain.len(), 3);
    assert_eq!(chain[2], mid.certificate().der);
}
