//! The prehash helper that digest-signing devices (ATECC608, PKCS#11) use:
//! every device answer that is not a valid low-S signature over the
//! digest by the signer's own key is refused.

use p256::ecdsa::signature::hazmat::PrehashSigner;
use wsc_core::prehash::{PrehashError, digest, finish_p256};
use wsc_core::{KeyAlgorithm, PublicKey, SecretKey};

#[test]
fn device_answers_are_checked_before_they_become_records() {
    let device = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let point = |k: &p256::ecdsa::SigningKey| k.verifying_key().to_encoded_point(false).as_bytes().to_vec();
    let public = PublicKey::from_sec1(&point(&device)).expect("point");
    let message = b"set message";
    let d = digest(message);
    let sig: p256::ecdsa::Signature = device.sign_prehash(&d).expect("sign");
    let low = sig.normalize_s().unwrap_or(sig);
    // The high-S twin of the same signature.
    let high = p256::ecdsa::Signature::from_scalars(low.r(), -*low.s()).expect("high s");
    for raw in [low.to_bytes(), high.to_bytes()] {
        let got = finish_p256(&public, &d, &raw).expect("valid");
        assert_eq!(got.to_vec(), low.to_bytes().to_vec(), "S is made low");
        assert!(public.verify(message, &got), "the record verifies over the message");
    }
    // Another digest, another key, a short answer, an Ed25519 signer.
    assert_eq!(finish_p256(&public, &digest(b"other"), &low.to_bytes()), Err(PrehashError::DoesNotVerify));
    let other = PublicKey::from_sec1(&point(&p256::ecdsa::SigningKey::random(&mut rand_core::OsRng))).expect("point");
    assert_eq!(finish_p256(&other, &d, &low.to_bytes()), Err(PrehashError::DoesNotVerify));
    assert_eq!(finish_p256(&public, &d, &low.to_bytes()[..63]), Err(PrehashError::Malformed { len: 63 }));
    let ed = SecretKey::generate(KeyAlgorithm::Ed25519, &mut rand_core::OsRng).public_key();
    assert_eq!(finish_p256(&ed, &d, &low.to_bytes()), Err(PrehashError::NotP256));
}
