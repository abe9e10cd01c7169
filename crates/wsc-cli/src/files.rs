//! Reading inputs and writing outputs.
//!
//! Outputs land whole or not at all. Each is first written to a temporary
//! file in its destination's directory: an anonymous one (`O_TMPFILE`)
//! where the file system has it, so that nothing is left behind even after
//! SIGKILL, else a named `.wsc-XXXXXXXXXX` file that is removed on error and
//! on SIGTERM, SIGINT and SIGHUP. When every output of a command is written,
//! they are put in place together ([`Outputs::commit`]); if one cannot be,
//! those already in place are undone (a replaced file gets its old content
//! back where the file system can exchange two names).
//!
//! Permissions: a secret is 0600; a public output keeps the permissions of
//! the file it replaces (signing a 0600 module in place keeps it 0600), and
//! a new one gets 0666 less the umask.
//!
//! Residual windows, documented in docs/security/security-model.md: SIGKILL
//! or a power cut in the few system calls of a commit can leave a named
//! temporary file or only some of a command's outputs; there is no fsync.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

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
    read_into(f, path, limit, what, &mut buf)?;
    Ok(buf)
}

fn read_into(f: File, path: &Path, limit: u64, what: &str, buf: &mut Vec<u8>) -> Result<()> {
    f.take(limit + 1).read_to_end(buf).with_context(|| format!("cannot read {what} '{}'", path.display()))?;
    if buf.len() as u64 > limit {
        bail!("{what} '{}' is larger than {limit} bytes", path.display());
    }
    Ok(())
}

/// Largest secret key file read.
const MAX_SECRET_FILE: usize = 64 * 1024;

/// Reads a secret into memory that is wiped when dropped, with the
/// permission bits of the file read (`None` off Unix).
pub(crate) fn read_secret(path: &Path) -> Result<(Zeroizing<Vec<u8>>, Option<u32>)> {
    let what = "secret key";
    let f = File::open(path).with_context(|| format!("cannot open {what} '{}'", path.display()))?;
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        Some(f.metadata().with_context(|| format!("cannot stat {what} '{}'", path.display()))?.permissions().mode())
    };
    #[cfg(not(unix))]
    let mode = None;
    // Allocated once at full size: growing would leave copies of the key behind.
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_SECRET_FILE + 1));
    read_into(f, path, MAX_SECRET_FILE as u64, what, &mut buf)?;
    Ok((buf, mode))
}

/// Who may read a written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// 0666 less the umask, or the permissions of the file replaced.
    Public,
    /// 0600.
    Secret,
}

/// Whether an output may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replace {
    Allow,
    /// An existing file is an error, checked again when the output lands.
    Refuse,
}

/// Reads the umask once. `main` calls this first, before any thread
/// starts, because without /proc the umask is read by setting it.
pub(crate) fn init() {
    umask();
}

fn umask() -> u32 {
    static UMASK: OnceLock<u32> = OnceLock::new();
    *UMASK.get_or_init(read_umask)
}

#[cfg(unix)]
fn read_umask() -> u32 {
    // /proc says it without changing it (Linux 4.7 and later).
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let from_proc = status.lines().find_map(|l| l.strip_prefix("Umask:")).map(|v| u32::from_str_radix(v.trim(), 8));
    if let Some(Ok(mask)) = from_proc {
        return mask;
    }
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    rustix::process::umask(old);
    // mode_t is narrower than u32 on some systems.
    #[allow(clippy::unnecessary_cast)]
    let bits = old.bits() as u32;
    bits
}

#[cfg(not(unix))]
fn read_umask() -> u32 {
    0o022
}

/// Writes `path` atomically (see the module doc): on error nothing is left
/// behind and an existing file is intact. `-o` may name the input: the
/// input stays readable until the output lands.
pub(crate) fn write_atomic<T>(path: &Path, mode: Mode, write: impl FnOnce(&mut File) -> Result<T>) -> Result<T> {
    let mut outputs = Outputs::default();
    let value = outputs.stage(path, mode, Replace::Allow, write)?;
    outputs.commit()?;
    Ok(value)
}

