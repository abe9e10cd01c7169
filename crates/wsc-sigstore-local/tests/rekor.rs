//! Rekor v1 log: proofs, SETs, checkpoints, canonical bodies, persistence and bad input.
//! The Merkle verifiers (tests/common) are written from RFC 9162, independently of the log's code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{H, sha, verify_consistency, verify_inclusion};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _, LineEnding};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use wsc_sigstore_local::codec::hex;
use wsc_sigstore_local::rekor::{CreateOptions, RekorLog};

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex {s}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn h32(v: &[u8]) -> Option<H> {
    v.try_into().ok()
}

fn merkle_testdata() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sigstore/merkle-testdata");
    assert!(p.is_dir(), "testdata/sigstore/merkle-testdata is missing");
    p
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

fn b64v(v: &Value) -> Vec<u8> {
    v.as_str().map(|s| STANDARD.decode(s).unwrap_or_default()).unwrap_or_default()
}

fn proof_list(v: &Value) -> Option<Vec<H>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Array(a) => a.iter().map(|x| h32(&b64v(x))).collect(),
        _ => None,
    }
}

/// The test's own verifiers agree with every transparency-dev vector, including the bad ones.
#[test]
fn independent_verifiers_match_merkle_testdata() {
    let root = merkle_testdata();
    let mut files = Vec::new();
    json_files(&root, &mut files);
    assert!(files.len() > 100, "expected the 195 vectors, found {}", files.len());
    let (mut inclusion, mut consistency) = (0, 0);
    for f in files {
        let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let ok = if v.get("leafIdx").is_some() {
            inclusion += 1;
            let idx = v["leafIdx"].as_u64().unwrap();
            let size = v["treeSize"].as_u64().unwrap();
            match (proof_list(&v["proof"]), h32(&b64v(&v["root"])), h32(&b64v(&v["leafHash"]))) {
                (Some(p), Some(r), Some(l)) => verify_inclusion(idx, size, &l, &p, &r),
                _ => false,
            }
        } else {
            consistency += 1;
            let s1 = v["size1"].as_i64().unwrap();
            let s2 = v["size2"].as_i64().unwrap();
            let (r1, r2) = (b64v(&v["root1"]), b64v(&v["root2"]));
            match proof_list(&v["proof"]) {
                // Equal sizes (zero included) need equal roots and an empty proof.
                Some(p) if s1 == s2 && s1 >= 0 => p.is_empty() && r1 == r2,
                Some(p) if s1 > 0 && s2 > 0 => match (h32(&r1), h32(&r2)) {
                    (Some(r1), Some(r2)) => verify_consistency(s1 as u64, s2 as u64, &r1, &r2, &p),
                    _ => false,
                },
                // A consistency proof from the empty tree proves nothing.
                _ => false,
            }
        };
        assert_eq!(ok, !want_err, "{}: {}", f.display(), v["desc"]);
    }
    assert!(inclusion > 50 && consistency > 20, "{inclusion} inclusion, {consistency} consistency vectors");
}

fn new_key() -> SigningKey {
    SigningKey::random(&mut rand_core::OsRng)
}

/// A hashedrekord request over `data`, signed by `sk`, with a PEM public key.
fn hashedrekord(sk: &SigningKey, data: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(data);
    let sig: Signature = sk.sign_prehash(&digest).unwrap();
    let pem = sk.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex(&digest)}},
            "signature": {
                "content": STANDARD.encode(sig.to_der().as_bytes()),
                "publicKey": {"content": STANDARD.encode(pem.as_bytes())}
            }
        }
    }))
    .unwrap()
}

/// The single entry of a create/get answer: (uuid, entry).
fn only(answer: &Value) -> (String, Value) {
    let obj = answer.as_object().unwrap();
    assert_eq!(obj.len(), 1);
    let (k, v) = obj.iter().next().unwrap();
    (k.clone(), v.clone())
}

struct Checked {
    root: H,
    size: u64,
}

