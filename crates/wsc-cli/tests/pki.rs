//! The fleet flow through the `wsc` command: CA, intermediate, CSR, device
//! certificate, certificate-bound signing, offline verification against
//! anchors, revocation by CRL, validity time, and vendor plus integrator.

use std::path::Path;
use std::process::{Command, Output};

fn wsc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsc")).args(args).output().expect("wsc runs")
}

fn ok(args: &[&str]) -> String {
    let o = wsc(args);
    assert_eq!(o.status.code(), Some(0), "wsc {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn code(args: &[&str]) -> (i32, String) {
    let o = wsc(args);
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn module() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2/modules/custom.wasm").display().to_string()
}

/// A root, an intermediate and a device certificate for `device` in `dir`.
fn fleet(dir: &Path, device: &str, alg: &str) -> (String, String, String) {
    let p = |n: &str| dir.join(n).display().to_string();
    ok(&["pki", "ca", "init", "--out-dir", &p("root"), "--algorithm", alg, "--name", "fleet root"]);
    ok(&["pki", "ca", "intermediate", "--ca-dir", &p("root"), "--out-dir", &p("int"), "--algorithm", alg]);
    ok(&["keygen", "--algorithm", alg, "--format", "pem", "-k", &p("dev.key"), "-K", &p("dev.pub")]);
    ok(&["pki", "csr", "-k", &p("dev.key"), "--device-id", device, "-o", &p("dev.csr")]);
    ok(&["pki", "issue", "--ca-dir", &p("int"), "--csr", &p("dev.csr"), "-o", &p("dev.chain.pem"), "--days", "2"]);
    (p("root/ca.pem"), p("dev.key"), p("dev.chain.pem"))
}

#[test]
fn fleet_flow_signs_and_verifies_offline() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let p = |n: &str| d.join(n).display().to_string();
    let (root, key, chain) = fleet(d, "sensor-7", "p256");
    let shown = ok(&["pki", "show", "-i", &chain]);
    assert!(shown.contains("urn:wsc:device:sensor-7") && shown.contains("codeSigning"), "{shown}");
    ok(&["sign", "-i", &module(), "-o", &p("s.wasm"), "-k", &key, "--cert", &chain]);
    let out = ok(&["verify", "-i", &p("s.wasm"), "--trust-anchor", &root]);
    assert!(out.contains("Signature is valid.") && out.contains("sensor-7"), "{out}");

    // Tampered content, an unknown anchor, a later time, a revoked serial: each fails.
    let mut bytes = std::fs::read(p("s.wasm")).expect("read");
    let last = bytes.len() - 3;
    bytes[last] ^= 1;
    std::fs::write(p("t.wasm"), &bytes).expect("write");
    assert_eq!(code(&["verify", "-i", &p("t.wasm"), "--trust-anchor", &root]).0, 1);
    ok(&["pki", "ca", "init", "--out-dir", &p("other"), "--name", "fleet root"]);
    let (c, e) = code(&["verify", "-i", &p("s.wasm"), "--trust-anchor", &p("other/ca.pem")]);
    assert_eq!(c, 1, "{e}");
    let (c, e) = code(&["verify", "-i", &p("s.wasm"), "--trust-anchor", &root, "--at-time", "2099-01-01T00:00:00Z"]);
    assert_eq!(c, 1);
    assert!(e.contains("expired"), "{e}");
    let serial = ok(&["pki", "show", "-i", &chain])
        .lines()
        .find_map(|l| l.trim().strip_prefix("serial:").map(|s| s.trim().to_string()))
        .expect("serial");
    ok(&["pki", "crl", "--ca-dir", &p("int"), "--revoke", &serial, "-o", &p("int.crl")]);
    let (c, e) = code(&["verify", "-i", &p("s.wasm"), "--trust-anchor", &root, "--crl", &p("int.crl")]);
    assert_eq!(c, 1);
    assert!(e.contains("revoked"), "{e}");

    // --require-crl: without a CRL for each CA on the path, refused; with them, accepted.
    // With no CRL at all the flags make an impossible policy: refused before any check.
    let (c, e) = code(&["verify", "-i", &p("s.wasm"), "--trust-anchor", &root, "--require-crl"]);
    assert_eq!(c, 2, "{e}");
    assert!(e.contains("require_crl"), "{e}");
    ok(&["pki", "crl", "--ca-dir", &p("root"), "-o", &p("root.crl")]);
    ok(&["pki", "crl", "--ca-dir", &p("int"), "-o", &p("int-empty.crl")]);
    // The intermediate's CRL alone: the root's is missing.
    let (c, e) =
        code(&["verify", "-i", &p("s.wasm"), "--trust-anchor", &root, "--require-crl", "--crl", &p("int-empty.crl")]);
    assert_eq!(c, 1, "{e}");
    ok(&[
        "verify",
        "-i",
        &p("s.wasm"),
        "--trust-anchor",
        &root,
        "--require-crl",
        "--crl",
        &p("root.crl"),
        "--crl",
        &p("int-empty.crl"),
    ]);

    // The chain must belong to the key.
    ok(&["keygen", "--algorithm", "p256", "--format", "pem", "-k", &p("x.key"), "-K", &p("x.pub")]);
    let (c, e) = code(&["sign", "-i", &module(), "-o", &p("x.wasm"), "-k", &p("x.key"), "--cert", &chain]);
    assert_eq!(c, 2, "{e}");
    assert!(!d.join("x.wasm").exists());
}