/// Writes bytes atomically.
pub(crate) fn write_bytes(path: &Path, mode: Mode, bytes: &[u8]) -> Result<()> {
    write_atomic(path, mode, |f| f.write_all(bytes).with_context(|| format!("cannot write '{}'", path.display())))
}

/// The outputs of one command: each written in full to a temporary file by
/// [`stage`](Self::stage), then all put in place by
/// [`commit`](Self::commit). Dropped without a commit, it leaves nothing.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    staged: Vec<Staged>,
}

/// A written temporary file and where it goes.
#[derive(Debug)]
struct Staged {
    dest: PathBuf,
    dir: PathBuf,
    file: File,
    /// The temporary file's name; `None` while it is anonymous.
    temp: Option<PathBuf>,
    replace: Replace,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(t) = self.temp.take() {
            let mut names = named();
            let _ = fs::remove_file(&t);
            forget(&mut names, &t);
        }
    }
}

/// How an output was put in place, to undo it.
#[derive(Debug)]
enum Landed {
    /// There was no file: remove it.
    Created(PathBuf),
    /// The old file is at `backup`: exchange them back.
    Replaced { dest: PathBuf, backup: PathBuf },
    /// Renamed over the old file, which is gone.
    Overwritten(PathBuf),
}

impl Outputs {
    /// Writes one output to a temporary file next to `path`, through
    /// `write`; nothing is visible at `path` until [`commit`](Self::commit).
    pub(crate) fn stage<T>(
        &mut self,
        path: &Path,
        mode: Mode,
        replace: Replace,
        write: impl FnOnce(&mut File) -> Result<T>,
    ) -> Result<T> {
        if let Ok(m) = fs::metadata(path) {
            if m.is_dir() {
                bail!("cannot write '{}': it is a directory", path.display());
            }
            if replace == Replace::Refuse {
                bail!("'{}' already exists", path.display());
            }
        }
        #[cfg(unix)]
        watch_signals()?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let (file, temp) =
            create_temp(dir).with_context(|| format!("cannot create a temporary file in '{}'", dir.display()))?;
        let mut staged = Staged { dest: path.to_path_buf(), dir: dir.to_path_buf(), file, temp, replace };
        // On error, dropping `staged` removes the temporary file.
        let value = write(&mut staged.file)?;
        let ctx = || format!("cannot write '{}'", path.display());
        staged.file.flush().with_context(ctx)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let perms = fs::Permissions::from_mode(final_mode(path, mode));
            staged.file.set_permissions(perms).with_context(ctx)?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        self.staged.push(staged);
        Ok(value)
    }