/// Checks every property a verifier checks on one entry answer, independently of the log's code.
fn check_entry(log: &RekorLog, uuid: &str, e: &Value, expect_set_ok: bool) -> Checked {
    let vk = VerifyingKey::from_public_key_der(&log.public_key_spki_der()).unwrap();
    let log_id = log.log_id();
    assert_eq!(log_id, sha(&[&log.public_key_spki_der()]));
    let body_b64 = e["body"].as_str().unwrap();
    let body = STANDARD.decode(body_b64).unwrap();
    let leaf = sha(&[&[0u8], &body]);
    assert_eq!(uuid, format!("{:016x}{}", log.tree_id(), hex(&leaf)));
    let index = e["logIndex"].as_u64().unwrap();
    let time = e["integratedTime"].as_i64().unwrap();
    assert_eq!(e["logID"].as_str().unwrap(), hex(&log_id));

    // SET over the JCS built by hand.
    let jcs = format!(
        "{{\"body\":\"{body_b64}\",\"integratedTime\":{time},\"logID\":\"{}\",\"logIndex\":{index}}}",
        hex(&log_id)
    );
    let set = STANDARD.decode(e["verification"]["signedEntryTimestamp"].as_str().unwrap()).unwrap();
    let set = Signature::from_der(&set).expect("SET is DER");
    assert_eq!(vk.verify(jcs.as_bytes(), &set).is_ok(), expect_set_ok, "SET verification");

    // Inclusion proof.
    let p = &e["verification"]["inclusionProof"];
    assert_eq!(p["logIndex"].as_u64().unwrap(), index);
    let size = p["treeSize"].as_u64().unwrap();
    let root = h32(&unhex(p["rootHash"].as_str().unwrap())).unwrap();
    let hashes: Vec<H> =
        p["hashes"].as_array().unwrap().iter().map(|h| h32(&unhex(h.as_str().unwrap())).unwrap()).collect();
    assert!(verify_inclusion(index, size, &leaf, &hashes, &root), "inclusion of {index} in {size}");
    assert!(hashes.len() <= 64);

    // Checkpoint.
    check_checkpoint(log, p["checkpoint"].as_str().unwrap(), size, &root);
    Checked { root, size }
}

fn check_checkpoint(log: &RekorLog, text: &str, size: u64, root: &H) {
    let vk = VerifyingKey::from_public_key_der(&log.public_key_spki_der()).unwrap();
    let (note, sigs) = text.split_once("\n\n").expect("blank line");
    let note = format!("{note}\n");
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines, [format!("127.0.0.1 - {}", log.tree_id()), size.to_string(), STANDARD.encode(root)]);
    assert!(sigs.ends_with('\n'));
    let sig_lines: Vec<&str> = sigs.lines().collect();
    assert_eq!(sig_lines.len(), 1);
    let rest = sig_lines[0].strip_prefix("\u{2014} 127.0.0.1 ").expect("signature line");
    let blob = STANDARD.decode(rest).unwrap();
    assert_eq!(blob[..4], log.log_id()[..4], "key hint");
    let sig = Signature::from_der(&blob[4..]).unwrap();
    vk.verify(note.as_bytes(), &sig).expect("checkpoint signature");
}

