//! Regression tests for the "fail closed" issue, one section per defect
//! class: an anchor file that trusted every certificate in it (the
//! all-anchors policy met by one record: `wsc-policy/tests/distinct_anchors.rs`),
//! path-building amplification, and
//! a signer that wrote records no verifier could accept.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::worst;
use common::{MODULE, assert_rejected, device_chain, key, root_and_intermediate, sign_with, verify};
use wsc_core::Verification;
use wsc_core::sigdata::{AlgorithmId, SignatureData, signed_message};
use wsc_core::{DEFAULT_MAX_SIGNATURE_CHECKS, KeyAlgorithm, RecordVerifier, Report, SecretKey};
use wsc_pki::{
    Ca, CaProfile, CertInfo, CertRecord, CertSigner, CertVerifier, DEFAULT_CHAIN_BUDGET, DeviceProfile, LeafError,
    MAX_INTERMEDIATES, MAX_RECORD_CHAIN_COST, PkiError, SIGNATURE_COST, anchor_from_pem, check_leaf,
};

fn run(module: &[u8], verifiers: &[CertVerifier]) -> Report {
    let vs: Vec<&dyn RecordVerifier> = verifiers.iter().map(|v| v as &dyn RecordVerifier).collect();
    wsc_core::verify_embedded(module, &Verification::new(&vs).total_len(Some(module.len() as u64))).expect("report")
}

// Defect class: an anchor file trusted every certificate in it.

/// A chain file (intermediate, root) given as the anchor would trust the
/// root too, and so every sibling intermediate: refused with the count.
#[test]
fn anchor_file_trusting_every_certificate_is_refused() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::Ed25519);
    let chain_pem = inter.chain_pem().expect("pem");
    assert!(matches!(CertVerifier::from_pem(chain_pem.as_bytes()), Err(PkiError::AnchorCount { count: 2 })));
    let err = anchor_from_pem(chain_pem.as_bytes()).expect_err("two certificates");
    assert!(wsc_core::Chain(&err).to_string().contains("holds 2 certificates"), "{err}");
    // The intermediate alone is a valid anchor, and so is the root's file.
    assert_eq!(
        anchor_from_pem(inter.certificate_pem().expect("pem").as_bytes()).expect("one"),
        inter.certificate().der
    );
    CertVerifier::from_pem(root.chain_pem().expect("pem").as_bytes()).expect("root alone");

    // With the intermediate alone as anchor, a sibling's device fails.
    let sibling = root.new_intermediate(&CaProfile::intermediate("Sibling CA", KeyAlgorithm::Ed25519)).expect("sib");
    let dev = key(KeyAlgorithm::Ed25519);
    let signed = sign_with(MODULE, &dev, device_chain(&sibling, &dev, "s", &DeviceProfile::default()));
    let only_inter = CertVerifier::from_pem(inter.certificate_pem().expect("pem").as_bytes()).expect("v");
    assert_rejected(&signed, &only_inter, "does not lead to a trusted anchor");
    verify(&signed, &CertVerifier::from_pem(root.certificate_pem().expect("pem").as_bytes()).expect("v"))
        .expect("the root trusts both");
}

// Defect class: path-building amplification.

/// The worst case the size limits allow: 1024 records (the check cap),
/// each a leaf plus 7 same-subject CA certificates issuing each other in a
/// loop. Before the budget this cost about 30 s of CPU; now each record's
/// search is counted before webpki runs and refused with a typed error.
#[test]
fn path_search_amplification_is_refused_by_the_budget() {
    let crafted = worst::crafted(MAX_INTERMEDIATES, DEFAULT_MAX_SIGNATURE_CHECKS);
    assert!(crafted.module.len() < wsc_core::sigdata::MAX_SIGNATURE_DATA);
    let verifier = CertVerifier::new([crafted.anchor.clone()]).expect("v");
    let started = Instant::now();
    let report = run(&crafted.module, std::slice::from_ref(&verifier));
    eprintln!("1024 looping records refused in {:?}", started.elapsed());
    assert!(!report.any_verified());
    assert_eq!(report.rejected.len(), DEFAULT_MAX_SIGNATURE_CHECKS);
    // Each record is refused by its own limit until the total is spent.
    let per_record = (DEFAULT_CHAIN_BUDGET / MAX_RECORD_CHAIN_COST) as usize;
    for (i, r) in report.rejected.iter().enumerate() {
        let want = if i < per_record { "units one record may use" } else { "budget of 524288 units is spent" };
        assert!(r.reason.contains(want), "record {i}: {}", r.reason);
    }
    assert_eq!(verifier.chain_budget().remaining(), 0);

    // The typed errors, from one record checked again and again.
    let (chain, leaf_key) = worst::loop_chain(MAX_INTERMEDIATES);
    let message = signed_message(&wsc_core::content_hashes(MODULE).expect("hashes"));
    let payload = CertRecord::new(AlgorithmId::ED25519, leaf_key.sign(&message), chain).encode().expect("record");
    let fresh = CertVerifier::new([crafted.anchor.clone()]).expect("v");
    for i in 0..per_record {
        let e = fresh.check(&message, &payload).expect_err("refused");
        assert!(matches!(e, PkiError::ChainTooComplex { limit: MAX_RECORD_CHAIN_COST }), "record {i}: {e}");
    }
    let e = fresh.check(&message, &payload).expect_err("refused");
    assert!(matches!(e, PkiError::ChainBudgetExhausted { budget: DEFAULT_CHAIN_BUDGET }), "{e}");
    assert!(e.is_verification_failure());
    // A new verification starts with a full budget.
    fresh.reset();
    assert!(matches!(fresh.check(&message, &payload), Err(PkiError::ChainTooComplex { .. })));
}

