//! Independent checks with the openssl command (CI installs it): CSRs,
//! chains and CRLs that wsc-pki makes are accepted by OpenSSL 3.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use common::{ChipSigner, key, root_and_intermediate};
use wsc_core::{KeyAlgorithm, Signer};
use wsc_pki::{CertInfo, Csr, DAY, DeviceProfile, chain_to_pem, crl_to_pem};

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is needed by this test (CI installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn check(alg: KeyAlgorithm, device: &dyn Signer) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (root, inter) = root_and_intermediate(alg);
    let csr = Csr::create(device, "unit-1").expect("csr");
    std::fs::write(d.join("csr.pem"), csr.to_pem().expect("pem")).expect("write");
    let (ok, text) = openssl(&["req", "-verify", "-noout", "-in", "csr.pem"], d);
    assert!(ok && text.contains("verify OK"), "{alg:?}: openssl req -verify: {text}");

    let chain = inter.issue(&csr, &DeviceProfile::default()).expect("issue");
    std::fs::write(d.join("root.pem"), root.chain_pem().expect("pem")).expect("write");
    std::fs::write(d.join("intermediates.pem"), chain_to_pem([chain[1].as_slice()]).expect("pem")).expect("write");
    std::fs::write(d.join("leaf.pem"), chain_to_pem([chain[0].as_slice()]).expect("pem")).expect("write");
    let (ok, text) = openssl(&["verify", "-CAfile", "root.pem", "-untrusted", "intermediates.pem", "leaf.pem"], d);
    assert!(ok && text.contains("leaf.pem: OK"), "{alg:?}: openssl verify: {text}");

    // The chain file `wsc pki issue` writes (leaf first) works as -untrusted too.
    std::fs::write(d.join("chain.pem"), chain_to_pem(chain.iter().map(Vec::as_slice)).expect("pem")).expect("write");
    let (ok, text) = openssl(&["verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem"], d);
    assert!(ok, "{alg:?}: {text}");

    // A CRL of the intermediate: openssl checks its signature, then sees the revocation.
    let now = SystemTime::now();
    let serial = CertInfo::parse(&chain[0]).expect("leaf").serial;
    let crl = inter.crl(&[serial], now, now + DAY).expect("crl");
    std::fs::write(d.join("crl.pem"), crl_to_pem(&crl).expect("pem")).expect("write");
    let (ok, text) = openssl(&["crl", "-noout", "-in", "crl.pem", "-CAfile", "intermediates.pem"], d);
    assert!(ok && text.contains("verify OK"), "{alg:?}: openssl crl: {text}");
    let (ok, text) = openssl(
        &[
            "verify",
            "-crl_check",
            "-CRLfile",
            "crl.pem",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "intermediates.pem",
            "leaf.pem",
        ],
        d,
    );
    assert!(!ok && text.contains("revoked"), "{alg:?}: openssl verify -crl_check: {text}");
}

#[test]
fn openssl_accepts_p256_csrs_chains_and_crls() {
    check(KeyAlgorithm::P256, &key(KeyAlgorithm::P256));
    check(KeyAlgorithm::P256, &ChipSigner::new());
}

#[test]
fn openssl_accepts_ed25519_csrs_chains_and_crls() {
    check(KeyAlgorithm::Ed25519, &key(KeyAlgorithm::Ed25519));
    // A P-256 device under an Ed25519 CA.
    check(KeyAlgorithm::Ed25519, &ChipSigner::new());
}

#[test]
fn csrs_made_by_openssl_are_read_and_issued() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    std::fs::write(d.join("root.pem"), root.chain_pem().expect("pem")).expect("write");
    std::fs::write(d.join("intermediates.pem"), chain_to_pem([inter.certificate().der.as_slice()]).expect("pem"))
        .expect("write");
    // Several P-256 CSRs, so that high-S signatures (half of OpenSSL's) occur too.
    let algs = [&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..], &["-algorithm", "ED25519"][..]];
    for (n, alg) in [algs[0], algs[0], algs[0], algs[0], algs[1]].into_iter().enumerate() {
        let mut genpkey = vec!["genpkey", "-out", "k.pem"];
        genpkey.extend_from_slice(alg);
        let (ok, text) = openssl(&genpkey, d);
        assert!(ok, "{text}");
        let id = format!("ossl-{n}");
        let subj = format!("/CN={id}");
        let san = format!("subjectAltName=URI:urn:wsc:device:{id}");
        let (ok, text) =
            openssl(&["req", "-new", "-key", "k.pem", "-subj", &subj, "-addext", &san, "-out", "r.pem"], d);
        assert!(ok, "{text}");
        let csr = Csr::from_pem(&std::fs::read(d.join("r.pem")).expect("read")).expect("wsc reads openssl's CSR");
        assert_eq!(csr.uris(), [format!("urn:wsc:device:{id}")]);
        let chain = inter.issue(&csr, &DeviceProfile::default()).expect("issue");
        assert_eq!(CertInfo::parse(&chain[0]).expect("leaf").spki_der, csr.spki_der());
        std::fs::write(d.join("leaf.pem"), chain_to_pem([chain[0].as_slice()]).expect("pem")).expect("write");
        let (ok, text) = openssl(&["verify", "-CAfile", "root.pem", "-untrusted", "intermediates.pem", "leaf.pem"], d);
        assert!(ok, "{text}");
        // The certificate matches the private key openssl holds.
        let (ok, text) = openssl(&["x509", "-in", "leaf.pem", "-noout", "-pubkey", "-out", "cert.pub"], d);
        assert!(ok, "{text}");
        let (ok, text) = openssl(&["pkey", "-in", "k.pem", "-pubout", "-out", "key.pub"], d);
        assert!(ok, "{text}");
        assert_eq!(std::fs::read(d.join("cert.pub")).expect("read"), std::fs::read(d.join("key.pub")).expect("read"));
    }
    // A CSR whose signature was altered is refused.
    let pem = std::fs::read_to_string(d.join("r.pem")).expect("read");
    let der = wsc_pki::pem_decode_all(pem.as_bytes(), &["CERTIFICATE REQUEST"]).expect("pem").remove(0);
    let mut bad = der.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    assert!(Csr::from_der(&bad).is_err());
}
