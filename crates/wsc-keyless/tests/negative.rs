//! Keyless records that must not verify, each refused by the check that
//! owns the defect, asserted by error kind:
//!
//! * a DSSE envelope whose in-toto statement names the set message's
//!   digest (SHA-256 or SHA-512) is not a keyless record, and neither is a
//!   message signature without its SHA-256 `messageDigest`;
//! * CV-1: a certificate that chains to another CA than the trust root's
//!   Fulcio, or lacks the code-signing EKU;
//! * CV-2: a certificate outside its validity at the verified signing time
//!   (the Rekor v1 integrated time, or the RFC 3161 time with Rekor v2).
//!
//! Bundles come from the local instance (`wsc-sigstore-local`); each
//! negative changes one thing in a bundle that verifies as made.

mod common;

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::DecodePrivateKey as _;
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};
use x509_cert::Certificate;
use x509_cert::der::asn1::{BitString, ObjectIdentifier, OctetString};
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::time::{Time, Validity};

use common::module;
use wsc_core::sigdata::AlgorithmId;
use wsc_core::{PublicKey, Signer, SignerError};
use wsc_keyless::sign::{IdentityToken, KeylessSigner, RetryPolicy, ServiceOptions, Services};
use wsc_keyless::sigstore_verify::trust_root::{SigningConfig, TrustedRoot};
use wsc_keyless::sigstore_verify::types::Artifact;
use wsc_keyless::sigstore_verify::{self as sv, CertificateError};
use wsc_keyless::{BundleVerifier, Expectation, IdentityPolicy, KeylessError, Matcher, RecordShape};
use wsc_pinning::{ClientBuilder, PinningConfig};
use wsc_sigstore_local::{Config, Instance};

const IDENTITY: &str = "https://github.com/wsc-test/app/.github/workflows/release.yml@refs/heads/main";
/// id-ce-extKeyUsage.
const EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
/// id-kp-serverAuth.
const SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");

/// A local instance in a new folder, with a Rekor v2 log or v1.
fn start(rekor_v2: bool) -> (Instance, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let inst = Instance::start(Config {
        dir: dir.path().to_path_buf(),
        identities: vec![IDENTITY.into()],
        tls: false,
        port: 0,
        rekor_v2,
    })
    .expect("local instance");
    (inst, dir)
}

fn root(inst: &Instance) -> TrustedRoot {
    TrustedRoot::from_file(inst.dir().join("trusted_root.json")).expect("trusted root")
}

/// A signer of the instance; with `tsa`, every bundle carries an RFC 3161 timestamp.
fn signer(inst: &Instance, tsa: bool) -> KeylessSigner {
    let options = ServiceOptions {
        retry: RetryPolicy {
            attempts: 2,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(5),
        },
        rate_limit_per_second: None,
    };
    let builder = ClientBuilder::new(PinningConfig::new()).danger_allow_http();
    let cfg = SigningConfig::from_file(inst.dir().join("signing_config.json")).expect("signing config");
    let services = Services::from_signing_config(&cfg, &builder, &options, tsa).expect("services");
    let token = IdentityToken::new(inst.mint_token(IDENTITY).expect("token")).expect("token");
    KeylessSigner::new(token, services, &root(inst)).expect("certificate")
}

fn verifier(root: &TrustedRoot, inst: &Instance) -> BundleVerifier {
    let policy = IdentityPolicy::new(Matcher::Exact(IDENTITY.into()), Matcher::Exact(inst.url().into()));
    BundleVerifier::new(root, Expectation::Identity(policy)).expect("verifier")
}

/// Contributes fixed bytes as a keyless record, whatever the message: how
/// an attacker would embed a bundle of their choice.
#[derive(Debug)]
struct RawRecord(Vec<u8>);

impl Signer for RawRecord {
    fn algorithm(&self) -> AlgorithmId {
        wsc_keyless::KEYLESS_ALGORITHM
    }
    fn public_key(&self) -> Option<PublicKey> {
        None
    }
    fn try_sign(&self, _message: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(self.0.clone())
    }
}

