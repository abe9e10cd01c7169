//! File keys pass the signer conformance kit, and the kit fails signers
//! that break its rules.

use wsc_core::conformance::check_signer;
use wsc_core::sigdata::AlgorithmId;
use wsc_core::{KeyAlgorithm, KeyId, PublicKey, SecretKey, Signer, SignerError, WithKeyId};

#[test]
fn file_keys_pass() {
    for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::P256] {
        let key = SecretKey::generate(alg, &mut rand_core::OsRng);
        let public = key.public_key();
        let checked = check_signer(&key, &public).unwrap_or_else(|f| panic!("{alg:?}: {f:?}"));
        assert!(checked.passed.len() >= 6, "{checked:?}");
        let with_id = WithKeyId::new(&key).expect("public key");
        check_signer(&with_id, &public).unwrap_or_else(|f| panic!("{alg:?} with key id: {f:?}"));
    }
}

/// A signer that breaks one rule at a time.
#[derive(Debug)]
struct Broken {
    key: SecretKey,
    fault: Fault,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    OtherKeyId,
    WrongAlgorithm,
    HighS,
    Garbage,
}

impl Signer for Broken {
    fn algorithm(&self) -> AlgorithmId {
        if self.fault == Fault::WrongAlgorithm { AlgorithmId::ED25519 } else { self.key.algorithm() }
    }
    fn public_key(&self) -> Option<PublicKey> {
        Some(self.key.public_key())
    }
    fn key_id(&self) -> Option<KeyId> {
        (self.fault == Fault::OtherKeyId).then(|| KeyId::new(vec![7; 12]))
    }
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let sig = self.key.sign(message);
        Ok(match self.fault {
            Fault::HighS => {
                let s = p256::ecdsa::Signature::from_slice(&sig).expect("r s");
                p256::ecdsa::Signature::from_scalars(s.r(), -*s.s()).expect("high").to_bytes().to_vec()
            }
            Fault::Garbage => vec![0; sig.len()],
            _ => sig,
        })
    }
}

#[test]
fn the_kit_fails_broken_signers() {
    for (fault, check) in [
        (Fault::OtherKeyId, "key id is the public key's"),
        (Fault::WrongAlgorithm, "algorithm agrees with the public key"),
        (Fault::HighS, "raw signatures verify, over their message only, low S"),
        (Fault::Garbage, "signs a module that verifies whole"),
    ] {
        let key = SecretKey::generate(KeyAlgorithm::P256, &mut rand_core::OsRng);
        let public = key.public_key();
        let failures = check_signer(&Broken { key, fault }, &public).expect_err("must fail");
        assert!(failures.iter().any(|f| f.check == check), "{fault:?}: {failures:?}");
    }
}
