//! Rekor v2 ("rekor-tiles"): `POST /api/v2/log/entries` with a `hashedRekordRequestV002`.
//!
//! Entries are stored as `hashedrekord` 0.0.2 bodies in their own RFC 6962 log
//! (`dir/rekor2/entries.log`, same journal as v1, integrated time 0). The answer is the protobuf-JSON
//! `TransparencyLogEntry` real Rekor v2 returns: no integrated time, no SET, an
//! inclusion proof with a checkpoint signed with Ed25519 as a C2SP signed note
//! whose origin and key name are [`LOG_NAME`]. `dsseRequestV002` is refused (400):
//! clients log DSSE as `hashedrekord` 0.0.2 over SHA-256(PAE), as Rekor v2 clients do.
//! The tlog-tiles read API is not served, only `GET /checkpoint`.

use std::io;
use std::path::Path;
use std::sync::Mutex;

use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::MAX_REQUEST_BYTES;
use super::canon::{CanonicalEntry, verify_prehash};
use super::journal::{Appended, Journal, Snapshot, poisoned};
use super::merkle::Hash;
use crate::ApiError;
use crate::codec::{b64, b64_decode_any};

/// The log's name: checkpoint origin and signature key name.
pub const LOG_NAME: &str = "rekor2.local";

/// The only key type accepted for entry signatures.
pub const KEY_DETAILS: &str = "PKIX_ECDSA_P256_SHA_256";

/// C2SP signed-note key id of an Ed25519 key: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key).
/// Rekor v2 logs use it as their log id; its first 4 bytes are the signature key hint.
pub fn c2sp_key_id(name: &str, public_key: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, 0x01]);
    h.update(public_key);
    h.finalize().into()
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, msg)
}

/// A field by its protobuf-JSON name or its original (snake_case) name, as protojson accepts both.
fn field<'a>(v: &'a Value, json_name: &str, proto_name: &str) -> Option<&'a Value> {
    v.get(json_name).or_else(|| v.get(proto_name)).filter(|x| !x.is_null())
}

fn object<'a>(v: &'a Value, json_name: &str, proto_name: &str, path: &str) -> Result<&'a Value, ApiError> {
    let x = field(v, json_name, proto_name).ok_or_else(|| bad(format!("missing field {path}")))?;
    if x.is_object() { Ok(x) } else { Err(bad(format!("field {path} must be an object"))) }
}

fn string<'a>(v: &'a Value, json_name: &str, proto_name: &str, path: &str) -> Result<&'a str, ApiError> {
    field(v, json_name, proto_name)
        .ok_or_else(|| bad(format!("missing field {path}")))?
        .as_str()
        .ok_or_else(|| bad(format!("field {path} must be a string")))
}

/// Protobuf-JSON bytes: standard or URL-safe base64, with or without padding.
fn bytes(v: &Value, json_name: &str, proto_name: &str, path: &str) -> Result<Vec<u8>, ApiError> {
    let s = string(v, json_name, proto_name, path)?;
    b64_decode_any(s).ok_or_else(|| bad(format!("{path}: invalid base64")))
}

