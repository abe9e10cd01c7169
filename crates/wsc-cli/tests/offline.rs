//! Verification is offline (requirement CV-7): a module signed with an
//! Ed25519 key, a P-256 key and a device certificate verifies with public
//! material only. The verifier runs in an empty network namespace, with
//! a cleared environment and no secret key anywhere it can read.

use std::path::Path;
use std::process::{Command, Output};

fn wsc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsc")).current_dir(dir).args(args).output().expect("wsc runs")
}

fn ok(dir: &Path, args: &[&str]) {
    let o = wsc(dir, args);
    assert_eq!(o.status.code(), Some(0), "wsc {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// Runs wsc in `dir` inside an empty network namespace (`unshare -n`), with
/// only PATH kept and HOME pointing at an empty folder. Panics when
/// `unshare -n` is not available.
fn wsc_offline(dir: &Path, home: &Path, args: &[&str]) -> Output {
    let probe = Command::new("unshare").args(["-n", "true"]).output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "this test needs `unshare -n` (util-linux, as root or with user namespaces): {probe:?}"
    );
    Command::new("unshare")
        .arg("-n")
        .arg(env!("CARGO_BIN_EXE_wsc"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .output()
        .expect("unshare runs")
}

#[test]
fn every_record_kind_verifies_with_no_network_secret_or_device() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (sign, verify, home) = (tmp.path().join("sign"), tmp.path().join("verify"), tmp.path().join("home"));
    for d in [&sign, &verify, &home] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2/modules/custom.wasm");
    std::fs::copy(&module, sign.join("m.wasm")).expect("copy");

    // Signing side: two keys, a small PKI, one module with three records and a detached signature.
    ok(&sign, &["keygen", "-k", "ed.sk", "-K", "ed.pk"]);
    ok(&sign, &["keygen", "--algorithm", "p256", "--format", "pem", "-k", "ec.sk", "-K", "ec.pk"]);
    ok(&sign, &["pki", "ca", "init", "--out-dir", "root", "--algorithm", "p256", "--name", "offline root"]);
    ok(&sign, &["pki", "ca", "intermediate", "--ca-dir", "root", "--out-dir", "int", "--algorithm", "p256"]);
    ok(&sign, &["keygen", "--algorithm", "p256", "--format", "pem", "-k", "dev.sk", "-K", "dev.pk"]);
    ok(&sign, &["pki", "csr", "-k", "dev.sk", "--device-id", "offline-1", "-o", "dev.csr"]);
    ok(&sign, &["pki", "issue", "--ca-dir", "int", "--csr", "dev.csr", "-o", "dev.chain.pem", "--days", "2"]);
    ok(&sign, &["pki", "crl", "--ca-dir", "int", "-o", "int.crl"]);
    ok(&sign, &["sign", "-i", "m.wasm", "-o", "s1.wasm", "-k", "ed.sk", "-K", "ed.pk"]);
    ok(&sign, &["sign", "-i", "s1.wasm", "-o", "s2.wasm", "-k", "ec.sk", "-K", "ec.pk"]);
    ok(&sign, &["sign", "-i", "s2.wasm", "-o", "s.wasm", "-k", "dev.sk", "--cert", "dev.chain.pem"]);
    ok(&sign, &["sign", "-i", "m.wasm", "-S", "m.sig", "-k", "ed.sk"]);

    // Only public material reaches the verifier; then the signing folder, with every secret key, is gone.
    for (from, to) in [
        ("s.wasm", "s.wasm"),
        ("m.wasm", "m.wasm"),
        ("m.sig", "m.sig"),
        ("ed.pk", "ed.pk"),
        ("ec.pk", "ec.pk"),
        ("root/ca.pem", "anchor.pem"),
        ("int.crl", "int.crl"),
    ] {
        std::fs::copy(sign.join(from), verify.join(to)).unwrap_or_else(|e| panic!("{from}: {e}"));
    }
    std::fs::remove_dir_all(&sign).expect("remove the signing folder");
    let mut tampered = std::fs::read(verify.join("s.wasm")).expect("read");
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    std::fs::write(verify.join("t.wasm"), &tampered).expect("write");

    let cases: [(&[&str], i32); 8] = [
        (&["verify", "-i", "s.wasm", "-K", "ed.pk"], 0),
        (&["verify", "-i", "s.wasm", "-K", "ec.pk"], 0),
        (&["verify", "-i", "s.wasm", "--trust-anchor", "anchor.pem", "--crl", "int.crl"], 0),
        (&["verify_matrix", "-i", "s.wasm", "-K", "ed.pk", "ec.pk"], 0),
        (&["verify", "-i", "m.wasm", "-S", "m.sig", "-K", "ed.pk"], 0),
        // A changed byte still fails, for a verification reason, in the same conditions.
        (&["verify", "-i", "t.wasm", "-K", "ed.pk"], 1),
        (&["verify", "-i", "t.wasm", "--trust-anchor", "anchor.pem"], 1),
        (&["verify", "-i", "m.wasm", "-S", "m.sig", "-K", "ec.pk"], 1),
    ];
    for (args, want) in cases {
        let o = wsc_offline(&verify, &home, args);
        let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), Some(want), "{args:?} offline:\n{out}{err}");
        match (want, args[0]) {
            (0, "verify_matrix") => assert!(out.contains("- ed.pk") && out.contains("- ec.pk"), "{args:?}: {out}"),
            (0, _) => assert!(out.contains("Signature is valid."), "{args:?}: {out}"),
            _ => assert!(!out.contains("Signature is valid."), "{args:?}: {out}"),
        }
    }
    // Nothing was written next to the inputs or in HOME (no cache, no key).
    let mut written: Vec<String> =
        std::fs::read_dir(&home).expect("home").map(|e| format!("{:?}", e.expect("e").path())).collect();
    written.sort();
    assert!(written.is_empty(), "verification wrote {written:?}");
}
