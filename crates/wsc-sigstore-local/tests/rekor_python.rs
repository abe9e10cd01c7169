//! sigstore-python 4.5.1 (installed) judges the log's answers: it parses each v1 response the
//! way its Rekor client does, then verifies the inclusion proof, the checkpoint and the SET.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use wsc_sigstore_local::rekor::{CreateOptions, RekorLog};

const CHECK: &str = r#"
import base64, json, sys
from sigstore_models.common import v1 as common_v1
from sigstore._internal.trust import Keyring
from sigstore.models import TransparencyLogEntry
spki = base64.b64decode(sys.argv[1])
keyring = Keyring([common_v1.PublicKey(raw_bytes=base64.b64encode(spki), key_details=common_v1.PublicKeyDetails.PKIX_ECDSA_P256_SHA_256)])
cases = json.load(open(sys.argv[2]))
results = []
for case in cases:
    try:
        TransparencyLogEntry._from_v1_response(case)._verify(keyring)
        results.append("ok")
    except Exception as e:
        results.append("fail: " + type(e).__name__ + ": " + str(e))
print(json.dumps(results))
"#;

fn request(sk: &SigningKey, data: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(data);
    let sig: Signature = sk.sign_prehash(&digest).unwrap();
    let pem = sk.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    serde_json::to_vec(&json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": hex}},
        "signature": {"content": STANDARD.encode(sig.to_der().as_bytes()),
                      "publicKey": {"content": STANDARD.encode(pem.as_bytes())}}}}))
    .unwrap()
}

#[test]
fn sigstore_python_accepts_entries_and_rejects_a_corrupt_set() {
    let dir = tempfile::tempdir().unwrap();
    let log = RekorLog::open(dir.path(), SigningKey::random(&mut rand_core::OsRng)).unwrap();
    let sk = SigningKey::random(&mut rand_core::OsRng);
    let mut cases: Vec<Value> = Vec::new();
    for i in 0..9u8 {
        cases.push(log.create_entry(&request(&sk, &[i]), CreateOptions::default()).unwrap());
    }
    // Older entries, proved against the final tree of 9.
    for i in 0..9 {
        cases.push(log.get_by_index(i).unwrap());
    }
    let corrupt = log.create_entry(&request(&sk, b"corrupt"), CreateOptions { corrupt_set: true }).unwrap();
    cases.push(corrupt);
    // A checkpoint from another tree id fails too: swap in a valid proof with a broken root.
    let mut wrong_root = log.get_by_index(3).unwrap();
    let entry = wrong_root.as_object_mut().unwrap().values_mut().next().unwrap();
    entry["verification"]["inclusionProof"]["rootHash"] = Value::from("00".repeat(32));
    cases.push(wrong_root);

    let file = dir.path().join("cases.json");
    std::fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = Command::new("python3")
        .args(["-c", CHECK, &STANDARD.encode(log.public_key_spki_der()), file.to_str().unwrap()])
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results.len(), cases.len());
    for (i, r) in results[..18].iter().enumerate() {
        assert_eq!(r, "ok", "case {i}");
    }
    assert!(results[18].starts_with("fail") && results[18].contains("SET"), "{}", results[18]);
    assert!(results[19].starts_with("fail"), "{}", results[19]);
}