/// The verifier of a request: the P-256 key and the canonical `verifier` JSON object text.
fn parse_verifier(v: &Value) -> Result<(VerifyingKey, String), ApiError> {
    let details = string(v, "keyDetails", "key_details", "signature.verifier.keyDetails")?;
    if details != KEY_DETAILS {
        return Err(bad(format!("unsupported keyDetails {details:?}: only {KEY_DETAILS}")));
    }
    let cert = field(v, "x509Certificate", "x509_certificate");
    let key = field(v, "publicKey", "public_key");
    match (cert, key) {
        (Some(c), None) => {
            let der = bytes(c, "rawBytes", "raw_bytes", "signature.verifier.x509Certificate.rawBytes")?;
            let key = super::canon::certificate_key(&der)?;
            Ok((key, format!(r#"{{"keyDetails":"{KEY_DETAILS}","x509Certificate":{{"rawBytes":"{}"}}}}"#, b64(&der))))
        }
        (None, Some(k)) => {
            let der = bytes(k, "rawBytes", "raw_bytes", "signature.verifier.publicKey.rawBytes")?;
            let key = VerifyingKey::from_public_key_der(&der)
                .map_err(|e| bad(format!("public key: only ECDSA P-256 keys are supported: {e}")))?;
            Ok((key, format!(r#"{{"keyDetails":"{KEY_DETAILS}","publicKey":{{"rawBytes":"{}"}}}}"#, b64(&der))))
        }
        (Some(_), Some(_)) => Err(bad("signature.verifier: give either x509Certificate or publicKey, not both")),
        (None, None) => Err(bad("signature.verifier: x509Certificate or publicKey required")),
    }
}

/// Validates a `CreateEntryRequest`, verifies its signature, and returns the `hashedrekord` 0.0.2 body.
pub fn canonicalize_v2_request(request: &[u8]) -> Result<CanonicalEntry, ApiError> {
    let v: Value = serde_json::from_slice(request).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    if !v.is_object() {
        return Err(bad("the request must be a JSON object"));
    }
    if field(&v, "dsseRequestV002", "dsse_request_v002").is_some() {
        return Err(bad(
            "dsseRequestV002 is not supported by this log: send a hashedRekordRequestV002 over SHA-256(PAE)",
        ));
    }
    let req = object(&v, "hashedRekordRequestV002", "hashed_rekord_request_v002", "hashedRekordRequestV002")?;
    let digest = bytes(req, "digest", "digest", "digest")?;
    let digest: [u8; 32] =
        digest.try_into().map_err(|_| bad("digest must be a 32-byte SHA-256 digest (SHA2_256 only)"))?;
    let sig = object(req, "signature", "signature", "signature")?;
    let content = bytes(sig, "content", "content", "signature.content")?;
    let (key, verifier_json) = parse_verifier(object(sig, "verifier", "verifier", "signature.verifier")?)?;
    if !verify_prehash(&key, &digest, &content) {
        return Err(bad("signature verification failed"));
    }
    let body = format!(
        concat!(
            r#"{{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{{"hashedRekordV002":{{"#,
            r#""data":{{"algorithm":"SHA2_256","digest":"{}"}},"signature":{{"content":"{}","verifier":{}}}}}}}}}"#
        ),
        b64(&digest),
        b64(&content),
        verifier_json,
    );
    Ok(CanonicalEntry { body: body.into_bytes(), search_digest: digest })
}

/// The Rekor v2 log. All methods take `&self` and are safe to call from many threads.
#[derive(Debug)]
pub struct RekorV2Log {
    key: ed25519_dalek::SigningKey,
    spki_der: Vec<u8>,
    log_id: [u8; 32],
    journal: Journal,
    checkpoint_cache: Mutex<Option<(u64, String)>>,
}

impl RekorV2Log {
    /// Opens or creates the log stored under `dir/rekor2`, signing checkpoints with `key`.
    pub fn open(dir: &Path, key: ed25519_dalek::SigningKey) -> io::Result<Self> {
        let verifying = key.verifying_key();
        let spki_der = verifying
            .to_public_key_der()
            .map_err(|e| io::Error::other(format!("encoding the log key: {e}")))?
            .into_vec();
        let log_id = c2sp_key_id(LOG_NAME, verifying.as_bytes());
        let rdir = dir.join("rekor2");
        std::fs::create_dir_all(&rdir)?;
        let journal = Journal::open(rdir.join("entries.log"), &log_id)?;
        Ok(Self { key, spki_der, log_id, journal, checkpoint_cache: Mutex::new(None) })
    }

    /// DER SPKI of the Ed25519 log key.
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        self.spki_der.clone()
    }

    /// The log id: the C2SP key id of the log key under [`LOG_NAME`].
    pub fn log_id(&self) -> [u8; 32] {
        self.log_id
    }

    /// The file the entries are stored in.
    pub fn entries_path(&self) -> &Path {
        self.journal.path()
    }

    /// `POST /api/v2/log/entries`: the `TransparencyLogEntry` (status 201), after the entry is synced.
    /// Submitting an entry again answers with the existing entry, as Rekor v2's deduplication does
    /// (409 while that entry is still being written).
    pub fn create_entry(&self, request: &[u8]) -> Result<Value, ApiError> {
        if request.len() > MAX_REQUEST_BYTES {
            return Err(ApiError::new(413, format!("request body larger than {MAX_REQUEST_BYTES} bytes")));
        }
        let entry = canonicalize_v2_request(request)?;
        match self.journal.append(&entry.body, entry.search_digest, 0)? {
            Appended::New(snap) => self.entry_json(&snap, &entry.body),
            Appended::Duplicate { index: Some(index), .. } => self.get_by_index(index),
            Appended::Duplicate { index: None, .. } => {
                Err(ApiError::new(409, "an equivalent entry is being written to the log; retry"))
            }
        }
    }

    /// Entry `index` as a `TransparencyLogEntry` with a proof against the current tree.
    pub fn get_by_index(&self, index: u64) -> Result<Value, ApiError> {
        let (snap, body) = self.journal.entry(index)?;
        self.entry_json(&snap, &body)
    }

    /// The signed checkpoint of the current tree (`GET /checkpoint`).
    pub fn checkpoint(&self) -> Result<String, ApiError> {
        let (size, root) = self.journal.head();
        self.checkpoint_for(size, &root)
    }

    /// The C2SP signed note for the tree of `size` leaves with root `root`.
    fn checkpoint_for(&self, size: u64, root: &Hash) -> Result<String, ApiError> {
        {
            let cache = self.checkpoint_cache.lock().map_err(|_| poisoned())?;
            if let Some((_, text)) = cache.as_ref().filter(|(s, _)| *s == size) {
                return Ok(text.clone());
            }
        }
        let note = format!("{LOG_NAME}\n{size}\n{}\n", b64(root));
        let mut blob = self.log_id[..4].to_vec();
        blob.extend_from_slice(&self.key.sign(note.as_bytes()).to_bytes());
        let text = format!("{note}\n\u{2014} {LOG_NAME} {}\n", b64(&blob));
        let mut cache = self.checkpoint_cache.lock().map_err(|_| poisoned())?;
        if cache.as_ref().is_none_or(|(s, _)| *s < size) {
            *cache = Some((size, text.clone()));
        }
        Ok(text)
    }

    fn entry_json(&self, snap: &Snapshot, body: &[u8]) -> Result<Value, ApiError> {
        let checkpoint = self.checkpoint_for(snap.size, &snap.root)?;
        let hashes: Vec<String> = snap.hashes.iter().map(|h| b64(h)).collect();
        Ok(json!({
            "logIndex": snap.index.to_string(),
            "logId": {"keyId": b64(&self.log_id)},
            "kindVersion": {"kind": "hashedrekord", "version": "0.0.2"},
            "inclusionProof": {
                "logIndex": snap.index.to_string(),
                "rootHash": b64(&snap.root),
                "treeSize": snap.size.to_string(),
                "hashes": hashes,
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": b64(body),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_matches_a_real_rekor_v2_log() {
        // log2025-alpha1.rekor.sigstage.dev from the staging trusted root.
        let spki = crate::codec::b64_decode("MCowBQYDK2VwAyEAPn+AREHoBaZ7wgS1zBqpxmLSGnyhxXj4lFxSdWVB8o8=")
            .unwrap_or_default();
        let mut key = [0u8; 32];
        key.copy_from_slice(&spki[12..]);
        let id = c2sp_key_id("log2025-alpha1.rekor.sigstage.dev", &key);
        assert_eq!(b64(&id), "8w1amZ2S5mJIQkQmPxdMuOrL/oJkvFg9MnQXmeOCXck=");
    }
}