/// Loops of 5 stay under the per-record limit and reach webpki; the total
/// budget then stops the verification after 268 of them (1956 units each).
#[test]
fn path_search_under_the_record_limit_is_stopped_by_the_total_budget() {
    let (chain, leaf_key) = worst::loop_chain(5);
    let (module, _) = worst::module_with(&chain, &leaf_key, DEFAULT_MAX_SIGNATURE_CHECKS);
    let root = Ca::new_root(&CaProfile::root("Budget Root", KeyAlgorithm::Ed25519)).expect("root");
    let verifier = CertVerifier::new([root.certificate().der.clone()]).expect("v");
    let report = run(&module, std::slice::from_ref(&verifier));
    let searched = (DEFAULT_CHAIN_BUDGET / 1956) as usize;
    for (i, r) in report.rejected.iter().enumerate() {
        let want = if i < searched { "does not lead to a trusted anchor" } else { "units is spent" };
        assert!(r.reason.contains(want), "record {i}: {}", r.reason);
    }
    assert_eq!(report.rejected.len(), DEFAULT_MAX_SIGNATURE_CHECKS);
}

/// Ordinary records (root, intermediate, leaf) cost 4 units of search and
/// 2 signatures each, so 1024 of them (the most one verification checks)
/// use about a quarter of the budget: the budget never refuses them.
#[test]
fn path_search_budget_leaves_room_for_1024_ordinary_records() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::Ed25519);
    let dev = key(KeyAlgorithm::Ed25519);
    let chain = device_chain(&inter, &dev, "d", &DeviceProfile::default());
    let records = 256;
    let (module, _) = worst::module_with(&chain, &dev, records);
    let verifier = CertVerifier::new([root.certificate().der.clone()]).expect("v");
    let report = run(&module, std::slice::from_ref(&verifier));
    assert!(report.rejected.is_empty(), "{:?}", report.rejected.first());
    assert_eq!(report.results[0].as_ref().expect("verified").signatures.len(), records);
    let per_record = 4 + 2 * SIGNATURE_COST;
    assert_eq!(DEFAULT_CHAIN_BUDGET - verifier.chain_budget().remaining(), records as u64 * per_record);
    assert!(per_record * DEFAULT_MAX_SIGNATURE_CHECKS as u64 <= DEFAULT_CHAIN_BUDGET / 2);
}

/// Raw record bytes with `count` copies of `cert` after a 64-byte signature.
fn raw_record(count: u8, cert: &[u8]) -> Vec<u8> {
    let mut out = vec![0x01, 0x01, 64];
    out.extend_from_slice(&[0; 64]);
    out.push(count);
    for _ in 0..count {
        let len = u16::try_from(cert.len()).expect("small");
        out.extend_from_slice(&[(len & 0x7f) as u8 | 0x80, (len >> 7) as u8]);
        out.extend_from_slice(cert);
    }
    out
}

/// A record with more CA certificates than allowed is refused at decode,
/// before any certificate is parsed, with a typed error; the report names
/// the record (set and index).
#[test]
fn path_search_intermediates_are_capped_per_record() {
    let (chain, _) = worst::loop_chain(1);
    let too_many = raw_record(MAX_INTERMEDIATES as u8 + 2, &chain[1]);
    let e = CertRecord::decode(&too_many).expect_err("too many");
    assert!(matches!(e, PkiError::TooManyIntermediates { count: 8, max: 7 }), "{e}");
    assert!(CertRecord::decode(&raw_record(MAX_INTERMEDIATES as u8 + 1, &chain[1])).is_ok());
    let crafted = worst::crafted(1, 1);
    let module = common::replace_record_payload(&crafted.module, &too_many);
    let verifier = CertVerifier::new([crafted.anchor]).expect("v");
    let report = run(&module, std::slice::from_ref(&verifier));
    let r = &report.rejected[0];
    assert_eq!((r.set, r.record), (0, 0));
    assert!(r.reason.contains("8 CA certificates after its leaf; at most 7"), "{}", r.reason);
}