/// A vendor and an integrator each add their record; with
/// --require-all-anchors both must verify.
#[test]
fn vendor_and_integrator_must_both_sign() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (v, i) = (tmp.path().join("vendor"), tmp.path().join("integrator"));
    std::fs::create_dir_all(&v).expect("dir");
    std::fs::create_dir_all(&i).expect("dir");
    let (vroot, vkey, vchain) = fleet(&v, "vendor-build", "ed25519");
    let (iroot, ikey, ichain) = fleet(&i, "integrator-line", "p256");
    let one = tmp.path().join("one.wasm").display().to_string();
    let both = tmp.path().join("both.wasm").display().to_string();
    ok(&["sign", "-i", &module(), "-o", &one, "-k", &vkey, "--cert", &vchain]);
    ok(&["sign", "-i", &one, "-o", &both, "-k", &ikey, "--cert", &ichain]);
    let all = ["--trust-anchor", vroot.as_str(), "--trust-anchor", iroot.as_str(), "--require-all-anchors"];
    let mut args = vec!["verify", "-i", &both];
    args.extend(all);
    ok(&args);
    let mut args = vec!["verify", "-i", &one];
    args.extend(all);
    assert_eq!(code(&args).0, 1, "the integrator's signature is missing");
    // Without --require-all-anchors, one trusted signer is enough.
    ok(&["verify", "-i", &one, "--trust-anchor", &vroot, "--trust-anchor", &iroot]);
}

