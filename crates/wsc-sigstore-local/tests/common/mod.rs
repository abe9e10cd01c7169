//! Shared test helpers: a tiny HTTP/1.1 client and instance start-up.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use wsc_sigstore_local::{Config, Instance};

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request over plain HTTP to `base` (http://127.0.0.1:PORT) and reads the whole answer.
pub(crate) fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Answer> {
    let addr = base.strip_prefix("http://").expect("plain http base URL");
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse(&raw)
}

/// Parses a raw HTTP/1.1 answer (Content-Length or read-to-close bodies).
pub(crate) fn parse(raw: &[u8]) -> std::io::Result<Answer> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no header end (connection closed?)"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("bad status"))?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    let body = raw[end + 4..].to_vec();
    Ok(Answer { status, headers, body })
}

pub(crate) fn get(base: &str, path: &str) -> Answer {
    request(base, "GET", path, &[], b"").expect("GET")
}

pub(crate) fn post_json(base: &str, path: &str, body: &serde_json::Value) -> Answer {
    request(base, "POST", path, &[("Content-Type", "application/json")], body.to_string().as_bytes()).expect("POST")
}

/// Starts an instance over plain HTTP in a new temporary folder.
pub(crate) fn start(identities: &[&str]) -> (tempfile::TempDir, Instance) {
    let dir = tempfile::tempdir().expect("tempdir");
    let inst = Instance::start(Config {
        dir: dir.path().to_path_buf(),
        identities: identities.iter().map(|s| s.to_string()).collect(),
        tls: false,
        port: 0,
        rekor_v2: false,
    })
    .expect("start");
    (dir, inst)
}

pub(crate) use wsc_sigstore_local::codec::b64;

pub(crate) fn unb64(s: &str) -> Vec<u8> {
    wsc_sigstore_local::codec::b64_decode(s).expect("base64")
}

/// A fresh P-256 key, its SPKI PEM and a DER proof of possession over `subject`.
pub(crate) fn key_and_pop(subject: &str) -> (p256::ecdsa::SigningKey, String, String) {
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::{EncodePublicKey, LineEnding};
    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let pem = key.verifying_key().to_public_key_pem(LineEnding::LF).expect("pem");
    let sig: p256::ecdsa::DerSignature = key.sign(subject.as_bytes());
    (key, pem, b64(sig.as_bytes()))
}

/// A Fulcio v2 request with a public key and proof of possession.
pub(crate) fn fulcio_request(token: &str, pem: &str, pop: &str) -> serde_json::Value {
    serde_json::json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": pem}, "proofOfPossession": pop},
    })
}

/// The DER certificates of a Fulcio answer (leaf, intermediate, root).
pub(crate) fn chain_der(answer: &serde_json::Value) -> Vec<Vec<u8>> {
    let chain = answer
        .pointer("/signedCertificateEmbeddedSct/chain/certificates")
        .or_else(|| answer.pointer("/signedCertificateDetachedSct/chain/certificates"))
        .and_then(|c| c.as_array())
        .expect("chain");
    chain
        .iter()
        .map(|p| {
            let (label, der) = der::pem::decode_vec(p.as_str().expect("pem").as_bytes()).expect("pem");
            assert_eq!(label, "CERTIFICATE");
            der
        })
        .collect()
}

/// The trusted root written by the instance.
pub(crate) fn trusted_root(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("trusted_root.json")).expect("trusted_root.json")).expect("json")
}

/// A `hashedrekord` 0.0.1 request for `artifact`, signed with a fresh Fulcio certificate.
pub(crate) fn hashedrekord(inst: &Instance, identity: &str, artifact: &[u8]) -> serde_json::Value {
    hashedrekord_at(inst.url(), &inst.mint_token(identity).expect("token"), identity, artifact)
}

/// The same against any base URL with a given token.
pub(crate) fn hashedrekord_at(base: &str, token: &str, identity: &str, artifact: &[u8]) -> serde_json::Value {
    use p256::ecdsa::signature::Signer;
    use sha2::{Digest, Sha256};
    let (key, pem, pop) = key_and_pop(identity);
    let a = post_json(base, "/api/v2/signingCert", &fulcio_request(token, &pem, &pop));
    assert_eq!(a.status, 201, "{}", a.text());
    let v = a.json();
    let leaf_pem = v["signedCertificateEmbeddedSct"]["chain"]["certificates"][0].as_str().expect("leaf").to_string();
    let sig: p256::ecdsa::DerSignature = key.sign(artifact);
    let digest: String = Sha256::digest(artifact).iter().map(|b| format!("{b:02x}")).collect();
    serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest}},
            "signature": {"content": b64(sig.as_bytes()), "publicKey": {"content": b64(leaf_pem.as_bytes())}},
        },
    })
}

