//! Rekor v2 log: entry bodies against real Rekor v2 bundles, proofs and Ed25519
//! checkpoints checked by code written here (RFC 9162, C2SP signed notes),
//! persistence, the trust files, and sigstore-python 4.5.1 signing and verifying.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{H, node, run, sha, sigstore, verify_inclusion};
use ed25519_dalek::Verifier as _;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::pkcs8::EncodePublicKey as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use wsc_sigstore_local::rekor::v2::{LOG_NAME, RekorV2Log, canonicalize_v2_request};
use wsc_sigstore_local::{Config, Instance};

const URI_ID: &str = "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main";

fn unb64(s: &str) -> Vec<u8> {
    STANDARD.decode(s).unwrap()
}

fn h32(v: &[u8]) -> H {
    v.try_into().unwrap()
}

/// The raw Ed25519 key of a DER SPKI (RFC 8410: fixed 12-byte prefix).
fn ed25519_raw(spki: &[u8]) -> [u8; 32] {
    let prefix = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    assert_eq!(spki.len(), 44, "Ed25519 SPKI length");
    assert_eq!(spki[..12], prefix, "Ed25519 SPKI prefix");
    h32(&spki[12..])
}

/// C2SP signed-note key id: SHA-256(name ‖ "\n" ‖ 0x01 ‖ key).
fn key_id(name: &str, raw: &[u8; 32]) -> H {
    sha(&[name.as_bytes(), b"\n", &[1u8], raw])
}

/// A parsed checkpoint whose signature from `name` with `raw` verifies: (origin, size, root).
fn verify_checkpoint(text: &str, name: &str, raw: &[u8; 32]) -> Result<(String, u64, H), String> {
    let (note, sigs) = text.split_once("\n\n").ok_or("no blank line")?;
    let note = format!("{note}\n");
    let lines: Vec<&str> = note.lines().collect();
    if lines.len() < 3 {
        return Err("short note".into());
    }
    let size: u64 = lines[1].parse().map_err(|_| "size")?;
    let root = STANDARD.decode(lines[2]).map_err(|_| "root")?;
    let root: H = root.try_into().map_err(|_| "root length")?;
    let id = key_id(name, raw);
    let key = ed25519_dalek::VerifyingKey::from_bytes(raw).map_err(|e| e.to_string())?;
    for line in sigs.lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else { return Err(format!("bad signature line {line:?}")) };
        let (who, blob) = rest.split_once(' ').ok_or("no blob")?;
        let blob = STANDARD.decode(blob).map_err(|_| "blob")?;
        if who != name || blob.len() != 68 || blob[..4] != id[..4] {
            continue;
        }
        let sig = ed25519_dalek::Signature::from_slice(&blob[4..]).map_err(|e| e.to_string())?;
        key.verify(note.as_bytes(), &sig).map_err(|e| format!("checkpoint signature: {e}"))?;
        return Ok((lines[0].to_string(), size, root));
    }
    Err("no signature line from the log key".into())
}

/// Checks a `TransparencyLogEntry` answer: shape, proof, checkpoint. Returns (index, size, root).
fn check_entry(e: &Value, log_spki: &[u8], name: &str) -> (u64, u64, H) {
    let raw = ed25519_raw(log_spki);
    let obj = e.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["canonicalizedBody", "inclusionProof", "kindVersion", "logId", "logIndex"], "{e}");
    assert_eq!(e["kindVersion"], json!({"kind": "hashedrekord", "version": "0.0.2"}));
    assert_eq!(unb64(e["logId"]["keyId"].as_str().unwrap()), key_id(name, &raw));
    let index: u64 = e["logIndex"].as_str().unwrap().parse().unwrap();
    let p = &e["inclusionProof"];
    assert_eq!(p["logIndex"], e["logIndex"]);
    let size: u64 = p["treeSize"].as_str().unwrap().parse().unwrap();
    let root = h32(&unb64(p["rootHash"].as_str().unwrap()));
    let hashes: Vec<H> = p["hashes"].as_array().unwrap().iter().map(|h| h32(&unb64(h.as_str().unwrap()))).collect();
    let body = unb64(e["canonicalizedBody"].as_str().unwrap());
    let leaf = sha(&[&[0u8], &body]);
    assert!(verify_inclusion(index, size, &leaf, &hashes, &root), "inclusion proof of {index} in {size}");
    let (origin, cp_size, cp_root) =
        verify_checkpoint(p["checkpoint"]["envelope"].as_str().unwrap(), name, &raw).unwrap();
    assert_eq!((origin.as_str(), cp_size, cp_root), (name, size, root));
    // A changed body or a flipped proof hash fails.
    let other = sha(&[&[0u8], &body, b" "]);
    assert!(!verify_inclusion(index, size, &other, &hashes, &root));
    if let Some(first) = hashes.first() {
        let mut bad = hashes.clone();
        bad[0] = node(first, first);
        assert!(!verify_inclusion(index, size, &leaf, &bad, &root));
    }
    (index, size, root)
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sigstore/bundle-verify-dev")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// A fresh P-256 key and a `hashedRekordRequestV002` with its public key, signing `data`.
fn request_with_key(key: &p256::ecdsa::SigningKey, data: &[u8]) -> Value {
    let digest = Sha256::digest(data);
    let sig: p256::ecdsa::Signature = key.sign_prehash(&digest).unwrap();
    let spki = key.verifying_key().to_public_key_der().unwrap();
    json!({"hashedRekordRequestV002": {
        "digest": STANDARD.encode(digest),
        "signature": {
            "content": STANDARD.encode(sig.to_der().as_bytes()),
            "verifier": {"keyDetails": "PKIX_ECDSA_P256_SHA_256", "publicKey": {"rawBytes": STANDARD.encode(spki.as_bytes())}},
        },
    }})
}

