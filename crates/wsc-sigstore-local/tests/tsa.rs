//! The RFC 3161 TSA, judged by the openssl command-line tool.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use p256::ecdsa::SigningKey;
use wsc_sigstore_local::codec::cert_pem as pem;
use wsc_sigstore_local::tsa::Tsa;

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// A TSA plus its chain written as leaf.pem and root.pem, and a data file.
fn setup(dir: &Path) -> Tsa {
    let tsa = Tsa::open(&dir.join("state"), SigningKey::random(&mut rand_core::OsRng)).unwrap();
    let chain = tsa.chain_der();
    assert_eq!(chain.len(), 2);
    std::fs::write(dir.join("leaf.pem"), pem(&chain[0])).unwrap();
    std::fs::write(dir.join("root.pem"), pem(&chain[1])).unwrap();
    std::fs::write(dir.join("data.txt"), b"hello, timestamps\n").unwrap();
    std::fs::write(dir.join("other.txt"), b"hello, timestamps!\n").unwrap();
    tsa
}

/// Makes a query with `extra` options, answers it, and returns whether openssl verified it.
fn round_trip(tsa: &Tsa, dir: &Path, extra: &[&str], untrusted: bool) -> (bool, String) {
    let mut args = vec!["ts", "-query", "-data", "data.txt", "-out", "q.tsq"];
    args.extend_from_slice(extra);
    let (ok, text) = openssl(&args, dir);
    assert!(ok, "query: {text}");
    let resp = tsa.respond(&std::fs::read(dir.join("q.tsq")).unwrap()).unwrap();
    std::fs::write(dir.join("r.tsr"), resp).unwrap();
    let mut v = vec!["ts", "-verify", "-in", "r.tsr", "-queryfile", "q.tsq", "-CAfile", "root.pem"];
    if untrusted {
        v.extend_from_slice(&["-untrusted", "leaf.pem"]);
    }
    openssl(&v, dir)
}

#[test]
fn openssl_verifies_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tsa = setup(dir);
    for (extra, untrusted) in [
        (&["-sha256", "-cert"][..], true),
        (&["-sha256", "-cert"][..], false),
        (&["-sha256", "-cert", "-no_nonce"][..], true),
        (&["-sha256"][..], true),
        (&["-sha512", "-cert"][..], true),
        (&["-sha384"][..], true),
        (&["-sha256", "-cert", "-tspolicy", "1.2.3.4.1"][..], true),
    ] {
        let (ok, text) = round_trip(&tsa, dir, extra, untrusted);
        assert!(ok && text.contains("Verification: OK"), "{extra:?}: {text}");
    }
    // Without the certificate in the token, openssl needs -untrusted to find the signer.
    let (ok, text) = round_trip(&tsa, dir, &["-sha256"], false);
    assert!(!ok, "no signer certificate available, yet: {text}");

    // Verifying against the data directly, and a changed file fails.
    let (ok, text) = round_trip(&tsa, dir, &["-sha256", "-cert"], true);
    assert!(ok, "{text}");
    let (ok, text) = openssl(&["ts", "-verify", "-in", "r.tsr", "-data", "data.txt", "-CAfile", "root.pem"], dir);
    assert!(ok && text.contains("Verification: OK"), "{text}");
    let (ok, text) = openssl(&["ts", "-verify", "-in", "r.tsr", "-data", "other.txt", "-CAfile", "root.pem"], dir);
    assert!(!ok && !text.contains("Verification: OK"), "changed file accepted: {text}");

    // A token for another query (other nonce) does not verify against this query.
    let resp = std::fs::read(dir.join("r.tsr")).unwrap();
    let (ok, _) = openssl(&["ts", "-query", "-data", "data.txt", "-sha256", "-cert", "-out", "q2.tsq"], dir);
    assert!(ok);
    std::fs::write(dir.join("r.tsr"), resp).unwrap();
    let (ok, text) = openssl(
        &["ts", "-verify", "-in", "r.tsr", "-queryfile", "q2.tsq", "-CAfile", "root.pem", "-untrusted", "leaf.pem"],
        dir,
    );
    assert!(!ok, "nonce mismatch accepted: {text}");
}

