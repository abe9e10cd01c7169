//! Certificate-bound records: signing, verifying, and each rule broken once.

mod common;

use std::time::{Duration, SystemTime};

use common::{
    ChipSigner, MODULE, anchor, assert_rejected, device_chain, key, root_and_intermediate, sign_with, verify,
};
use wsc_core::Verification;
use wsc_core::sigdata::AlgorithmId;
use wsc_core::{KeyAlgorithm, RecordVerifier, Signer, SignerError};
use wsc_pki::{
    CERT_BOUND, Ca, CaProfile, CertInfo, CertRecord, CertSigner, CertVerifier, DAY, DeviceProfile, PkiError,
};

#[test]
fn sign_and_verify_each_algorithm_mix() {
    for ca_alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::P256] {
        for dev_alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::P256] {
            let (root, inter) = root_and_intermediate(ca_alg);
            let dev = key(dev_alg);
            let chain = device_chain(&inter, &dev, "unit-1", &DeviceProfile::default());
            let signed = sign_with(MODULE, &dev, chain);
            let who = verify(&signed, &anchor(&root)).expect("verifies");
            assert!(who.contains("CN=unit-1"), "{who}");
            assert!(who.contains("urn:wsc:device:unit-1"), "{who}");
            assert!(who.contains("anchor CN=Test Root"), "{who}");
        }
    }
}

#[test]
fn a_hardware_like_signer_signs_through_its_certificate() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let chip = ChipSigner::new();
    let chain = device_chain(&inter, &chip, "chip-9", &DeviceProfile::default());
    let signed = sign_with(MODULE, &chip, chain);
    verify(&signed, &anchor(&root)).expect("verifies");
}

#[test]
fn the_record_is_self_describing() {
    let (_, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::Ed25519);
    let chain = device_chain(&inter, &dev, "d", &DeviceProfile::default());
    let signer = CertSigner::new(&dev, chain.clone()).expect("signer");
    assert_eq!(signer.algorithm(), CERT_BOUND);
    let sig = signer.try_sign(b"message").expect("sign");
    let rec = CertRecord::decode(&sig).expect("decode");
    assert_eq!(rec.inner_algorithm, AlgorithmId::ED25519);
    assert_eq!(rec.signature.len(), 64);
    assert_eq!(rec.chain, chain);
    assert_eq!(rec.encode().expect("encode"), sig);
    // Truncations, trailing bytes and a bad version are refused.
    for cut in [0, 1, 2, 5, sig.len() - 1] {
        assert!(matches!(CertRecord::decode(&sig[..cut]), Err(PkiError::Record(_))), "cut at {cut}");
    }
    let mut long = sig.clone();
    long.push(0);
    assert!(CertRecord::decode(&long).is_err());
    let mut v2 = sig.clone();
    v2[0] = 2;
    assert!(CertRecord::decode(&v2).is_err());
    // A malformed record fails on its own, as an invalid record.
    let v = CertVerifier::new([inter.root().der.clone()]).expect("verifier");
    let r = wsc_core::sigdata::SignatureRecord::new(None, CERT_BOUND, vec![1, 2, 3]);
    assert!(v.wants(&r));
    assert!(matches!(v.verify_record(b"m", &r), wsc_core::RecordOutcome::Invalid { .. }));
}

#[test]
fn rule_wrong_eku() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    let mut p = common::params("bad-eku", SystemTime::now(), 1);
    p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    p.is_ca = rcgen::IsCa::ExplicitNoCa;
    let leaf = common::issue_raw(&inter, "Test Issuing CA", &dev, &p);
    let signed = common::sign_unchecked(MODULE, &dev, vec![leaf, inter.certificate().der.clone()]);
    assert_rejected(&signed, &anchor(&root), "lacks codeSigning");
    // No EKU at all is refused as well: codeSigning is required on the leaf.
    p.extended_key_usages = Vec::new();
    let leaf = common::issue_raw(&inter, "Test Issuing CA", &dev, &p);
    let signed = common::sign_unchecked(MODULE, &dev, vec![leaf, inter.certificate().der.clone()]);
    assert_rejected(&signed, &anchor(&root), "lacks codeSigning");
}

#[test]
fn rule_no_digital_signature_key_usage() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    let mut p = common::params("bad-ku", SystemTime::now(), 1);
    p.key_usages = vec![rcgen::KeyUsagePurpose::KeyAgreement];
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    p.is_ca = rcgen::IsCa::ExplicitNoCa;
    let leaf = common::issue_raw(&inter, "Test Issuing CA", &dev, &p);
    let signed = common::sign_unchecked(MODULE, &dev, vec![leaf, inter.certificate().der.clone()]);
    assert_rejected(&signed, &anchor(&root), "digitalSignature");
}