#[test]
fn inclusion_proofs_for_every_index_of_trees_up_to_20_and_consistency() {
    let dir = tempfile::tempdir().unwrap();
    let log_key = new_key();
    let log = RekorLog::open(dir.path(), log_key.clone()).unwrap();
    assert_eq!(log.log_info()["treeSize"], 0);
    let sk = new_key();
    let mut roots: Vec<H> = Vec::new();
    let mut uuids = Vec::new();
    for n in 1..=20u64 {
        let answer = log.create_entry(&hashedrekord(&sk, format!("artifact {n}").as_bytes()), CreateOptions::default());
        let (uuid, e) = only(&answer.unwrap());
        assert_eq!(e["logIndex"], n - 1);
        let c = check_entry(&log, &uuid, &e, true);
        assert_eq!(c.size, n);
        uuids.push(uuid);
        roots.push(c.root);
        for i in 0..n {
            let (u, e) = only(&log.get_by_index(i).unwrap());
            assert_eq!(u, uuids[i as usize]);
            let c = check_entry(&log, &u, &e, true);
            assert_eq!((c.size, c.root), (n, roots[n as usize - 1]));
            let (u2, e2) = only(&log.get_by_uuid(&u).unwrap());
            assert_eq!((u2, e2), (u, e));
        }
        let info = log.log_info();
        assert_eq!(info["treeSize"], n);
        assert_eq!(info["rootHash"], hex(&roots[n as usize - 1]));
        assert_eq!(info["treeID"], log.tree_id().to_string());
        check_checkpoint(&log, info["signedTreeHead"].as_str().unwrap(), n, &roots[n as usize - 1]);
    }
    for m in 1..=20u64 {
        for n in m..=20u64 {
            let v = log.consistency_proof(m, Some(n)).unwrap();
            assert_eq!(v["rootHash"], hex(&roots[n as usize - 1]));
            let proof: Vec<H> =
                v["hashes"].as_array().unwrap().iter().map(|h| h32(&unhex(h.as_str().unwrap())).unwrap()).collect();
            assert!(verify_consistency(m, n, &roots[m as usize - 1], &roots[n as usize - 1], &proof), "{m} -> {n}");
            if !proof.is_empty() {
                let mut bad = proof.clone();
                bad[0][0] ^= 1;
                assert!(!verify_consistency(m, n, &roots[m as usize - 1], &roots[n as usize - 1], &bad));
            }
        }
    }
    let v = log.consistency_proof(5, None).unwrap();
    assert_eq!(v["rootHash"], hex(&roots[19]));
    for (first, last) in [(0, Some(3)), (4, Some(3)), (3, Some(21)), (21, None)] {
        assert_eq!(log.consistency_proof(first, last).unwrap_err().status, 400, "{first} {last:?}");
    }
    // Unknown entries.
    assert_eq!(log.get_by_index(20).unwrap_err().status, 404);
    assert_eq!(log.get_by_uuid(&"ab".repeat(32)).unwrap_err().status, 404);
    assert_eq!(log.get_by_uuid(&format!("{:016x}{}", log.tree_id() ^ 1, &uuids[0][16..])).unwrap_err().status, 404);
    assert_eq!(log.get_by_uuid("xyz").unwrap_err().status, 400);
    // The bare 64-digit leaf hash works too.
    assert_eq!(only(&log.get_by_uuid(&uuids[3][16..]).unwrap()).0, uuids[3]);
}

#[test]
fn reopen_keeps_everything_and_stays_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let log_key = new_key();
    let sk = new_key();
    let (tree_id, root7, uuids) = {
        let log = RekorLog::open(dir.path(), log_key.clone()).unwrap();
        let uuids: Vec<String> = (0..7)
            .map(|i| only(&log.create_entry(&hashedrekord(&sk, &[i]), CreateOptions::default()).unwrap()).0)
            .collect();
        let info = log.log_info();
        (log.tree_id(), h32(&unhex(info["rootHash"].as_str().unwrap())).unwrap(), uuids)
    };
    let log = RekorLog::open(dir.path(), log_key.clone()).unwrap();
    assert_eq!(log.tree_id(), tree_id);
    let info = log.log_info();
    assert_eq!(info["treeSize"], 7);
    assert_eq!(info["rootHash"], hex(&root7));
    for (i, u) in uuids.iter().enumerate() {
        let (u2, e) = only(&log.get_by_index(i as u64).unwrap());
        assert_eq!(&u2, u);
        check_entry(&log, u, &e, true);
        assert_eq!(only(&log.get_by_uuid(u).unwrap()).1, e);
    }
    // The same entry again is a duplicate after the restart too.
    assert_eq!(log.create_entry(&hashedrekord(&sk, &[3]), CreateOptions::default()).unwrap_err().status, 409);
    for i in 7..12u8 {
        let (u, e) = only(&log.create_entry(&hashedrekord(&sk, &[i]), CreateOptions::default()).unwrap());
        check_entry(&log, &u, &e, true);
    }
    let info = log.log_info();
    let root12 = h32(&unhex(info["rootHash"].as_str().unwrap())).unwrap();
    let proof: Vec<H> = log.consistency_proof(7, Some(12)).unwrap()["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h32(&unhex(h.as_str().unwrap())).unwrap())
        .collect();
    assert!(verify_consistency(7, 12, &root7, &root12, &proof));
    drop(log);

    // Another key cannot reopen the log.
    let err = RekorLog::open(dir.path(), new_key()).unwrap_err();
    assert!(err.to_string().contains("another signing key"), "{err}");
}