fn new_log(dir: &Path) -> RekorV2Log {
    RekorV2Log::open(dir, ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng)).unwrap()
}

#[test]
fn log_ids_and_checkpoints_of_real_rekor_v2_bundles_follow_c2sp() {
    let mut checked = 0;
    for case in std::fs::read_dir(testdata()).unwrap() {
        let case = case.unwrap().path();
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("rekor2-") || name.ends_with("_fail") || !case.join("trusted_root.json").exists() {
            continue;
        }
        let bundle = read_json(&case.join("bundle.sigstore.json"));
        let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
        let root = read_json(&case.join("trusted_root.json"));
        let tlog = root["tlogs"].as_array().unwrap().iter().find(|t| t["logId"]["keyId"] == entry["logId"]["keyId"]);
        let tlog = tlog.unwrap_or_else(|| panic!("{name}: no tlog for the entry's log id"));
        assert_eq!(tlog["publicKey"]["keyDetails"], "PKIX_ED25519", "{name}");
        let raw = ed25519_raw(&unb64(tlog["publicKey"]["rawBytes"].as_str().unwrap()));
        let host = tlog["baseUrl"].as_str().unwrap().strip_prefix("https://").unwrap();
        // The log id is the C2SP key id under the log's host name, computed here by hand.
        assert_eq!(unb64(entry["logId"]["keyId"].as_str().unwrap()), key_id(host, &raw), "{name}");
        let (origin, size, cp_root) =
            verify_checkpoint(entry["inclusionProof"]["checkpoint"]["envelope"].as_str().unwrap(), host, &raw)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(origin, host, "{name}: origin = key name = host");
        assert_eq!(entry["inclusionProof"]["treeSize"].as_str().unwrap(), size.to_string());
        // The proof walks to the checkpoint's root with our independent verifier.
        let body = unb64(entry["canonicalizedBody"].as_str().unwrap());
        let hashes: Vec<H> = entry["inclusionProof"]["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h32(&unb64(h.as_str().unwrap())))
            .collect();
        let index: u64 = entry["logIndex"].as_str().unwrap().parse().unwrap();
        assert!(verify_inclusion(index, size, &sha(&[&[0u8], &body]), &hashes, &cp_root), "{name}");
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} rekor2 cases found");
}

#[test]
fn canonical_body_and_answer_match_real_rekor_v2() {
    let bundle = read_json(&testdata().join("rekor2-happy-path/bundle.sigstore.json"));
    let real = &bundle["verificationMaterial"]["tlogEntries"][0];
    let real_body = unb64(real["canonicalizedBody"].as_str().unwrap());
    let v: Value = serde_json::from_slice(&real_body).unwrap();
    let spec = &v["spec"]["hashedRekordV002"];
    // What a client sends: pretty-printed, in its own key order.
    let request = json!({"hashedRekordRequestV002": {
        "signature": {"verifier": spec["signature"]["verifier"], "content": spec["signature"]["content"]},
        "digest": spec["data"]["digest"],
    }});
    let request = serde_json::to_vec_pretty(&request).unwrap();
    let canon = canonicalize_v2_request(&request).unwrap();
    assert_eq!(String::from_utf8(canon.body).unwrap(), String::from_utf8(real_body.clone()).unwrap());
    // Proto field names and URL-safe base64 without padding are accepted too (protojson does).
    let snake = json!({"hashed_rekord_request_v002": {
        "digest": URL_SAFE_NO_PAD.encode(unb64(spec["data"]["digest"].as_str().unwrap())),
        "signature": {"content": spec["signature"]["content"], "verifier": {
            "key_details": "PKIX_ECDSA_P256_SHA_256",
            "x509_certificate": {"raw_bytes": spec["signature"]["verifier"]["x509Certificate"]["rawBytes"]},
        }},
    }});
    assert_eq!(canonicalize_v2_request(&serde_json::to_vec(&snake).unwrap()).unwrap().body, real_body);

    // The log stores exactly those bytes and answers in the real entry's shape.
    let dir = tempfile::tempdir().unwrap();
    let log = new_log(dir.path());
    let e = log.create_entry(&request).unwrap();
    assert_eq!(unb64(e["canonicalizedBody"].as_str().unwrap()), real_body);
    check_entry(&e, &log.public_key_spki_der(), LOG_NAME);
    let shape = |x: &Value| -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, val) in x.as_object().unwrap() {
            let kind = match val {
                Value::String(_) => "string",
                Value::Object(_) => "object",
                Value::Array(_) => "array",
                _ => "other",
            };
            out.push((k.clone(), kind.to_string()));
        }
        out.sort();
        out
    };
    assert_eq!(shape(&e), shape(real));
    assert_eq!(shape(&e["inclusionProof"]), shape(&real["inclusionProof"]));
    assert_eq!(shape(&e["logId"]), shape(&real["logId"]));
    assert_eq!(shape(&e["inclusionProof"]["checkpoint"]), shape(&real["inclusionProof"]["checkpoint"]));
    assert_eq!(e["kindVersion"], real["kindVersion"]);
    assert!(real.get("integratedTime").is_none() && real.get("inclusionPromise").is_none());
}