#[test]
fn rule_expired() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::Ed25519);
    let dev = key(KeyAlgorithm::Ed25519);
    let chain = device_chain(&inter, &dev, "d", &DeviceProfile::default());
    let signed = sign_with(MODULE, &dev, chain);
    let later = SystemTime::now() + 2 * DAY;
    assert_rejected(&signed, &anchor(&root).at_time(later), "expired");
    // The same record verifies at a time inside the leaf's validity.
    verify(&signed, &anchor(&root).at_time(SystemTime::now() + DAY / 2)).expect("inside validity");
}

#[test]
fn rule_not_yet_valid() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    let tomorrow = DeviceProfile::default().starting(SystemTime::now() + DAY);
    let chain = device_chain(&inter, &dev, "d", &tomorrow);
    let signed = common::sign_unchecked(MODULE, &dev, chain);
    assert_rejected(&signed, &anchor(&root), "not valid yet");
}

#[test]
fn rule_unknown_anchor() {
    let (_, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let other_root = Ca::new_root(&CaProfile::root("Other Root", KeyAlgorithm::P256)).expect("root");
    let dev = key(KeyAlgorithm::P256);
    let signed = sign_with(MODULE, &dev, device_chain(&inter, &dev, "d", &DeviceProfile::default()));
    assert_rejected(&signed, &anchor(&other_root), "does not lead to a trusted anchor");
    // A root with the same name but another key is caught by the signature.
    let (same_name, _) = root_and_intermediate(KeyAlgorithm::P256);
    assert_rejected(&signed, &anchor(&same_name), "signature does not verify with its issuer's key");
    // Trusting the intermediate itself is a choice the caller may make.
    verify(&signed, &CertVerifier::new([inter.certificate().der.clone()]).expect("v")).expect("trusted intermediate");
}

#[test]
fn rule_path_length_of_the_anchor() {
    // A root with path length 0 may not have intermediates; the library
    // refuses to make one, so it is made with rcgen directly.
    let mut rp = CaProfile::root("Flat Root", KeyAlgorithm::P256);
    rp.path_len = Some(0);
    let root = Ca::new_root(&rp).expect("root");
    assert!(root.new_intermediate(&CaProfile::intermediate("I", KeyAlgorithm::P256)).is_err());
    let inter_key = key(KeyAlgorithm::P256);
    let mut p = common::params("Rogue Issuing CA", SystemTime::now(), 30);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let inter_der = common::issue_raw(&root, "Flat Root", &inter_key, &p);
    let pem = wsc_pki::chain_to_pem([inter_der.as_slice(), root.certificate().der.as_slice()]).expect("pem");
    let inter = Ca::from_pem(pem.as_bytes(), inter_key).expect("load");
    let dev = key(KeyAlgorithm::P256);
    let signed = sign_with(MODULE, &dev, device_chain(&inter, &dev, "d", &DeviceProfile::default()));
    assert_rejected(&signed, &anchor(&root), "trust anchor CN=Flat Root allows 0 intermediate(s)");
}

#[test]
fn rule_path_length_of_an_intermediate() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::Ed25519);
    // `inter` has path length 0; a CA below it breaks the rule.
    let sub_key = key(KeyAlgorithm::Ed25519);
    let mut p = common::params("Sub CA", SystemTime::now(), 30);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let sub_der = common::issue_raw(&inter, "Test Issuing CA", &sub_key, &p);
    let chain_pem = wsc_pki::chain_to_pem([
        sub_der.as_slice(),
        inter.certificate().der.as_slice(),
        root.certificate().der.as_slice(),
    ])
    .expect("pem");
    let sub = Ca::from_pem(chain_pem.as_bytes(), sub_key).expect("load");
    let dev = key(KeyAlgorithm::Ed25519);
    let chain = device_chain(&sub, &dev, "d", &DeviceProfile::default());
    assert_eq!(chain.len(), 3);
    let signed = sign_with(MODULE, &dev, chain);
    // The root allows one intermediate, this chain has two: either rule names it.
    assert_rejected(&signed, &anchor(&root), "path length exceeded");
    // Trusting `inter` itself leaves only its own path length 0 to break.
    let v = CertVerifier::new([inter.certificate().der.clone()]).expect("v");
    assert_rejected(&signed, &v, "path length exceeded");
}

#[test]
fn rule_ca_certificate_as_leaf() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let signed = common::sign_unchecked(MODULE, inter.secret_key(), vec![inter.certificate().der.clone()]);
    assert_rejected(&signed, &anchor(&root), "CA certificate is used as the leaf");
}

/// Signs with one key while presenting another key's certificate.
#[derive(Debug)]
struct Impostor<'a> {
    claims: &'a wsc_core::SecretKey,
    really: &'a wsc_core::SecretKey,
}