    /// Puts every staged output in place, in order. If one fails, those
    /// already in place are undone and the temporary files removed.
    /// Catchable signals wait until the commit is over.
    pub(crate) fn commit(mut self) -> Result<()> {
        let mut staged = std::mem::take(&mut self.staged);
        // Declared after `staged`, so released before it is dropped.
        let mut names = named();
        let mut landed = Vec::with_capacity(staged.len());
        let mut failure = None;
        for s in staged.iter_mut() {
            // An existing file is exchanged with the new one, then removed:
            // renaming over it would make ext4 write the new file's blocks
            // out first (auto_da_alloc), ~10 ms for 20 MiB here.
            match land(s, &mut names) {
                Ok(l) => landed.push(l),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let Some(error) = failure else {
            for l in &landed {
                if let Landed::Replaced { backup, .. } = l {
                    let _ = fs::remove_file(backup);
                    forget(&mut names, backup);
                }
            }
            return Ok(());
        };
        let problems: Vec<String> = landed.iter().rev().filter_map(|l| undo(l, &mut names)).collect();
        for s in &mut staged {
            if let Some(t) = s.temp.take() {
                let _ = fs::remove_file(&t);
                forget(&mut names, &t);
            }
        }
        if problems.is_empty() {
            return Err(error);
        }
        Err(error.context(format!("outputs not restored: {}", problems.join("; "))))
    }
}

/// Puts one output in place; a replaced file is kept under the temporary
/// name until the commit is over, so that the output can be undone.
fn land(s: &mut Staged, names: &mut Vec<PathBuf>) -> Result<Landed> {
    let dest = s.dest.clone();
    let ctx = || format!("cannot write '{}'", dest.display());
    if s.replace == Replace::Refuse || fs::symlink_metadata(&dest).is_err() {
        match place_new(s, names) {
            Ok(()) => return Ok(Landed::Created(dest)),
            // It appeared in the meantime: replace it below.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && s.replace == Replace::Allow => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => bail!("'{}' already exists", dest.display()),
            Err(e) => return Err(e).with_context(ctx),
        }
    }
    let temp = give_name(s, names).with_context(ctx)?;
    match exchange(&temp, &dest) {
        Ok(()) => {
            // The temporary name now holds the old file, unless that is a
            // directory (made after staging): exchanged back, refused.
            if fs::symlink_metadata(&temp).is_ok_and(|m| m.is_dir()) {
                exchange(&temp, &dest).with_context(ctx)?;
                bail!("cannot write '{}': it is a directory", dest.display());
            }
            s.temp = None;
            return Ok(Landed::Replaced { dest, backup: temp });
        }
        Err(e) if unsupported(&e) => {}
        Err(e) => return Err(e).with_context(ctx),
    }
    fs::rename(&temp, &dest).with_context(ctx)?;
    forget(names, &temp);
    s.temp = None;
    Ok(Landed::Overwritten(dest))
}

/// Undoes one output; says what could not be undone.
fn undo(l: &Landed, names: &mut Vec<PathBuf>) -> Option<String> {
    match l {
        Landed::Created(dest) => {
            fs::remove_file(dest).err().map(|e| format!("'{}' could not be removed ({e})", dest.display()))
        }
        Landed::Replaced { dest, backup } => match exchange(backup, dest) {
            Ok(()) => {
                let _ = fs::remove_file(backup);
                forget(names, backup);
                None
            }
            Err(e) => {
                // Keep the old content where it is, even on a signal.
                forget(names, backup);
                Some(format!(
                    "'{}' could not be restored ({e}); its old content is in '{}'",
                    dest.display(),
                    backup.display()
                ))
            }
        },
        Landed::Overwritten(dest) => Some(format!("'{}' was already replaced", dest.display())),
    }
}

/// Links or renames a staged output to its destination, never replacing a
/// file there (`AlreadyExists`).
fn place_new(s: &mut Staged, names: &mut Vec<PathBuf>) -> io::Result<()> {
    match s.temp.clone() {
        None => link_anonymous(&s.file, &s.dest),
        Some(temp) => {
            match rename_noreplace(&temp, &s.dest) {
                Ok(()) => {}
                Err(e) if unsupported(&e) => {
                    // Without RENAME_NOREPLACE: a short race with other writers.
                    if fs::symlink_metadata(&s.dest).is_ok() {
                        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
                    }
                    fs::rename(&temp, &s.dest)?;
                }
                Err(e) => return Err(e),
            }
            forget(names, &temp);
            s.temp = None;
            Ok(())
        }
    }
}

/// The staged output's name in its directory: an anonymous file is linked
/// under a new temporary name first.
fn give_name(s: &mut Staged, names: &mut Vec<PathBuf>) -> io::Result<PathBuf> {
    if let Some(t) = &s.temp {
        return Ok(t.clone());
    }
    for _ in 0..64 {
        let candidate = s.dir.join(temp_name());
        match link_anonymous(&s.file, &candidate) {
            Ok(()) => {
                names.push(candidate.clone());
                s.temp = Some(candidate.clone());
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free temporary file name"))
}

/// Named temporary files of this process, removed on SIGTERM, SIGINT and
/// SIGHUP. Held during a commit, so a signal waits for it.
static NAMED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn named() -> MutexGuard<'static, Vec<PathBuf>> {
    NAMED.lock().unwrap_or_else(PoisonError::into_inner)
}

fn forget(names: &mut Vec<PathBuf>, path: &Path) {
    names.retain(|p| p != path);
}

/// Starts, once, the thread that removes the named temporary files on
/// SIGTERM, SIGINT or SIGHUP and then dies of that signal.
#[cfg(unix)]
fn watch_signals() -> Result<()> {
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        // A signal the process ignores stays ignored (nohup, `&` in scripts).
        let ignored = ignored_signals();
        let watched: Vec<i32> =
            [SIGTERM, SIGINT, SIGHUP].into_iter().filter(|s| ignored & (1 << (s - 1)) == 0).collect();
        let mut signals = signal_hook::iterator::Signals::new(watched).map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("wsc-signals".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    // Held until the process is gone: nothing lands after this.
                    let names = named();
                    for p in names.iter() {
                        let _ = fs::remove_file(p);
                    }
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                    std::process::exit(128 + signal);
                }
            })
            .map(drop)
            .map_err(|e| e.to_string())
    });
    started.clone().map_err(|e| anyhow::anyhow!("cannot watch for signals: {e}"))
}