#[test]
fn token_text_shows_whole_seconds_nonce_and_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tsa = setup(dir);
    let (ok, text) = round_trip(&tsa, dir, &["-sha256", "-cert"], true);
    assert!(ok, "{text}");
    let (ok, query) = openssl(&["ts", "-query", "-in", "q.tsq", "-text"], dir);
    assert!(ok, "{query}");
    let (ok, reply) = openssl(&["ts", "-reply", "-in", "r.tsr", "-text"], dir);
    assert!(ok, "{reply}");
    assert!(reply.contains("Status: Granted."), "{reply}");
    // openssl's default configuration names 1.2.3.4.1 "tsa_policy1".
    assert!(reply.contains("Policy OID: 1.2.3.4.1") || reply.contains("Policy OID: tsa_policy1"), "{reply}");
    assert!(reply.contains("Hash Algorithm: sha256"), "{reply}");
    let time_line = reply.lines().find(|l| l.starts_with("Time stamp:")).expect("time line");
    // "Time stamp: Nov 25 14:50:31 2026 GMT": no fractional seconds.
    assert!(time_line.ends_with(" GMT") && !time_line.contains('.'), "{time_line}");
    let nonce = |t: &str| t.lines().find(|l| l.starts_with("Nonce:")).map(str::to_string);
    assert_eq!(nonce(&query), nonce(&reply));
    assert!(nonce(&reply).is_some());
    let serial = reply.lines().find(|l| l.starts_with("Serial number:")).expect("serial");
    assert!(!serial.contains('-'), "{serial}");
}

#[test]
fn tsa_certificates_have_the_right_extensions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let (ok, leaf) = openssl(&["x509", "-in", "leaf.pem", "-noout", "-text"], dir);
    assert!(ok, "{leaf}");
    let eku = leaf.find("X509v3 Extended Key Usage: critical").expect("critical EKU");
    assert!(leaf[eku..].lines().nth(1).unwrap().contains("Time Stamping"), "{leaf}");
    let ku = leaf.find("X509v3 Key Usage: critical").expect("key usage");
    assert!(leaf[ku..].lines().nth(1).unwrap().trim() == "Digital Signature", "{leaf}");
    let (ok, text) = openssl(&["verify", "-CAfile", "root.pem", "-purpose", "timestampsign", "leaf.pem"], dir);
    assert!(ok && text.contains("leaf.pem: OK"), "{text}");
    let (ok, root) = openssl(&["x509", "-in", "root.pem", "-noout", "-text"], dir);
    assert!(ok && root.contains("CA:TRUE"), "{root}");
}