/// Fail closed, anchor files: `--trust-anchor` used to trust every
/// certificate in the file, so an intermediate's old `ca.pem` (the
/// intermediate, then the root) made the root an anchor too, and a device
/// of a sibling intermediate verified. An anchor file now holds exactly
/// one certificate, and `ca intermediate` writes `ca.pem` alone plus
/// `chain.pem` for issuing.
#[test]
fn anchor_file_with_a_chain_no_longer_trusts_a_sibling_intermediate() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let p = |n: &str| d.join(n).display().to_string();
    ok(&["pki", "ca", "init", "--out-dir", &p("r"), "--name", "R"]);
    ok(&["pki", "ca", "intermediate", "--ca-dir", &p("r"), "--out-dir", &p("i1"), "--name", "I1"]);
    ok(&["pki", "ca", "intermediate", "--ca-dir", &p("r"), "--out-dir", &p("i2"), "--name", "I2"]);
    let shown = ok(&["pki", "show", "-i", &p("i1/ca.pem")]);
    assert!(shown.contains("CN=I1") && !shown.contains("[1]"), "{shown}");
    ok(&["keygen", "-k", &p("dev.key"), "-K", &p("dev.pub")]);
    ok(&["pki", "csr", "-k", &p("dev.key"), "--device-id", "d2", "-o", &p("dev.csr")]);
    ok(&["pki", "issue", "--ca-dir", &p("i2"), "--csr", &p("dev.csr"), "-o", &p("dev2.pem")]);
    ok(&["sign", "-i", &module(), "-o", &p("s2.wasm"), "-k", &p("dev.key"), "--cert", &p("dev2.pem")]);
    ok(&["verify", "-i", &p("s2.wasm"), "--trust-anchor", &p("r/ca.pem")]);

    // I1 alone does not vouch for I2's device.
    let (c, e) = code(&["verify", "-i", &p("s2.wasm"), "--trust-anchor", &p("i1/ca.pem")]);
    assert_eq!(c, 1, "{e}");
    // A file with I1 and R (the old ca.pem, or chain.pem) is refused: it names the file and the count.
    let mut both = std::fs::read(p("i1/ca.pem")).expect("read");
    both.extend(std::fs::read(p("r/ca.pem")).expect("read"));
    std::fs::write(p("i1-and-r.pem"), both).expect("write");
    for file in [p("i1-and-r.pem"), p("i1/chain.pem")] {
        let (c, e) = code(&["verify", "-i", &p("s2.wasm"), "--trust-anchor", &file]);
        assert_eq!(c, 2, "{e}");
        assert!(e.contains(&format!("\"{file}\" is not one certificate")), "{e}");
        assert!(e.contains("holds 2 certificates") && e.contains("exactly one"), "{e}");
    }

    // Issuing keeps working: I1 issues with its chain.pem, and a CA
    // two levels below the root puts the middle CA into device chains.
    ok(&["pki", "issue", "--ca-dir", &p("i1"), "--csr", &p("dev.csr"), "-o", &p("dev1.pem")]);
    ok(&["sign", "-i", &module(), "-o", &p("s1.wasm"), "-k", &p("dev.key"), "--cert", &p("dev1.pem")]);
    ok(&["verify", "-i", &p("s1.wasm"), "--trust-anchor", &p("i1/ca.pem")]);
    ok(&["pki", "ca", "init", "--out-dir", &p("deep"), "--path-len", "2"]);
    let mid = ["pki", "ca", "intermediate", "--ca-dir", &p("deep"), "--out-dir", &p("mid"), "--path-len", "1"];
    ok(&[&mid[..], &["--name", "Mid"]].concat());
    // A CA named like one above it would make paths ambiguous: refused.
    let (c, e) = code(&["pki", "ca", "intermediate", "--ca-dir", &p("mid"), "--out-dir", &p("same"), "--name", "Mid"]);
    assert_eq!(c, 2, "{e}");
    assert!(e.contains("same name as CN=Mid"), "{e}");
    ok(&["pki", "ca", "intermediate", "--ca-dir", &p("mid"), "--out-dir", &p("line"), "--name", "Line"]);
    ok(&["pki", "issue", "--ca-dir", &p("line"), "--csr", &p("dev.csr"), "-o", &p("dev3.pem")]);
    ok(&["sign", "-i", &module(), "-o", &p("s3.wasm"), "-k", &p("dev.key"), "--cert", &p("dev3.pem")]);
    ok(&["verify", "-i", &p("s3.wasm"), "--trust-anchor", &p("deep/ca.pem")]);
}

