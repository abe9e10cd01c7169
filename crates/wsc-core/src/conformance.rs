//! The signer conformance kit (feature `test-kit`): the checks every
//! [`Signer`] must pass, run by each signer's own tests (files, the
//! ATECC608 simulator, SoftHSM2, certificate-bound, keyless against the
//! local instance) instead of each crate writing its own version.

use std::fmt;

use crate::keys::KeyAlgorithm;
use crate::sigdata::AlgorithmId;
use crate::signer::Signer;
use crate::verify::{RecordVerifier, Verification, verify_embedded};

/// A small module with a type, a function and a custom section.
const MODULE: &[u8] = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x02\x01\0\x0a\x04\x01\x02\0\x0b\0\x05\x04note";

/// One check that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The check's name.
    pub check: &'static str,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.detail)
    }
}

/// What [`check_signer`] ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The names of the checks that ran and passed.
    pub passed: Vec<&'static str>,
}

/// Runs every check on `signer`; `verifier` is what accepts its records
/// (the public key for plain keys, a certificate or bundle verifier for
/// the others). Err lists every check that failed.
///
/// The checks: a module it signs verifies whole with `verifier`, and fails
/// once a byte changes; its key id, when it writes one, is its public
/// key's; the algorithm agrees with the public key; a raw key signature
/// (Ed25519, P-256) verifies with the public key over the message and not
/// over another, and a P-256 one has low S; two threads sign at once and
/// both verify; `Debug` prints something.
pub fn check_signer(signer: &dyn Signer, verifier: &dyn RecordVerifier) -> Result<Checked, Vec<Failure>> {
    let mut passed = Vec::new();
    let mut failures = Vec::new();
    let mut outcome = |check: &'static str, result: Result<(), String>| match result {
        Ok(()) => passed.push(check),
        Err(detail) => failures.push(Failure { check, detail }),
    };
    let verifiers: [&dyn RecordVerifier; 1] = [verifier];
    let verifies = |module: &[u8]| -> Result<bool, String> {
        let report = verify_embedded(module, &Verification::new(&verifiers)).map_err(|e| e.to_string())?;
        Ok(report.results.first().is_some_and(|r| r.as_ref().is_ok_and(|v| v.whole)))
    };

    let signed = crate::sign(MODULE, signer);
    outcome(
        "signs a module that verifies whole",
        match &signed {
            Ok(m) => {
                verifies(m).and_then(|ok| if ok { Ok(()) } else { Err("the signed module does not verify".into()) })
            }
            Err(e) => Err(format!("signing failed: {e}")),
        },
    );
    if let Ok(m) = &signed {
        let mut changed = m.clone();
        if let Some(last) = changed.last_mut() {
            *last ^= 1;
        }
        outcome(
            "a changed module does not verify",
            match verifies(&changed) {
                Ok(false) | Err(_) => Ok(()),
                Ok(true) => Err("a module with a changed byte still verifies".into()),
            },
        );
    }

    let public = signer.public_key();
    outcome(
        "key id is the public key's",
        match (signer.key_id(), &public) {
            (None, _) => Ok(()),
            (Some(kid), Some(pk)) if kid == pk.key_id() => Ok(()),
            (Some(kid), Some(pk)) => Err(format!("key id {kid}, the public key's is {}", pk.key_id())),
            (Some(kid), None) => Err(format!("key id {kid} but no public key to derive it from")),
        },
    );

    let raw = [AlgorithmId::ED25519, AlgorithmId::ECDSA_P256_SHA256].contains(&signer.algorithm());
    if let (true, Some(pk)) = (raw, &public) {
        outcome(
            "algorithm agrees with the public key",
            if pk.algorithm().algorithm_id() == signer.algorithm() {
                Ok(())
            } else {
                Err(format!("record algorithm {} with a {} key", signer.algorithm(), pk.algorithm().as_str()))
            },
        );
        let mut bad = Vec::new();
        for i in 0..8u8 {
            let msg = [i; 40];
            match signer.try_sign(&msg) {
                Ok(sig) => {
                    if !pk.verify(&msg, &sig) {
                        bad.push(format!("signature {i} does not verify"));
                    }
                    if pk.verify(&[i ^ 1; 40], &sig) {
                        bad.push(format!("signature {i} verifies over another message"));
                    }
                    if pk.algorithm() == KeyAlgorithm::P256 && !low_s(&sig) {
                        bad.push(format!("signature {i} has a high S"));
                    }
                }
                Err(e) => bad.push(format!("signing {i} failed: {e}")),
            }
        }
        outcome(
            "raw signatures verify, over their message only, low S",
            if bad.is_empty() { Ok(()) } else { Err(bad.join("; ")) },
        );
    }

    let together = std::thread::scope(|s| {
        let a = s.spawn(|| crate::sign(MODULE, signer));
        let b = s.spawn(|| crate::sign(MODULE, signer));
        [a.join(), b.join()]
    });
    outcome(
        "two threads sign at once",
        together.iter().try_for_each(|r| match r {
            Ok(Ok(m)) if verifies(m) == Ok(true) => Ok(()),
            Ok(Ok(_)) => Err("a module signed beside another does not verify".to_string()),
            Ok(Err(e)) => Err(format!("signing failed: {e}")),
            Err(_) => Err("a signing thread panicked".to_string()),
        }),
    );
    outcome("Debug prints something", if format!("{signer:?}").is_empty() { Err("empty".into()) } else { Ok(()) });

    if failures.is_empty() { Ok(Checked { passed }) } else { Err(failures) }
}

/// Whether a 64-byte P-256 `r ‖ s` has S at most n/2.
fn low_s(sig: &[u8]) -> bool {
    p256::ecdsa::Signature::from_slice(sig).is_ok_and(|s| s.normalize_s().is_none())
}