#[test]
fn malformed_and_unsupported_queries() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tsa = setup(dir);
    for bad in [&b""[..], b"\x30\x03\x02\x01\x01", b"not der at all", &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]] {
        let err = tsa.respond(bad).unwrap_err();
        assert_eq!(err.status, 400, "{err}");
    }
    assert_eq!(tsa.respond(&vec![0u8; 1 << 20]).unwrap_err().status, 413);
    let (ok, text) = openssl(&["ts", "-query", "-data", "data.txt", "-sha256", "-cert", "-out", "q.tsq"], dir);
    assert!(ok, "{text}");
    let q = std::fs::read(dir.join("q.tsq")).unwrap();
    // Trailing bytes after the request are malformed too.
    let mut trailing = q.clone();
    trailing.push(0);
    assert_eq!(tsa.respond(&trailing).unwrap_err().status, 400);

    // Byte flips and truncations: a response or a 400, never a panic.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..500 {
        let mut m = q.clone();
        if round % 4 == 0 {
            m.truncate((next() % m.len() as u64) as usize);
        } else {
            let i = (next() % m.len() as u64) as usize;
            m[i] ^= 1 << (next() % 8);
        }
        if let Err(e) = tsa.respond(&m) {
            assert_eq!(e.status, 400, "round {round}: {e}");
        }
    }

    // SHA-1 is refused with status rejection and failInfo badAlg.
    let (ok, text) = openssl(&["ts", "-query", "-data", "data.txt", "-sha1", "-out", "q1.tsq"], dir);
    assert!(ok, "{text}");
    let resp = tsa.respond(&std::fs::read(dir.join("q1.tsq")).unwrap()).unwrap();
    std::fs::write(dir.join("r1.tsr"), resp).unwrap();
    let (ok, reply) = openssl(&["ts", "-reply", "-in", "r1.tsr", "-text"], dir);
    assert!(ok, "{reply}");
    assert!(reply.contains("Status: Rejected."), "{reply}");
    assert!(reply.contains("unrecognized or unsupported algorithm identifier"), "{reply}");
    assert!(reply.contains("TST info:\nNot included."), "{reply}");

    // Another policy is refused.
    let (ok, _) =
        openssl(&["ts", "-query", "-data", "data.txt", "-sha256", "-tspolicy", "1.2.3.9", "-out", "qp.tsq"], dir);
    assert!(ok);
    let resp = tsa.respond(&std::fs::read(dir.join("qp.tsq")).unwrap()).unwrap();
    std::fs::write(dir.join("rp.tsr"), resp).unwrap();
    let (_, reply) = openssl(&["ts", "-reply", "-in", "rp.tsr", "-text"], dir);
    assert!(reply.contains("Status: Rejected.") && reply.contains("policy"), "{reply}");
}

#[test]
fn reopen_keeps_the_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::random(&mut rand_core::OsRng);
    let first = Tsa::open(tmp.path(), key.clone()).unwrap().chain_der();
    let again = Tsa::open(tmp.path(), key).unwrap().chain_der();
    assert_eq!(first, again);
    // The stored leaf belongs to the first key: another key is refused.
    let err = Tsa::open(tmp.path(), SigningKey::random(&mut rand_core::OsRng)).unwrap_err();
    assert!(err.to_string().contains("another key"), "{err}");
}

/// sigstore-python's RFC 3161 library (rfc3161-client) builds the query and verifies the answer.
#[test]
fn sigstore_python_rfc3161_client_verifies_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tsa = setup(dir);
    let make = r#"
import sys
from rfc3161_client import TimestampRequestBuilder, HashAlgorithm
req = TimestampRequestBuilder().hash_algorithm(HashAlgorithm.SHA256).data(open("data.txt","rb").read()).nonce(nonce=True).build()
open("py.tsq","wb").write(req.as_bytes())
"#;
    let out = Command::new("python3").args(["-c", make]).current_dir(dir).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let resp = tsa.respond(&std::fs::read(dir.join("py.tsq")).unwrap()).unwrap();
    std::fs::write(dir.join("py.tsr"), resp).unwrap();
    let check = r#"
import sys
from cryptography import x509
from rfc3161_client import decode_timestamp_response, VerifierBuilder, VerificationError
leaf = x509.load_pem_x509_certificate(open("leaf.pem","rb").read())
root = x509.load_pem_x509_certificate(open("root.pem","rb").read())
resp = decode_timestamp_response(open("py.tsr","rb").read())
v = VerifierBuilder().tsa_certificate(leaf).add_root_certificate(root).build()
v.verify_message(resp, open("data.txt","rb").read())
assert resp.tst_info.gen_time.microsecond == 0
try:
    v.verify_message(resp, open("other.txt","rb").read())
    print("other accepted")
    sys.exit(3)
except VerificationError:
    pass
print("OK", resp.tst_info.gen_time.isoformat())
"#;
    let out = Command::new("python3").args(["-c", check]).current_dir(dir).output().expect("python3");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.starts_with("OK"), "{text}");
}