#[test]
fn torn_tail_is_truncated_and_inner_corruption_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log_key = new_key();
    let sk = new_key();
    let path = {
        let log = RekorLog::open(dir.path(), log_key.clone()).unwrap();
        for i in 0..5u8 {
            log.create_entry(&hashedrekord(&sk, &[i]), CreateOptions::default()).unwrap();
        }
        log.entries_path().to_path_buf()
    };
    let good = std::fs::read(&path).unwrap();
    let root5 = RekorLog::open(dir.path(), log_key.clone()).unwrap().log_info()["rootHash"].clone();

    let check_recovers = |tail: &[u8]| {
        let mut bytes = good.clone();
        bytes.extend_from_slice(tail);
        std::fs::write(&path, &bytes).unwrap();
        let log = RekorLog::open(dir.path(), log_key.clone()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), good, "tail of {} bytes truncated", tail.len());
        let info = log.log_info();
        assert_eq!((info["treeSize"].clone(), info["rootHash"].clone()), (Value::from(5), root5.clone()));
        for i in 0..5 {
            let (u, e) = only(&log.get_by_index(i).unwrap());
            check_entry(&log, &u, &e, true);
        }
    };
    // Garbage shorter than a frame, a huge length, and a truncated copy of the last record.
    check_recovers(&[0xde, 0xad, 0xbe]);
    check_recovers(&[0xff; 100]);
    let mut partial = hashedrekord_frame_copy(&good);
    partial.truncate(partial.len() - 10);
    check_recovers(&partial);
    // A complete frame whose payload bytes were never written (zeros) is torn too.
    let mut zeroed = hashedrekord_frame_copy(&good);
    for b in zeroed.iter_mut().skip(36) {
        *b = 0;
    }
    check_recovers(&zeroed);

    // After recovery the log accepts new entries.
    {
        let log = RekorLog::open(dir.path(), log_key.clone()).unwrap();
        let (u, e) = only(&log.create_entry(&hashedrekord(&sk, &[9]), CreateOptions::default()).unwrap());
        check_entry(&log, &u, &e, true);
        assert_eq!(e["logIndex"], 5);
    }

    // A flipped byte inside an earlier record is corruption, not a torn tail.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[56 + 36 + 50] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let err = RekorLog::open(dir.path(), log_key.clone()).unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    // A damaged header is an error too.
    let mut bytes = good.clone();
    bytes[10] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    assert!(RekorLog::open(dir.path(), log_key.clone()).is_err());
}