#[test]
fn public_key_entries_proofs_and_checkpoints_verify() {
    let dir = tempfile::tempdir().unwrap();
    let log = new_log(dir.path());
    let spki = log.public_key_spki_der();
    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let mut bodies = Vec::new();
    for i in 0..21u32 {
        let request = request_with_key(&key, format!("artifact {i}").as_bytes());
        let e = log.create_entry(request.to_string().as_bytes()).unwrap();
        let (index, size, _) = check_entry(&e, &spki, LOG_NAME);
        assert_eq!((index, size), (u64::from(i), u64::from(i) + 1));
        let body: Value = serde_json::from_slice(&unb64(e["canonicalizedBody"].as_str().unwrap())).unwrap();
        let verifier = &body["spec"]["hashedRekordV002"]["signature"]["verifier"];
        assert_eq!(verifier["publicKey"], request["hashedRekordRequestV002"]["signature"]["verifier"]["publicKey"]);
        assert_eq!(verifier["keyDetails"], "PKIX_ECDSA_P256_SHA_256");
        bodies.push(e["canonicalizedBody"].clone());
        // Submitting it again answers with the same entry, proven against the current tree.
        let again = log.create_entry(request.to_string().as_bytes()).unwrap();
        assert_eq!(again["logIndex"], e["logIndex"]);
    }
    // Every old entry against the final tree, and the current checkpoint.
    for (i, body) in bodies.iter().enumerate() {
        let e = log.get_by_index(i as u64).unwrap();
        assert_eq!(&e["canonicalizedBody"], body);
        assert_eq!(check_entry(&e, &spki, LOG_NAME).1, 21);
    }
    let (_, size, _) = verify_checkpoint(&log.checkpoint().unwrap(), LOG_NAME, &ed25519_raw(&spki)).unwrap();
    assert_eq!(size, 21);
    assert_eq!(log.get_by_index(21).unwrap_err().status, 404);
    // Another key does not verify the checkpoint.
    let other = new_log(tempfile::tempdir().unwrap().path());
    assert!(
        verify_checkpoint(&log.checkpoint().unwrap(), LOG_NAME, &ed25519_raw(&other.public_key_spki_der())).is_err()
    );
}