/// `module` with `bundle` embedded as its only keyless record.
fn embed(module: &[u8], bundle: &str) -> Vec<u8> {
    wsc_core::sign(module, &RawRecord(bundle.as_bytes().to_vec())).expect("embed")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An in-toto statement about `subjects` (name, algorithm, hex digest), with an arbitrary predicate type.
fn statement(subjects: &[(&str, &str, String)]) -> String {
    let subject: Vec<String> = subjects
        .iter()
        .map(|(name, alg, digest)| format!(r#"{{"name":"{name}","digest":{{"{alg}":"{digest}"}}}}"#))
        .collect();
    format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{}],"predicateType":"https://example.test/anything","predicate":{{}}}}"#,
        subject.join(",")
    )
}

/// Defect class: a DSSE envelope accepted as a keyless signature record.
/// The trusted identity signs an in-toto statement whose subject is the
/// set message's SHA-256 or SHA-512; embedded as a keyless record, it must
/// not verify, although it verifies as a plain bundle over the message.
#[test]
fn dsse_naming_the_set_message_is_not_a_keyless_record() {
    let (inst, _d) = start(false);
    let root = root(&inst);
    let v = verifier(&root, &inst);
    let s = signer(&inst, true);
    let plain = module(1);
    let message = wsc_keyless::module_message(&plain[..]).expect("message");
    // The SHA-512 variant lists another artifact first: wsc's signer wants a
    // SHA-256 first subject, and sigstore-verify binds any subject.
    let unrelated = ("other.bin", "sha256", hex(&Sha256::digest(b"another artifact")));
    let statements = [
        ("sha256", statement(&[("module.wasm", "sha256", hex(&Sha256::digest(&message)))])),
        ("sha512", statement(&[unrelated, ("module.wasm", "sha512", hex(&Sha512::digest(&message)))])),
    ];
    for (alg, statement) in statements {
        let dsse = s.sign_in_toto(statement.as_bytes()).expect("DSSE bundle");
        assert!(dsse.contains("dsseEnvelope"), "{alg}: {dsse}");
        // A genuine attestation of the trusted identity about this message.
        v.verify(Artifact::Blob(&message), &dsse).unwrap_or_else(|e| panic!("{alg}: the plain bundle: {e}"));
        // As a record: refused for its shape, before sigstore-verify runs.
        let e = v.verify_record_bundle(&message, &dsse).expect_err(alg);
        assert!(matches!(e, KeylessError::NotKeylessRecord(RecordShape::Dsse)), "{alg}: {e:?}");
        let signed = embed(&plain, &dsse);
        let err = common::verify(&signed, &root, IDENTITY, inst.url()).expect_err(alg);
        assert!(err.contains("DSSE envelope"), "{alg}: {err}");
    }
    // The same module with a message-signature record verifies: the rule,
    // not the instance, refused the DSSE records.
    let ok = wsc_core::sign(&plain, &s).expect("sign");
    common::verify(&ok, &root, IDENTITY, inst.url()).expect("a message signature verifies");
}

/// The other shapes a keyless record may not have: no `messageDigest`
/// (sigstore-verify alone accepts that), a digest of another algorithm,
/// and a digest of another message.
#[test]
fn a_keyless_record_is_a_message_signature_with_its_sha256_digest() {
    let (inst, _d) = start(false);
    let root = root(&inst);
    let v = verifier(&root, &inst);
    let s = signer(&inst, false);
    let plain = module(2);
    let message = wsc_keyless::module_message(&plain[..]).expect("message");
    let genuine: Value = serde_json::from_str(&s.sign_message(&message).expect("bundle")).expect("json");
    v.verify_record_bundle(&message, &genuine.to_string()).expect("the bundle as made verifies");

    let mut no_digest = genuine.clone();
    no_digest["messageSignature"].as_object_mut().expect("messageSignature").remove("messageDigest");
    // The signature and the log entry still bind the message: only the rule refuses it.
    v.verify(Artifact::Blob(&message), &no_digest.to_string()).expect("sigstore-verify accepts it");
    let e = v.verify_record_bundle(&message, &no_digest.to_string()).expect_err("no digest");
    assert!(matches!(e, KeylessError::NotKeylessRecord(RecordShape::NoDigest)), "{e:?}");

    let mut sha512 = genuine.clone();
    sha512["messageSignature"]["messageDigest"]["algorithm"] = "SHA2_512".into();
    let e = v.verify_record_bundle(&message, &sha512.to_string()).expect_err("sha512");
    assert!(matches!(e, KeylessError::NotKeylessRecord(RecordShape::NotSha256)), "{e:?}");

    let other = wsc_keyless::module_message(&module(3)[..]).expect("message");
    let e = v.verify_record_bundle(&other, &genuine.to_string()).expect_err("another message");
    assert!(matches!(e, KeylessError::WrongArtifact { .. }), "{e:?}");

    for (what, b) in [("no digest", &no_digest), ("sha512", &sha512)] {
        let err = common::verify(&embed(&plain, &b.to_string()), &root, IDENTITY, inst.url()).expect_err(what);
        assert!(err.contains("not a keyless record"), "{what}: {err}");
    }
}

