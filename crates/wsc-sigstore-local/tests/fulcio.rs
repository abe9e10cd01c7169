//! Fulcio v2: issuance, leaf extensions, an independent SCT check, refusals, openssl.

mod common;

use common::*;
use der::asn1::OctetString;
use der::{Decode, Encode};
use p256::ecdsa::signature::Verifier;
use p256::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, SubjectAltName};

const URI_ID: &str = "https://github.com/o/r/.github/workflows/w.yml@refs/heads/main";
const EMAIL_ID: &str = "dev@example.test";

fn ext<'a>(cert: &'a Certificate, oid: &str) -> Option<&'a x509_cert::ext::Extension> {
    let oid = der::oid::ObjectIdentifier::new(oid).expect("oid");
    cert.tbs_certificate.extensions.as_ref()?.iter().find(|e| e.extn_id == oid)
}

/// Reads a big-endian integer of `n` bytes.
fn be(b: &[u8], n: usize) -> u64 {
    b[..n].iter().fold(0u64, |a, x| (a << 8) | u64::from(*x))
}

/// Verifies the embedded SCT the way RFC 6962 §3.2 says, without any code of the server.
fn verify_embedded_sct(leaf: &Certificate, issuer_spki_der: &[u8], ct_spki_der: &[u8]) -> Result<(), String> {
    let sct_ext = ext(leaf, "1.3.6.1.4.1.11129.2.4.2").ok_or("no SCT extension")?;
    let list = OctetString::from_der(sct_ext.extn_value.as_bytes()).map_err(|e| e.to_string())?;
    let list = list.as_bytes();
    let total = be(list, 2) as usize;
    assert_eq!(total, list.len() - 2, "list length");
    let sct_len = be(&list[2..], 2) as usize;
    let sct = &list[4..4 + sct_len];
    assert_eq!(sct[0], 0, "SCT v1");
    let log_id = &sct[1..33];
    assert_eq!(log_id, &Sha256::digest(ct_spki_der)[..], "log id = SHA-256 of the CT key");
    let timestamp = &sct[33..41];
    let ext_len = be(&sct[41..], 2) as usize;
    let rest = &sct[43 + ext_len..];
    assert_eq!((rest[0], rest[1]), (4, 3), "sha256 / ecdsa");
    let sig_len = be(&rest[2..], 2) as usize;
    let sig = &rest[4..4 + sig_len];
    assert_eq!(rest.len(), 4 + sig_len);
    // The precertificate TBS: the final TBS without the SCT extension.
    let mut tbs = leaf.tbs_certificate.clone();
    if let Some(exts) = tbs.extensions.as_mut() {
        exts.retain(|e| e.extn_id != sct_ext.extn_id);
    }
    let tbs_der = tbs.to_der().map_err(|e| e.to_string())?;
    let mut signed = vec![0u8, 0u8];
    signed.extend_from_slice(timestamp);
    signed.extend_from_slice(&[0, 1]);
    signed.extend_from_slice(&Sha256::digest(issuer_spki_der));
    signed.extend_from_slice(&(tbs_der.len() as u32).to_be_bytes()[1..]);
    signed.extend_from_slice(&tbs_der);
    signed.extend_from_slice(&sct[41..43 + ext_len]);
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(ct_spki_der).map_err(|e| e.to_string())?;
    let sig = p256::ecdsa::Signature::from_der(sig).map_err(|e| e.to_string())?;
    key.verify(&signed, &sig).map_err(|e| format!("SCT signature: {e}"))
}

fn ct_key(dir: &std::path::Path) -> Vec<u8> {
    unb64(trusted_root(dir)["ctlogs"][0]["publicKey"]["rawBytes"].as_str().expect("ct key"))
}

fn issue(base: &str, token: &str, subject: &str) -> common::Answer {
    let (_, pem, pop) = key_and_pop(subject);
    post_json(base, "/api/v2/signingCert", &fulcio_request(token, &pem, &pop))
}

