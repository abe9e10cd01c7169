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
