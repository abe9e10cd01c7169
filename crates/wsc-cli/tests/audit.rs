//! The audit log (`--audit-log`), and the sentinel check: no secret key
//! material ever appears in the output, the errors or the audit log.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2")
}

fn wsc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsc")).args(args).output().expect("wsc runs")
}

fn all_text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// HMAC-SHA256 (RFC 2104), written out here so the key id is not computed by wsc's own code.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    assert!(key.len() <= 64, "keys longer than a block are not needed here");
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |b: u8| block.iter().map(|k| k ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(msg).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// The key id of docs/format.md section 5: HMAC-SHA256(key bytes, "key_id"), first 12 bytes, as hex.
fn key_id_of(key_bytes: &[u8]) -> String {
    hex(&hmac_sha256(key_bytes, b"key_id")[..12])
}

/// The 33-byte compressed SEC1 point of a P-256 public key PEM, read by openssl.
fn p256_compressed_point(pem: &str) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["ec", "-pubin", "-in", pem, "-conv_form", "compressed", "-outform", "DER"])
        .output()
        .expect("this test needs openssl on PATH (xtask/setup.sh installs it)");
    assert!(out.status.success(), "openssl ec: {}", String::from_utf8_lossy(&out.stderr));
    let der = out.stdout;
    assert!(der.len() > 33, "openssl gave {} bytes", der.len());
    let point = der[der.len() - 33..].to_vec();
    assert!(matches!(point[0], 0x02 | 0x03), "not a compressed point: {}", hex(&point));
    point
}

#[test]
fn audit_log_records_signing_and_verification_without_secrets() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = |n: &str| tmp.path().join(n).display().to_string();
    let log = p("audit.jsonl");
    let module = vectors().join("modules/add.wasm").display().to_string();
    let mut outputs = String::new();
    let mut run = |args: &[&str], want: i32| {
        let o = wsc(args);
        assert_eq!(o.status.code(), Some(want), "{args:?}: {}", all_text(&o));
        outputs.push_str(&all_text(&o));
    };
    for (alg, fmt) in [("ed25519", "raw"), ("p256", "pem")] {
        let (sk, pk) = (p(&format!("{alg}.sk")), p(&format!("{alg}.pk")));
        run(&["keygen", "--algorithm", alg, "--format", fmt, "-k", &sk, "-K", &pk], 0);
        let signed = p(&format!("{alg}.wasm"));
        run(&["--audit-log", &log, "sign", "-i", &module, "-o", &signed, "-k", &sk, "-K", &pk], 0);
        run(&["verify", "--audit-log", &log, "-i", &signed, "-K", &pk], 0);
        run(&["verify", "--audit-log", &log, "-i", &module, "-K", &pk], 1);
        run(&["--audit-log", &log, "sign", "-i", &signed, "-o", &signed, "-k", &sk, "-K", &pk], 2);
    }
    // A secret key file that is not a key, carrying a sentinel: never echoed.
    let sentinel = "SENTINEL-0f5e8c1d-secret-material";
    std::fs::write(
        tmp.path().join("bad.sk"),
        format!("-----BEGIN PRIVATE KEY-----\n{sentinel}\n-----END PRIVATE KEY-----\n"),
    )
    .expect("write");
    run(&["--audit-log", &log, "sign", "-i", &module, "-o", &p("x.wasm"), "-k", &p("bad.sk")], 2);

    let audit = std::fs::read_to_string(&log).expect("audit log");
    let events: Vec<serde_json::Value> =
        audit.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    assert_eq!(events.len(), 9, "{audit}");
    let count = |ev: &str, res: &str| {
        events.iter().filter(|e| e["event"] == ev && e["result"].as_str().is_some_and(|r| r.starts_with(res))).count()
    };
    assert_eq!(count("sign", "signed"), 2);
    assert_eq!(count("sign", "error"), 3);
    assert_eq!(count("verify", "verified"), 2);
    assert_eq!(count("verify", "error"), 0);
    assert!(events.iter().all(|e| e["correlation_id"].as_str().is_some_and(|c| c.len() == 32)));
    // The content digest: SHA-256 of the module after its 8-byte preamble
    // (add.wasm has no signature section and minimal encodings, docs/format.md section 3).
    let module_bytes = std::fs::read(&module).expect("module");
    let digest = hex(&Sha256::digest(&module_bytes[8..]));
    // The key ids, from the public key bytes: the raw Ed25519 key, the compressed P-256 point.
    let ed_raw = std::fs::read(tmp.path().join("ed25519.pk")).expect("raw public key");
    assert_eq!((ed_raw.len(), ed_raw[0]), (33, 0x01), "wasmsign2 raw public key");
    let key_ids = [key_id_of(&ed_raw[1..]), key_id_of(&p256_compressed_point(&p("p256.pk")))];
    let signed: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["event"] == "sign" && e["result"] == "signed").collect();
    let verified: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["event"] == "verify" && e["result"] == "verified").collect();
    for (i, kid) in key_ids.iter().enumerate() {
        assert_eq!(signed[i]["content_sha256"].as_str(), Some(digest.as_str()), "{}", signed[i]);
        assert_eq!(signed[i]["key_id"].as_str(), Some(kid.as_str()), "{}", signed[i]);
        // The signed module has the same content: the verification reports the same digest.
        assert_eq!(verified[i]["content_sha256"].as_str(), Some(digest.as_str()), "{}", verified[i]);
        let verifier = verified[i]["verifier"].as_str().unwrap_or_default();
        assert!(verifier.contains(kid.as_str()), "{}", verified[i]);
    }
    // The unsigned module: a verification that ran and failed.
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "verify" && e["result"].as_str().is_some_and(|r| r.contains("no signature")))
    );

    // No secret anywhere: the seeds, the PEM bodies, the sentinel.
    let everything = format!("{outputs}{audit}");
    assert!(!everything.contains(sentinel), "sentinel leaked");
    let raw = std::fs::read(tmp.path().join("ed25519.sk")).expect("raw key");
    for secret in [hex(&raw[1..33]), hex(&raw[1..9])] {
        assert!(!everything.contains(&secret), "Ed25519 seed leaked");
    }
    let pem = std::fs::read_to_string(tmp.path().join("p256.sk")).expect("pem key");
    for line in pem.lines().filter(|l| !l.starts_with("-----") && l.len() > 16) {
        assert!(!everything.contains(line), "P-256 key material leaked");
    }
}