#[test]
fn issues_a_leaf_with_fulcio_extensions_and_a_valid_sct() {
    let (dir, inst) = start(&[URI_ID, EMAIL_ID]);
    let token = inst.mint_token(URI_ID).expect("token");
    let a = issue(inst.url(), &token, URI_ID);
    assert_eq!(a.status, 201, "{}", a.text());
    let chain = chain_der(&a.json());
    assert_eq!(chain.len(), 3);
    let leaf = Certificate::from_der(&chain[0]).expect("leaf");
    let inter = Certificate::from_der(&chain[1]).expect("intermediate");
    // The trusted root lists the intermediate and the root.
    let root = trusted_root(dir.path());
    let ca = &root["certificateAuthorities"][0]["certChain"]["certificates"];
    assert_eq!(unb64(ca[0]["rawBytes"].as_str().expect("i")), chain[1]);
    assert_eq!(unb64(ca[1]["rawBytes"].as_str().expect("r")), chain[2]);

    let tbs = &leaf.tbs_certificate;
    assert!(tbs.subject.0.is_empty(), "empty subject");
    assert_eq!(tbs.issuer, inter.tbs_certificate.subject);
    let life = tbs.validity.not_after.to_unix_duration() - tbs.validity.not_before.to_unix_duration();
    assert_eq!(life.as_secs(), 600);
    let serial = tbs.serial_number.as_bytes();
    assert!(serial[0] & 0x80 == 0, "positive serial");

    let san = ext(&leaf, "2.5.29.17").expect("SAN");
    assert!(san.critical);
    let san = SubjectAltName::from_der(san.extn_value.as_bytes()).expect("SAN");
    assert_eq!(san.0, vec![GeneralName::UniformResourceIdentifier(der::asn1::Ia5String::new(URI_ID).expect("ia5"))]);
    let ku = ext(&leaf, "2.5.29.15").expect("KU");
    assert!(ku.critical);
    let ku = KeyUsage::from_der(ku.extn_value.as_bytes()).expect("ku");
    assert!(ku.digital_signature() && !ku.key_cert_sign());
    let eku = ExtendedKeyUsage::from_der(ext(&leaf, "2.5.29.37").expect("EKU").extn_value.as_bytes()).expect("eku");
    assert_eq!(eku.0, vec![der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3")]);
    assert!(ext(&leaf, "2.5.29.14").is_some() && ext(&leaf, "2.5.29.35").is_some(), "SKI and AKI");
    assert_eq!(ext(&leaf, "1.3.6.1.4.1.57264.1.1").expect("1.1").extn_value.as_bytes(), inst.url().as_bytes());
    let v2 = ext(&leaf, "1.3.6.1.4.1.57264.1.8").expect("1.8");
    assert_eq!(der::asn1::Utf8StringRef::from_der(v2.extn_value.as_bytes()).expect("utf8").as_str(), inst.url());
    let last = tbs.extensions.as_ref().and_then(|e| e.last()).expect("extensions");
    assert_eq!(last.extn_id.to_string(), "1.3.6.1.4.1.11129.2.4.2", "SCT is the last extension");

    let issuer_spki = inter.tbs_certificate.subject_public_key_info.to_der().expect("spki");
    verify_embedded_sct(&leaf, &issuer_spki, &ct_key(dir.path())).expect("SCT verifies");
    // The same check fails with another CT key: it can fail.
    let other = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let other = p256::pkcs8::EncodePublicKey::to_public_key_der(other.verifying_key()).expect("der");
    assert!(std::panic::catch_unwind(|| verify_embedded_sct(&leaf, &issuer_spki, other.as_bytes())).is_err());
    assert_eq!(inst.requests("/api/v2/signingCert"), 1);
}

#[test]
fn email_identity_gets_an_rfc822_san_and_bearer_and_csr_work() {
    let (dir, inst) = start(&[EMAIL_ID]);
    let token = inst.mint_token(EMAIL_ID).expect("token");
    // Token as Bearer, key as a CSR made by openssl (base64 of PEM, as sigstore-python sends it).
    let key = dir.path().join("k.pem");
    let csr = dir.path().join("k.csr");
    let ok = std::process::Command::new("openssl")
        .args(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out"])
        .arg(&key)
        .status()
        .expect("openssl");
    assert!(ok.success());
    let ok = std::process::Command::new("openssl")
        .args(["req", "-new", "-subj", "/emailAddress=dev@example.test", "-key"])
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .status()
        .expect("openssl");
    assert!(ok.success());
    let csr_pem = std::fs::read(&csr).expect("csr");
    let body = serde_json::json!({"certificateSigningRequest": b64(&csr_pem)});
    let auth = format!("Bearer {token}");
    let a =
        request(inst.url(), "POST", "/api/v2/signingCert", &[("Authorization", &auth)], body.to_string().as_bytes())
            .expect("post");
    assert_eq!(a.status, 201, "{}", a.text());
    let leaf = Certificate::from_der(&chain_der(&a.json())[0]).expect("leaf");
    let san = SubjectAltName::from_der(ext(&leaf, "2.5.29.17").expect("SAN").extn_value.as_bytes()).expect("san");
    assert_eq!(san.0, vec![GeneralName::Rfc822Name(der::asn1::Ia5String::new(EMAIL_ID).expect("ia5"))]);
    // A CSR whose signature is broken is refused.
    let text = String::from_utf8(csr_pem).expect("utf8");
    let (label, mut der) = der::pem::decode_vec(text.as_bytes()).expect("pem");
    let n = der.len();
    der[n - 3] ^= 0x01;
    let bad = der::pem::encode_string(label, der::pem::LineEnding::LF, &der).expect("pem");
    let body = serde_json::json!({"certificateSigningRequest": b64(bad.as_bytes())});
    let a =
        request(inst.url(), "POST", "/api/v2/signingCert", &[("Authorization", &auth)], body.to_string().as_bytes())
            .expect("post");
    assert_eq!(a.status, 400, "{}", a.text());
}

#[test]
fn bad_tokens_keys_and_proofs_are_refused() {
    let (dir, inst) = start(&[URI_ID]);
    let base = inst.url();
    let good = inst.mint_token(URI_ID).expect("token");
    let mut tampered = good.clone();
    let last = tampered.pop().expect("char");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let cases = [
        ("bad signature", tampered),
        ("wrong audience", inst.mint_token_with(URI_ID, "not-sigstore", 600).expect("t")),
        ("expired", inst.mint_token_with(URI_ID, "sigstore", -3600).expect("t")),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (what, token) in &cases {
        let a = issue(base, token, URI_ID);
        assert_eq!(a.status, 401, "{what}: {}", a.text());
        assert_eq!(a.json()["code"], 401);
    }
    // A token from another issuer: same key, other URL (minted offline with an edited url file).
    let other_dir = tempfile::tempdir().expect("tmp");
    std::fs::copy(dir.path().join("oidc.key"), other_dir.path().join("oidc.key")).expect("copy");
    std::fs::write(other_dir.path().join("url"), "http://127.0.0.1:1\n").expect("url");
    let foreign = wsc_sigstore_local::mint_token_offline(other_dir.path(), URI_ID, "sigstore", 600).expect("t");
    assert_eq!(issue(base, &foreign, URI_ID).status, 401);
    // The offline minter with the real url file works.
    let offline = wsc_sigstore_local::mint_token_offline(dir.path(), URI_ID, "sigstore", 600).expect("t");
    assert_eq!(issue(base, &offline, URI_ID).status, 201);

    // Proof of possession over another subject.
    let (_, pem, pop) = key_and_pop("someone-else");
    let a = post_json(base, "/api/v2/signingCert", &fulcio_request(&good, &pem, &pop));
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(a.json()["message"].as_str().expect("m").contains("proofOfPossession"));
    // A P-384 key.
    let k384 = dir.path().join("p384.pem");
    let ok = std::process::Command::new("openssl")
        .args(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out"])
        .arg(&k384)
        .status()
        .expect("openssl");
    assert!(ok.success());
    let out =
        std::process::Command::new("openssl").args(["ec", "-pubout", "-in"]).arg(&k384).output().expect("openssl");
    let pem384 = String::from_utf8(out.stdout).expect("pem");
    let a = post_json(base, "/api/v2/signingCert", &fulcio_request(&good, &pem384, &pop));
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(a.json()["message"].as_str().expect("m").contains("P-256"));
    // Malformed bodies.
    for body in [&b"{"[..], b"[]", b"{\"credentials\":{\"oidcIdentityToken\":1}}"] {
        let a = request(base, "POST", "/api/v2/signingCert", &[], body).expect("post");
        assert!(a.status == 400 || a.status == 401, "{}", a.text());
    }
    let a = post_json(base, "/api/v2/signingCert", &serde_json::json!({"credentials": {"oidcIdentityToken": good}}));
    assert_eq!(a.status, 400);
}

#[test]
fn openssl_accepts_the_chain() {
    let (dir, inst) = start(&[URI_ID]);
    let token = inst.mint_token(URI_ID).expect("token");
    let a = issue(inst.url(), &token, URI_ID);
    assert_eq!(a.status, 201);
    let v = a.json();
    let pems = v["signedCertificateEmbeddedSct"]["chain"]["certificates"].as_array().expect("chain");
    let p = |n: &str| dir.path().join(n);
    for (i, name) in ["leaf.pem", "intermediate.pem", "root.pem"].iter().enumerate() {
        std::fs::write(p(name), pems[i].as_str().expect("pem")).expect("write");
    }
    let out = std::process::Command::new("openssl")
        .args(["verify", "-x509_strict", "-purpose", "any", "-CAfile"])
        .arg(p("root.pem"))
        .arg("-untrusted")
        .arg(p("intermediate.pem"))
        .arg(p("leaf.pem"))
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // The leaf does not chain to another root: the check can fail.
    let out = std::process::Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(p("intermediate.pem"))
        .arg(p("root.pem"))
        .output()
        .expect("openssl");
    assert!(!out.status.success());
}
