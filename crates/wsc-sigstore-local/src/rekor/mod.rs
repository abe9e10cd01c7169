//! Rekor v1: a persistent RFC 6962 log of `hashedrekord` and `dsse` entries.
//!
//! Entries are appended to `dir/rekor/entries.log` and synced before they are
//! answered. Concurrent writers share one sync (group commit). The Merkle tree
//! lives in memory and is rebuilt from the file on open.

pub mod canon;
pub mod merkle;
mod store;

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey as _;
use rand_core::{OsRng, RngCore as _};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use self::canon::{b64, hex, parse_hex32};
use self::merkle::{Hash, Tree, leaf_hash};
use crate::ApiError;

pub use self::canon::{CanonicalEntry, canonicalize_request};

/// Largest request body `create_entry` accepts (larger ones get 413).
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// The key name on checkpoint signature lines.
pub const CHECKPOINT_KEY_NAME: &str = "rekor.local";

/// Switches that make answers wrong on purpose (tests of the client).
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateOptions {
    /// Return an entry whose signed entry timestamp does not verify.
    pub corrupt_set: bool,
}

/// Where a committed entry lives.
#[derive(Debug, Clone, Copy)]
struct Record {
    integrated_time: i64,
    body_offset: u64,
    body_len: usize,
}

/// An entry written to the file buffer but not yet synced.
#[derive(Debug)]
struct Pending {
    leaf: Hash,
    record: Record,
    search_digest: [u8; 32],
    frame: Vec<u8>,
}

#[derive(Debug)]
struct State {
    tree: Tree,
    records: Vec<Record>,
    by_leaf: HashMap<Hash, u64>,
    by_digest: HashMap<[u8; 32], Vec<u64>>,
    pending: Vec<Pending>,
    pending_leaves: HashSet<Hash>,
    /// Offset where the next record goes.
    end: u64,
    /// Index the next entry gets (committed, in flight and pending entries before it).
    next_index: u64,
    /// A leader is writing and syncing a batch.
    syncing: bool,
    /// A write failed: the log refuses further writes until reopened.
    failed: Option<String>,
}

/// The log. All methods take `&self` and are safe to call from many threads.
#[derive(Debug)]
pub struct RekorLog {
    key: SigningKey,
    spki_der: Vec<u8>,
    log_id: [u8; 32],
    tree_id: u64,
    origin: String,
    path: PathBuf,
    state: Mutex<State>,
    committed: Condvar,
    writer: Mutex<File>,
    reader: Mutex<File>,
    checkpoint_cache: Mutex<Option<(u64, String)>>,
}

