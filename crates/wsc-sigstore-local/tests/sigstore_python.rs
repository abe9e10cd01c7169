//! End to end with an independent client: sigstore-python 4.5.1 signs against
//! the local instance (Fulcio, Rekor v1, TSA) and verifies with its trust config.

mod common;

use std::path::Path;

use common::{run, sigstore};
use wsc_sigstore_local::{Config, Instance};

const URI_ID: &str = "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main";
const EMAIL_ID: &str = "dev@example.test";

/// Signs `file` with sigstore-python and returns the bundle path.
fn sign(inst: &Instance, identity: &str, file: &Path, ca: Option<&Path>) -> std::path::PathBuf {
    let token = inst.mint_token(identity).expect("token");
    let bundle = file.with_extension("sigstore.json");
    let mut c = sigstore(inst.dir());
    if let Some(ca) = ca {
        c.env("REQUESTS_CA_BUNDLE", ca).env("SSL_CERT_FILE", ca);
    }
    c.args(["sign", "--identity-token", &token, "--bundle"]).arg(&bundle).arg(file);
    let (ok, text) = run(c);
    assert!(ok, "sigstore-python sign failed:\n{text}");
    bundle
}

/// Verifies with sigstore-python; returns success and output.
fn verify(inst: &Instance, identity: &str, issuer: &str, bundle: &Path, file: &Path) -> (bool, String) {
    let mut c = sigstore(inst.dir());
    if let Some(ca) = inst.tls_ca_pem() {
        let p = inst.dir().join("tls-ca.pem");
        assert_eq!(std::fs::read_to_string(&p).expect("tls-ca.pem"), ca);
        c.env("REQUESTS_CA_BUNDLE", &p).env("SSL_CERT_FILE", &p);
    }
    c.args(["verify", "identity", "--cert-identity", identity, "--cert-oidc-issuer", issuer, "--bundle"])
        .arg(bundle)
        .arg(file);
    run(c)
}

fn sign_and_verify(tls: bool) {
    let dir = tempfile::tempdir().expect("tmp");
    let inst = Instance::start(Config {
        dir: dir.path().to_path_buf(),
        identities: vec![URI_ID.into(), EMAIL_ID.into()],
        tls,
        port: 0,
        rekor_v2: false,
    })
    .expect("start");
    let ca = tls.then(|| dir.path().join("tls-ca.pem"));
    for (n, identity) in [URI_ID, EMAIL_ID].iter().enumerate() {
        let file = dir.path().join(format!("artifact{n}.txt"));
        std::fs::write(&file, format!("hello {identity}\n")).expect("write");
        let bundle = sign(&inst, identity, &file, ca.as_deref());
        let text = std::fs::read_to_string(&bundle).expect("bundle");
        assert!(text.contains("\"signedTimestamp\""), "the bundle carries the TSA's timestamp: {text}");
        assert!(text.contains("\"inclusionProof\""), "{text}");
        let (ok, out) = verify(&inst, identity, inst.url(), &bundle, &file);
        assert!(ok, "sigstore-python verify failed:\n{out}");
        // Wrong identity, wrong issuer and a changed artifact are refused: the checks can fail.
        assert!(!verify(&inst, &format!("{identity}x"), inst.url(), &bundle, &file).0);
        assert!(!verify(&inst, identity, "https://accounts.google.com", &bundle, &file).0);
        std::fs::write(&file, "changed\n").expect("write");
        assert!(!verify(&inst, identity, inst.url(), &bundle, &file).0);
    }
    assert_eq!(inst.requests("/api/v2/signingCert"), 2);
    assert_eq!(inst.requests("/api/v1/log/entries"), 2);
    assert!(inst.requests("/api/v1/timestamp") >= 2);
}

#[test]
fn sigstore_python_signs_and_verifies_over_http() {
    sign_and_verify(false);
}

#[test]
fn sigstore_python_signs_and_verifies_over_https() {
    sign_and_verify(true);
}

#[test]
fn sigstore_python_bundle_survives_a_restart() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().expect("tmp");
    let config =
        Config { dir: dir.path().to_path_buf(), identities: vec![URI_ID.into()], tls: false, port: 0, rekor_v2: false };
    let inst = Instance::start(config.clone()).expect("start");
    let file = dir.path().join("before.txt");
    std::fs::write(&file, "signed before the restart\n").expect("write");
    let bundle = sign(&inst, URI_ID, &file, None);
    let root_before = std::fs::read(dir.path().join("trusted_root.json")).expect("root");
    let old = common::log_info(inst.url());
    let url = inst.url().to_string();
    drop(inst);

    let inst = Instance::start(config).expect("restart");
    assert_eq!(inst.url(), url);
    assert_eq!(std::fs::read(dir.path().join("trusted_root.json")).expect("root"), root_before);
    let (ok, out) = verify(&inst, URI_ID, inst.url(), &bundle, &file);
    assert!(ok, "the old bundle still verifies: {out}");
    // The old entry, by index and by UUID (tree id ‖ leaf hash).
    let b: serde_json::Value = serde_json::from_slice(&std::fs::read(&bundle).expect("bundle")).expect("json");
    let tlog = &b["verificationMaterial"]["tlogEntries"][0];
    let index: u64 = tlog["logIndex"].as_str().expect("index").parse().expect("u64");
    let body = common::unb64(tlog["canonicalizedBody"].as_str().expect("body"));
    let by_index = common::get(inst.url(), &format!("/api/v1/log/entries?logIndex={index}"));
    assert_eq!(by_index.status, 200);
    let (uuid, entry) = common::only_entry(&by_index.json());
    assert_eq!(common::unb64(entry["body"].as_str().expect("body")), body);
    let tree_id: u64 =
        common::get(inst.url(), "/api/v1/log").json()["treeID"].as_str().expect("id").parse().expect("u64");
    let mut leaf = vec![0u8];
    leaf.extend_from_slice(&body);
    let leaf_hex: String = Sha256::digest(&leaf).iter().map(|x| format!("{x:02x}")).collect();
    assert_eq!(uuid, format!("{tree_id:016x}{leaf_hex}"));
    assert_eq!(common::get(inst.url(), &format!("/api/v1/log/entries/{uuid}")).status, 200);
    // New entries extend the old tree consistently.
    let file2 = dir.path().join("after.txt");
    std::fs::write(&file2, "signed after the restart\n").expect("write");
    let bundle2 = sign(&inst, URI_ID, &file2, None);
    assert!(verify(&inst, URI_ID, inst.url(), &bundle2, &file2).0);
    common::check_consistency(inst.url(), &old);
}