/// The signing certificate of a bundle.
fn leaf(bundle: &Value) -> Certificate {
    let b64 = bundle["verificationMaterial"]["certificate"]["rawBytes"].as_str().expect("a v0.3 certificate");
    let der = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
    Certificate::from_der(&der).expect("certificate")
}

/// The bundle with another signing certificate.
fn with_leaf(bundle: &Value, cert: &Certificate) -> String {
    let mut b = bundle.clone();
    b["verificationMaterial"]["certificate"]["rawBytes"] =
        base64::engine::general_purpose::STANDARD.encode(cert.to_der().expect("der")).into();
    b.to_string()
}

/// The certificate with its to-be-signed part signed again by `key`.
fn resign(mut cert: Certificate, key: &SigningKey) -> Certificate {
    let sig: DerSignature = key.sign(&cert.tbs_certificate.to_der().expect("tbs"));
    cert.signature = BitString::from_bytes(sig.as_bytes()).expect("bits");
    cert
}

/// The instance's Fulcio intermediate key (the trusted issuer of every leaf).
fn fulcio_key(inst: &Instance) -> SigningKey {
    let pem = std::fs::read_to_string(inst.dir().join("fulcio-intermediate.key")).expect("intermediate key");
    SigningKey::from_pkcs8_pem(&pem).expect("PKCS#8 P-256")
}

fn time(t: SystemTime) -> Time {
    Time::try_from(t).expect("time")
}

/// The webpki reason inside a chain rejection, or `None` for any other error.
fn chain_rejection(e: &KeylessError) -> Option<&str> {
    match e {
        KeylessError::Verify(sv::Error::Certificate(CertificateError::ChainInvalid(why))) => Some(why),
        _ => None,
    }
}

/// One bundle per certificate defect, each from the genuine bundle with
/// one change: (what, bundle, the webpki reason the chain check must give).
fn certificate_defects(inst: &Instance, genuine: &Value) -> Vec<(&'static str, String, &'static str)> {
    let key = fulcio_key(inst);
    let cert = leaf(genuine);
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    let mut out = Vec::new();

    // CV-2: outside its validity at the verified signing time (both ways).
    let mut c = cert.clone();
    c.tbs_certificate.validity = Validity { not_before: time(now - 2 * hour), not_after: time(now - hour) };
    out.push(("expired at the signing time", with_leaf(genuine, &resign(c, &key)), "CertExpired"));
    let mut c = cert.clone();
    c.tbs_certificate.validity = Validity { not_before: time(now + hour), not_after: time(now + 2 * hour) };
    out.push(("not yet valid at the signing time", with_leaf(genuine, &resign(c, &key)), "CertNotValidYet"));

    // CV-1: no code-signing EKU (none at all, or server authentication only).
    let mut c = cert.clone();
    c.tbs_certificate.extensions.as_mut().expect("extensions").retain(|e| e.extn_id != EKU);
    out.push(("no EKU", with_leaf(genuine, &resign(c, &key)), "RequiredEkuNotFound"));
    let mut c = cert.clone();
    let server_auth = x509_cert::ext::pkix::ExtendedKeyUsage(vec![SERVER_AUTH]).to_der().expect("eku");
    for e in c.tbs_certificate.extensions.as_mut().expect("extensions") {
        if e.extn_id == EKU {
            e.extn_value = OctetString::new(server_auth.clone()).expect("octets");
        }
    }
    out.push(("serverAuth EKU only", with_leaf(genuine, &resign(c, &key)), "RequiredEkuNotFound"));

    // CV-1: issued by another CA (its own name and key), everything else unchanged.
    let mut c = cert.clone();
    c.tbs_certificate.issuer = "CN=foreign intermediate,O=foreign".parse().expect("name");
    let foreign = SigningKey::random(&mut rand_core::OsRng);
    out.push(("issued by another CA", with_leaf(genuine, &resign(c, &foreign)), "UnknownIssuer"));
    // The trusted intermediate's name, another key: a forged issuer signature.
    out.push((
        "trusted name, another key",
        with_leaf(genuine, &resign(cert, &foreign)),
        "InvalidSignatureForPublicKey",
    ));
    out
}