/// The last record of the file: frames are `len u32 LE ‖ 32-byte checksum ‖ payload`.
fn hashedrekord_frame_copy(file: &[u8]) -> Vec<u8> {
    let mut pos = 56;
    let mut last = 56;
    while pos < file.len() {
        last = pos;
        let len = u32::from_le_bytes(file[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 36 + len;
    }
    assert_eq!(pos, file.len());
    file[last..].to_vec()
}

#[test]
fn corrupt_set_fails_but_proof_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let log = RekorLog::open(dir.path(), new_key()).unwrap();
    let sk = new_key();
    let (u, e) = only(&log.create_entry(&hashedrekord(&sk, b"x"), CreateOptions { corrupt_set: true }).unwrap());
    check_entry(&log, &u, &e, false);
    // Reading it back gives the good SET.
    let (u, e) = only(&log.get_by_uuid(&u).unwrap());
    check_entry(&log, &u, &e, true);
}

fn real_bundle(case: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/sigstore/bundle-verify-dev")
        .join(case)
        .join("bundle.sigstore.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// A PEM re-wrapped at 76 columns with CRLF line ends, as some clients send it.
fn messy_pem(pem: &str) -> String {
    let mut lines = pem.lines();
    let begin = lines.next().unwrap();
    let body: String = lines.clone().filter(|l| !l.starts_with("-----")).collect();
    let end = lines.last().unwrap();
    let mut out = format!("{begin}\r\n");
    for chunk in body.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str("\r\n");
    }
    out.push_str(end);
    out
}

#[test]
fn canonical_hashedrekord_body_matches_real_rekor() {
    let bundle = real_bundle("happy-path-v0.3");
    let real_body = STANDARD
        .decode(bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"].as_str().unwrap())
        .unwrap();
    let v: Value = serde_json::from_slice(&real_body).unwrap();
    let pem =
        String::from_utf8(STANDARD.decode(v["spec"]["signature"]["publicKey"]["content"].as_str().unwrap()).unwrap())
            .unwrap();
    let mut request = v.clone();
    request["spec"]["signature"]["publicKey"]["content"] = Value::from(STANDARD.encode(messy_pem(&pem)));
    assert_ne!(serde_json::to_vec(&request).unwrap(), real_body);
    let request = serde_json::to_vec_pretty(&request).unwrap();

    let canon = wsc_sigstore_local::rekor::canonicalize_request(&request).unwrap();
    assert_eq!(String::from_utf8(canon.body.clone()).unwrap(), String::from_utf8(real_body.clone()).unwrap());

    // The log stores exactly those bytes.
    let dir = tempfile::tempdir().unwrap();
    let log = RekorLog::open(dir.path(), new_key()).unwrap();
    let (u, e) = only(&log.create_entry(&request, CreateOptions::default()).unwrap());
    assert_eq!(STANDARD.decode(e["body"].as_str().unwrap()).unwrap(), real_body);
    check_entry(&log, &u, &e, true);
    // Searchable by the artifact digest.
    let digest = v["spec"]["data"]["hash"]["value"].as_str().unwrap();
    let found = log.search_by_hash(format!(r#"{{"hash":"sha256:{digest}"}}"#).as_bytes()).unwrap();
    assert_eq!(found, serde_json::json!([u]));
    let found = log.search_by_hash(format!(r#"{{"hash":"{}"}}"#, digest.to_uppercase()).as_bytes()).unwrap();
    assert_eq!(found, serde_json::json!([u]));
    assert_eq!(
        log.search_by_hash(format!(r#"{{"hash":"sha256:{}"}}"#, "0".repeat(64)).as_bytes()).unwrap(),
        serde_json::json!([])
    );
    for bad in [&b"{"[..], br#"{"email":"a@b"}"#, br#"{"hash":"sha256:12"}"#, br#"{"hash":"md5:00"}"#] {
        assert_eq!(log.search_by_hash(bad).unwrap_err().status, 400);
    }
    // A different signature over the same digest is refused.
    let mut wrong = v.clone();
    wrong["spec"]["data"]["hash"]["value"] = Value::from("00".repeat(32));
    assert_eq!(
        log.create_entry(&serde_json::to_vec(&wrong).unwrap(), CreateOptions::default()).unwrap_err().status,
        400
    );
}

#[test]
fn canonical_dsse_body_matches_real_rekor() {
    let bundle = real_bundle("happy-path-intoto-in-dsse-v3");
    let real_body = STANDARD
        .decode(bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"].as_str().unwrap())
        .unwrap();
    let v: Value = serde_json::from_slice(&real_body).unwrap();
    let verifier_pem =
        String::from_utf8(STANDARD.decode(v["spec"]["signatures"][0]["verifier"].as_str().unwrap()).unwrap()).unwrap();
    // The envelope as the original client sent it: compact JSON with sorted keys.
    let envelope = serde_json::to_string(&bundle["dsseEnvelope"]).unwrap();
    let request = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {"envelope": envelope, "verifiers": [STANDARD.encode(messy_pem(&verifier_pem))]},
            "signatures": null, "envelopeHash": null, "payloadHash": null
        }
    });
    let request = serde_json::to_vec(&request).unwrap();
    let canon = wsc_sigstore_local::rekor::canonicalize_request(&request).unwrap();
    assert_eq!(String::from_utf8(canon.body).unwrap(), String::from_utf8(real_body.clone()).unwrap());

    let dir = tempfile::tempdir().unwrap();
    let log = RekorLog::open(dir.path(), new_key()).unwrap();
    let (u, e) = only(&log.create_entry(&request, CreateOptions::default()).unwrap());
    assert_eq!(STANDARD.decode(e["body"].as_str().unwrap()).unwrap(), real_body);
    check_entry(&log, &u, &e, true);
    let payload_hash = v["spec"]["payloadHash"]["value"].as_str().unwrap();
    let found = log.search_by_hash(format!(r#"{{"hash":"sha256:{payload_hash}"}}"#).as_bytes()).unwrap();
    assert_eq!(found, serde_json::json!([u]));

    // A changed payload breaks the envelope signature.
    let mut env = bundle["dsseEnvelope"].clone();
    env["payloadType"] = Value::from("application/other");
    let bad = serde_json::json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {
        "envelope": serde_json::to_string(&env).unwrap(), "verifiers": [STANDARD.encode(&verifier_pem)]}}});
    let err = log.create_entry(&serde_json::to_vec(&bad).unwrap(), CreateOptions::default()).unwrap_err();
    assert_eq!(err.status, 400, "{err}");
    // A verifier that matches no signature is refused, as Rekor does.
    let other = new_key().verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    let extra = serde_json::json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {
        "envelope": envelope, "verifiers": [STANDARD.encode(&verifier_pem), STANDARD.encode(&other)]}}});
    assert_eq!(
        log.create_entry(&serde_json::to_vec(&extra).unwrap(), CreateOptions::default()).unwrap_err().status,
        400
    );
}

#[test]
fn own_dsse_entry_round_trips() {
    let sk = new_key();
    let payload = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[]}"#;
    let ptype = "application/vnd.in-toto+json";
    let mut pae = format!("DSSEv1 {} {} {} ", ptype.len(), ptype, payload.len()).into_bytes();
    pae.extend_from_slice(payload);
    let sig: Signature = sk.sign_prehash(&Sha256::digest(&pae)).unwrap();
    let envelope = serde_json::json!({"payload": STANDARD.encode(payload), "payloadType": ptype,
        "signatures": [{"keyid": "", "sig": STANDARD.encode(sig.to_der().as_bytes())}]})
    .to_string();
    let pem = sk.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    let req = serde_json::json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {
        "envelope": envelope, "verifiers": [STANDARD.encode(pem.as_bytes())]}}});
    let body = wsc_sigstore_local::rekor::canonicalize_request(&serde_json::to_vec(&req).unwrap()).unwrap().body;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["spec"]["payloadHash"]["value"], hex(&Sha256::digest(payload)));
    assert_eq!(v["spec"]["envelopeHash"]["value"], hex(&Sha256::digest(envelope.as_bytes())));
    assert_eq!(v["spec"]["signatures"][0]["signature"], STANDARD.encode(sig.to_der().as_bytes()));
    assert_eq!(STANDARD.decode(v["spec"]["signatures"][0]["verifier"].as_str().unwrap()).unwrap(), pem.as_bytes());
    assert_eq!(serde_json::to_vec(&v).unwrap(), body, "sorted keys, no whitespace");
}

