//! Error chains print each cause once: no message repeats its source's
//! text, and the cause is still there at the end of the chain.

use std::error::Error;
use std::time::Duration;

use wsc_core::{Chain, KeyAlgorithm, PublicKey, SecretKey, Signer, SignerError};
use wsc_keyless::KeylessError;
use wsc_keyless::sign::SignError;
use wsc_pinning::{ClientBuilder, PinningConfig, RetryPolicy, Service, ServiceClient, ServiceOptions};
use wsc_pki::PkiError;

const MODULE: &[u8] = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0";

/// A signer whose device fails with `cause`.
#[derive(Debug)]
struct Failing(fn() -> SignerError);

impl Signer for Failing {
    fn algorithm(&self) -> wsc_core::sigdata::AlgorithmId {
        wsc_core::sigdata::AlgorithmId::ED25519
    }
    fn public_key(&self) -> Option<PublicKey> {
        None
    }
    fn try_sign(&self, _: &[u8]) -> Result<Vec<u8>, SignerError> {
        Err((self.0)())
    }
}

/// A stream that fails.
struct Broken;

impl std::io::Read for Broken {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("the pipe broke"))
    }
}

/// A TSA that is not listening: one attempt, connection refused.
fn unreachable() -> wsc_pinning::ServiceError {
    let builder = ClientBuilder::new(PinningConfig::new())
        .danger_allow_http()
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(2));
    let options = ServiceOptions { retry: RetryPolicy { attempts: 1, ..RetryPolicy::default() }, ..Default::default() };
    let client = ServiceClient::new(&builder, Service::Tsa, "http://127.0.0.1:1/", &options).expect("client");
    client.timestamp(b"query").expect_err("nothing listens on port 1")
}

fn tsp() -> wsc_tsp::TspError {
    wsc_tsp::Reply::parse(b"not DER").expect_err("not a TimeStampResp")
}

fn key() -> SecretKey {
    SecretKey::generate(KeyAlgorithm::Ed25519, &mut rand_core::OsRng)
}

/// Each row: a name, the error, and text that must end its chain.
fn table() -> Vec<(&'static str, Box<dyn Error + Send + Sync>, &'static str)> {
    let signed = wsc_core::sign(MODULE, &key()).expect("sign");
    vec![
        ("pinning: unreachable service", Box::new(unreachable()), "Connection refused"),
        (
            "pinning: client with a bad URL",
            Box::new(
                ServiceClient::new(
                    &ClientBuilder::new(PinningConfig::new()),
                    Service::Rekor,
                    "no url",
                    &Default::default(),
                )
                .expect_err("not a URL"),
            ),
            "relative URL without a base",
        ),
        (
            "core: a signer's service error",
            Box::new(
                wsc_core::sign(MODULE, &Failing(|| SignerError::new(SignError::from(unreachable()))))
                    .expect_err("the signer fails"),
            ),
            "Connection refused",
        ),
        (
            "core: a device error",
            Box::new(
                wsc_core::sign(MODULE, &Failing(|| SignerError::new(std::io::Error::other("the device is gone"))))
                    .expect_err("the signer fails"),
            ),
            "the device is gone",
        ),
        (
            "core: verification failed",
            Box::new(wsc_core::verify(&signed, &key().public_key()).expect_err("another key")),
            "no valid signature for the given key(s)",
        ),
        ("core: I/O", Box::new(wsc_core::Error::from(std::io::Error::other("disk full"))), "disk full"),
        (
            "keyless: bundle that is not JSON",
            Box::new(wsc_keyless::BundleRecord::new(b"{not json").expect_err("not JSON")),
            "key must be a string",
        ),
        (
            "keyless: module error",
            Box::new(wsc_keyless::module_message(Broken).expect_err("the read fails")),
            "the pipe broke",
        ),
        (
            "keyless: signed bundle does not verify",
            Box::new(SignError::from(KeylessError::NoTrustedTime)),
            "no verified transparency-log entry or timestamp",
        ),
        ("keyless: TSA answer", Box::new(SignError::from(tsp())), "expected SEQUENCE"),
        (
            "keyless: token file",
            Box::new(SignError::token("cannot read token file 'x'").because(std::io::Error::other("denied"))),
            "denied",
        ),
        ("pki: TSA answer", Box::new(PkiError::TsaAnswer(tsp())), "expected SEQUENCE"),
        (
            "pki: signer",
            Box::new(PkiError::from(SignerError::new(std::io::Error::other("the token is unplugged")))),
            "the token is unplugged",
        ),
        ("pki: time", Box::new(wsc_pki::parse_rfc3339("yesterday").expect_err("not RFC 3339")), "could not be parsed"),
        (
            "pki: PEM",
            Box::new(wsc_pki::pem_decode_all(b"no PEM here", &["CERTIFICATE"]).expect_err("no block")),
            "no CERTIFICATE block",
        ),
    ]
}

/// Whether `e` is one of wsc's error types (third-party layers, such as
/// sigstore-types' `JSON error: {0}`, are not ours to fix).
fn ours(e: &(dyn Error + 'static)) -> bool {
    e.is::<wsc_core::Error>()
        || e.is::<wsc_core::KeyError>()
        || e.is::<SignerError>()
        || e.is::<wsc_core::sigdata::DecodeError>()
        || e.is::<KeylessError>()
        || e.is::<SignError>()
        || e.is::<wsc_pinning::ServiceError>()
        || e.is::<wsc_pinning::PinningError>()
        || e.is::<PkiError>()
        || e.is::<wsc_tsp::TspError>()
}

#[test]
fn no_message_repeats_its_source() {
    for (name, error, tail) in table() {
        let mut e: &(dyn Error + 'static) = error.as_ref();
        let mut layers = 0;
        while let Some(source) = e.source() {
            if ours(e) {
                let (outer, inner) = (e.to_string(), source.to_string());
                assert!(!outer.contains(&inner), "{name}: {outer:?} repeats its source {inner:?}");
                layers += 1;
            }
            e = source;
        }
        assert!(layers > 0, "{name}: no wsc error with a source");
        let chain = Chain(error.as_ref()).to_string();
        assert!(chain.ends_with(tail) || e.to_string().contains(tail), "{name}: the chain {chain:?} lost {tail:?}");
    }
}
