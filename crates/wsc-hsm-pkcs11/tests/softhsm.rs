//! End-to-end tests against a real SoftHSM2 (`softhsm2`) and OpenSC's
//! `pkcs11-tool` (`opensc`).
//!
//! SoftHSM reads `SOFTHSM2_CONF` once per process, when the module is
//! initialised. So each test runs its body in a child process (this test
//! binary, filtered to the one test) with its own token directory; tests
//! stay independent when they run in parallel.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wsc_core::{KeyAlgorithm, PublicKey, Signer, WithKeyId};
use wsc_hsm_pkcs11::{Pkcs11Error, Pkcs11Signer, Pkcs11Uri, read_public_key};
use wsc_pki::Csr;
use zeroize::Zeroizing;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// Distinctive, so a leak would be found by a plain substring search.
const PIN: &str = "wsc-user-pin-4711";
const SO_PIN: &str = "wsc-so-pin-0815";
/// Set in the child: the token directory to use.
const CHILD_ENV: &str = "WSC_PKCS11_TEST_TOKEN_DIR";
/// A small valid module (one type section).
const MODULE_BYTES: &[u8] = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0";

/// Runs `body` in a child process that sees a fresh token `wsc`.
fn with_token(test: &str, body: fn(&Path)) {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        body(Path::new(&dir));
        return;
    }
    assert!(Path::new(MODULE).exists(), "{MODULE} is missing: these tests need `apt-get install softhsm2 opensc`");
    let dir = tempfile::tempdir().expect("temporary directory");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).expect("token directory");
    let conf = dir.path().join("softhsm2.conf");
    let text = format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display());
    std::fs::write(&conf, text).expect("SoftHSM config");
    run(Command::new("softhsm2-util").env("SOFTHSM2_CONF", &conf).args([
        "--init-token",
        "--free",
        "--label",
        "wsc",
        "--pin",
        PIN,
        "--so-pin",
        SO_PIN,
    ]));
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("child test process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "child test {test} failed");
    assert!(stdout.contains("1 passed"), "child test {test} did not run");
}

/// Runs a command that must succeed; returns its output.
fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn pkcs11_tool(args: &[&str]) -> Output {
    run(Command::new("pkcs11-tool").args(["--module", MODULE, "--token-label", "wsc"]).args(args))
}

fn uri(object: &str) -> Pkcs11Uri {
    Pkcs11Uri::parse(&format!("pkcs11:token=wsc;object={object}?module-path={MODULE}")).expect("valid URI")
}

fn pin() -> Zeroizing<String> {
    Zeroizing::new(PIN.to_string())
}

/// Signs the module through `wsc_core::sign` and verifies it with
/// wsc-core and nothing but `public`.
fn sign_and_verify(signer: &dyn Signer, public: &PublicKey) {
    let signed = wsc_core::sign(MODULE_BYTES, signer).expect("signing through the token");
    let verified = wsc_core::verify(&signed, public).expect("verification with the exported key");
    assert!(verified.whole);
    let other = wsc_core::SecretKey::generate(public.algorithm(), &mut rand_core::OsRng);
    assert!(wsc_core::verify(&signed, &other.public_key()).is_err(), "another key must not verify");
}

/// A CSR from the token key is accepted by wsc-pki and names that key.
fn csr_round_trip(signer: &dyn Signer, public: &PublicKey) {
    let csr = Csr::create(signer, "device-7").expect("CSR from the token key");
    let pem = csr.to_pem().expect("PEM");
    let read = Csr::from_pem(pem.as_bytes()).expect("wsc-pki accepts the CSR");
    assert_eq!(read.public_key(), public);
    assert_eq!(read.uris(), ["urn:wsc:device:device-7"]);
}

/// Display, Debug and every source of an error, as one string.
fn full_text(e: &dyn Error) -> String {
    let mut text = format!("{e} | {e:?}");
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    text
}

#[test]
fn p256_key_generated_by_wsc() {
    with_token("p256_key_generated_by_wsc", |_| {
        let signer = Pkcs11Signer::generate(&uri("signing-key"), None, &pin(), KeyAlgorithm::P256).expect("keygen");
        assert_eq!(signer.algorithm(), wsc_core::sigdata::AlgorithmId::ECDSA_P256_SHA256);
        assert!(signer.uri().starts_with("pkcs11:token=wsc;object=signing-key;id=%"));

        // The public key object is public: exported without a PIN.
        let exported = read_public_key(&uri("signing-key"), None, None).expect("public key export");
        assert_eq!(&exported, signer.public());
        sign_and_verify(&signer, &exported);
        csr_round_trip(&signer, &exported);

        // With its key id in the record, through a second signer opened by
        // label while the first one is still logged in.
        let opened = Pkcs11Signer::open(&uri("signing-key"), None, &pin()).expect("open by label");
        let with_id = WithKeyId::new(&opened).expect("signer has a public key");
        sign_and_verify(&with_id, &exported);

        // The signer conformance kit: whole-module round trip, raw r ‖ s
        // with low S over its message only, key ids, two threads at once.
        wsc_core::conformance::check_signer(&signer, &exported).unwrap_or_else(|f| panic!("{f:?}"));
        wsc_core::conformance::check_signer(&with_id, &exported).unwrap_or_else(|f| panic!("{f:?}"));

        // The private key is sensitive and never extractable.
        let listing = pkcs11_tool(&["--login", "--pin", PIN, "--list-objects", "--type", "privkey"]);
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(listing.contains("label:      signing-key"), "{listing}");
        assert!(listing.contains("sensitive") && listing.contains("never extractable"), "{listing}");

        // The label is taken now.
        let again = Pkcs11Signer::generate(&uri("signing-key"), None, &pin(), KeyAlgorithm::P256);
        assert!(matches!(again, Err(Pkcs11Error::KeyExists(l)) if l == "signing-key"));
    });
}