/// Verifies an entry's SET (RFC 8785 canonical JSON, ECDSA with the Rekor key of the trusted root).
pub(crate) fn verify_set(dir: &std::path::Path, entry: &serde_json::Value) -> Result<(), String> {
    use p256::ecdsa::signature::Verifier;
    use p256::pkcs8::DecodePublicKey;
    let canonical = format!(
        r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
        entry["body"].as_str().ok_or("body")?,
        entry["integratedTime"].as_i64().ok_or("integratedTime")?,
        entry["logID"].as_str().ok_or("logID")?,
        entry["logIndex"].as_i64().ok_or("logIndex")?,
    );
    let set = unb64(entry["verification"]["signedEntryTimestamp"].as_str().ok_or("SET")?);
    let key = unb64(trusted_root(dir)["tlogs"][0]["publicKey"]["rawBytes"].as_str().ok_or("key")?);
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(&key).map_err(|e| e.to_string())?;
    let sig = p256::ecdsa::Signature::from_der(&set).map_err(|e| e.to_string())?;
    key.verify(canonical.as_bytes(), &sig).map_err(|e| format!("SET: {e}"))
}

/// The single entry of a Rekor answer `{uuid: entry}`.
pub(crate) fn only_entry(v: &serde_json::Value) -> (String, serde_json::Value) {
    let obj = v.as_object().expect("object");
    assert_eq!(obj.len(), 1, "{v}");
    let (k, e) = obj.iter().next().expect("entry");
    (k.clone(), e.clone())
}

/// Lower-case hex to bytes.
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// A SHA-256 Merkle tree hash.
pub(crate) type H = [u8; 32];

/// SHA-256 over the concatenation of `parts`.
pub(crate) fn sha(parts: &[&[u8]]) -> H {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// RFC 6962 interior node: SHA-256(0x01 ‖ left ‖ right).
pub(crate) fn node(l: &H, r: &H) -> H {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// RFC 9162 §2.1.3.2: verify an inclusion proof (written for the tests,
/// independent of the crate's tree code).
pub(crate) fn verify_inclusion(index: u64, size: u64, leaf: &H, proof: &[H], root: &H) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnn, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fnn & 1 == 1 || fnn == sn {
            r = node(p, &r);
            while fnn & 1 == 0 && fnn != 0 {
                fnn >>= 1;
                sn >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        fnn >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: verify a consistency proof between two non-empty trees.
pub(crate) fn verify_consistency(first: u64, second: u64, root1: &H, root2: &H, proof: &[H]) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && root1 == root2;
    }
    let mut path: Vec<H> = proof.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *root1);
    }
    if path.is_empty() {
        return false;
    }
    let (mut fnn, mut sn) = (first - 1, second - 1);
    while fnn & 1 == 1 {
        fnn >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return false;
        }
        if fnn & 1 == 1 || fnn == sn {
            fr = node(c, &fr);
            sr = node(c, &sr);
            while fnn & 1 == 0 && fnn != 0 {
                fnn >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node(&sr, c);
        }
        fnn >>= 1;
        sn >>= 1;
    }
    fr == *root1 && sr == *root2 && sn == 0
}

/// [`verify_consistency`] over byte strings as the log's JSON gives them;
/// from an empty tree any tree is consistent with an empty proof.
pub(crate) fn consistency_ok(size1: u64, size2: u64, root1: &[u8], root2: &[u8], proof: &[Vec<u8>]) -> bool {
    if size1 > size2 {
        return false;
    }
    if size1 == size2 {
        return proof.is_empty() && root1 == root2;
    }
    if size1 == 0 {
        return proof.is_empty();
    }
    let h = |v: &[u8]| -> Option<H> { v.try_into().ok() };
    let (Some(r1), Some(r2)) = (h(root1), h(root2)) else { return false };
    let Some(path) = proof.iter().map(|p| h(p)).collect::<Option<Vec<H>>>() else { return false };
    verify_consistency(size1, size2, &r1, &r2, &path)
}

pub(crate) fn log_info(base: &str) -> (u64, Vec<u8>) {
    let v = get(base, "/api/v1/log").json();
    (v["treeSize"].as_u64().expect("size"), unhex(v["rootHash"].as_str().expect("root")))
}

pub(crate) fn check_consistency(base: &str, old: &(u64, Vec<u8>)) {
    let new = log_info(base);
    let p = get(base, &format!("/api/v1/log/proof?firstSize={}&lastSize={}", old.0, new.0));
    assert_eq!(p.status, 200, "{}", p.text());
    let p = p.json();
    let hashes: Vec<Vec<u8>> =
        p["hashes"].as_array().expect("hashes").iter().map(|h| unhex(h.as_str().expect("h"))).collect();
    assert_eq!(unhex(p["rootHash"].as_str().expect("root")), new.1);
    assert!(consistency_ok(old.0, new.0, &old.1, &new.1, &hashes), "consistency proof {} -> {}", old.0, new.0);
    // A wrong old root fails the same check.
    let mut wrong = old.1.clone();
    wrong[0] ^= 1;
    assert!(!consistency_ok(old.0, new.0, &wrong, &new.1, &hashes));
}

/// `python3 -m sigstore --trust-config DIR/trust_config.json ...`, never through a proxy.
pub(crate) fn sigstore(dir: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new("python3");
    c.args(["-m", "sigstore", "--trust-config"]).arg(dir.join("trust_config.json"));
    c.env("COLUMNS", "400").env("NO_PROXY", "127.0.0.1,localhost").env("no_proxy", "127.0.0.1,localhost");
    for v in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        c.env_remove(v);
    }
    c
}

/// Runs a command: (success, stdout and stderr).
pub(crate) fn run(mut c: std::process::Command) -> (bool, String) {
    let out = c.output().expect("python3 runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}
