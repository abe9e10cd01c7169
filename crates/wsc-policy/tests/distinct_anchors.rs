//! "Every one of these anchors" (`all` over one x509 principal per anchor,
//! what `wsc verify --require-all-anchors` builds): each anchor needs a
//! signer of its own. One record whose chain leads to two anchors, one
//! record under an anchor and its own intermediate, and two records of one
//! key certified by two CAs are each one signer, and meet one anchor only.

use std::time::SystemTime;

use wsc_core::{KeyAlgorithm, SecretKey};
use wsc_pki::{Ca, CaProfile, CertSigner, Csr, DeviceProfile};
use wsc_policy::{Decision, Format, MemoryFiles, Policy, ReasonCode, Target};

const MODULE: &[u8] = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0";

fn key() -> SecretKey {
    SecretKey::generate(KeyAlgorithm::P256, &mut rand_core::OsRng)
}

/// A copy of `key`, so that two CAs can certify the same key.
fn copy(key: &SecretKey) -> SecretKey {
    SecretKey::from_any(key.to_pem().expect("pem").as_bytes()).expect("key")
}

fn root(name: &str) -> Ca {
    Ca::new_root(&CaProfile::root(name, KeyAlgorithm::P256)).expect("root")
}

fn device_chain(ca: &Ca, signer: &SecretKey, id: &str) -> Vec<Vec<u8>> {
    ca.issue(&Csr::create(signer, id).expect("csr"), &DeviceProfile::default()).expect("issue")
}

fn sign_with(module: &[u8], key: &SecretKey, chain: Vec<Vec<u8>>) -> Vec<u8> {
    wsc_core::sign(module, &CertSigner::new(copy(key), chain).expect("cert signer")).expect("sign")
}

/// `all` over one principal per anchor, in the order given.
fn all_of(anchors: &[&Ca]) -> Policy {
    let mut files = MemoryFiles::new();
    let mut text = String::from("schema = \"wsc-policy/v1\"\n");
    let mut names = Vec::new();
    for (i, ca) in anchors.iter().enumerate() {
        let file = format!("anchor{i}.pem");
        files.insert(&file, ca.certificate_pem().expect("pem"));
        text.push_str(&format!("[principals.anchor-{i}]\nkind = \"x509\"\nanchors = [\"{file}\"]\n"));
        names.push(format!("\"anchor-{i}\""));
    }
    text.push_str(&format!("[rules.every]\nall = [{}]\n[default]\nrule = \"every\"\n", names.join(", ")));
    wsc_policy::parse(text.as_bytes(), Format::Toml, &files).expect("policy")
}

fn decide(policy: &Policy, module: &[u8]) -> wsc_policy::Verdict {
    policy.evaluate(module, Some(module.len() as u64), &Target::unnamed(), SystemTime::now()).expect("evaluate")
}

fn assert_one_signer_short(policy: &Policy, module: &[u8]) {
    let v = decide(policy, module);
    assert_eq!(v.decision(), Decision::Rejected, "{:?}", v.reasons());
    assert!(v.has_reason(ReasonCode::RuleUnsatisfied), "{:?}", v.reasons());
    // Each anchor alone accepts the record: it is the distinct-signer rule that refuses.
    let rows = v.matrix();
    assert!(rows.iter().all(|r| r.reasons.iter().all(|x| x.code == ReasonCode::RuleUnsatisfied)), "{rows:?}");
}

#[test]
fn one_cross_signed_record_cannot_meet_two_anchors() {
    let (r1, r2) = (root("Root One"), root("Root Two"));
    let shared = key();
    let profile = CaProfile::intermediate("Shared CA", KeyAlgorithm::P256);
    let under_r1 = r1.intermediate_with_key(&profile, copy(&shared)).expect("i@r1");
    let under_r2 = r2.intermediate_with_key(&profile, copy(&shared)).expect("i@r2");
    let a = key();
    let mut chain = device_chain(&under_r1, &a, "a");
    chain.push(under_r2.certificate().der.clone());
    let signed = sign_with(MODULE, &a, chain);
    // Each anchor alone accepts the record.
    for one in [&r1, &r2] {
        assert_eq!(decide(&all_of(&[one]), &signed).decision(), Decision::Accepted);
    }
    assert_one_signer_short(&all_of(&[&r1, &r2]), &signed);

    // A second signer under Root Two meets the rule, whichever anchor is
    // listed first (the matching moves the first signer).
    let b = key();
    let both = sign_with(&signed, &b, device_chain(&under_r2, &b, "b"));
    for order in [[&r1, &r2], [&r2, &r1]] {
        let v = decide(&all_of(&order), &both);
        assert_eq!(v.decision(), Decision::Accepted, "{:?}", v.reasons());
        let slots = v.satisfied().expect("tree").slots();
        assert_eq!(slots.len(), 2);
        assert_ne!(slots[0].signer, slots[1].signer);
    }
}

#[test]
fn one_record_under_an_anchor_and_its_intermediate_is_one_signer() {
    let r = root("Test Root");
    let inter = r.new_intermediate(&CaProfile::intermediate("Test Issuing CA", KeyAlgorithm::P256)).expect("int");
    let dev = key();
    let signed = sign_with(MODULE, &dev, device_chain(&inter, &dev, "d"));
    assert_one_signer_short(&all_of(&[&r, &inter]), &signed);
}

#[test]
fn two_records_of_one_key_under_two_anchors_are_one_signer() {
    let (vendor, integrator) = (root("Vendor Root"), root("Integrator Root"));
    let dev = key();
    let by_vendor = sign_with(MODULE, &dev, device_chain(&vendor, &dev, "d"));
    let twice = sign_with(&by_vendor, &dev, device_chain(&integrator, &dev, "d"));
    let policy = all_of(&[&vendor, &integrator]);
    assert_one_signer_short(&policy, &twice);
    // Two different keys, one per anchor, pass.
    let other = key();
    let two = sign_with(&by_vendor, &other, device_chain(&integrator, &other, "o"));
    assert_eq!(decide(&policy, &two).decision(), Decision::Accepted);
}
