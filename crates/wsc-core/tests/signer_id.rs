//! Typed signer identities through the verification seam: a key is named by
//! the SHA-256 of its SPKI DER, never by the record's unsigned key id, and
//! a set answers alone for the scope it covers.

use sha2::{Digest, Sha256};
use wsc_core::Verification;
use wsc_core::{KeyAlgorithm, PublicKey, RecordVerifier, SecretKey, SignerId, WithKeyId, sign, verify_embedded};

const MODULE: &[u8] = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0";

fn verify_all(module: &[u8], keys: &[&PublicKey]) -> wsc_core::Report {
    let verifiers: Vec<&dyn RecordVerifier> = keys.iter().map(|k| *k as &dyn RecordVerifier).collect();
    verify_embedded(module, &Verification::new(&verifiers).total_len(Some(module.len() as u64)))
        .expect("verification runs")
}

#[test]
fn key_signer_id_is_the_spki_fingerprint_with_or_without_key_id() {
    for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::P256] {
        let sk = SecretKey::generate(alg, &mut rand_core::OsRng);
        let pk = sk.public_key();
        let expected: [u8; 32] = Sha256::digest(pk.to_der().expect("der")).into();
        let plain = sign(MODULE, &sk).expect("sign");
        let with_id = sign(MODULE, &WithKeyId::new(&sk).expect("key id")).expect("sign");
        for signed in [plain, with_id] {
            let report = verify_all(&signed, &[&pk]);
            let v = report.results[0].as_ref().expect("verified");
            let id = &v.signatures[0].evidence.signer;
            assert_eq!(*id, SignerId::Key { spki_sha256: expected }, "{alg:?}");
            assert_eq!(id.to_string(), format!("key:sha256:{}", wsc_core::keys::hex(&expected)));
            assert_eq!(v.signatures[0].evidence.time, None, "a key gives no trusted time");
        }
    }
}

#[test]
fn signer_id_display_forms() {
    let cases = [
        (SignerId::Key { spki_sha256: [0xab; 32] }, format!("key:sha256:{}", "ab".repeat(32))),
        (SignerId::X509 { leaf_spki_sha256: [0x01; 32] }, format!("x509:sha256:{}", "01".repeat(32))),
        (
            SignerId::Keyless { issuer: "https://issuer.example".into(), identity: "ci@example.com".into() },
            "keyless:https://issuer.example|ci@example.com".to_string(),
        ),
    ];
    for (id, text) in cases {
        assert_eq!(id.to_string(), text);
    }
}

#[test]
fn a_set_covers_a_whole_scope_only_with_every_checkpoint() {
    let sk = SecretKey::generate(KeyAlgorithm::Ed25519, &mut rand_core::OsRng);
    let signed = sign(MODULE, &sk).expect("sign");
    let report = verify_all(&signed, &[&sk.public_key()]);
    let set = report.results[0].as_ref().expect("verified").signatures[0].set;
    assert_eq!(report.set_covers_scope(set), Some(report.checkpoints.len()));
    assert_eq!(report.set_covers_scope(set + 1), None, "no such set");
}