#[test]
fn bad_requests_get_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let log = new_log(dir.path());
    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let good = request_with_key(&key, b"data");
    let status = |v: &Value| log.create_entry(v.to_string().as_bytes()).unwrap_err().status;
    let with = |path: &str, val: Value| {
        let mut v = good.clone();
        *v.pointer_mut(path).unwrap() = val;
        v
    };
    let r = "/hashedRekordRequestV002";
    for bad in [
        json!([]),
        json!({}),
        json!({"hashedRekordRequestV002": "x"}),
        with(&format!("{r}/digest"), json!("%%%")),
        with(&format!("{r}/digest"), json!(STANDARD.encode([0u8; 31]))),
        with(&format!("{r}/digest"), json!(STANDARD.encode([0u8; 32]))),
        with(&format!("{r}/signature/content"), json!(STANDARD.encode(b"not der"))),
        with(&format!("{r}/signature/content"), json!(7)),
        with(&format!("{r}/signature/verifier/keyDetails"), json!("PKIX_ED25519")),
        with(&format!("{r}/signature/verifier/publicKey/rawBytes"), json!(STANDARD.encode(b"garbage"))),
        with(&format!("{r}/signature/verifier"), json!({"keyDetails": "PKIX_ECDSA_P256_SHA_256"})),
        with(
            &format!("{r}/signature/verifier"),
            json!({"keyDetails": "PKIX_ECDSA_P256_SHA_256", "x509Certificate": {"rawBytes": STANDARD.encode(b"not a certificate")}}),
        ),
        with(&format!("{r}/signature/verifier"), {
            let mut both = good[&r[1..]]["signature"]["verifier"].clone();
            both["x509Certificate"] = both["publicKey"].clone();
            both
        }),
        json!({"dsseRequestV002": {"envelope": {}, "verifiers": []}}),
    ] {
        assert_eq!(status(&bad), 400, "{bad}");
    }
    // Another key's signature.
    let other = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let foreign = request_with_key(&other, b"data");
    let mixed = with(&format!("{r}/signature/content"), foreign[&r[1..]]["signature"]["content"].clone());
    assert_eq!(status(&mixed), 400);
    let dsse = log.create_entry(br#"{"dsseRequestV002":{}}"#).unwrap_err();
    assert!(dsse.message.contains("not supported"), "{}", dsse.message);
    assert_eq!(log.create_entry(b"{").unwrap_err().status, 400);
    assert_eq!(log.create_entry(&vec![b' '; 2 * 1024 * 1024]).unwrap_err().status, 413);
    // Nothing was logged; the good request still is.
    assert_eq!(log.create_entry(good.to_string().as_bytes()).unwrap()["logIndex"], "0");
}

fn config(dir: &Path, rekor_v2: bool) -> Config {
    Config { dir: dir.to_path_buf(), identities: vec![URI_ID.into()], tls: false, port: 0, rekor_v2 }
}

#[test]
fn trust_files_name_both_logs_and_the_v2_service() {
    let dir = tempfile::tempdir().unwrap();
    let inst = Instance::start(config(dir.path(), true)).unwrap();
    let root = common::trusted_root(dir.path());
    let tlogs = root["tlogs"].as_array().unwrap();
    assert_eq!(tlogs.len(), 2);
    assert_eq!(tlogs[0]["publicKey"]["keyDetails"], "PKIX_ECDSA_P256_SHA_256");
    let v2 = &tlogs[1];
    assert_eq!(v2["baseUrl"], inst.url());
    assert_eq!(v2["hashAlgorithm"], "SHA2_256");
    assert_eq!(v2["publicKey"]["keyDetails"], "PKIX_ED25519");
    assert!(v2["publicKey"]["validFor"]["start"].is_string());
    let raw = ed25519_raw(&unb64(v2["publicKey"]["rawBytes"].as_str().unwrap()));
    assert_eq!(unb64(v2["logId"]["keyId"].as_str().unwrap()), key_id(LOG_NAME, &raw));
    let sc = read_json(&dir.path().join("signing_config.json"));
    let rekor = sc["rekorTlogUrls"].as_array().unwrap();
    assert_eq!(rekor.len(), 1);
    assert_eq!(rekor[0]["majorApiVersion"], 2);
    assert_eq!(rekor[0]["url"], inst.url());
    assert_eq!(sc["tsaUrls"][0]["url"], format!("{}/api/v1/timestamp", inst.url()));
    assert_eq!(read_json(&dir.path().join("trust_config.json"))["signingConfig"], sc);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("rekor2.key")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // The checkpoint endpoint serves a signed note of the (empty) tree.
    let cp = common::get(inst.url(), "/checkpoint");
    assert_eq!(cp.status, 200);
    assert_eq!(verify_checkpoint(&cp.text(), LOG_NAME, &raw).unwrap().1, 0);
    drop(inst);

    // Without Rekor v2: one log, v1 in the signing config, no v2 endpoint.
    let dir = tempfile::tempdir().unwrap();
    let inst = Instance::start(config(dir.path(), false)).unwrap();
    assert_eq!(common::trusted_root(dir.path())["tlogs"].as_array().unwrap().len(), 1);
    let sc = read_json(&dir.path().join("signing_config.json"));
    assert_eq!(sc["rekorTlogUrls"][0]["majorApiVersion"], 1);
    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    assert_eq!(common::post_json(inst.url(), "/api/v2/log/entries", &request_with_key(&key, b"x")).status, 404);
    assert!(!dir.path().join("rekor2.key").exists());
}