/// The signals this process ignores, one bit each (bit 0 is signal 1),
/// from /proc (Linux); none elsewhere.
#[cfg(unix)]
fn ignored_signals() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0)
}

/// A temporary file in `dir`: anonymous where possible, else named (and
/// registered for removal on signals).
fn create_temp(dir: &Path) -> io::Result<(File, Option<PathBuf>)> {
    #[cfg(target_os = "linux")]
    if anonymous_temps() {
        use rustix::fs::{CWD, OFlags};
        use rustix::io::Errno;
        let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
        match rustix::fs::openat(CWD, dir, flags, rustix::fs::Mode::from_raw_mode(0o600)) {
            Ok(fd) => return Ok((File::from(fd), None)),
            // No O_TMPFILE on this file system (or kernel): a named file.
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOSYS) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut names = named();
    for _ in 0..64 {
        let path = dir.join(temp_name());
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(file) => {
                names.push(path.clone());
                return Ok((file, Some(path)));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free temporary file name"))
}

/// Whether to use `O_TMPFILE`: linking it needs /proc. `WSC_NO_O_TMPFILE=1`
/// forces named temporary files (for file systems that misreport it, and
/// for tests of that path).
#[cfg(target_os = "linux")]
fn anonymous_temps() -> bool {
    static USE: OnceLock<bool> = OnceLock::new();
    *USE.get_or_init(|| {
        std::env::var_os("WSC_NO_O_TMPFILE").is_none_or(|v| v.is_empty() || v == "0")
            && Path::new("/proc/self/fd").is_dir()
    })
}

fn temp_name() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = [0u8; 10];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    let tail: String = bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect();
    format!(".wsc-{tail}")
}

/// Gives an anonymous file the name `to`; fails if `to` exists.
#[cfg(target_os = "linux")]
fn link_anonymous(file: &File, to: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
    rustix::fs::linkat(rustix::fs::CWD, proc.as_str(), rustix::fs::CWD, to, rustix::fs::AtFlags::SYMLINK_FOLLOW)
        .map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn link_anonymous(_file: &File, _to: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Exchanges two names atomically (RENAME_EXCHANGE).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags};
    rustix::fs::renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

/// Renames without replacing anything (RENAME_NOREPLACE).
#[cfg(target_os = "linux")]
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags};
    rustix::fs::renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(not(target_os = "linux"))]
fn rename_noreplace(_from: &Path, _to: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// The file system or kernel lacks the flag.
fn unsupported(e: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        use rustix::io::Errno;
        let raw = e.raw_os_error();
        [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP].iter().any(|n| raw == Some(n.raw_os_error()))
            || e.kind() == io::ErrorKind::Unsupported
    }
    #[cfg(not(target_os = "linux"))]
    {
        e.kind() == io::ErrorKind::Unsupported
    }
}

/// The permissions of a new output (see the module doc).
#[cfg(unix)]
fn final_mode(dest: &Path, mode: Mode) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    match mode {
        Mode::Secret => 0o600,
        Mode::Public => match fs::metadata(dest) {
            Ok(m) if m.is_file() => m.permissions().mode() & 0o777,
            _ => 0o666 & !umask(),
        },
    }
}