/// Fail closed, all anchors required: one record used to meet every
/// anchor its chain led to. Each required anchor now needs a valid record
/// from a signer key of its own, and the same anchor twice is refused.
#[test]
fn require_all_anchors_needs_a_distinct_signer_per_anchor() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let p = |n: &str| d.join(n).display().to_string();
    let (root, key, chain) = fleet(d, "sensor-1", "ed25519");
    ok(&["sign", "-i", &module(), "-o", &p("s.wasm"), "-k", &key, "--cert", &chain]);
    let run = |module: &str, anchors: &[&str], json: bool| {
        let mut args = vec!["verify", "-i", module, "--require-all-anchors"];
        for a in anchors {
            args.extend(["--trust-anchor", *a]);
        }
        if json {
            args.push("--json");
        }
        let o = wsc(&args);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let s = p("s.wasm");
    // The same anchor twice (one file, or two copies) names one party: refused.
    std::fs::copy(&root, p("copy.pem")).expect("copy");
    for second in [root.clone(), p("copy.pem")] {
        let (c, _, e) = run(&s, &[&root, &second], false);
        assert_eq!(c, 2, "{e}");
        assert!(e.contains("hold the same anchor"), "{e}");
    }
    // The root and its own intermediate: the one record leads to both, and counts once.
    let (c, _, e) = run(&s, &[&root, &p("int/ca.pem")], false);
    assert_eq!(c, 1, "{e}");
    assert!(e.contains("needs more distinct signers"), "{e}");
    let (c, out, e) = run(&s, &[&root, &p("int/ca.pem")], true);
    assert_eq!(c, 1, "{e}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["decision"], "rejected");
    assert_eq!(v["reasons"][0], "rule_unsatisfied");

    // Two records of one key, each under its own root: still one signer.
    ok(&["pki", "ca", "init", "--out-dir", &p("root2"), "--name", "second root"]);
    ok(&["pki", "issue", "--ca-dir", &p("root2"), "--csr", &p("dev.csr"), "-o", &p("dev2.pem")]);
    ok(&["sign", "-i", &s, "-o", &p("twice.wasm"), "-k", &key, "--cert", &p("dev2.pem")]);
    let (c, _, e) = run(&p("twice.wasm"), &[&root, &p("root2/ca.pem")], false);
    assert_eq!(c, 1, "{e}");
    assert!(e.contains("needs more distinct signers"), "{e}");
    // A second key under the second root meets the policy.
    ok(&["keygen", "-k", &p("k2.key"), "-K", &p("k2.pub")]);
    ok(&["pki", "csr", "-k", &p("k2.key"), "--device-id", "other", "-o", &p("k2.csr")]);
    ok(&["pki", "issue", "--ca-dir", &p("root2"), "--csr", &p("k2.csr"), "-o", &p("k2.pem")]);
    ok(&["sign", "-i", &s, "-o", &p("two.wasm"), "-k", &p("k2.key"), "--cert", &p("k2.pem")]);
    let (c, _, e) = run(&p("two.wasm"), &[&root, &p("root2/ca.pem")], false);
    assert_eq!(c, 0, "{e}");
}

/// Fail closed, signing: `wsc sign --cert` with a CA certificate wrote a
/// record no verifier accepts. The leaf checks run before signing: exit 2,
/// nothing written.
#[test]
fn sign_refuses_a_leaf_the_verifier_would_refuse() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let p = |n: &str| d.join(n).display().to_string();
    fleet(d, "sensor-2", "p256");
    for cert in [p("int/ca.pem"), p("int/chain.pem")] {
        let (c, e) = code(&["sign", "-i", &module(), "-o", &p("x.wasm"), "-k", &p("int/ca.key"), "--cert", &cert]);
        assert_eq!(c, 2, "{e}");
        assert!(e.contains("CA certificate is used as the leaf"), "{e}");
        assert!(!d.join("x.wasm").exists());
    }
}

/// `openssl ts -reply` behind a one-request-at-a-time HTTP server on
/// 127.0.0.1 (an independent timestamp authority). Returns its URL.
fn openssl_tsa_server(dir: &Path) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/openssl-tsa/setup.sh");
    let out = Command::new("sh").arg(script).arg(dir).output().expect("setup.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/tsr", listener.local_addr().expect("addr"));
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { continue };
            let mut rd = BufReader::new(conn.try_clone().expect("clone"));
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if rd.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            if rd.read_exact(&mut body).is_err() {
                continue;
            }
            let (q, r) = (dir.join(format!("{n}.tsq")), dir.join(format!("{n}.tsr")));
            std::fs::write(&q, &body).expect("write");
            let st = Command::new("openssl")
                .args(["ts", "-reply", "-config"])
                .arg(dir.join("ts.cnf"))
                .arg("-queryfile")
                .arg(&q)
                .arg("-out")
                .arg(&r)
                .output()
                .expect("openssl");
            let reply = if st.status.success() { std::fs::read(&r).expect("read") } else { Vec::new() };
            let head = format!(
                "HTTP/1.1 {}\r\ncontent-type: application/timestamp-reply\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                if reply.is_empty() { "500 Internal Server Error" } else { "200 OK" },
                reply.len()
            );
            let _ = conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(&reply));
        }
    });
    url
}