#[test]
fn entries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let inst = Instance::start(config(dir.path(), true)).unwrap();
    let spki = unb64(common::trusted_root(dir.path())["tlogs"][1]["publicKey"]["rawBytes"].as_str().unwrap());
    let mut first = Vec::new();
    for i in 0..5 {
        let a = common::post_json(inst.url(), "/api/v2/log/entries", &request_with_key(&key, &[i]));
        assert_eq!(a.status, 201, "{}", a.text());
        assert_eq!(a.header("content-type"), Some("application/json"));
        first.push(a.json());
        check_entry(first.last().unwrap(), &spki, LOG_NAME);
    }
    let root_before = std::fs::read(dir.path().join("trusted_root.json")).unwrap();
    let url = inst.url().to_string();
    drop(inst);

    let inst = Instance::start(config(dir.path(), true)).unwrap();
    assert_eq!(inst.url(), url);
    assert_eq!(std::fs::read(dir.path().join("trusted_root.json")).unwrap(), root_before);
    let a = common::post_json(inst.url(), "/api/v2/log/entries", &request_with_key(&key, b"after"));
    assert_eq!(a.status, 201, "{}", a.text());
    assert_eq!(check_entry(&a.json(), &spki, LOG_NAME).0, 5);
    // An old entry resubmitted keeps its index and proves against the grown tree.
    let again = common::post_json(inst.url(), "/api/v2/log/entries", &request_with_key(&key, &[2]));
    assert_eq!(again.status, 201);
    let again = again.json();
    assert_eq!(again["canonicalizedBody"], first[2]["canonicalizedBody"]);
    assert_eq!(check_entry(&again, &spki, LOG_NAME), (2, 6, check_entry(&a.json(), &spki, LOG_NAME).2));
    assert_eq!(inst.requests("/api/v2/log/entries"), 2);
    drop(inst);

    // Reopened directly, the log holds all six bodies.
    let log = RekorV2Log::open(
        dir.path(),
        <ed25519_dalek::SigningKey as ed25519_dalek::pkcs8::DecodePrivateKey>::from_pkcs8_pem(
            &std::fs::read_to_string(dir.path().join("rekor2.key")).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    for (i, e) in first.iter().enumerate() {
        assert_eq!(log.get_by_index(i as u64).unwrap()["canonicalizedBody"], e["canonicalizedBody"]);
    }
    assert_eq!(log.get_by_index(6).unwrap_err().status, 404);
    // A different key cannot open it.
    assert!(RekorV2Log::open(dir.path(), ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng)).is_err());
}

fn sign(inst: &Instance, file: &Path) -> PathBuf {
    let token = inst.mint_token(URI_ID).unwrap();
    let bundle = file.with_extension("sigstore.json");
    let mut c = sigstore(inst.dir());
    c.args(["sign", "--identity-token", &token, "--bundle"]).arg(&bundle).arg(file);
    let (ok, text) = run(c);
    assert!(ok, "sigstore-python sign failed:\n{text}");
    bundle
}

fn verify(inst: &Instance, identity: &str, bundle: &Path, file: &Path) -> (bool, String) {
    let mut c = sigstore(inst.dir());
    c.args(["verify", "identity", "--cert-identity", identity, "--cert-oidc-issuer", inst.url(), "--bundle"])
        .arg(bundle)
        .arg(file);
    run(c)
}

