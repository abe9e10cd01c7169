//! Rekor v1: a persistent RFC 6962 log of `hashedrekord` and `dsse` entries.
//!
//! Entries are appended to `dir/rekor/entries.log` and synced before they are
//! answered. Concurrent writers share one sync (group commit). The Merkle tree
//! lives in memory and is rebuilt from the file on open. [`v2`] is the Rekor v2
//! log, built on the same journal.

pub mod canon;
mod journal;
pub mod merkle;
mod store;
pub mod v2;

use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use self::journal::{Appended, Journal, Snapshot, poisoned};
use self::merkle::Hash;
use crate::ApiError;
use crate::codec::{b64, hex, parse_hex32};

pub use self::canon::{CanonicalEntry, canonicalize_request};

/// Largest request body `create_entry` accepts (larger ones get 413).
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// The key name on checkpoint signature lines, and the start of the origin
/// line: the log's host, as Rekor names its checkpoints after its host
/// (`rekor.sigstore.dev`). Clients match it as a substring of the log's
/// `baseUrl` in the trusted root (sigstore-js does), which is always
/// `http(s)://127.0.0.1:<port>` here.
pub const CHECKPOINT_KEY_NAME: &str = "127.0.0.1";

/// Switches that make answers wrong on purpose (tests of the client).
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateOptions {
    /// Return an entry whose signed entry timestamp does not verify.
    pub corrupt_set: bool,
}

/// The log. All methods take `&self` and are safe to call from many threads.
#[derive(Debug)]
pub struct RekorLog {
    key: SigningKey,
    spki_der: Vec<u8>,
    log_id: [u8; 32],
    origin: String,
    journal: Journal,
    checkpoint_cache: Mutex<Option<(u64, String)>>,
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl RekorLog {
    /// Opens or creates the log stored under `dir`, signing SETs and checkpoints with `key`.
    pub fn open(dir: &Path, key: p256::ecdsa::SigningKey) -> std::io::Result<Self> {
        let spki_der = key
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| io::Error::other(format!("encoding the log key: {e}")))?
            .into_vec();
        let log_id: [u8; 32] = Sha256::digest(&spki_der).into();
        let rdir = dir.join("rekor");
        std::fs::create_dir_all(&rdir)?;
        let journal = Journal::open(rdir.join("entries.log"), &log_id)?;
        Ok(Self {
            key,
            spki_der,
            log_id,
            origin: format!("{CHECKPOINT_KEY_NAME} - {}", journal.tree_id()),
            journal,
            checkpoint_cache: Mutex::new(None),
        })
    }