/// The files one command names, checked before anything is written: no
/// two outputs may be the same file, and no output may be an input, except
/// an input that its own output rewrites in place (`-o` naming `-i`).
/// Paths are compared as files (device and inode, so hard links and
/// symbolic links count) and as directory entries (canonical directory and
/// name, for files that do not exist yet).
#[derive(Debug, Default)]
pub(crate) struct SameFileCheck<'a> {
    outputs: Vec<(&'a str, &'a Path)>,
    inputs: Vec<(&'a str, &'a Path, Option<&'a Path>)>,
}

impl<'a> SameFileCheck<'a> {
    /// An output, named by its flag for messages.
    pub(crate) fn output(mut self, flag: &'a str, path: &'a Path) -> Self {
        self.outputs.push((flag, path));
        self
    }

    /// An input that no output may overwrite.
    pub(crate) fn input(mut self, flag: &'a str, path: &'a Path) -> Self {
        self.inputs.push((flag, path, None));
        self
    }

    /// An input that `output` may rewrite in place.
    pub(crate) fn rewritten_input(mut self, flag: &'a str, path: &'a Path, output: Option<&'a Path>) -> Self {
        self.inputs.push((flag, path, output));
        self
    }

    /// Refuses the command (exit 2) if two of its files are the same.
    pub(crate) fn check(&self) -> Result<()> {
        let outputs: Vec<_> = self.outputs.iter().map(|(f, p)| (*f, *p, file_ids(p))).collect();
        for (i, (flag, path, ids)) in outputs.iter().enumerate() {
            for (other_flag, other, other_ids) in &outputs[..i] {
                if overlap(ids, other_ids) {
                    bail!(
                        "{other_flag} '{}' and {flag} '{}' are the same file: nothing written",
                        other.display(),
                        path.display()
                    );
                }
            }
            for (in_flag, input, in_place) in &self.inputs {
                if in_place.is_some_and(|o| o == *path) {
                    continue;
                }
                if overlap(ids, &file_ids(input)) {
                    bail!(
                        "{flag} '{}' would overwrite the input {in_flag} '{}': nothing written",
                        path.display(),
                        input.display()
                    );
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, PartialEq, Eq)]
enum FileId {
    Inode(u64, u64),
    Entry(PathBuf),
}

fn file_ids(path: &Path) -> Vec<FileId> {
    let mut ids = Vec::new();
    #[cfg(unix)]
    if let Ok(m) = fs::metadata(path) {
        use std::os::unix::fs::MetadataExt;
        ids.push(FileId::Inode(m.dev(), m.ino()));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (fs::canonicalize(parent), path.file_name()) {
        (Ok(dir), Some(name)) => ids.push(FileId::Entry(dir.join(name))),
        _ => ids.extend(std::path::absolute(path).ok().map(FileId::Entry)),
    }
    // What a symbolic link points to.
    ids.extend(fs::canonicalize(path).ok().map(FileId::Entry));
    ids
}

fn overlap(a: &[FileId], b: &[FileId]) -> bool {
    a.iter().any(|x| b.contains(x))
}

/// Copies `len` bytes of `src` at `from` to `dst` at `to`: by the kernel
/// (`copy_file_range`) where it can, else through a buffer. Neither file's
/// position moves.
#[cfg(unix)]
pub(crate) fn copy_range(src: &File, mut from: u64, dst: &File, mut to: u64, mut len: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    #[cfg(target_os = "linux")]
    while len > 0 {
        let chunk = usize::try_from(len.min(1 << 30)).unwrap_or(1 << 30);
        match rustix::fs::copy_file_range(src, Some(&mut from), dst, Some(&mut to), chunk) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the input ended early")),
            // The call moved `from` and `to`.
            Ok(n) => len -= n as u64,
            // Not for these files (another file system, a pipe): use a buffer.
            Err(e)
                if [
                    rustix::io::Errno::XDEV,
                    rustix::io::Errno::NOSYS,
                    rustix::io::Errno::OPNOTSUPP,
                    rustix::io::Errno::INVAL,
                ]
                .contains(&e) =>
            {
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut buf = vec![0u8; 256 * 1024];
    while len > 0 {
        let want = usize::try_from(len.min(buf.len() as u64)).unwrap_or(buf.len());
        let n = src.read_at(&mut buf[..want], from)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the input ended early"));
        }
        dst.write_all_at(&buf[..n], to)?;
        (from, to, len) = (from + n as u64, to + n as u64, len - n as u64);
    }
    Ok(())
}

/// Errors of writing `path` that name it: a full disk says which output.
pub(crate) fn name_write_error(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot write '{}': {e}", path.display()))
}

/// A writer whose errors name the file it writes.
#[derive(Debug)]
pub(crate) struct NamedWriter<'a, W> {
    inner: W,
    path: &'a Path,
}

impl<'a, W: Write> NamedWriter<'a, W> {
    pub(crate) fn new(inner: W, path: &'a Path) -> Self {
        NamedWriter { inner, path }
    }
}

impl<W: Write> Write for NamedWriter<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.inner.write(data).map_err(|e| name_write_error(self.path, e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| name_write_error(self.path, e))
    }
}

/// A file written by a background thread, so that hashing (on the caller's
/// thread) and writing overlap. Writes are buffered into 256 KiB chunks;
/// only `SeekFrom::Start` is supported. Call [`finish`](Self::finish) to
/// wait for every write and get its error, if any. When the thread stops
/// on an error (a full disk), every later call returns that error.
pub(crate) struct ThreadedWriter {
    tx: Option<std::sync::mpsc::SyncSender<WriteOp>>,
    handle: Option<std::thread::JoinHandle<io::Result<()>>>,
    /// The writer thread's error, once it has stopped.
    failed: Option<(io::ErrorKind, String)>,
    buf: Vec<u8>,
    /// Buffers the thread has written, for reuse: fresh 256 KiB buffers
    /// would each cost page faults on the hashing thread.
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    pos: u64,
}

enum WriteOp {
    Data(Vec<u8>),
    Seek(u64),
}

const WRITE_CHUNK: usize = 256 * 1024;

impl ThreadedWriter {
    /// Writes `file`; errors name `path`.
    pub(crate) fn new(mut file: File, path: &Path) -> Self {
        let path = path.to_path_buf();
        let (tx, rx) = std::sync::mpsc::sync_channel::<WriteOp>(8);
        let (spare_tx, spare) = std::sync::mpsc::channel::<Vec<u8>>();
        let handle = std::thread::spawn(move || -> io::Result<()> {
            use std::io::Seek;
            let run = || -> io::Result<()> {
                for op in rx {
                    match op {
                        WriteOp::Data(mut v) => {
                            file.write_all(&v)?;
                            v.clear();
                            // The hashing thread may have stopped taking them.
                            let _ = spare_tx.send(v);
                        }
                        WriteOp::Seek(p) => {
                            file.seek(io::SeekFrom::Start(p))?;
                        }
                    }
                }
                file.flush()
            };
            run().map_err(|e| name_write_error(&path, e))
        });
        ThreadedWriter {
            tx: Some(tx),
            handle: Some(handle),
            failed: None,
            buf: Vec::with_capacity(WRITE_CHUNK),
            spare,
            pos: 0,
        }
    }

    /// Waits for the thread and keeps its result, once.
    fn join(&mut self) -> io::Result<()> {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.failed = Some((e.kind(), e.to_string())),
                Err(_) => self.failed = Some((io::ErrorKind::Other, "the writer thread panicked".into())),
            }
        }
        match &self.failed {
            Some((kind, message)) => Err(io::Error::new(*kind, message.clone())),
            None => Ok(()),
        }
    }

    fn send(&mut self, op: WriteOp) -> io::Result<()> {
        if let Some(tx) = &self.tx {
            if tx.send(op).is_ok() {
                return Ok(());
            }
        }
        // The thread ended early: its own error says why.
        self.join()?;
        Err(io::Error::other("the writer thread stopped"))
    }

    fn send_buf(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let next = self.spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(WRITE_CHUNK));
            let full = std::mem::replace(&mut self.buf, next);
            self.send(WriteOp::Data(full))?;
        }
        Ok(())
    }

    /// Sends what is buffered and waits for the writer; returns its error.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        let sent = self.send_buf();
        self.join().and(sent)
    }
}