#[test]
fn sigstore_python_signs_with_rekor_v2_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    // A Rekor v1 bundle from before Rekor v2 was switched on stays verifiable.
    let inst = Instance::start(config(dir.path(), false)).unwrap();
    let old = dir.path().join("old.txt");
    std::fs::write(&old, "signed with Rekor v1\n").unwrap();
    let old_bundle = sign(&inst, &old);
    drop(inst);

    let inst = Instance::start(config(dir.path(), true)).unwrap();
    let file = dir.path().join("artifact.txt");
    std::fs::write(&file, "signed with Rekor v2\n").unwrap();
    let bundle = sign(&inst, &file);
    let b = read_json(&bundle);
    let tlog = &b["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(tlog["kindVersion"], json!({"kind": "hashedrekord", "version": "0.0.2"}));
    assert!(tlog.get("inclusionPromise").is_none(), "{tlog}");
    assert!(tlog.get("integratedTime").is_none_or(|t| t == "0"), "{tlog}");
    assert!(
        b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"].is_string()
    );
    let spki = unb64(common::trusted_root(dir.path())["tlogs"][1]["publicKey"]["rawBytes"].as_str().unwrap());
    check_entry(tlog, &spki, LOG_NAME);
    assert_eq!(inst.requests("/api/v2/log/entries"), 1);
    assert_eq!(inst.requests("/api/v1/log/entries"), 0);

    let (ok, out) = verify(&inst, URI_ID, &bundle, &file);
    assert!(ok, "sigstore-python verify failed:\n{out}");
    let (ok, out) = verify(&inst, URI_ID, &old_bundle, &old);
    assert!(ok, "the Rekor v1 bundle still verifies:\n{out}");
    // The checks can fail: another identity, a changed artifact, a checkpoint from another key.
    assert!(!verify(&inst, &format!("{URI_ID}x"), &bundle, &file).0);
    let mut forged = b.clone();
    let cp = forged["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .unwrap()
        .to_string();
    let other = new_log(&dir.path().join("other"));
    let other_cp = other.checkpoint().unwrap();
    let sig_line = other_cp.rsplit_once("\n\n").unwrap().1;
    let (note, _) = cp.split_once("\n\n").unwrap();
    forged["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"] =
        Value::from(format!("{note}\n\n{sig_line}"));
    let forged_path = dir.path().join("forged.sigstore.json");
    std::fs::write(&forged_path, serde_json::to_vec(&forged).unwrap()).unwrap();
    assert!(!verify(&inst, URI_ID, &forged_path, &file).0, "a checkpoint signed by another key is refused");
    std::fs::write(&file, "changed\n").unwrap();
    assert!(!verify(&inst, URI_ID, &bundle, &file).0);
}

#[test]
fn sigstore_python_attests_with_rekor_v2_as_hashedrekord_over_pae() {
    let dir = tempfile::tempdir().unwrap();
    let inst = Instance::start(config(dir.path(), true)).unwrap();
    let file = dir.path().join("artifact.txt");
    std::fs::write(&file, "attested with Rekor v2\n").unwrap();
    let predicate = dir.path().join("predicate.json");
    let pred = json!({"buildDefinition": {"buildType": "https://example.test/build", "externalParameters": {}},
        "runDetails": {"builder": {"id": "https://example.test/builder"}}});
    std::fs::write(&predicate, pred.to_string()).unwrap();
    let bundle = dir.path().join("artifact.intoto.sigstore.json");
    let token = inst.mint_token(URI_ID).unwrap();
    let mut c = sigstore(inst.dir());
    c.args(["attest", "--identity-token", &token, "--predicate-type", "https://slsa.dev/provenance/v1", "--predicate"])
        .arg(&predicate)
        .arg("--bundle")
        .arg(&bundle)
        .arg(&file);
    let (ok, out) = run(c);
    assert!(ok, "sigstore-python attest failed:\n{out}");
    let b = read_json(&bundle);
    let tlog = &b["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(tlog["kindVersion"]["version"], "0.0.2");
    // The logged digest is SHA-256(PAE(payloadType, payload)) of the bundle's envelope.
    let env = &b["dsseEnvelope"];
    let payload = unb64(env["payload"].as_str().unwrap());
    let ptype = env["payloadType"].as_str().unwrap();
    let mut pae = format!("DSSEv1 {} {ptype} {} ", ptype.len(), payload.len()).into_bytes();
    pae.extend_from_slice(&payload);
    let body: Value = serde_json::from_slice(&unb64(tlog["canonicalizedBody"].as_str().unwrap())).unwrap();
    assert_eq!(unb64(body["spec"]["hashedRekordV002"]["data"]["digest"].as_str().unwrap()), sha(&[&pae]));
    let (ok, out) = verify(&inst, URI_ID, &bundle, &file);
    assert!(ok, "sigstore-python verify of the attestation failed:\n{out}");
}
