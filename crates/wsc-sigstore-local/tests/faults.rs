//! Every fault is observable over HTTP, and only on the Fulcio, Rekor and TSA paths.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;
use der::{Decode, Encode};
use p256::ecdsa::signature::Verifier;
use p256::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};

const ID: &str = "https://github.com/o/r/.github/workflows/w.yml@refs/heads/main";

fn issue(inst: &wsc_sigstore_local::Instance) -> Answer {
    let token = inst.mint_token(ID).expect("token");
    let (_, pem, pop) = key_and_pop(ID);
    post_json(inst.url(), "/api/v2/signingCert", &fulcio_request(&token, &pem, &pop))
}

#[test]
fn rate_limit_server_error_and_counts() {
    let (_dir, inst) = start(&[ID]);
    inst.faults().rate_limit(2, 7);
    for _ in 0..2 {
        let a = get(inst.url(), "/api/v1/log");
        assert_eq!(a.status, 429);
        assert_eq!(a.header("retry-after"), Some("7"));
        assert_eq!(a.json()["code"], 429);
    }
    // OIDC paths are never faulted.
    inst.faults().server_error(1);
    assert_eq!(get(inst.url(), "/jwks").status, 200);
    assert_eq!(issue(&inst).status, 500);
    assert_eq!(issue(&inst).status, 201);
    assert_eq!(inst.requests("/api/v1/log"), 2);
    assert_eq!(inst.requests("/api/v2/signingCert"), 2);
    assert_eq!(inst.requests("/jwks"), 1);
    assert_eq!(inst.requests("/never"), 0);
}

#[test]
fn dropped_connection_and_slow_answers() {
    let (_dir, inst) = start(&[ID]);
    inst.faults().drop_connection(1);
    let err = request(inst.url(), "GET", "/api/v1/log", &[], b"");
    assert!(err.is_err(), "the connection closes without any answer: {err:?}");
    assert_eq!(inst.requests("/api/v1/log"), 1);
    assert_eq!(get(inst.url(), "/api/v1/log").status, 200);

    inst.faults().slow(400);
    let t = Instant::now();
    assert_eq!(get(inst.url(), "/api/v1/log").status, 200);
    assert!(t.elapsed() >= Duration::from_millis(400), "{:?}", t.elapsed());
    inst.faults().clear();
    let t = Instant::now();
    assert_eq!(get(inst.url(), "/api/v1/log").status, 200);
    assert!(t.elapsed() < Duration::from_millis(400));
}

#[test]
fn faults_over_http() {
    let (_dir, inst) = start(&[ID]);
    let a = post_json(
        inst.url(),
        "/__wsc/faults",
        &serde_json::json!({"server_error": 1, "rate_limit": {"count": 1, "retry_after_seconds": 3}}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["server_error"], 1);
    // Drop first, then rate limit, then server error.
    assert_eq!(get(inst.url(), "/api/v1/log").status, 429);
    assert_eq!(get(inst.url(), "/api/v1/log").status, 500);
    assert_eq!(get(inst.url(), "/api/v1/log").status, 200);
    let a = post_json(inst.url(), "/__wsc/faults", &serde_json::json!({"no_such_fault": true}));
    assert_eq!(a.status, 400);
    let a = post_json(inst.url(), "/__wsc/faults", &serde_json::json!({"bad_sct": true}));
    assert_eq!(a.json()["bad_sct"], true);
    let a = post_json(inst.url(), "/__wsc/faults", &serde_json::json!({"clear": true}));
    assert_eq!(a.json()["bad_sct"], false);
}

#[test]
fn oversized_bodies_get_413() {
    let (_dir, inst) = start(&[ID]);
    // A Content-Length over the limit is refused from the header alone: the
    // body is not sent (writing it would race the server's early close).
    let addr = inst.url().strip_prefix("http://").expect("http");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "POST /api/v1/log/entries HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        1024 * 1024 + 1
    )
    .expect("w");
    let mut raw = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut raw);
    assert_eq!(common::parse(&raw).expect("an answer").status, 413);
    // A chunked body without Content-Length is cut off too.
    let addr = inst.url().strip_prefix("http://").expect("http");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(s, "POST /api/v1/timestamp HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n")
        .expect("w");
    for _ in 0..20 {
        if write!(s, "10000\r\n{}\r\n", "a".repeat(0x10000)).is_err() {
            break;
        }
    }
    let _ = write!(s, "0\r\n\r\n");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert_eq!(parse(&raw).expect("answer").status, 413);
}

