//! Running commands, timing them and measuring their peak memory.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The repository root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Cargo's target directory: $CARGO_TARGET_DIR, else `target` in the root.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// Runs a command, inheriting output; fails on a non-zero exit.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", show(cmd));
    let st = cmd.status().with_context(|| format!("cannot start {}", show(cmd)))?;
    if !st.success() {
        bail!("{} failed with {st}", show(cmd));
    }
    Ok(())
}

/// Runs a command quietly and returns its exit code.
pub(crate) fn code(cmd: &mut Command) -> Result<i32> {
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("cannot start {}", show(cmd)))?;
    Ok(out.code().unwrap_or(-1))
}

/// Runs a command quietly and returns its exit code and stderr.
pub(crate) fn code_stderr(cmd: &mut Command) -> Result<(i32, String)> {
    let out = cmd.stdout(Stdio::null()).output().with_context(|| format!("cannot start {}", show(cmd)))?;
    Ok((out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned()))
}

/// A command line as text.
pub(crate) fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// One measured run: wall time and peak resident memory of the child.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) wall: Duration,
    pub(crate) max_rss_kib: u64,
}

/// Runs `program args` with output discarded, under GNU time for the
/// peak memory. Wall time is taken around it, so both sides of a ratio pay
/// the same wrapper cost. Fails unless the exit code is `want`.
pub(crate) fn measure<S: AsRef<OsStr>>(program: &Path, args: &[S], want: i32, scratch: &Path) -> Result<Sample> {
    let rss_file = scratch.join("rss.txt");
    let start = Instant::now();
    let st = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("cannot start /usr/bin/time (Debian package `time`)")?;
    let wall = start.elapsed();
    let code = st.code().unwrap_or(-1);
    if code != want {
        let shown: Vec<String> = args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
        bail!("{} {} exited {code}, expected {want}", program.display(), shown.join(" "));
    }
    let text = std::fs::read_to_string(&rss_file).context("GNU time wrote no report")?;
    let max_rss_kib =
        text.lines().rev().find_map(|l| l.trim().parse().ok()).context("GNU time report has no %M line")?;
    Ok(Sample { wall, max_rss_kib })
}
