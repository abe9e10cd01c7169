//! `--signer pkcs11:…` against a real SoftHSM2 token made for the test:
//! keygen on the token, sign, verify with only the public key, a CSR signed
//! on the token, a certificate-bound signature, and PIN handling.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2")
}

struct Token {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

impl Token {
    fn new() -> Token {
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir_all(&tokens).expect("tokens");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
        )
        .expect("conf");
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", "wsc", "--pin", "1234", "--so-pin", "5678"])
            .output()
            .expect("softhsm2-util runs (Debian package softhsm2; .ci/run installs it)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Token { dir, conf }
    }

    fn wsc(&self, pin: Option<&str>, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wsc"));
        c.env("SOFTHSM2_CONF", &self.conf).env("WSC_PKCS11_MODULE", MODULE).env_remove("WSC_PKCS11_PIN");
        if let Some(p) = pin {
            c.env("WSC_PKCS11_PIN", p);
        }
        c.args(args).stdin(std::process::Stdio::null()).output().expect("wsc runs")
    }

    fn p(&self, n: &str) -> String {
        self.dir.path().join(n).display().to_string()
    }
}

fn ok(o: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{text}");
    text
}

#[test]
fn pkcs11_keys_sign_modules_and_csrs() {
    let t = Token::new();
    let uri = "pkcs11:token=wsc;object=signing-key";
    let module = vectors().join("modules/custom.wasm").display().to_string();
    ok(&t.wsc(
        Some("1234"),
        &["keygen", "--signer", uri, "--algorithm", "p256", "--format", "pem", "-K", &t.p("pub.pem")],
    ));
    ok(&t.wsc(Some("1234"), &["sign", "-i", &module, "-o", &t.p("s.wasm"), "--signer", uri]));
    // Verification needs only the public key: no token, no PIN.
    let v = ok(&t.wsc(None, &["verify", "-i", &t.p("s.wasm"), "-K", &t.p("pub.pem")]));
    assert!(v.contains("Signature is valid."), "{v}");

    // A CSR signed on the token, a device certificate, a certificate-bound signature.
    ok(&t.wsc(None, &["pki", "ca", "init", "--out-dir", &t.p("root")]));
    ok(&t.wsc(Some("1234"), &["pki", "csr", "--signer", uri, "--device-id", "station-1", "-o", &t.p("dev.csr")]));
    ok(&t.wsc(None, &["pki", "issue", "--ca-dir", &t.p("root"), "--csr", &t.p("dev.csr"), "-o", &t.p("chain.pem")]));
    ok(&t.wsc(
        Some("1234"),
        &["sign", "-i", &module, "-o", &t.p("c.wasm"), "--signer", uri, "--cert", &t.p("chain.pem")],
    ));
    let v = ok(&t.wsc(None, &["verify", "-i", &t.p("c.wasm"), "--trust-anchor", &t.p("root/ca.pem")]));
    assert!(v.contains("station-1"), "{v}");

    // A wrong PIN: a clear error, the PIN never echoed; no PIN and no terminal: say where to put it.
    let sentinel = "9876-sentinel-pin";
    let o = t.wsc(Some(sentinel), &["sign", "-i", &module, "-o", &t.p("x.wasm"), "--signer", uri]);
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(!text.contains(sentinel), "the PIN leaked: {text}");
    assert!(!Path::new(&t.p("x.wasm")).exists());
    let o = t.wsc(None, &["sign", "-i", &module, "-o", &t.p("x.wasm"), "--signer", uri]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("WSC_PKCS11_PIN"));
    // An unknown key label.
    let o =
        t.wsc(Some("1234"), &["sign", "-i", &module, "-o", &t.p("x.wasm"), "--signer", "pkcs11:token=wsc;object=nope"]);
    assert_eq!(o.status.code(), Some(2));
}

/// A PIN put in the URI of a real key (query or path, plain or
/// percent-encoded) is refused before the token is used: it appears
/// nowhere in the output, the audit log or the files, nothing is written,
/// and the audit log names the key with the PIN hidden. A signing with the
/// PIN from the environment logs the key URI as given.
#[test]
fn a_pin_in_the_uri_is_refused_and_never_printed() {
    let t = Token::new();
    let uri = "pkcs11:token=wsc;object=signing-key";
    ok(&t.wsc(Some("1234"), &["keygen", "--signer", uri, "--algorithm", "p256", "-K", &t.p("pub.pem")]));
    let module = vectors().join("modules/custom.wasm").display().to_string();
    let log = t.p("audit.jsonl");
    let sentinel = "Sentinel-Pin-31337";
    let encoded: String = sentinel.bytes().map(|b| format!("%{b:02X}")).collect();
    let mut text = String::new();
    for with_pin in [
        format!("{uri}?pin-value={sentinel}"),
        format!("pkcs11:token=wsc;pin-value={sentinel};object=signing-key"),
        format!("{uri}?pin%2Dvalue={encoded}"),
    ] {
        let o = t.wsc(None, &["--audit-log", &log, "sign", "-i", &module, "-o", &t.p("x.wasm"), "--signer", &with_pin]);
        assert_eq!(o.status.code(), Some(2), "{with_pin}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("must not carry a PIN"), "{with_pin}");
        text.push_str(&format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)));
    }
    assert!(!Path::new(&t.p("x.wasm")).exists(), "nothing written");
    ok(&t.wsc(Some("1234"), &["--audit-log", &log, "sign", "-i", &module, "-o", &t.p("s.wasm"), "--signer", uri]));
    let audit = std::fs::read_to_string(&log).expect("audit log");
    assert!(audit.contains(&format!("\"key\":\"{uri}\"")), "{audit}");
    assert_eq!(audit.matches("pin-value=***").count() + audit.matches("pin%2Dvalue=***").count(), 3 * 2, "{audit}");
    let mut files = String::new();
    for entry in std::fs::read_dir(t.dir.path()).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            files.push_str(&String::from_utf8_lossy(&std::fs::read(&path).expect("read")));
        }
    }
    for leak in [sentinel, encoded.as_str()] {
        assert!(!format!("{text}{audit}{files}").contains(leak), "'{leak}' leaked: {text}{audit}");
    }
}

/// The ATECC608 commands need a Linux I2C bus; without one they fail
/// clearly, naming the bus, and a bad URI is a usage error. (The driver is
/// tested against a byte-level simulator in crates/wsc-hsm-atecc.)
#[test]
fn atecc_without_a_bus_fails_clearly() {
    let module = vectors().join("modules/add.wasm").display().to_string();
    let cases: [&[&str]; 3] = [
        &["hsm", "atecc", "info", "--device", "atecc:/dev/wsc-no-such-i2c?address=0x60&slot=0"],
        &["sign", "-i", &module, "-o", "/tmp/wsc-never-written.wasm", "--signer", "atecc:/dev/wsc-no-such-i2c"],
        &["hsm", "atecc", "pubkey", "--device", "atecc:/dev/wsc-no-such-i2c?slot=2"],
    ];
    for args in cases {
        let o = Command::new(env!("CARGO_BIN_EXE_wsc")).args(args).output().expect("wsc runs");
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("/dev/wsc-no-such-i2c"), "{args:?}");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_wsc"))
        .args(["hsm", "atecc", "info", "--device", "atecc:/dev/i2c-1?address=0x99"])
        .output()
        .expect("wsc runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid device URI"));
    assert!(!Path::new("/tmp/wsc-never-written.wasm").exists());
}
