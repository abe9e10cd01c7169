//! Answered entries survive `kill -9`: a child process (this test binary again) writes entries
//! from several threads and prints each UUID once `create_entry` has answered; the parent kills it
//! with SIGKILL mid-stream, reopens the log and finds every printed entry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use sha2::{Digest as _, Sha256};
use wsc_sigstore_local::codec::{hex, parse_hex32};
use wsc_sigstore_local::rekor::{CreateOptions, RekorLog};

const DIR_VAR: &str = "WSC_REKOR_KILL_CHILD_DIR";
const KEY_VAR: &str = "WSC_REKOR_KILL_CHILD_KEY";

fn request(sk: &SigningKey, data: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(data);
    let sig: Signature = sk.sign_prehash(&digest).unwrap();
    let pem = sk.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    serde_json::to_vec(&serde_json::json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": hex}},
        "signature": {"content": STANDARD.encode(sig.to_der().as_bytes()),
                      "publicKey": {"content": STANDARD.encode(pem.as_bytes())}}}}))
    .unwrap()
}

/// The child: writes entries until killed (or a safety limit), printing each answered UUID.
fn child(dir: &str, key_hex: &str) {
    let key = SigningKey::from_slice(&parse_hex32(key_hex).unwrap()).unwrap();
    let log = RekorLog::open(std::path::Path::new(dir), key).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let log = &log;
            s.spawn(move || {
                let sk = SigningKey::random(&mut rand_core::OsRng);
                for i in 0..100_000u32 {
                    if Instant::now() > deadline {
                        return;
                    }
                    let answer =
                        log.create_entry(&request(&sk, format!("{t}/{i}").as_bytes()), CreateOptions::default());
                    let uuid = answer.unwrap().as_object().unwrap().keys().next().unwrap().clone();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "UUID {uuid}").unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

#[test]
fn answered_entries_survive_kill_9() {
    if let (Ok(dir), Ok(key)) = (std::env::var(DIR_VAR), std::env::var(KEY_VAR)) {
        child(&dir, &key);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::random(&mut rand_core::OsRng);
    for run in 0..3 {
        let mut proc = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "answered_entries_survive_kill_9", "--nocapture", "--test-threads=1"])
            .env(DIR_VAR, tmp.path())
            .env(KEY_VAR, hex(&key.to_bytes()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut answered = Vec::new();
        let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
        while answered.len() < 150 + run * 50 {
            let line = lines.next().expect("child ended early").unwrap();
            if let Some(uuid) = line.strip_prefix("UUID ") {
                answered.push(uuid.to_string());
            }
        }
        // SIGKILL while the child's threads keep writing.
        proc.kill().unwrap();
        proc.wait().unwrap();
        // Lines printed before the kill landed are answered entries too.
        for line in lines.map_while(Result::ok) {
            if let Some(uuid) = line.strip_prefix("UUID ") {
                answered.push(uuid.to_string());
            }
        }

        let log = RekorLog::open(tmp.path(), key.clone()).unwrap();
        let size = log.log_info()["treeSize"].as_u64().unwrap();
        assert!(size as usize >= answered.len(), "run {run}: {size} entries, {} answered", answered.len());
        for uuid in &answered {
            let entry = log.get_by_uuid(uuid).unwrap_or_else(|e| panic!("run {run}: answered {uuid} lost: {e}"));
            assert!(entry.get(uuid.as_str()).is_some());
        }
        for i in 0..size {
            log.get_by_index(i).unwrap();
        }
    }
}