#[test]
fn bad_requests_get_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let log = RekorLog::open(dir.path(), new_key()).unwrap();
    let sk = new_key();
    let good: Value = serde_json::from_slice(&hashedrekord(&sk, b"payload")).unwrap();
    let with = |path: &[&str], val: Value| {
        let mut v = good.clone();
        let mut cur = &mut v;
        for p in &path[..path.len() - 1] {
            cur = &mut cur[*p];
        }
        cur[path[path.len() - 1]] = val;
        serde_json::to_vec(&v).unwrap()
    };
    let other_sig: Signature = new_key().sign_prehash(&Sha256::digest(b"payload")).unwrap();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("not JSON", b"{not json".to_vec(), 400),
        ("not an object", b"[1,2]".to_vec(), 400),
        ("empty", Vec::new(), 400),
        ("unknown kind", with(&["kind"], Value::from("rekord")), 400),
        ("unknown version", with(&["apiVersion"], Value::from("0.0.2")), 400),
        ("kind not a string", with(&["kind"], Value::from(7)), 400),
        ("missing spec", with(&["spec"], Value::Null), 400),
        ("bad base64 signature", with(&["spec", "signature", "content"], Value::from("!!!")), 400),
        ("bad base64 key", with(&["spec", "signature", "publicKey", "content"], Value::from("@@")), 400),
        (
            "key not PEM",
            with(&["spec", "signature", "publicKey", "content"], Value::from(STANDARD.encode("hello"))),
            400,
        ),
        (
            "garbage PEM",
            with(
                &["spec", "signature", "publicKey", "content"],
                Value::from(STANDARD.encode("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")),
            ),
            400,
        ),
        ("short digest", with(&["spec", "data", "hash", "value"], Value::from("abcd")), 400),
        ("long digest", with(&["spec", "data", "hash", "value"], Value::from("a".repeat(66))), 400),
        ("sha512", with(&["spec", "data", "hash", "algorithm"], Value::from("sha512")), 400),
        (
            "wrong signature",
            with(&["spec", "signature", "content"], Value::from(STANDARD.encode(other_sig.to_der().as_bytes()))),
            400,
        ),
        ("signature not DER", with(&["spec", "signature", "content"], Value::from(STANDARD.encode([1u8; 64]))), 400),
        ("wrong digest", with(&["spec", "data", "hash", "value"], Value::from("ab".repeat(32))), 400),
        ("dsse without content", br#"{"apiVersion":"0.0.1","kind":"dsse","spec":{}}"#.to_vec(), 400),
        (
            "dsse bad envelope",
            br#"{"apiVersion":"0.0.1","kind":"dsse","spec":{"proposedContent":{"envelope":"{","verifiers":["QUJD"]}}}"#
                .to_vec(),
            400,
        ),
        ("over-size", vec![b' '; 1024 * 1024 + 1], 413),
    ];
    for (name, body, status) in cases {
        let err = log.create_entry(&body, CreateOptions::default()).unwrap_err();
        assert_eq!(err.status, status, "{name}: {err}");
        assert!(!err.message.is_empty());
    }
    assert_eq!(log.log_info()["treeSize"], 0);
    // Byte flips and truncations of a valid request: an answer or a 4xx, never a panic.
    let valid = hashedrekord(&sk, b"mutated");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..400 {
        let mut m = valid.clone();
        if round % 5 == 0 {
            m.truncate((next() % m.len() as u64) as usize);
        } else {
            for _ in 0..1 + next() % 3 {
                let i = (next() % m.len() as u64) as usize;
                m[i] ^= 1 << (next() % 8);
            }
        }
        if let Err(e) = log.create_entry(&m, CreateOptions::default()) {
            assert!(matches!(e.status, 400 | 409), "round {round}: {e}");
        }
    }
    let before = log.log_info()["treeSize"].as_u64().unwrap();
    log.create_entry(&hashedrekord(&sk, b"payload"), CreateOptions::default()).unwrap();
    assert_eq!(log.log_info()["treeSize"].as_u64().unwrap(), before + 1);
    let dup = log.create_entry(&hashedrekord(&sk, b"payload"), CreateOptions::default()).unwrap_err();
    assert_eq!(dup.status, 409);
}

