//! Keyless commands as a user meets them: the conformance protocol, exit
//! codes, verification with no network at all, and keyless records that must
//! not verify (moved from another artifact, attached to the wrong module).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wsc_core::sigdata::{SignatureData, SignatureRecord};

const ID: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISS: &str = "https://token.actions.githubusercontent.com";

fn cases() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sigstore/bundle-verify-dev")
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Runs wsc with an empty cache, so a root cached by `wsc trust update` on
/// this machine never changes which root these tests use.
fn wsc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsc"))
        .env("XDG_CACHE_HOME", "/nonexistent/wsc-test-cache")
        .env("HOME", "/nonexistent/wsc-test-home")
        .args(args)
        .output()
        .expect("wsc runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn verify_bundle(case: &str, artifact: &str, extra: &[&str]) -> Output {
    let b = s(&cases().join(case).join("bundle.sigstore.json"));
    let mut args = vec!["sigstore", "verify-bundle", "--bundle", &b];
    args.extend_from_slice(extra);
    args.push(artifact);
    wsc(&args)
}

#[test]
fn conformance_protocol_exit_codes() {
    let a = s(&cases().join("a.txt"));
    let digest =
        format!("sha256:{}", wsc_core::keys::hex(&sha256(&std::fs::read(cases().join("a.txt")).expect("a.txt"))));
    let id = ["--certificate-identity", ID, "--certificate-oidc-issuer", ISS];
    for art in [a.as_str(), digest.as_str()] {
        let o = verify_bundle("happy-path-v0.3", art, &id);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let o = verify_bundle("signature-mismatch_fail", art, &id);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("invalid signature"), "{}", stderr(&o));
    }
    let o = verify_bundle(
        "happy-path-v0.3",
        &a,
        &["--certificate-identity", "someone@example.com", "--certificate-oidc-issuer", ISS],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("identity"), "{}", stderr(&o));
    // A malformed key is an input error, not a failed verification.
    let k = s(&cases().join("managed-key-wrong-key_fail/key.pub"));
    let o = verify_bundle("managed-key-wrong-key_fail", &a, &["--key", &k]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = verify_bundle("happy-path-v0.3", "sha256:zz", &id);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

/// Verification needs no network: it passes in a network namespace with no
/// interface up, and with every proxy variable pointing at a closed port.
#[test]
fn verification_is_offline() {
    let a = s(&cases().join("a.txt"));
    let b = s(&cases().join("happy-path-v0.3/bundle.sigstore.json"));
    let args = [
        "sigstore",
        "verify-bundle",
        "--bundle",
        &b,
        "--certificate-identity",
        ID,
        "--certificate-oidc-issuer",
        ISS,
        &a,
    ];
    let proxied = Command::new(env!("CARGO_BIN_EXE_wsc"))
        .env("XDG_CACHE_HOME", "/nonexistent/wsc-test-cache")
        .args(args)
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("ALL_PROXY", "http://127.0.0.1:9")
        .output()
        .expect("runs");
    assert_eq!(proxied.status.code(), Some(0), "{}", stderr(&proxied));
    // An empty network namespace: `unshare -n` needs root or user namespaces (CI runs as root).
    let probe = Command::new("unshare").args(["-n", "true"]).output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "this test needs `unshare -n` (util-linux, as root or with user namespaces): {probe:?}"
    );
    let o = Command::new("unshare")
        .arg("-n")
        .arg(env!("CARGO_BIN_EXE_wsc"))
        .args(args)
        .env("XDG_CACHE_HOME", "/nonexistent/wsc-test-cache")
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "in an empty network namespace: {}", stderr(&o));
}