impl Signer for Impostor<'_> {
    fn algorithm(&self) -> AlgorithmId {
        self.claims.public_key().algorithm().algorithm_id()
    }
    fn public_key(&self) -> Option<wsc_core::PublicKey> {
        Some(self.claims.public_key())
    }
    fn try_sign(&self, m: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(self.really.sign(m))
    }
}

#[test]
fn rule_certificate_for_another_key() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    let other = key(KeyAlgorithm::P256);
    let chain = device_chain(&inter, &dev, "d", &DeviceProfile::default());
    // CertSigner checks the leaf against the signer's key.
    assert!(matches!(CertSigner::new(&other, chain.clone()), Err(PkiError::KeyMismatch)));
    // And refuses to sign when the signer lies about its key.
    let liar = CertSigner::new(Impostor { claims: &dev, really: &other }, chain.clone()).expect("claims match");
    assert!(liar.try_sign(b"m").is_err());
    // A record built by hand with another key's signature fails verification.
    let good = sign_with(MODULE, &dev, chain.clone());
    let msg_sig = other.sign(b"whatever");
    let forged_record = CertRecord::new(AlgorithmId::ECDSA_P256_SHA256, msg_sig, chain).encode().expect("encode");
    let forged = common::replace_record_payload(&good, &forged_record);
    assert_rejected(&forged, &anchor(&root), "does not verify with the leaf certificate's key");
}

#[test]
fn rule_revoked_serial() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    let chain = device_chain(&inter, &dev, "d", &DeviceProfile::default());
    let serial = CertInfo::parse(&chain[0]).expect("leaf").serial;
    let signed = sign_with(MODULE, &dev, chain);
    let now = SystemTime::now();
    let with_crl = |crl: &[u8]| {
        let mut v = anchor(&root);
        v.add_crl(crl).expect("crl");
        v
    };
    // A CRL of the issuing CA naming the leaf's serial, as DER and as PEM.
    let crl = inter.crl(std::slice::from_ref(&serial), now, now + 7 * DAY).expect("crl");
    assert_rejected(&signed, &with_crl(&crl), "revoked");
    let pem = wsc_pki::crl_to_pem(&crl).expect("pem");
    assert_rejected(&signed, &with_crl(pem.as_bytes()), "revoked");
    // A CRL naming other serials leaves it valid.
    let other = inter.crl(&[vec![0x41, 0x02]], now, now + 7 * DAY).expect("crl");
    verify(&signed, &with_crl(&other)).expect("not revoked");
    // The root revoking the intermediate revokes the chain.
    let root_crl = root.crl(std::slice::from_ref(&inter.certificate().serial), now, now + DAY).expect("crl");
    assert_rejected(&signed, &with_crl(&root_crl), "revoked");
    // A CRL past its nextUpdate fails, unless expiry is ignored.
    let old = inter.crl(&[], now - 3 * DAY, now - DAY).expect("crl");
    assert_rejected(&signed, &with_crl(&old), "expired");
    verify(&signed, &with_crl(&old).enforce_crl_expiry(false)).expect("expiry ignored");
    // Requiring CRLs fails when a CA on the path has none, and when none was given at all.
    assert_rejected(&signed, &with_crl(&other).require_crl(true), "CRLs are required");
    assert_rejected(&signed, &anchor(&root).require_crl(true), "CRLs are required");
}

#[test]
fn a_crl_signed_by_another_key_is_refused() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    let signed = sign_with(MODULE, &dev, device_chain(&inter, &dev, "d", &DeviceProfile::default()));
    // Same issuer name, different key: the signature check catches it.
    let fake_key = key(KeyAlgorithm::P256);
    let mut p = common::params("Test Issuing CA", SystemTime::now(), 30);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let fake_der = common::issue_raw(&root, "Test Root", &fake_key, &p);
    let pem = wsc_pki::chain_to_pem([fake_der.as_slice(), root.certificate().der.as_slice()]).expect("pem");
    let fake = Ca::from_pem(pem.as_bytes(), fake_key).expect("load");
    let now = SystemTime::now();
    let crl = fake.crl(&[], now, now + DAY).expect("crl");
    let mut v = anchor(&root);
    v.add_crl(&crl).expect("crl");
    assert_rejected(&signed, &v, "CRL's signature does not verify");
}

#[test]
fn rule_tampered_module() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::Ed25519);
    let dev = key(KeyAlgorithm::Ed25519);
    let signed = sign_with(MODULE, &dev, device_chain(&inter, &dev, "d", &DeviceProfile::default()));
    verify(&signed, &anchor(&root)).expect("intact");
    let mut tampered = signed.clone();
    let last = tampered.len() - 1;
    tampered[last - 1] ^= 0x01; // the type section's param count
    let err = verify(&tampered, &anchor(&root)).expect_err("tampered");
    assert!(err.contains("content") || err.contains("hash"), "{err}");
}

