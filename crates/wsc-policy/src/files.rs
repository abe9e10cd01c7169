//! Where the files a policy names come from.
//!
//! Key files, trust anchors, CRLs, TSA chains and trust roots are named
//! relative to the policy file's directory. The loader asks a
//! [`FileSource`] for them, so a policy can be checked in memory
//! ([`MemoryFiles`], [`NoFiles`]) as well as from disk ([`DirFiles`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file is larger than the budget for its kind.
    #[error("larger than {limit} bytes")]
    TooLarge {
        /// The budget, in bytes.
        limit: usize,
    },
    /// The file is not there (in memory).
    #[error("no such file")]
    NotFound,
    /// This source reads no files at all.
    #[error("this policy was loaded without access to files")]
    NoFiles,
    /// The operating system refused.
    #[error(transparent)]
    Io(std::io::Error),
}

/// Gives the loader the bytes of a file the policy names.
pub trait FileSource {
    /// Reads `name` (as written in the policy), refusing more than `limit`
    /// bytes without reading them all.
    fn read(&self, name: &str, limit: usize) -> Result<Vec<u8>, FileError>;
}

/// Files relative to a directory (the policy file's); absolute names are
/// read as they are.
#[derive(Debug, Clone)]
pub struct DirFiles {
    base: PathBuf,
}

impl DirFiles {
    /// Files relative to `base`.
    pub fn new(base: &Path) -> Self {
        DirFiles { base: base.to_path_buf() }
    }

    /// Where `name` is read from.
    pub fn resolve(&self, name: &str) -> PathBuf {
        self.base.join(name)
    }
}

impl FileSource for DirFiles {
    fn read(&self, name: &str, limit: usize) -> Result<Vec<u8>, FileError> {
        let f = std::fs::File::open(self.resolve(name)).map_err(FileError::Io)?;
        read_limited(f, limit)
    }
}

/// Reads at most `limit` bytes, failing when there are more.
pub(crate) fn read_limited(r: impl Read, limit: usize) -> Result<Vec<u8>, FileError> {
    let mut buf = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    r.take(cap).read_to_end(&mut buf).map_err(FileError::Io)?;
    if buf.len() > limit {
        return Err(FileError::TooLarge { limit });
    }
    Ok(buf)
}

/// Files held in memory, by the name the policy uses.
#[derive(Debug, Clone, Default)]
pub struct MemoryFiles {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemoryFiles {
    /// No files yet.
    pub fn new() -> Self {
        MemoryFiles::default()
    }

    /// Adds (or replaces) a file.
    pub fn insert(&mut self, name: &str, bytes: impl Into<Vec<u8>>) -> &mut Self {
        self.files.insert(name.to_string(), bytes.into());
        self
    }
}

impl FileSource for MemoryFiles {
    fn read(&self, name: &str, limit: usize) -> Result<Vec<u8>, FileError> {
        let bytes = self.files.get(name).ok_or(FileError::NotFound)?;
        if bytes.len() > limit {
            return Err(FileError::TooLarge { limit });
        }
        Ok(bytes.clone())
    }
}

/// Refuses every file: for policies that must be self-contained (inline
/// keys, embedded trust roots).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFiles;

impl FileSource for NoFiles {
    fn read(&self, _name: &str, _limit: usize) -> Result<Vec<u8>, FileError> {
        Err(FileError::NoFiles)
    }
}