/// A real bundle over another artifact cannot be attached to a module.
#[test]
fn attach_refuses_a_bundle_over_another_artifact() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("o.wasm");
    let o = wsc(&[
        "bundle",
        "attach",
        "-i",
        &s(&vectors().join("modules/add.wasm")),
        "--bundle",
        &s(&cases().join("happy-path-v0.3/bundle.sigstore.json")),
        "-o",
        &s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("signs another artifact"), "{}", stderr(&o));
    assert!(!out.exists());
    // DSSE bundles are not keyless records.
    let o = wsc(&[
        "bundle",
        "attach",
        "-i",
        &s(&vectors().join("modules/add.wasm")),
        "--bundle",
        &s(&cases().join("happy-path-intoto-in-dsse-v3/bundle.sigstore.json")),
        "-o",
        &s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("DSSE"), "{}", stderr(&o));
}

/// A keyless record moved into a module (a valid bundle of another
/// artifact) is rejected for that reason, and does not hide the module's
/// valid Ed25519 signature from key verification.
#[test]
fn moved_keyless_record_is_rejected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let module = std::fs::read(vectors().join("signed/add.k1.wasm")).expect("module");
    let mut plain = Vec::new();
    let sig = wsc_core::detach(&module[..], &mut plain).expect("detach");
    let mut data = SignatureData::decode(&sig, 0).expect("decode");
    let hashes = wsc_core::content_hashes(&plain[..]).expect("hashes");
    let bundle = std::fs::read(cases().join("happy-path-v0.3/bundle.sigstore.json")).expect("bundle");
    data.add_signature(&hashes, &SignatureRecord::new(None, wsc_keyless::KEYLESS_ALGORITHM, bundle)).expect("add");
    let mut crafted = Vec::new();
    wsc_core::attach(&plain[..], &mut crafted, &data.encode().expect("encode")).expect("attach");
    let f = tmp.path().join("crafted.wasm");
    std::fs::write(&f, &crafted).expect("write");

    let o = wsc(&["verify", "-i", &s(&f), "--keyless", "--certificate-identity", ID, "--certificate-oidc-issuer", ISS]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("record 1 rejected") && err.contains("signs another artifact"), "{err}");
    let o = wsc(&["verify", "-i", &s(&f), "-K", &s(&vectors().join("keys/k1.pk"))]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The message `wsc bundle message` writes is the set message of the module,
    // built here per docs/format.md section 6: "wasmsig" 01 01 01 and the one
    // hash, SHA-256 of the content after the preamble (no delimiter, minimal encodings).
    let mut expected = b"wasmsig\x01\x01\x01".to_vec();
    expected.extend_from_slice(&sha256(&plain[8..]));
    let m = tmp.path().join("m.bin");
    let o = wsc(&["bundle", "message", "-i", &s(&f), "-o", &s(&m)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(&m).expect("msg"), expected);
    // Export finds the record, with that message.
    let dir = tmp.path().join("out");
    let o = wsc(&["bundle", "export", "-i", &s(&f), "--out-dir", &s(&dir)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.join("set0-record1.msg")).expect("msg"), expected);
    // A module without keyless records: keyless verification fails, export says so.
    let o = wsc(&[
        "verify",
        "-i",
        &s(&vectors().join("signed/add.k1.wasm")),
        "--keyless",
        "--certificate-identity",
        ID,
        "--certificate-oidc-issuer",
        ISS,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = wsc(&["bundle", "export", "-i", &s(&vectors().join("signed/add.k1.wasm")), "--out-dir", &s(&dir)]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn keyless_policy_flags_are_checked() {
    let f = s(&vectors().join("signed/add.k1.wasm"));
    let o = wsc(&["verify", "-i", &f, "--keyless", "--certificate-oidc-issuer", ISS]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--certificate-identity"), "{}", stderr(&o));
    let o =
        wsc(&["verify", "-i", &f, "--keyless", "--certificate-identity-regexp", "(", "--certificate-oidc-issuer", ISS]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("regular expression"), "{}", stderr(&o));
    // Patterns that escape textual anchoring are refused.
    for pattern in ["nomatch)|(?:", "a)|(b", ".*)|(.*"] {
        let o = wsc(&[
            "verify",
            "-i",
            &f,
            "--keyless",
            "--certificate-identity-regexp",
            pattern,
            "--certificate-oidc-issuer",
            ISS,
        ]);
        assert_eq!(o.status.code(), Some(2), "{pattern}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("invalid regular expression") && err.contains(pattern), "{pattern}: {err}");
    }
    // The issuer is matched exactly (a policy principal names one issuer).
    let o =
        wsc(&["verify", "-i", &f, "--keyless", "--certificate-oidc-issuer-regexp", ".*", "--certificate-identity", ID]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--certificate-oidc-issuer-regexp is not accepted"), "{}", stderr(&o));
    let o = wsc(&[
        "verify",
        "-i",
        &f,
        "--keyless",
        "-K",
        "x",
        "--certificate-identity",
        ID,
        "--certificate-oidc-issuer",
        ISS,
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// Fail closed, class "an output replaces an input": `bundle message` over
/// its module, `bundle attach` over its bundle, `sigstore sign-bundle` over
/// the file it signs are refused before anything is written (exit 2), and
/// the inputs stay as they were.
#[test]
fn bundle_outputs_never_replace_their_inputs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let m = tmp.path().join("m.wasm");
    std::fs::copy(vectors().join("modules/add.wasm"), &m).expect("copy");
    let b = tmp.path().join("b.json");
    std::fs::copy(cases().join("happy-path-v0.3/bundle.sigstore.json"), &b).expect("copy");
    let before = (std::fs::read(&m).expect("m"), std::fs::read(&b).expect("b"));
    let cases: [&[&str]; 3] = [
        &["bundle", "message", "-i", &s(&m), "-o", &s(&m)],
        &["bundle", "attach", "-i", &s(&m), "--bundle", &s(&b), "-o", &s(&b)],
        &["sigstore", "sign-bundle", "--identity-token", "x.y.z", "--bundle", &s(&m), &s(&m)],
    ];
    for args in cases {
        let o = wsc(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("nothing written"), "{args:?}: {}", stderr(&o));
        assert!(std::fs::read(&m).expect("m") == before.0 && std::fs::read(&b).expect("b") == before.1, "{args:?}");
    }
    // With its own output, the message is written.
    let msg = tmp.path().join("m.msg");
    let o = wsc(&["bundle", "message", "-i", &s(&m), "-o", &s(&msg)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// `--certificate-identity` and `--certificate-oidc-issuer` mean one thing in
/// `verify --keyless` and `sigstore verify-bundle`: exact values, and one that
/// could never match exactly is a usage error (exit 2) naming the flag.
#[test]
fn certificate_identity_means_the_same_in_both_commands() {
    let module = s(&vectors().join("signed/add.k1.wasm"));
    let a = s(&cases().join("a.txt"));
    let spaced = format!("{ID} ");
    for (identity, issuer, flag) in
        [(spaced.as_str(), ISS, "--certificate-identity"), (ID, "https://a|b", "--certificate-oidc-issuer")]
    {
        let flags = ["--certificate-identity", identity, "--certificate-oidc-issuer", issuer];
        let o = verify_bundle("happy-path-v0.3", &a, &flags);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(flag), "{}", stderr(&o));
        let mut args = vec!["verify", "-i", &module, "--keyless"];
        args.extend_from_slice(&flags);
        let o = wsc(&args);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(flag), "{}", stderr(&o));
    }
    // The exact value verifies the bundle; with a trailing space it never could.
    assert_eq!(
        verify_bundle("happy-path-v0.3", &a, &["--certificate-identity", ID, "--certificate-oidc-issuer", ISS])
            .status
            .code(),
        Some(0)
    );
}