fn poisoned() -> ApiError {
    ApiError::new(500, "internal error: log state lock poisoned")
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A proof snapshot taken under the lock.
struct Snapshot {
    index: u64,
    record: Record,
    leaf: Hash,
    hashes: Vec<Hash>,
    root: Hash,
    size: u64,
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
        let path = rdir.join("entries.log");
        let opened = store::open(&path, &log_id, || {
            loop {
                // Positive like Trillian's int64 tree ids.
                let id = OsRng.next_u64() & (i64::MAX as u64);
                if id != 0 {
                    break id;
                }
            }
        })?;
        let mut state = State {
            tree: Tree::new(),
            records: Vec::with_capacity(opened.records.len()),
            by_leaf: HashMap::with_capacity(opened.records.len()),
            by_digest: HashMap::new(),
            pending: Vec::new(),
            pending_leaves: HashSet::new(),
            end: opened.end,
            next_index: 0,
            syncing: false,
            failed: None,
        };
        for rec in &opened.records {
            let leaf = rec.leaf;
            let index = state.tree.len();
            if state.by_leaf.insert(leaf, index).is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: duplicate entry at index {index}", path.display()),
                ));
            }
            state.tree.push(leaf);
            state.by_digest.entry(rec.search_digest).or_default().push(index);
            state.records.push(Record {
                integrated_time: rec.integrated_time,
                body_offset: rec.body_offset,
                body_len: rec.body_len,
            });
        }
        state.next_index = state.tree.len();
        let reader = OpenOptions::new().read(true).open(&path)?;
        let tree_id = opened.tree_id;
        Ok(Self {
            key,
            spki_der,
            log_id,
            tree_id,
            origin: format!("{CHECKPOINT_KEY_NAME} - {tree_id}"),
            path,
            state: Mutex::new(state),
            committed: Condvar::new(),
            writer: Mutex::new(opened.file),
            reader: Mutex::new(reader),
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
        self.tree_id
    }

    /// The checkpoint origin line, `rekor.local - <tree id>`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The file the entries are stored in.
    pub fn entries_path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, ApiError> {
        self.state.lock().map_err(|_| poisoned())
    }

    /// `POST /api/v1/log/entries`: the answer's JSON body (status 201), after the entry is synced to disk.
    pub fn create_entry(&self, request: &[u8], opts: CreateOptions) -> Result<serde_json::Value, ApiError> {
        if request.len() > MAX_REQUEST_BYTES {
            return Err(ApiError::new(413, format!("request body larger than {MAX_REQUEST_BYTES} bytes")));
        }
        let entry = canonicalize_request(request)?;
        if entry.body.len() as u64 > store::MAX_PAYLOAD - store::PAYLOAD_FIXED as u64 {
            return Err(ApiError::new(413, "canonical entry too large"));
        }
        let leaf = leaf_hash(&entry.body);
        let integrated_time = now_unix();

        let mut st = self.lock()?;
        if let Some(msg) = &st.failed {
            return Err(ApiError::new(500, format!("the log cannot accept entries: {msg}")));
        }
        if st.by_leaf.contains_key(&leaf) || st.pending_leaves.contains(&leaf) {
            return Err(ApiError::new(
                409,
                format!("an equivalent entry already exists in the transparency log with UUID {}", self.uuid(&leaf)),
            ));
        }
        let index = st.next_index;
        st.next_index += 1;
        let frame = store::encode_record(integrated_time, &entry.search_digest, &entry.body);
        let record = Record {
            integrated_time,
            body_offset: st.end + store::FRAME_LEN + store::PAYLOAD_FIXED as u64,
            body_len: entry.body.len(),
        };
        st.end += frame.len() as u64;
        st.pending_leaves.insert(leaf);
        st.pending.push(Pending { leaf, record, search_digest: entry.search_digest, frame });

        // Group commit: whoever finds no sync in flight writes and syncs everything pending.
        while st.tree.len() <= index {
            if let Some(msg) = &st.failed {
                return Err(ApiError::new(500, format!("writing the log failed: {msg}")));
            }
            if st.syncing {
                st = self.committed.wait(st).map_err(|_| poisoned())?;
                continue;
            }
            st.syncing = true;
            let batch = std::mem::take(&mut st.pending);
            drop(st);
            let result = self.write_batch(&batch);
            st = match self.state.lock() {
                Ok(g) => g,
                Err(_) => {
                    self.committed.notify_all();
                    return Err(poisoned());
                }
            };
            st.syncing = false;
            match result {
                Ok(()) => {
                    for p in batch {
                        let i = st.tree.len();
                        st.tree.push(p.leaf);
                        st.records.push(p.record);
                        st.by_leaf.insert(p.leaf, i);
                        st.by_digest.entry(p.search_digest).or_default().push(i);
                        st.pending_leaves.remove(&p.leaf);
                    }
                }
                Err(e) => st.failed = Some(e.to_string()),
            }
            self.committed.notify_all();
        }
        let snap = Self::snapshot(&st, index)?;
        drop(st);
        self.entry_json(&snap, &entry.body, opts.corrupt_set)
    }

    fn write_batch(&self, batch: &[Pending]) -> io::Result<()> {
        let Some(first) = batch.first() else { return Ok(()) };
        let start = first.record.body_offset - store::FRAME_LEN - store::PAYLOAD_FIXED as u64;
        let total: usize = batch.iter().map(|p| p.frame.len()).sum();
        let mut buf = Vec::with_capacity(total);
        for p in batch {
            buf.extend_from_slice(&p.frame);
        }
        let mut file = self.writer.lock().map_err(|_| io::Error::other("writer lock poisoned"))?;
        file.seek(SeekFrom::Start(start))?;
        file.write_all(&buf)?;
        file.sync_data()
    }

    fn snapshot(st: &State, index: u64) -> Result<Snapshot, ApiError> {
        let size = st.tree.len();
        let record = usize::try_from(index)
            .ok()
            .and_then(|i| st.records.get(i).copied())
            .ok_or_else(|| ApiError::new(404, format!("no entry at index {index}")))?;
        let leaf = st.tree.leaf(index).ok_or_else(|| ApiError::new(404, format!("no entry at index {index}")))?;
        Ok(Snapshot {
            index,
            record,
            leaf,
            hashes: st.tree.inclusion_proof(index, size),
            root: st.tree.root(size),
            size,
        })
    }

    fn uuid(&self, leaf: &Hash) -> String {
        format!("{:016x}{}", self.tree_id, hex(leaf))
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

    fn read_body(&self, record: &Record) -> Result<Vec<u8>, ApiError> {
        let mut file = self.reader.lock().map_err(|_| poisoned())?;
        store::read_at(&mut file, record.body_offset, record.body_len)
            .map_err(|e| ApiError::new(500, format!("reading the log: {e}")))
    }

    fn get(&self, index: u64) -> Result<Value, ApiError> {
        let snap = Self::snapshot(&*self.lock()?, index)?;
        let body = self.read_body(&snap.record)?;
        if leaf_hash(&body) != snap.leaf {
            return Err(ApiError::new(500, format!("entry {index} on disk does not match its leaf hash")));
        }
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
                if tree != self.tree_id {
                    return Err(ApiError::new(404, format!("no entry with UUID {uuid} (unknown tree)")));
                }
                leaf
            }
            64 => lower.as_str(),
            _ => return Err(ApiError::new(400, "the UUID must be 64 or 80 hex digits")),
        };
        let leaf = parse_hex32(leaf_hex).ok_or_else(|| ApiError::new(400, "the UUID must be 64 or 80 hex digits"))?;
        let index = self.lock()?.by_leaf.get(&leaf).copied();
        match index {
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
        let st = self.lock()?;
        let uuids: Vec<Value> = st
            .by_digest
            .get(&digest)
            .map(|indices| {
                indices.iter().filter_map(|&i| st.tree.leaf(i)).map(|leaf| Value::String(self.uuid(&leaf))).collect()
            })
            .unwrap_or_default();
        Ok(Value::Array(uuids))
    }

    /// `GET /api/v1/log`: rootHash, treeSize, signedTreeHead, treeID.
    pub fn log_info(&self) -> serde_json::Value {
        let (size, root) = match self.state.lock() {
            Ok(st) => (st.tree.len(), st.tree.root(st.tree.len())),
            Err(p) => {
                let st = p.into_inner();
                (st.tree.len(), st.tree.root(st.tree.len()))
            }
        };
        let sth = self.checkpoint(size, &root).unwrap_or_default();
        json!({
            "rootHash": hex(&root),
            "treeSize": size,
            "signedTreeHead": sth,
            "treeID": self.tree_id.to_string(),
        })
    }

    /// `GET /api/v1/log/proof?firstSize=M&lastSize=N`: a consistency proof.
    pub fn consistency_proof(&self, first: u64, last: Option<u64>) -> Result<serde_json::Value, ApiError> {
        let st = self.lock()?;
        let size = st.tree.len();
        let last = last.unwrap_or(size);
        if first == 0 {
            return Err(ApiError::new(400, "firstSize must be at least 1"));
        }
        if first > last {
            return Err(ApiError::new(400, format!("firstSize {first} is larger than lastSize {last}")));
        }
        if last > size {
            return Err(ApiError::new(400, format!("lastSize {last} is larger than the tree ({size})")));
        }
        let hashes: Vec<String> = st.tree.consistency_proof(first, last).iter().map(|h| hex(h)).collect();
        Ok(json!({ "hashes": hashes, "rootHash": hex(&st.tree.root(last)) }))
    }
}