// Defect class: `wsc sign --cert` wrote records that could never verify.

/// A leaf made with rcgen under `inter`, from `edit`ed device parameters.
fn leaf(
    inter: &Ca,
    dev: &SecretKey,
    start: SystemTime,
    days: u64,
    edit: impl Fn(&mut rcgen::CertificateParams),
) -> Vec<u8> {
    let mut p = common::params("odd-leaf", start, days);
    p.is_ca = rcgen::IsCa::ExplicitNoCa;
    p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    edit(&mut p);
    common::issue_raw(inter, "Test Issuing CA", dev, &p)
}

/// The signer refuses `chain` with `want`, and the verifier refuses a
/// record of it (written without the signer's check) with the same reason:
/// one check, shared.
fn refused_by_both(root: &Ca, dev: &SecretKey, chain: Vec<Vec<u8>>, want: fn(&LeafError) -> bool) {
    let signer_err = CertSigner::new(dev, chain.clone()).expect_err("the signer refuses");
    let PkiError::Leaf { reason, .. } = &signer_err else { panic!("not a leaf error: {signer_err}") };
    assert!(want(reason), "{reason:?}");
    let signed = common::sign_unchecked(MODULE, dev, chain);
    let sigdata = wsc_core::detach(&signed[..], &mut std::io::sink()).expect("detach");
    let data = SignatureData::decode(&sigdata, 0).expect("data");
    let (_, set) = data.valid_sets().next().expect("set");
    let record = set.records[0].parsed.as_ref().expect("record");
    let v = CertVerifier::new([root.certificate().der.clone()]).expect("v");
    match v.check(&set.message(), &record.signature) {
        Err(PkiError::Leaf { reason: verifier_reason, .. }) => {
            assert_eq!(std::mem::discriminant(&verifier_reason), std::mem::discriminant(reason))
        }
        other => panic!("the verifier said {other:?}"),
    }
}

#[test]
fn signing_time_check_refuses_a_ca_certificate_as_leaf() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let chain = vec![inter.certificate().der.clone()];
    refused_by_both(&root, inter.secret_key(), chain, |r| matches!(r, LeafError::Ca));
}

#[test]
fn signing_time_check_refuses_a_leaf_without_code_signing() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    for eku in [vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth], Vec::new()] {
        let l = leaf(&inter, &dev, SystemTime::now(), 1, |p| p.extended_key_usages = eku.clone());
        let chain = vec![l, inter.certificate().der.clone()];
        refused_by_both(&root, &dev, chain, |r| matches!(r, LeafError::NoCodeSigning));
    }
}

#[test]
fn signing_time_check_refuses_a_leaf_without_digital_signature() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::Ed25519);
    let dev = key(KeyAlgorithm::Ed25519);
    for ku in [vec![rcgen::KeyUsagePurpose::KeyAgreement], Vec::new()] {
        let l = leaf(&inter, &dev, SystemTime::now(), 1, |p| p.key_usages = ku.clone());
        let chain = vec![l, inter.certificate().der.clone()];
        refused_by_both(&root, &dev, chain, |r| matches!(r, LeafError::NoDigitalSignature));
    }
}

#[test]
fn signing_time_check_refuses_an_expired_leaf() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    let l = leaf(&inter, &dev, SystemTime::now() - Duration::from_secs(3 * 86_400), 1, |_| {});
    let chain = vec![l, inter.certificate().der.clone()];
    refused_by_both(&root, &dev, chain, |r| matches!(r, LeafError::Expired { .. }));
}

#[test]
fn signing_time_check_refuses_a_leaf_not_yet_valid() {
    let (root, inter) = root_and_intermediate(KeyAlgorithm::Ed25519);
    let dev = key(KeyAlgorithm::Ed25519);
    let tomorrow = DeviceProfile::default().starting(SystemTime::now() + Duration::from_secs(86_400));
    let chain = device_chain(&inter, &dev, "d", &tomorrow);
    refused_by_both(&root, &dev, chain, |r| matches!(r, LeafError::NotYetValid { .. }));
}

#[test]
fn signing_time_check_refuses_a_leaf_for_another_key() {
    let (_, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    let chain = device_chain(&inter, &dev, "d", &DeviceProfile::default());
    let other = key(KeyAlgorithm::P256);
    assert!(matches!(CertSigner::new(&other, chain.clone()), Err(PkiError::KeyMismatch)));
    // A good leaf passes the shared check and signs.
    check_leaf(&CertInfo::parse(&chain[0]).expect("leaf"), SystemTime::now()).expect("usable");
    CertSigner::new(&dev, chain).expect("signer");
}
