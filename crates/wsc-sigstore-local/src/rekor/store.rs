//! The append-only entry file.
//!
//! Layout: a 56-byte header (magic, tree id, log id, checksum), then records.
//! A record is `len: u32 LE ‖ SHA-256(payload) ‖ payload`, and the payload is
//! `integratedTime: i64 LE ‖ search digest (32 bytes) ‖ canonical body`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest as _, Sha256};

const MAGIC: &[u8; 8] = b"WSCREKR1";
/// Size of the file header.
pub(crate) const HEADER_LEN: u64 = 56;
/// Size of a record's frame before its payload.
pub(crate) const FRAME_LEN: u64 = 36;
/// Fixed part of a payload before the body.
pub(crate) const PAYLOAD_FIXED: usize = 40;
/// Largest payload accepted on reopen; larger ones are corruption.
pub(crate) const MAX_PAYLOAD: u64 = 4 * 1024 * 1024;

/// One record read back from the file.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// Unix seconds.
    pub(crate) integrated_time: i64,
    /// The search digest.
    pub(crate) search_digest: [u8; 32],
    /// Offset of the body in the file.
    pub(crate) body_offset: u64,
    /// Length of the body.
    pub(crate) body_len: usize,
    /// RFC 6962 leaf hash of the body.
    pub(crate) leaf: [u8; 32],
}

/// The opened file and everything in it.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The file, opened for reading and writing.
    pub(crate) file: File,
    /// The tree id from the header.
    pub(crate) tree_id: u64,
    /// All complete records, in order.
    pub(crate) records: Vec<Loaded>,
    /// End of the last complete record (the file length after any truncation).
    pub(crate) end: u64,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn header(tree_id: u64, log_id: &[u8; 32]) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN as usize);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&tree_id.to_le_bytes());
    h.extend_from_slice(log_id);
    let sum = Sha256::digest(&h);
    h.extend_from_slice(&sum[..8]);
    h
}

/// Encodes one record.
pub(crate) fn encode_record(integrated_time: i64, search_digest: &[u8; 32], body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(PAYLOAD_FIXED + body.len());
    payload.extend_from_slice(&integrated_time.to_le_bytes());
    payload.extend_from_slice(search_digest);
    payload.extend_from_slice(body);
    let mut out = Vec::with_capacity(FRAME_LEN as usize + payload.len());
    // Callers bound bodies far below 4 GiB.
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(&payload));
    out.extend_from_slice(&payload);
    out
}

fn sync_dir(dir: &Path) {
    // Directory sync makes a new file's name durable; not every platform allows it.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Opens or creates the entry file at `path`, reads every record, and truncates a torn tail.
pub(crate) fn open(path: &Path, log_id: &[u8; 32], new_tree_id: impl FnOnce() -> u64) -> io::Result<Opened> {
    let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    let len = file.metadata()?.len();
    if len < HEADER_LEN {
        // A new log, or one whose creation never finished (no entry was ever answered).
        let tree_id = new_tree_id();
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&header(tree_id, log_id))?;
        file.sync_all()?;
        if let Some(parent) = path.parent() {
            sync_dir(parent);
        }
        return Ok(Opened { file, tree_id, records: Vec::new(), end: HEADER_LEN });
    }
    let mut head = [0u8; HEADER_LEN as usize];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut head)?;
    if &head[..8] != MAGIC {
        return Err(invalid(format!("{}: not a wsc rekor log (bad magic)", path.display())));
    }
    let mut tid = [0u8; 8];
    tid.copy_from_slice(&head[8..16]);
    let tree_id = u64::from_le_bytes(tid);
    if Sha256::digest(&head[..48])[..8] != head[48..56] {
        return Err(invalid(format!("{}: corrupt header", path.display())));
    }
    if head[16..48] != log_id[..] {
        return Err(invalid(format!("{}: the log was created with another signing key", path.display())));
    }

    let mut reader = BufReader::with_capacity(1 << 16, &mut file);
    let mut pos = HEADER_LEN;
    let mut records = Vec::new();
    let mut torn = false;
    while pos < len {
        let remaining = len - pos;
        if remaining < FRAME_LEN {
            torn = true;
            break;
        }
        let mut frame = [0u8; FRAME_LEN as usize];
        reader.read_exact(&mut frame)?;
        let mut lb = [0u8; 4];
        lb.copy_from_slice(&frame[..4]);
        let plen = u64::from(u32::from_le_bytes(lb));
        if FRAME_LEN + plen > remaining {
            torn = true;
            break;
        }
        if plen > MAX_PAYLOAD || plen < PAYLOAD_FIXED as u64 {
            return Err(invalid(format!("{}: corrupt record at offset {pos} (length {plen})", path.display())));
        }
        // plen is bounded by MAX_PAYLOAD and by the file size.
        let mut payload = vec![0u8; plen as usize];
        reader.read_exact(&mut payload)?;
        let is_last = pos + FRAME_LEN + plen == len;
        if Sha256::digest(&payload)[..] != frame[4..] {
            if is_last {
                torn = true;
                break;
            }
            return Err(invalid(format!("{}: checksum mismatch in record at offset {pos}", path.display())));
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(&payload[..8]);
        let mut search_digest = [0u8; 32];
        search_digest.copy_from_slice(&payload[8..PAYLOAD_FIXED]);
        let body = &payload[PAYLOAD_FIXED..];
        records.push(Loaded {
            integrated_time: i64::from_le_bytes(t),
            search_digest,
            body_offset: pos + FRAME_LEN + PAYLOAD_FIXED as u64,
            body_len: body.len(),
            leaf: super::merkle::leaf_hash(body),
        });
        pos += FRAME_LEN + plen;
    }
    drop(reader);
    if torn {
        // Written but never synced and answered: drop it.
        file.set_len(pos)?;
        file.sync_all()?;
    }
    Ok(Opened { file, tree_id, records, end: pos })
}

/// Reads `len` bytes at `offset`.
pub(crate) fn read_at(file: &mut File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf)?;
    Ok(buf)
}
