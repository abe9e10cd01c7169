//! A registry on TLS with a self-signed certificate made here: the right
//! SPKI pin connects, a wrong one is refused before any request.

use std::time::Duration;

use rcgen::{CertificateParams, KeyPair, PublicKeyData as _};
use sha2::{Digest as _, Sha256};
use wsc_oci::OciError;
use wsc_oci::registry::{AuthScheme, Credentials, Reference, Registry};
use wsc_pinning::{ClientBuilder, Pin, PinningConfig, Service};

use crate::support::process::{Auth, RegistryProcess, Setup};
use crate::support::{Artifact, assert_mentions, chain, options, pem};

/// A self-signed certificate for 127.0.0.1 and localhost: PEM certificate,
/// PEM key, and the SHA-256 of its SubjectPublicKeyInfo (from rcgen).
fn self_signed() -> (String, String, Pin) {
    let key = KeyPair::generate().expect("a key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("names");
    let cert = params.self_signed(&key).expect("self-signed");
    let spki = Pin(Sha256::digest(key.subject_public_key_info()).into());
    (pem("CERTIFICATE", cert.der()), pem("PRIVATE KEY", &key.serialize_der()), spki)
}

fn client(host: &str, cert_pem: &str, pins: Vec<Pin>) -> Result<Registry, OciError> {
    let roots = wsc_pinning::roots_from_pem(cert_pem.as_bytes()).expect("the certificate as a root");
    let builder = ClientBuilder::new(PinningConfig::new().with_service_pins(Service::Registry, pins))
        .with_roots(roots)
        .with_timeouts(Duration::from_secs(10), Duration::from_secs(5));
    let mut options = options(Credentials::Anonymous, false);
    // A refused handshake is not retried in these tests.
    options.service.retry.attempts = 1;
    Registry::new(host, &builder, options)
}

#[test]
fn tls_with_the_registry_pin_connects_and_a_wrong_pin_is_refused() {
    let (cert, key, spki) = self_signed();
    let process = RegistryProcess::start(&Setup { auth: Auth::Anonymous, tls: Some((cert.clone(), key)) });
    let host = process.host();

    let registry = client(&host, &cert, vec![spki]).expect("a pinned client");
    assert!(registry.pinned());
    assert_eq!(registry.base_url(), format!("https://{host}"));
    assert_eq!(registry.ping().expect("pinned TLS"), AuthScheme::Anonymous);
    let artifact = Artifact::new("tls", "t");
    let digest = artifact.push(&registry, "wasm/tls", "v1");
    let reference: Reference = format!("{host}/wasm/tls@{digest}").parse().expect("valid");
    assert_eq!(registry.manifest_get(&reference, &[]).expect("pull").bytes, artifact.manifest);

    let before = process.log().matches("\"GET /v2/").count();
    let wrong = Pin(Sha256::digest(b"another key").into());
    let refused = client(&host, &cert, vec![wrong]).expect("a client with a wrong pin");
    let e = refused.ping().expect_err("a wrong pin");
    assert!(matches!(e, OciError::Request { .. }), "{e}");
    assert_mentions(&e, &["certificate pin mismatch for 127.0.0.1", &spki.to_string(), &wrong.to_string()]);
    let e = refused.manifest_get(&reference, &[]).expect_err("a wrong pin");
    assert!(chain(&e).contains("pin mismatch"), "{}", chain(&e));
    // Neither request reached the registry.
    assert_eq!(process.log().matches("\"GET /v2/").count(), before, "{}", process.log());
}
