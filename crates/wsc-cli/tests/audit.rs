//! The audit log (`--audit-log`), and the sentinel check: no secret key
//! material ever appears in the output, the errors or the audit log.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    let signed = events.iter().find(|e| e["event"] == "sign" && e["result"] == "signed").expect("sign event");
    assert_eq!(signed["content_sha256"].as_str().map(str::len), Some(64));
    assert!(signed["key_id"].as_str().is_some_and(|k| k.len() == 24));
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