impl Write for ThreadedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.pos += data.len() as u64;
        if self.buf.len() >= WRITE_CHUNK {
            self.send_buf()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buf()
    }
}

impl std::io::Seek for ThreadedWriter {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let io::SeekFrom::Start(p) = to else {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "only absolute seeks"));
        };
        self.send_buf()?;
        self.send(WriteOp::Seek(p))?;
        self.pos = p;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn stage_text(outputs: &mut Outputs, path: &Path, text: &str) {
        outputs
            .stage(path, Mode::Public, Replace::Allow, |f| f.write_all(text.as_bytes()).map_err(anyhow::Error::from))
            .expect("staged");
    }

    /// A directory that replaces a staged output's destination after
    /// staging is neither replaced nor moved.
    #[test]
    fn a_directory_made_after_staging_stays_in_place() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        let mut outputs = Outputs::default();
        stage_text(&mut outputs, &a, "new a");
        stage_text(&mut outputs, &b, "new b");
        fs::create_dir(&a).expect("mkdir");
        fs::write(a.join("x"), "x").expect("write");
        let err = outputs.commit().expect_err("a directory is not replaced");
        assert!(format!("{err:#}").contains("is a directory"), "{err:#}");
        assert_eq!(fs::read_to_string(a.join("x")).expect("x"), "x");
        assert_eq!(listing(tmp.path()), ["a"], "no temporary file, and b is not written");
    }

    /// Outputs that land together: when the second cannot be put in place,
    /// the first is undone (a replaced file gets its old content back, a
    /// created one is removed) and no temporary file is left.
    #[test]
    fn a_failed_commit_undoes_the_outputs_already_in_place() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
        fs::write(&a, "old a").expect("write");
        let mut outputs = Outputs::default();
        stage_text(&mut outputs, &a, "new a");
        stage_text(&mut outputs, &b, "new b");
        stage_text(&mut outputs, &c, "new c");
        // `c` becomes a non-empty directory after staging: its rename fails.
        fs::create_dir(&c).expect("mkdir");
        fs::write(c.join("x"), "x").expect("write");
        let err = outputs.commit().expect_err("the last output cannot land");
        assert!(format!("{err:#}").contains("cannot write"), "{err:#}");
        assert_eq!(fs::read_to_string(&a).expect("a"), "old a", "the replaced file is restored");
        assert!(!b.exists(), "the created file is removed");
        assert_eq!(listing(tmp.path()), ["a", "c"], "no temporary file is left");
    }

    #[test]
    fn a_commit_puts_every_output_in_place() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        fs::write(&a, "old a").expect("write");
        let mut outputs = Outputs::default();
        stage_text(&mut outputs, &a, "new a");
        stage_text(&mut outputs, &b, "new b");
        assert_eq!(listing(tmp.path()), ["a"], "nothing visible before the commit (O_TMPFILE)");
        outputs.commit().expect("commit");
        assert_eq!(fs::read_to_string(&a).expect("a"), "new a");
        assert_eq!(fs::read_to_string(&b).expect("b"), "new b");
        assert_eq!(listing(tmp.path()), ["a", "b"]);
    }

    /// Refuse: an output that appears between staging and commit is not
    /// replaced.
    #[test]
    fn refused_replacement_is_checked_again_at_commit() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let a = tmp.path().join("a");
        let mut outputs = Outputs::default();
        outputs.stage(&a, Mode::Secret, Replace::Refuse, |f| f.write_all(b"new").map_err(Into::into)).expect("staged");
        fs::write(&a, "someone else's").expect("write");
        let err = outputs.commit().expect_err("refused");
        assert!(err.to_string().contains("already exists"), "{err:#}");
        assert_eq!(fs::read_to_string(&a).expect("a"), "someone else's");
        assert_eq!(listing(tmp.path()), ["a"]);
    }
}