#[test]
fn ed25519_key_generated_by_wsc() {
    with_token("ed25519_key_generated_by_wsc", |_| {
        let signer = Pkcs11Signer::generate(&uri("ed-key"), None, &pin(), KeyAlgorithm::Ed25519).expect("keygen");
        assert_eq!(signer.algorithm(), wsc_core::sigdata::AlgorithmId::ED25519);
        let exported = read_public_key(&uri("ed-key"), None, None).expect("public key export");
        assert_eq!(exported.algorithm(), KeyAlgorithm::Ed25519);
        sign_and_verify(&signer, &exported);
        csr_round_trip(&signer, &exported);
    });
}

#[test]
fn keys_generated_by_pkcs11_tool() {
    with_token("keys_generated_by_pkcs11_tool", |dir| {
        pkcs11_tool(&["--login", "--pin", PIN, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "other"]);
        pkcs11_tool(&["--login", "--pin", PIN, "--keypairgen", "--key-type", "EC:edwards25519", "--label", "other-ed"]);

        // The module path comes from the caller here, as from WSC_PKCS11_MODULE.
        let module = PathBuf::from(MODULE);
        let plain = Pkcs11Uri::parse("pkcs11:token=wsc;object=other").expect("valid URI");
        let signer = Pkcs11Signer::open(&plain, Some(&module), &pin()).expect("open the pkcs11-tool key");

        // The public key as pkcs11-tool exports it (SPKI DER).
        let der = dir.join("other.der");
        let der_arg = der.to_str().expect("UTF-8 path");
        pkcs11_tool(&["--read-object", "--type", "pubkey", "--label", "other", "--output-file", der_arg]);
        let exported = PublicKey::from_any(&std::fs::read(&der).expect("exported key")).expect("SPKI DER");
        assert_eq!(&exported, signer.public());
        sign_and_verify(&signer, &exported);
        csr_round_trip(&signer, &exported);

        // OpenSC names the Edwards curve by a PrintableString.
        let ed = Pkcs11Signer::open(&uri("other-ed"), None, &pin()).expect("open the pkcs11-tool Ed25519 key");
        assert_eq!(ed.public().algorithm(), KeyAlgorithm::Ed25519);
        sign_and_verify(&ed, &ed.public().clone());
    });
}

#[test]
fn errors_are_typed_and_never_contain_the_pin() {
    with_token("errors_are_typed_and_never_contain_the_pin", |_| {
        const SENTINEL: &str = "sentinel-PIN-90210";
        Pkcs11Signer::generate(&uri("k"), None, &pin(), KeyAlgorithm::P256).expect("keygen");

        let wrong = Zeroizing::new(SENTINEL.to_string());
        let err = Pkcs11Signer::open(&uri("k"), None, &wrong).expect_err("wrong PIN");
        assert!(matches!(err, Pkcs11Error::PinIncorrect), "{err:?}");
        assert!(!full_text(&err).contains(SENTINEL));

        let err = Pkcs11Signer::open(&uri("no-such-key"), None, &pin()).expect_err("unknown key");
        assert!(matches!(&err, Pkcs11Error::KeyNotFound(u) if u == "pkcs11:token=wsc;object=no-such-key"), "{err:?}");
        let err = read_public_key(&uri("no-such-key"), None, None).expect_err("unknown key");
        assert!(matches!(err, Pkcs11Error::PublicKeyNotFound(_)), "{err:?}");

        let other_token = Pkcs11Uri::parse("pkcs11:token=nope;object=k").expect("valid URI");
        let err = Pkcs11Signer::open(&other_token, Some(Path::new(MODULE)), &pin()).expect_err("unknown token");
        assert!(matches!(err, Pkcs11Error::TokenNotFound(_)), "{err:?}");

        let no_object = Pkcs11Uri::parse("pkcs11:token=wsc").expect("valid URI");
        let err = Pkcs11Signer::open(&no_object, Some(Path::new(MODULE)), &pin()).expect_err("no object");
        assert!(matches!(err, Pkcs11Error::NoObject), "{err:?}");

        let err = Pkcs11Signer::open(&no_object, None, &pin()).expect_err("no module");
        assert!(matches!(err, Pkcs11Error::NoModule), "{err:?}");
        let err = Pkcs11Signer::open(&uri("k"), None, &pin()).map(|_| ());
        assert!(err.is_ok(), "the right PIN still works after a wrong one");

        let missing = Path::new("/nonexistent/libpkcs11.so");
        let err = Pkcs11Signer::open(&no_object, Some(missing), &wrong).expect_err("missing module");
        assert!(matches!(err, Pkcs11Error::Load { .. }), "{err:?}");
        assert!(!full_text(&err).contains(SENTINEL));

        // A signer's Debug output names the key, not the PIN.
        let signer = Pkcs11Signer::open(&uri("k"), None, &pin()).expect("open");
        let debug = format!("{signer:?}");
        assert!(debug.contains("object=k") && !debug.contains(PIN), "{debug}");
    });
}
