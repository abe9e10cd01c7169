//! Helpers shared by the keyless signing tests.

#![allow(dead_code, unreachable_pub)]

use wsc_core::RecordVerifier;
use wsc_core::Verification;
use wsc_keyless::sigstore_verify::trust_root::TrustedRoot;
use wsc_keyless::{BundleVerifier, Expectation, IdentityPolicy, Matcher};

/// A small module, different for each `n`.
pub fn module(n: u8) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    m.extend_from_slice(&[0, 4, 3, b'x', b'y', n]);
    m
}

/// Verifies every keyless record of `module` offline: the signer, or why not.
pub fn verify(module: &[u8], root: &TrustedRoot, identity: &str, issuer: &str) -> Result<String, String> {
    let policy = IdentityPolicy::new(Matcher::Exact(identity.into()), Matcher::Exact(issuer.into()));
    let v = BundleVerifier::new(root, Expectation::Identity(policy)).expect("verifier");
    let vs: [&dyn RecordVerifier; 1] = [&v];
    let report = wsc_core::verify_embedded(module, &Verification::new(&vs)).map_err(|e| e.to_string())?;
    let rejected = format!("{:?}", report.rejected);
    match report.single() {
        Ok(ok) => Ok(ok.signatures[0].evidence.description.clone().unwrap_or_default()),
        Err(e) => Err(format!("{e}: {rejected}")),
    }
}
