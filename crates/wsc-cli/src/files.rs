//! Reading inputs and writing outputs atomically.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use zeroize::Zeroizing;

/// Opens a module for streaming; returns the file and its length.
pub(crate) fn open_module(path: &Path) -> Result<(File, u64)> {
    let f = File::open(path).with_context(|| format!("cannot open '{}'", path.display()))?;
    let len = f.metadata().with_context(|| format!("cannot stat '{}'", path.display()))?.len();
    Ok((f, len))
}

/// Reads a small file (a key, a detached signature), refusing more than `limit` bytes.
pub(crate) fn read_small(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let f = File::open(path).with_context(|| format!("cannot open {what} '{}'", path.display()))?;
    let mut buf = Vec::new();
    f.take(limit + 1).read_to_end(&mut buf).with_context(|| format!("cannot read {what} '{}'", path.display()))?;
    if buf.len() as u64 > limit {
        bail!("{what} '{}' is larger than {limit} bytes", path.display());
    }
    Ok(buf)
}

/// Reads a stream (an HTTP body), refusing more than `limit` bytes.
pub(crate) fn read_limited(r: impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(std::io::Error::other(format!("answer larger than {limit} bytes")));
    }
    Ok(buf)
}

/// Reads a secret into memory that is wiped when dropped.
pub(crate) fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    Ok(Zeroizing::new(read_small(path, 64 * 1024, "secret key")?))
}

/// Who may read a written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Public,
    Secret,
}

/// Writes `path` atomically: a temporary file in the same directory, then a
/// rename. On error nothing is left behind and an existing file is intact.
/// `-o` may name the input: the input stays readable until the rename.
/// There is no fsync: a crash of the process never leaves a partial file,
/// and durability across power loss is the file system's rename ordering.
pub(crate) fn write_atomic<T>(path: &Path, mode: Mode, write: impl FnOnce(&mut File) -> Result<T>) -> Result<T> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".wsc-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in '{}'", dir.display()))?;
    let value = write(tmp.as_file_mut())?;
    tmp.as_file_mut().flush().with_context(|| format!("cannot write '{}'", path.display()))?;
    #[cfg(unix)]
    if mode == Mode::Public {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    tmp.persist(path).with_context(|| format!("cannot write '{}'", path.display()))?;
    Ok(value)
}

/// Writes bytes atomically.
pub(crate) fn write_bytes(path: &Path, mode: Mode, bytes: &[u8]) -> Result<()> {
    write_atomic(path, mode, |f| f.write_all(bytes).with_context(|| format!("cannot write '{}'", path.display())))
}

/// A file written by a background thread, so that hashing (on the caller's
/// thread) and writing overlap. Writes are buffered into 256 KiB chunks;
/// only `SeekFrom::Start` is supported. Call [`finish`](Self::finish) to
/// wait for every write and get its error, if any.
pub(crate) struct ThreadedWriter {
    tx: Option<std::sync::mpsc::SyncSender<WriteOp>>,
    handle: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    buf: Vec<u8>,
    pos: u64,
}

enum WriteOp {
    Data(Vec<u8>),
    Seek(u64),
}

const WRITE_CHUNK: usize = 256 * 1024;

impl ThreadedWriter {
    pub(crate) fn new(mut file: File) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<WriteOp>(8);
        let handle = std::thread::spawn(move || -> std::io::Result<()> {
            use std::io::Seek;
            for op in rx {
                match op {
                    WriteOp::Data(v) => file.write_all(&v)?,
                    WriteOp::Seek(p) => {
                        file.seek(std::io::SeekFrom::Start(p))?;
                    }
                }
            }
            file.flush()
        });
        ThreadedWriter { tx: Some(tx), handle: Some(handle), buf: Vec::with_capacity(WRITE_CHUNK), pos: 0 }
    }

    fn send(&mut self, op: WriteOp) -> std::io::Result<()> {
        let stopped = || std::io::Error::other("the writer thread stopped");
        self.tx.as_ref().ok_or_else(stopped)?.send(op).map_err(|_| stopped())
    }

    fn send_buf(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(WRITE_CHUNK));
            self.send(WriteOp::Data(full))?;
        }
        Ok(())
    }

    /// Sends what is buffered and waits for the writer; returns its error.
    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        let sent = self.send_buf();
        self.tx = None;
        let joined = match self.handle.take() {
            Some(h) => h.join().unwrap_or_else(|_| Err(std::io::Error::other("the writer thread panicked"))),
            None => Ok(()),
        };
        joined.and(sent)
    }
}

impl Write for ThreadedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.pos += data.len() as u64;
        if self.buf.len() >= WRITE_CHUNK {
            self.send_buf()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_buf()
    }
}

impl std::io::Seek for ThreadedWriter {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let std::io::SeekFrom::Start(p) = to else {
            return Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "only absolute seeks"));
        };
        self.send_buf()?;
        self.send(WriteOp::Seek(p))?;
        self.pos = p;
        Ok(p)
    }
}