/// Every certificate defect is refused by the chain check, for its reason,
/// at the Rekor v1 integrated time (no TSA) and at the RFC 3161 time (Rekor
/// v2, which has no integrated time); as a bundle and as a module record.
#[test]
fn cv1_cv2_certificate_defects_are_refused_by_the_chain_check() {
    for rekor_v2 in [false, true] {
        let (inst, _d) = start(rekor_v2);
        let root = root(&inst);
        let v = verifier(&root, &inst);
        // Rekor v2 needs the TSA; with v1, the integrated time is the only verified time.
        let s = signer(&inst, rekor_v2);
        let plain = module(4);
        let message = wsc_keyless::module_message(&plain[..]).expect("message");
        let genuine: Value = serde_json::from_str(&s.sign_message(&message).expect("bundle")).expect("json");
        let has_tsa = genuine["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        assert_eq!(has_tsa, rekor_v2, "the signing time's source");
        // The control: the bundle as made verifies, in a module too.
        v.verify_record_bundle(&message, &genuine.to_string()).expect("the bundle as made verifies");
        common::verify(&embed(&plain, &genuine.to_string()), &root, IDENTITY, inst.url()).expect("as a record");

        for (what, bundle, reason) in certificate_defects(&inst, &genuine) {
            let e = v.verify_record_bundle(&message, &bundle).expect_err(what);
            let why = chain_rejection(&e).unwrap_or_else(|| panic!("{what} (v2 {rekor_v2}): not a chain error: {e:?}"));
            assert!(why.contains(reason), "{what} (v2 {rekor_v2}): {why}");
            let err = common::verify(&embed(&plain, &bundle), &root, IDENTITY, inst.url()).expect_err(what);
            assert!(err.contains("certificate chain is invalid") && err.contains(reason), "{what}: {err}");
        }
    }
}

/// CV-1 from the other side: the bundle is genuine, but the trust root's
/// Fulcio CA is another CA (here the instance's TSA chain), so the chain
/// check refuses it.
#[test]
fn cv1_a_trust_root_with_another_ca_refuses_a_genuine_bundle() {
    let (inst, _d) = start(false);
    let s = signer(&inst, true);
    let plain = module(5);
    let message = wsc_keyless::module_message(&plain[..]).expect("message");
    let bundle = s.sign_message(&message).expect("bundle");
    verifier(&root(&inst), &inst).verify_record_bundle(&message, &bundle).expect("verifies with its own root");

    let text = std::fs::read_to_string(inst.dir().join("trusted_root.json")).expect("root");
    let mut json: Value = serde_json::from_str(&text).expect("json");
    let other = json["timestampAuthorities"][0]["certChain"].clone();
    assert!(other["certificates"].as_array().is_some_and(|c| !c.is_empty()), "a TSA chain");
    json["certificateAuthorities"][0]["certChain"] = other;
    let foreign_root = wsc_keyless::root_from_json(&json.to_string()).expect("root");
    let v = verifier(&foreign_root, &inst);
    let e = v.verify_record_bundle(&message, &bundle).expect_err("another CA");
    let why = chain_rejection(&e).unwrap_or_else(|| panic!("not a chain error: {e:?}"));
    assert!(why.contains("UnknownIssuer"), "{why}");
    let err = common::verify(&embed(&plain, &bundle), &foreign_root, IDENTITY, inst.url()).expect_err("module");
    assert!(err.contains("certificate chain is invalid"), "{err}");
}