/// RFC 3161 timestamps: a module signed while the certificate was valid
/// verifies after it expires with --use-timestamp, and fails without it.
#[test]
fn timestamped_records_outlive_the_certificate() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let p = |n: &str| d.join(n).display().to_string();
    let (root, key, chain) = fleet(d, "sensor-9", "ed25519");
    let url = openssl_tsa_server(&d.join("tsa"));
    let tsa_chain = p("tsa/chain.pem");
    let signed = ok(&[
        "sign",
        "-i",
        &module(),
        "-o",
        &p("s.wasm"),
        "-k",
        &key,
        "--cert",
        &chain,
        "--tsa-url",
        &url,
        "--tsa-chain",
        &tsa_chain,
        "--insecure-allow-http",
    ]);
    assert!(signed.contains("WARNING: --insecure-allow-http"), "{signed}");
    let out =
        ok(&["verify", "-i", &p("s.wasm"), "--trust-anchor", &root, "--use-timestamp", "--tsa-chain", &tsa_chain]);
    assert!(out.contains("Signature is valid.") && out.contains("timestamp 20"), "{out}");

    // Without the flag and without TLS the service is refused; a wrong TSA chain refuses the token.
    let (c, e) = code(&[
        "sign",
        "-i",
        &module(),
        "-o",
        &p("n.wasm"),
        "-k",
        &key,
        "--cert",
        &chain,
        "--tsa-url",
        &url,
        "--tsa-chain",
        &tsa_chain,
    ]);
    assert_eq!(c, 2, "{e}");
    assert!(!d.join("n.wasm").exists());
    ok(&["pki", "ca", "init", "--out-dir", &p("other")]);
    let (c, e) = code(&[
        "verify",
        "-i",
        &p("s.wasm"),
        "--trust-anchor",
        &root,
        "--use-timestamp",
        "--tsa-chain",
        &p("other/ca.pem"),
    ]);
    assert_eq!(c, 1, "{e}");
    assert!(e.contains("no trusted timestamp authority"), "{e}");

    // A record without a token fails in timestamp mode.
    ok(&["sign", "-i", &module(), "-o", &p("plain.wasm"), "-k", &key, "--cert", &chain]);
    let (c, e) = code(&[
        "verify",
        "-i",
        &p("plain.wasm"),
        "--trust-anchor",
        &root,
        "--use-timestamp",
        "--tsa-chain",
        &tsa_chain,
    ]);
    assert_eq!(c, 1, "{e}");
    assert!(e.contains("carries no RFC 3161 token"), "{e}");
    // --use-timestamp needs a TSA chain.
    assert_eq!(code(&["verify", "-i", &p("s.wasm"), "--trust-anchor", &root, "--use-timestamp"]).0, 2);

    // sign takes --tsa-chain as verify does, repeatable: the token must verify with one of them.
    let module = module();
    let sign_with = |out: &str, chains: &[&str]| {
        let mut args = vec!["sign", "-i", &module, "-o", out, "-k", &key, "--cert", &chain, "--tsa-url", &url];
        for c in chains {
            args.extend(["--tsa-chain", *c]);
        }
        args.push("--insecure-allow-http");
        code(&args)
    };
    let other = p("other/ca.pem");
    let (c, e) = sign_with(&p("two.wasm"), &[&other, &tsa_chain]);
    assert_eq!(c, 0, "{e}");
    let out =
        ok(&["verify", "-i", &p("two.wasm"), "--trust-anchor", &root, "--use-timestamp", "--tsa-chain", &tsa_chain]);
    assert!(out.contains("timestamp 20"), "{out}");
    let (c, e) = sign_with(&p("wrong.wasm"), &[&other]);
    assert_eq!(c, 2, "{e}");
    assert!(!d.join("wrong.wasm").exists());
}