#[test]
fn vendor_and_integrator_both_sign_and_all_anchors_are_required() {
    let vendor = Ca::new_root(&CaProfile::root("Vendor Root", KeyAlgorithm::P256)).expect("vendor");
    let integrator = Ca::new_root(&CaProfile::root("Integrator Root", KeyAlgorithm::Ed25519)).expect("integrator");
    let vk = key(KeyAlgorithm::P256);
    let ik = ChipSigner::new();
    let vchain = device_chain(&vendor, &vk, "build-server", &DeviceProfile::default());
    let ichain = device_chain(&integrator, &ik, "line-3", &DeviceProfile::default());
    let by_vendor = sign_with(MODULE, &vk, vchain);
    let by_both = sign_with(&by_vendor, &ik, ichain);

    let anchors = [vendor.certificate().der.clone(), integrator.certificate().der.clone()];
    // One verifier per anchor: each says who signed under it. Whether both
    // must sign is a policy's rule (wsc-policy/tests/distinct_anchors.rs).
    let required =
        [CertVerifier::new([&anchors[0]]).expect("vendor"), CertVerifier::new([&anchors[1]]).expect("integrator")];
    let run = |module: &[u8]| {
        let vs: Vec<&dyn RecordVerifier> = required.iter().map(|v| v as &dyn RecordVerifier).collect();
        wsc_core::verify_embedded(module, &Verification::new(&vs).total_len(Some(module.len() as u64))).expect("report")
    };
    let report = run(&by_both);
    let who: Vec<String> = report
        .results
        .iter()
        .map(|r| r.as_ref().expect("ok").signatures[0].evidence.description.clone().expect("signer"))
        .collect();
    assert!(who[0].contains("Vendor Root") && who[0].contains("build-server"), "{who:?}");
    assert!(who[1].contains("Integrator Root") && who[1].contains("line-3"), "{who:?}");
    let report = run(&by_vendor);
    assert!(report.results[0].is_ok() && report.results[1].is_err(), "integrator missing");

    // "Any trusted signer": one verifier over both anchors accepts either.
    let any = CertVerifier::new(&anchors).expect("any");
    verify(&by_vendor, &any).expect("vendor alone is enough here");
}

#[test]
fn anchors_must_be_ca_certificates() {
    let (_, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    let chain = device_chain(&inter, &dev, "d", &DeviceProfile::default());
    assert!(matches!(CertVerifier::new([chain[0].clone()]), Err(PkiError::NotCa(_))));
    assert!(CertVerifier::new(Vec::<Vec<u8>>::new()).is_err());
}

#[test]
fn an_expired_anchor_fails() {
    let mut rp = CaProfile::root("Old Root", KeyAlgorithm::P256);
    rp.validity = 10 * DAY;
    let root = Ca::new_root(&rp).expect("root");
    // The CA cuts validity to its own; a leaf outliving the root is made with rcgen.
    let dev = key(KeyAlgorithm::P256);
    let mut p = common::params("long-lived", SystemTime::now(), 30);
    p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    p.is_ca = rcgen::IsCa::ExplicitNoCa;
    let leaf = common::issue_raw(&root, "Old Root", &dev, &p);
    let signed = sign_with(MODULE, &dev, vec![leaf]);
    verify(&signed, &anchor(&root)).expect("now");
    let later = SystemTime::now() + Duration::from_secs(20 * 86400);
    assert_rejected(&signed, &anchor(&root).at_time(later), "trust anchor CN=Old Root is not valid at");
}

/// Certificate-bound signers pass the signer conformance kit (Ed25519 and
/// P-256 leaves, a device-style signer too).
#[test]
fn cert_signers_pass_the_conformance_kit() {
    for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::P256] {
        let (root, inter) = root_and_intermediate(alg);
        let dev = key(alg);
        let chain = device_chain(&inter, &dev, "kit", &DeviceProfile::default());
        let signer = CertSigner::new(&dev, chain).expect("cert signer");
        let verifier = CertVerifier::new([root.certificate().der.clone()]).expect("verifier");
        wsc_core::conformance::check_signer(&signer, &verifier).unwrap_or_else(|f| panic!("{alg:?}: {f:?}"));
    }
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let chip = ChipSigner::new();
    let chain = device_chain(&inter, &chip, "chip", &DeviceProfile::default());
    let signer = CertSigner::new(chip, chain).expect("cert signer");
    let verifier = CertVerifier::new([root.certificate().der.clone()]).expect("verifier");
    wsc_core::conformance::check_signer(&signer, &verifier).unwrap_or_else(|f| panic!("chip: {f:?}"));
}