#[test]
fn concurrent_creations_share_syncs_and_all_verify() {
    let dir = tempfile::tempdir().unwrap();
    let log_key = new_key();
    let log = RekorLog::open(dir.path(), log_key.clone()).unwrap();
    let answers: Vec<(String, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                let log = &log;
                s.spawn(move || {
                    let sk = new_key();
                    (0..10u8)
                        .map(|i| {
                            only(&log.create_entry(&hashedrekord(&sk, &[t, i]), CreateOptions::default()).unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut indices: Vec<u64> = answers.iter().map(|(_, e)| e["logIndex"].as_u64().unwrap()).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..40).collect::<Vec<_>>());
    for (u, e) in &answers {
        check_entry(&log, u, e, true);
    }
    drop(log);
    let log = RekorLog::open(dir.path(), log_key).unwrap();
    for (u, e) in &answers {
        let (_, again) = only(&log.get_by_uuid(u).unwrap());
        assert_eq!(again["body"], e["body"]);
        assert_eq!(again["logIndex"], e["logIndex"]);
        assert_eq!(again["integratedTime"], e["integratedTime"]);
    }
}

/// The log's proof generator reproduces the reference proofs of the transparency-dev vectors,
/// which are built over the RFC 6962 test leaves.
#[test]
fn generated_proofs_equal_the_reference_vectors() {
    use wsc_sigstore_local::rekor::merkle::{Tree, leaf_hash};
    let leaves: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];
    let mut tree = Tree::new();
    for l in leaves {
        tree.push(leaf_hash(l));
    }
    let root = merkle_testdata();
    let mut checked = 0;
    for n in 0..5 {
        let v: Value =
            serde_json::from_slice(&std::fs::read(root.join(format!("inclusion/{n}/happy-path.json"))).unwrap())
                .unwrap();
        let (idx, size) = (v["leafIdx"].as_u64().unwrap(), v["treeSize"].as_u64().unwrap());
        assert_eq!(tree.leaf(idx).unwrap().to_vec(), b64v(&v["leafHash"]));
        assert_eq!(tree.root(size).to_vec(), b64v(&v["root"]), "inclusion {n}");
        assert_eq!(Some(tree.inclusion_proof(idx, size)), proof_list(&v["proof"]), "inclusion {n}");
        let v: Value =
            serde_json::from_slice(&std::fs::read(root.join(format!("consistency/{n}/happy-path.json"))).unwrap())
                .unwrap();
        let (s1, s2) = (v["size1"].as_u64().unwrap(), v["size2"].as_u64().unwrap());
        assert_eq!(tree.root(s1).to_vec(), b64v(&v["root1"]), "consistency {n}");
        assert_eq!(tree.root(s2).to_vec(), b64v(&v["root2"]), "consistency {n}");
        assert_eq!(Some(tree.consistency_proof(s1, s2)), proof_list(&v["proof"]), "consistency {n}");
        checked += 2;
    }
    assert_eq!(checked, 10);
}