#[test]
fn bad_sct_foreign_chain_and_detached_sct() {
    let (dir, inst) = start(&[ID]);
    let root = trusted_root(dir.path());
    let trusted_ca =
        unb64(root["certificateAuthorities"][0]["certChain"]["certificates"][1]["rawBytes"].as_str().expect("r"));
    let ct_key = unb64(root["ctlogs"][0]["publicKey"]["rawBytes"].as_str().expect("ct"));
    let ct_key = p256::ecdsa::VerifyingKey::from_public_key_der(&ct_key).expect("ct key");

    // Foreign chain: the root is not the trusted root's, and the leaf's issuer is not the trusted intermediate.
    inst.faults().foreign_chain(true);
    let chain = chain_der(&issue(&inst).json());
    assert_ne!(chain[2], trusted_ca);
    let trusted_inter =
        unb64(root["certificateAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"].as_str().expect("i"));
    let trusted_inter = x509_cert::Certificate::from_der(&trusted_inter).expect("i");
    let leaf = x509_cert::Certificate::from_der(&chain[0]).expect("leaf");
    assert_ne!(leaf.tbs_certificate.issuer, trusted_inter.tbs_certificate.subject);
    inst.faults().foreign_chain(false);

    // Detached SCT: Fulcio's JSON form, over the x509_entry of the final certificate.
    inst.faults().detached_sct(true);
    let v = issue(&inst).json();
    let d = &v["signedCertificateDetachedSct"];
    let chain = chain_der(&v);
    let leaf = x509_cert::Certificate::from_der(&chain[0]).expect("leaf");
    let has_sct = leaf
        .tbs_certificate
        .extensions
        .as_ref()
        .expect("exts")
        .iter()
        .any(|e| e.extn_id.to_string() == "1.3.6.1.4.1.11129.2.4.2");
    assert!(!has_sct);
    let sct: serde_json::Value =
        serde_json::from_slice(&unb64(d["signedCertificateTimestamp"].as_str().expect("sct"))).expect("json");
    assert_eq!(sct["sct_version"], 0);
    assert_eq!(sct["id"].as_str(), root["ctlogs"][0]["logId"]["keyId"].as_str());
    let ds = unb64(sct["signature"].as_str().expect("sig"));
    assert_eq!((ds[0], ds[1]), (4, 3));
    let sig = p256::ecdsa::Signature::from_der(&ds[4..]).expect("der");
    let detached_signed = |ts: u64| {
        let mut m = vec![0u8, 0u8];
        m.extend_from_slice(&ts.to_be_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&(chain[0].len() as u32).to_be_bytes()[1..]);
        m.extend_from_slice(&chain[0]);
        m.extend_from_slice(&[0, 0]);
        m
    };
    let ts = sct["timestamp"].as_u64().expect("ts");
    ct_key.verify(&detached_signed(ts), &sig).expect("detached SCT verifies");

    // bad_sct with the detached form: the same check fails.
    inst.faults().bad_sct(true);
    let v = issue(&inst).json();
    let chain2 = chain_der(&v);
    let sct: serde_json::Value = serde_json::from_slice(&unb64(
        v["signedCertificateDetachedSct"]["signedCertificateTimestamp"].as_str().expect("s"),
    ))
    .expect("j");
    let ds = unb64(sct["signature"].as_str().expect("sig"));
    let sig = p256::ecdsa::Signature::from_der(&ds[4..]).expect("der");
    let mut m = vec![0u8, 0u8];
    m.extend_from_slice(&sct["timestamp"].as_u64().expect("ts").to_be_bytes());
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&(chain2[0].len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(&chain2[0]);
    m.extend_from_slice(&[0, 0]);
    assert!(ct_key.verify(&m, &sig).is_err());

    // bad_sct embedded: openssl still chains it, but the SCT does not verify.
    inst.faults().detached_sct(false);
    let chain = chain_der(&issue(&inst).json());
    let leaf = x509_cert::Certificate::from_der(&chain[0]).expect("leaf");
    let inter = x509_cert::Certificate::from_der(&chain[1]).expect("i");
    assert!(embedded_sct_ok(&leaf, &inter, &ct_key).is_err());
    inst.faults().bad_sct(false);
    let chain = chain_der(&issue(&inst).json());
    let leaf = x509_cert::Certificate::from_der(&chain[0]).expect("leaf");
    embedded_sct_ok(&leaf, &inter, &ct_key).expect("good SCT");
}

/// A compact RFC 6962 precert SCT check.
fn embedded_sct_ok(
    leaf: &x509_cert::Certificate,
    inter: &x509_cert::Certificate,
    ct: &p256::ecdsa::VerifyingKey,
) -> Result<(), p256::ecdsa::Error> {
    let oid = der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
    let mut tbs = leaf.tbs_certificate.clone();
    let exts = tbs.extensions.as_mut().expect("exts");
    let sct_ext = exts.iter().find(|e| e.extn_id == oid).expect("SCT").clone();
    exts.retain(|e| e.extn_id != oid);
    let list = der::asn1::OctetString::from_der(sct_ext.extn_value.as_bytes()).expect("os");
    let sct = &list.as_bytes()[4..];
    let ts = &sct[33..41];
    let sig = p256::ecdsa::Signature::from_der(&sct[47..]).expect("sig");
    let tbs = tbs.to_der().expect("der");
    let mut m = vec![0u8, 0u8];
    m.extend_from_slice(ts);
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&Sha256::digest(inter.tbs_certificate.subject_public_key_info.to_der().expect("spki")));
    m.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(&tbs);
    m.extend_from_slice(&[0, 0]);
    ct.verify(&m, &sig)
}

#[test]
fn bad_set_is_detectable() {
    let (dir, inst) = start(&[ID]);
    let req = hashedrekord(&inst, ID, b"artifact one");
    let a = post_json(inst.url(), "/api/v1/log/entries", &req);
    assert_eq!(a.status, 201, "{}", a.text());
    let (_, e) = only_entry(&a.json());
    verify_set(dir.path(), &e).expect("good SET");

    inst.faults().bad_set(true);
    let req = hashedrekord(&inst, ID, b"artifact two");
    let a = post_json(inst.url(), "/api/v1/log/entries", &req);
    assert_eq!(a.status, 201, "{}", a.text());
    let (_, e) = only_entry(&a.json());
    assert!(verify_set(dir.path(), &e).is_err());
}