/// One secret-key loader, two exposure rules: a key that `wsc pki` reads (a
/// CA key, `pki csr -k`) and that group or others may access is refused
/// unless --allow-readable-key is given; a signing key like that is used,
/// with a warning (wasmsign2 scripts often keep keys 0644).
#[test]
fn readable_ca_keys_are_refused_and_readable_signing_keys_warn() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let p = |n: &str| d.join(n).display().to_string();
    // Sets a file's permission bits; false where there are none (not Unix).
    let chmod = |n: &str, mode: u32| -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(d.join(n), std::fs::Permissions::from_mode(mode)).expect("chmod");
            true
        }
        #[cfg(not(unix))]
        {
            let _ = (n, mode);
            false
        }
    };
    ok(&["pki", "ca", "init", "--out-dir", &p("root")]);
    if chmod("root/ca.key", 0o640) {
        let (c, e) = code(&["pki", "crl", "--ca-dir", &p("root"), "-o", &p("root.crl")]);
        assert_eq!(c, 2, "{e}");
        assert!(e.contains("group or others (mode 640)") && e.contains("--allow-readable-key"), "{e}");
        assert!(!d.join("root.crl").exists(), "nothing written");
    }
    ok(&["pki", "crl", "--ca-dir", &p("root"), "-o", &p("root.crl"), "--allow-readable-key"]);

    ok(&["keygen", "-k", &p("dev.key"), "-K", &p("dev.pub")]);
    let exposed = chmod("dev.key", 0o644);
    if exposed {
        let (c, e) = code(&["pki", "csr", "-k", &p("dev.key"), "--device-id", "d1", "-o", &p("dev.csr")]);
        assert_eq!(c, 2, "{e}");
        assert!(e.contains("group or others (mode 644)"), "{e}");
        assert!(!d.join("dev.csr").exists(), "nothing written");
    }
    let o = wsc(&["sign", "-i", &module(), "-o", &p("s.wasm"), "-k", &p("dev.key")]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert_eq!(e.contains("warning: secret key") && e.contains("readable by others (mode 644)"), exposed, "{e}");
    ok(&["verify", "-i", &p("s.wasm"), "-K", &p("dev.pub")]);
    if chmod("dev.key", 0o600) {
        let o = wsc(&["sign", "-i", &module(), "-o", &p("s.wasm"), "-k", &p("dev.key")]);
        assert!(!String::from_utf8_lossy(&o.stderr).contains("readable by others"), "no warning at 0600");
    }
}

/// Fail closed, class "an output replaces an input": a CSR written over its
/// own key, a chain over its CSR, a certificate or CRL over the CA's files
/// are refused before anything is written (exit 2), and the inputs stay.
#[test]
fn pki_outputs_never_replace_their_inputs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let p = |n: &str| d.join(n).display().to_string();
    fleet(d, "sensor-9", "p256");
    let read = |n: &str| std::fs::read(d.join(n)).expect("read");
    let before: Vec<(&str, Vec<u8>)> =
        ["dev.key", "dev.csr", "int/ca.key", "int/ca.pem", "int/chain.pem"].iter().map(|n| (*n, read(n))).collect();
    let cases: Vec<Vec<String>> = vec![
        vec![
            "pki".into(),
            "csr".into(),
            "-k".into(),
            p("dev.key"),
            "--device-id".into(),
            "x".into(),
            "-o".into(),
            p("dev.key"),
        ],
        vec![
            "pki".into(),
            "issue".into(),
            "--ca-dir".into(),
            p("int"),
            "--csr".into(),
            p("dev.csr"),
            "-o".into(),
            p("dev.csr"),
        ],
        vec![
            "pki".into(),
            "issue".into(),
            "--ca-dir".into(),
            p("int"),
            "--csr".into(),
            p("dev.csr"),
            "-o".into(),
            p("int/ca.key"),
        ],
        vec!["pki".into(), "crl".into(), "--ca-dir".into(), p("int"), "-o".into(), p("int/ca.pem")],
        vec!["pki".into(), "crl".into(), "--ca-dir".into(), p("int"), "-o".into(), p("int/chain.pem")],
    ];
    for args in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (c, e) = code(&args);
        assert_eq!(c, 2, "{args:?}: {e}");
        assert!(e.contains("nothing written"), "{args:?}: {e}");
        for (n, bytes) in &before {
            assert!(read(n) == *bytes, "{args:?} changed {n}");
        }
    }
    // The same commands with their own outputs still work.
    ok(&["pki", "crl", "--ca-dir", &p("int"), "-o", &p("int.crl")]);
    ok(&["pki", "issue", "--ca-dir", &p("int"), "--csr", &p("dev.csr"), "-o", &p("dev2.chain.pem")]);
}
