//! The persistent RFC 6962 log shared by Rekor v1 and v2: an append-only entry
//! file (see `store`) plus an in-memory Merkle tree, with group commit.
//!
//! An entry is answered only after it is synced. Whoever finds no sync in
//! flight writes and syncs every pending entry; the others wait for it.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use rand_core::{OsRng, RngCore as _};

use super::merkle::{Hash, Tree, leaf_hash};
use super::store;
use crate::ApiError;

/// Where a committed entry lives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    pub(crate) integrated_time: i64,
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

/// A proof snapshot taken under the lock.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) index: u64,
    pub(crate) record: Record,
    pub(crate) leaf: Hash,
    /// Audit path, leaf to root.
    pub(crate) hashes: Vec<Hash>,
    pub(crate) root: Hash,
    pub(crate) size: u64,
}

/// What [`Journal::append`] did.
#[derive(Debug)]
pub(crate) enum Appended {
    /// The entry was committed; a proof against the tree that includes it.
    New(Snapshot),
    /// An entry with the same leaf exists: its index, or `None` while it is still being written.
    Duplicate { leaf: Hash, index: Option<u64> },
}

/// The log file and its tree. All methods take `&self` and are safe to call from many threads.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    tree_id: u64,
    state: Mutex<State>,
    committed: Condvar,
    writer: Mutex<File>,
    reader: Mutex<File>,
}

pub(crate) fn poisoned() -> ApiError {
    ApiError::new(500, "internal error: log state lock poisoned")
}

impl Journal {
    /// Opens or creates the entry file at `path` for the log `log_id`, rebuilding the tree.
    pub(crate) fn open(path: PathBuf, log_id: &[u8; 32]) -> io::Result<Self> {
        let opened = store::open(&path, log_id, || {
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
        Ok(Self {
            path,
            tree_id: opened.tree_id,
            state: Mutex::new(state),
            committed: Condvar::new(),
            writer: Mutex::new(opened.file),
            reader: Mutex::new(reader),
        })
    }

    /// The tree id stored in the file header.
    pub(crate) fn tree_id(&self) -> u64 {
        self.tree_id
    }

    /// The entry file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, ApiError> {
        self.state.lock().map_err(|_| poisoned())
    }

    /// Appends `body` and returns once it is synced to disk.
    pub(crate) fn append(
        &self,
        body: &[u8],
        search_digest: [u8; 32],
        integrated_time: i64,
    ) -> Result<Appended, ApiError> {
        if body.len() as u64 > store::MAX_PAYLOAD - store::PAYLOAD_FIXED as u64 {
            return Err(ApiError::new(413, "canonical entry too large"));
        }
        let leaf = leaf_hash(body);
        let mut st = self.lock()?;
        if let Some(msg) = &st.failed {
            return Err(ApiError::new(500, format!("the log cannot accept entries: {msg}")));
        }
        if let Some(&index) = st.by_leaf.get(&leaf) {
            return Ok(Appended::Duplicate { leaf, index: Some(index) });
        }
        if st.pending_leaves.contains(&leaf) {
            return Ok(Appended::Duplicate { leaf, index: None });
        }
        let index = st.next_index;
        st.next_index += 1;
        let frame = store::encode_record(integrated_time, &search_digest, body);
        let record = Record {
            integrated_time,
            body_offset: st.end + store::FRAME_LEN + store::PAYLOAD_FIXED as u64,
            body_len: body.len(),
        };
        st.end += frame.len() as u64;
        st.pending_leaves.insert(leaf);
        st.pending.push(Pending { leaf, record, search_digest, frame });

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
        Ok(Appended::New(Self::snapshot_locked(&st, index)?))
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

    fn snapshot_locked(st: &State, index: u64) -> Result<Snapshot, ApiError> {
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

    /// A proof of entry `index` against the current tree (404 when there is no such entry).
    pub(crate) fn snapshot(&self, index: u64) -> Result<Snapshot, ApiError> {
        Self::snapshot_locked(&*self.lock()?, index)
    }

    /// Entry `index` with its stored body, checked against its leaf hash.
    pub(crate) fn entry(&self, index: u64) -> Result<(Snapshot, Vec<u8>), ApiError> {
        let snap = self.snapshot(index)?;
        let body = {
            let mut file = self.reader.lock().map_err(|_| poisoned())?;
            store::read_at(&mut file, snap.record.body_offset, snap.record.body_len)
                .map_err(|e| ApiError::new(500, format!("reading the log: {e}")))?
        };
        if leaf_hash(&body) != snap.leaf {
            return Err(ApiError::new(500, format!("entry {index} on disk does not match its leaf hash")));
        }
        Ok((snap, body))
    }

    /// The index of the committed entry with this leaf hash.
    pub(crate) fn index_of(&self, leaf: &Hash) -> Result<Option<u64>, ApiError> {
        Ok(self.lock()?.by_leaf.get(leaf).copied())
    }

    /// Leaf hashes of the committed entries with this search digest, in log order.
    pub(crate) fn leaves_for_digest(&self, digest: &[u8; 32]) -> Result<Vec<Hash>, ApiError> {
        let st = self.lock()?;
        Ok(st
            .by_digest
            .get(digest)
            .map(|indices| indices.iter().filter_map(|&i| st.tree.leaf(i)).collect())
            .unwrap_or_default())
    }

    /// Size and root of the current tree (also after a panic elsewhere poisoned the lock).
    pub(crate) fn head(&self) -> (u64, Hash) {
        let st = match self.state.lock() {
            Ok(st) => st,
            Err(p) => p.into_inner(),
        };
        let size = st.tree.len();
        (size, st.tree.root(size))
    }

    /// A consistency proof from `first` to `last` leaves (default: the whole tree) and the root at `last`.
    pub(crate) fn consistency(&self, first: u64, last: Option<u64>) -> Result<(Vec<Hash>, Hash), ApiError> {
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
        Ok((st.tree.consistency_proof(first, last), st.tree.root(last)))
    }
}
