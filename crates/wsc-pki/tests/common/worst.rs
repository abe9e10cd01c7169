//! The costliest certificate-bound input the size limits allow, for the
//! path-building budget test and `cargo xtask bench --pki-worst`.
//!
//! Each record is a valid leaf plus `intermediates` CA certificates that
//! all have one subject and distinct keys, and issue each other in a
//! loop: a path search from the leaf may try every ordering of them. The
//! verifier's anchor is an unrelated root, so no path ever succeeds.
//! With 7 intermediates (the most a record carries) and 1024 records (the
//! default cap on signature checks), the signature data is about 2.5 MiB,
//! under the 4 MiB limit.

use std::time::{Duration, SystemTime};

use wsc_core::sigdata::{Hash, MAX_RECORDS, SignatureData, SignatureRecord, signed_message};
use wsc_core::{KeyAlgorithm, SecretKey};
use wsc_pki::{CERT_BOUND, Ca, CaProfile, CertRecord};

use super::{MODULE, RcKey, key};

/// The common subject of the looping intermediates.
pub const LOOP_CA: &str = "Loop CA";

/// A crafted module and the anchor to verify it against.
#[derive(Debug)]
pub struct Crafted {
    /// The signed module.
    pub module: Vec<u8>,
    /// The verifier's trust anchor (DER), unrelated to the records.
    pub anchor: Vec<u8>,
    /// The anchor's CA, to issue legitimate chains under it.
    pub root: Ca,
    /// Bytes of one record's payload.
    pub record_len: usize,
}

fn ca_params(cn: &str) -> rcgen::CertificateParams {
    let mut p = super::params(cn, SystemTime::now() - Duration::from_secs(3600), 30);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    p
}

/// Signs `params` for `subject` by `issuer_key`, naming `CN=<issuer_cn>` as issuer.
fn signed(params: &rcgen::CertificateParams, subject: &SecretKey, issuer_cn: &str, issuer_key: &SecretKey) -> Vec<u8> {
    let mut ip = rcgen::CertificateParams::default();
    ip.distinguished_name = rcgen::DistinguishedName::new();
    ip.distinguished_name.push(rcgen::DnType::CommonName, rcgen::DnValue::Utf8String(issuer_cn.into()));
    let ik = RcKey::new(issuer_key);
    let issuer = rcgen::Issuer::new(ip, &ik);
    params.signed_by(&RcKey::new(subject), &issuer).expect("rcgen").der().to_vec()
}

/// A leaf (`CN=loop-device`, codeSigning, digitalSignature) issued by
/// `CN=Loop CA`, then `intermediates` looping CA certificates; returns
/// the chain and the leaf key.
pub fn loop_chain(intermediates: usize) -> (Vec<Vec<u8>>, SecretKey) {
    loop_chain_named(LOOP_CA, intermediates)
}

/// As [`loop_chain`], with the loop CAs named `CN=<name>`: named like the
/// verifier's anchor, every step of the search also tries a signature.
pub fn loop_chain_named(name: &str, intermediates: usize) -> (Vec<Vec<u8>>, SecretKey) {
    let keys: Vec<SecretKey> = (0..intermediates.max(1)).map(|_| key(KeyAlgorithm::Ed25519)).collect();
    let leaf_key = key(KeyAlgorithm::Ed25519);
    let mut leaf = super::params("loop-device", SystemTime::now() - Duration::from_secs(3600), 30);
    leaf.is_ca = rcgen::IsCa::ExplicitNoCa;
    leaf.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    let mut chain = vec![signed(&leaf, &leaf_key, name, &keys[0])];
    for i in 0..intermediates {
        let next = &keys[(i + 1) % intermediates];
        chain.push(signed(&ca_params(name), &keys[i], name, next));
    }
    (chain, leaf_key)
}

/// `records` records of `chain` (signed by `leaf_key`) in a module, 256
/// to a set; every set but the first signs other hashes, which does not
/// change what a verifier checks per record.
pub fn module_with(chain: &[Vec<u8>], leaf_key: &SecretKey, records: usize) -> (Vec<u8>, usize) {
    let real = wsc_core::content_hashes(MODULE).expect("hashes");
    let mut data = SignatureData::default();
    let mut record_len = 0;
    let per_set = MAX_RECORDS as usize;
    for set in 0..records.div_ceil(per_set) {
        let hashes: Vec<Hash> = real
            .iter()
            .map(|h| {
                let mut h = *h;
                h[0] ^= set as u8;
                h
            })
            .collect();
        // One signature per set: its records differ only in their key ids.
        let alg = leaf_key.public_key().algorithm().algorithm_id();
        let sig = leaf_key.sign(&signed_message(&hashes));
        let payload = CertRecord::new(alg, sig, chain.to_vec()).encode().expect("encode");
        record_len = payload.len();
        for n in set * per_set..records.min((set + 1) * per_set) {
            let kid = (n as u64).to_be_bytes().to_vec();
            data.add_signature(
                &hashes,
                &SignatureRecord::new(Some(wsc_core::KeyId::new(kid)), CERT_BOUND, payload.clone()),
            )
            .expect("add");
        }
    }
    let sigdata = data.encode().expect("encode");
    let mut module = Vec::new();
    wsc_core::attach(MODULE, &mut module, &sigdata).expect("attach");
    (module, record_len)
}

/// The crafted module: `records` records, each a leaf plus
/// `intermediates` looping intermediates, and an unrelated anchor.
pub fn crafted(intermediates: usize, records: usize) -> Crafted {
    let root = Ca::new_root(&CaProfile::root("Budget Root", KeyAlgorithm::Ed25519)).expect("root");
    let (chain, leaf_key) = loop_chain(intermediates);
    let (module, record_len) = module_with(&chain, &leaf_key, records);
    Crafted { module, anchor: root.certificate().der.clone(), root, record_len }
}