/// The sentinel check for signer URIs: a PIN put in a `--signer` URI (in
/// the query or the path, plain or percent-encoded, in the name or the
/// value) is refused, and appears nowhere: not on stdout or stderr, not in
/// the audit log, not in any file. wsc used to repeat the URI whole.
#[test]
fn a_pin_in_a_signer_uri_never_leaks() {
    const SENTINEL: &str = "S3ntinelPin4711";
    let encoded: String = SENTINEL.bytes().map(|b| format!("%{b:02X}")).collect();
    let uris = [
        format!("pkcs11:token=wsc;object=k?pin-value={SENTINEL}"),
        format!("pkcs11:token=wsc;object=k;pin-value={SENTINEL}"),
        format!("pkcs11:token=wsc;pin-value={SENTINEL};object=k?module-path=/usr/lib/x.so"),
        format!("pkcs11:object=k?module-path=/usr/lib/x.so&pin-value={SENTINEL}"),
        format!("pkcs11:object=k?pin%2Dvalue={SENTINEL}"),
        format!("pkcs11:object=k?%70in-value={encoded}"),
        format!("pkcs11:object=k;PIN-VALUE={encoded}"),
        format!("pkcs11:object=k;x-password={SENTINEL}"),
        format!("pkcs11:object=k;pin-value:{SENTINEL}"),
        format!("pkcs11:object=k?pin-value={SENTINEL} with a space'quote"),
    ];
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = |n: &str| tmp.path().join(n).display().to_string();
    let log = p("audit.jsonl");
    let module = vectors().join("modules/add.wasm").display().to_string();
    let mut outputs = String::new();
    for uri in &uris {
        let runs: [&[&str]; 5] = [
            &["--audit-log", &log, "sign", "-i", &module, "-o", &p("out.wasm"), "--signer", uri],
            &["--audit-log", &log, "sign", "-i", &module, "-S", &p("out.sig"), "--signer", uri],
            &["--audit-log", &log, "keygen", "--signer", uri, "-K", &p("out.pub")],
            &["--audit-log", &log, "pki", "csr", "--signer", uri, "--device-id", "d", "-o", &p("out.csr")],
            &["--audit-log", &log, "sign", "-i", &module, "-o", &p("out.wasm"), "--signer", uri, "-K", &p("nope")],
        ];
        for args in runs {
            let o = Command::new(env!("CARGO_BIN_EXE_wsc"))
                .args(args)
                .env("WSC_PKCS11_PIN", "1234")
                .env("WSC_PKCS11_MODULE", "/nonexistent/libpkcs11.so")
                .stdin(std::process::Stdio::null())
                .output()
                .expect("wsc runs");
            assert_eq!(o.status.code(), Some(2), "{uri}: {}", all_text(&o));
            // The refusal still says what is wrong.
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("pkcs11:") || err.contains("PKCS#11"), "{uri}: {err}");
            outputs.push_str(&all_text(&o));
        }
    }
    let audit = std::fs::read_to_string(&log).expect("audit log");
    let sign_errors = audit.lines().filter(|l| l.contains("\"event\":\"sign\"") && l.contains("\"error\"")).count();
    assert_eq!(sign_errors, 3 * uris.len(), "{audit}");
    assert!(audit.contains("pin-value=***"), "the audit log names the key, redacted: {audit}");
    let mut files = String::new();
    for entry in std::fs::read_dir(tmp.path()).expect("read_dir") {
        let path = entry.expect("entry").path();
        assert!(!path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("out.")), "{path:?} written");
        files.push_str(&String::from_utf8_lossy(&std::fs::read(&path).expect("read")));
    }
    let everything = format!("{outputs}{audit}{files}");
    for secret in [SENTINEL, &encoded, &encoded.to_lowercase(), "S3ntinel", "Pin4711"] {
        assert!(!everything.contains(secret), "'{secret}' leaked:\n{everything}");
    }
}