    /// DER SPKI of the log key.
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        self.spki_der.clone()
    }

    /// SHA-256 of the DER SPKI.
    pub fn log_id(&self) -> [u8; 32] {
        self.log_id
    }

    /// The tree id (also the first 16 hex digits of every UUID).
    pub fn tree_id(&self) -> u64 {
        self.journal.tree_id()
    }

    /// The checkpoint origin line, `127.0.0.1 - <tree id>`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The file the entries are stored in.
    pub fn entries_path(&self) -> &Path {
        self.journal.path()
    }

    /// `POST /api/v1/log/entries`: the answer's JSON body (status 201), after the entry is synced to disk.
    pub fn create_entry(&self, request: &[u8], opts: CreateOptions) -> Result<serde_json::Value, ApiError> {
        if request.len() > MAX_REQUEST_BYTES {
            return Err(ApiError::new(413, format!("request body larger than {MAX_REQUEST_BYTES} bytes")));
        }
        let entry = canonicalize_request(request)?;
        match self.journal.append(&entry.body, entry.search_digest, now_unix())? {
            Appended::New(snap) => self.entry_json(&snap, &entry.body, opts.corrupt_set),
            Appended::Duplicate { leaf, .. } => Err(ApiError::new(
                409,
                format!("an equivalent entry already exists in the transparency log with UUID {}", self.uuid(&leaf)),
            )),
        }
    }

    fn uuid(&self, leaf: &Hash) -> String {
        format!("{:016x}{}", self.tree_id(), hex(leaf))
    }

    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let sig: Signature = self.key.sign(msg);
        sig.to_der().as_bytes().to_vec()
    }

    /// The JCS bytes a SET signs (sigstore.md §4.4).
    pub fn set_payload(body_b64: &str, integrated_time: i64, log_id_hex: &str, log_index: u64) -> String {
        format!(
            r#"{{"body":"{body_b64}","integratedTime":{integrated_time},"logID":"{log_id_hex}","logIndex":{log_index}}}"#
        )
    }

    /// The signed checkpoint (C2SP signed note) for the tree of `size` leaves with root `root`.
    fn checkpoint(&self, size: u64, root: &Hash) -> Result<String, ApiError> {
        {
            let cache = self.checkpoint_cache.lock().map_err(|_| poisoned())?;
            // No let-chains: the workspace supports Rust 1.86.
            if let Some((_, text)) = cache.as_ref().filter(|(s, _)| *s == size) {
                return Ok(text.clone());
            }
        }
        let note = format!("{}\n{}\n{}\n", self.origin, size, b64(root));
        let mut blob = self.log_id[..4].to_vec();
        blob.extend_from_slice(&self.sign(note.as_bytes()));
        let text = format!("{note}\n\u{2014} {CHECKPOINT_KEY_NAME} {}\n", b64(&blob));
        let mut cache = self.checkpoint_cache.lock().map_err(|_| poisoned())?;
        if cache.as_ref().is_none_or(|(s, _)| *s < size) {
            *cache = Some((size, text.clone()));
        }
        Ok(text)
    }

    fn entry_json(&self, snap: &Snapshot, body: &[u8], corrupt_set: bool) -> Result<Value, ApiError> {
        let body_b64 = b64(body);
        let log_id_hex = hex(&self.log_id);
        let payload = Self::set_payload(&body_b64, snap.record.integrated_time, &log_id_hex, snap.index);
        let set = if corrupt_set {
            // A well-formed signature over other bytes: it parses but does not verify.
            let mut other = payload.clone().into_bytes();
            other.push(b' ');
            self.sign(&other)
        } else {
            self.sign(payload.as_bytes())
        };
        let checkpoint = self.checkpoint(snap.size, &snap.root)?;
        let hashes: Vec<String> = snap.hashes.iter().map(|h| hex(h)).collect();
        Ok(json!({
            self.uuid(&snap.leaf): {
                "body": body_b64,
                "integratedTime": snap.record.integrated_time,
                "logID": log_id_hex,
                "logIndex": snap.index,
                "verification": {
                    "signedEntryTimestamp": b64(&set),
                    "inclusionProof": {
                        "checkpoint": checkpoint,
                        "hashes": hashes,
                        "logIndex": snap.index,
                        "rootHash": hex(&snap.root),
                        "treeSize": snap.size,
                    }
                }
            }
        }))
    }

    fn get(&self, index: u64) -> Result<Value, ApiError> {
        let (snap, body) = self.journal.entry(index)?;
        self.entry_json(&snap, &body, false)
    }

    /// `GET /api/v1/log/entries/{uuid}`.
    pub fn get_by_uuid(&self, uuid: &str) -> Result<serde_json::Value, ApiError> {
        let lower = uuid.to_ascii_lowercase();
        let leaf_hex = match lower.len() {
            80 => {
                let (tree, leaf) = lower.split_at(16);
                let tree = u64::from_str_radix(tree, 16)
                    .map_err(|_| ApiError::new(400, "the UUID must be 64 or 80 hex digits"))?;
                if tree != self.tree_id() {
                    return Err(ApiError::new(404, format!("no entry with UUID {uuid} (unknown tree)")));
                }
                leaf
            }
            64 => lower.as_str(),
            _ => return Err(ApiError::new(400, "the UUID must be 64 or 80 hex digits")),
        };
        let leaf = parse_hex32(leaf_hex).ok_or_else(|| ApiError::new(400, "the UUID must be 64 or 80 hex digits"))?;
        match self.journal.index_of(&leaf)? {
            Some(i) => self.get(i),
            None => Err(ApiError::new(404, format!("no entry with UUID {uuid}"))),
        }
    }

    /// `GET /api/v1/log/entries?logIndex=N`.
    pub fn get_by_index(&self, index: u64) -> Result<serde_json::Value, ApiError> {
        self.get(index)
    }

    /// `POST /api/v1/index/retrieve` with `{"hash":"sha256:<hex>"}`: a JSON array of UUIDs.
    pub fn search_by_hash(&self, request: &[u8]) -> Result<serde_json::Value, ApiError> {
        if request.len() > MAX_REQUEST_BYTES {
            return Err(ApiError::new(413, format!("request body larger than {MAX_REQUEST_BYTES} bytes")));
        }
        let v: Value = serde_json::from_slice(request).map_err(|e| ApiError::new(400, format!("invalid JSON: {e}")))?;
        let hash = v
            .get("hash")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::new(400, "only searches by \"hash\" are supported"))?
            .to_ascii_lowercase();
        let hex_part = match hash.split_once(':') {
            Some(("sha256", h)) => h,
            Some((alg, _)) => return Err(ApiError::new(400, format!("unsupported hash algorithm {alg:?}"))),
            None => hash.as_str(),
        };
        let digest = parse_hex32(hex_part).ok_or_else(|| ApiError::new(400, "hash must be sha256:<64 hex digits>"))?;
        let uuids: Vec<Value> =
            self.journal.leaves_for_digest(&digest)?.iter().map(|leaf| Value::String(self.uuid(leaf))).collect();
        Ok(Value::Array(uuids))
    }

    /// `GET /api/v1/log`: rootHash, treeSize, signedTreeHead, treeID.
    pub fn log_info(&self) -> serde_json::Value {
        let (size, root) = self.journal.head();
        let sth = self.checkpoint(size, &root).unwrap_or_default();
        json!({
            "rootHash": hex(&root),
            "treeSize": size,
            "signedTreeHead": sth,
            "treeID": self.tree_id().to_string(),
        })
    }

    /// `GET /api/v1/log/proof?firstSize=M&lastSize=N`: a consistency proof.
    pub fn consistency_proof(&self, first: u64, last: Option<u64>) -> Result<serde_json::Value, ApiError> {
        let (proof, root) = self.journal.consistency(first, last)?;
        let hashes: Vec<String> = proof.iter().map(|h| hex(h)).collect();
        Ok(json!({ "hashes": hashes, "rootHash": hex(&root) }))
    }
}
