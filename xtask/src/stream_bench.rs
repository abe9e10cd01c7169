//! `cargo xtask bench --stream`: wsc-core's streaming verifier against
//! `verify_embedded`, in one process.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::bench::median;
use crate::util;

/// `cargo xtask bench --stream`: the streaming verifier fed 4 KiB pieces
/// against `verify_embedded` of the same file, in one process (no process
/// start-up in either), paired runs. Target: at most 1.1x.
pub(crate) fn stream(input: &Path, runs: usize, out: Option<&Path>, check: bool) -> Result<()> {
    let root = util::root();
    util::run(crate::cargo().args(["build", "--locked", "--release", "-p", "wsc-core", "--example", "stream-bench"]))?;
    let exe = root.join("target/release/examples/stream-bench");
    let o = std::process::Command::new(&exe).arg(input).arg(runs.to_string()).output().context("run stream-bench")?;
    if !o.status.success() {
        bail!("stream-bench failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    let mut file = Vec::new();
    let mut streamed = Vec::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let mut it = line.split_whitespace().map(str::parse::<f64>);
        match (it.next(), it.next()) {
            (Some(Ok(a)), Some(Ok(b))) => {
                file.push(a);
                streamed.push(b);
            }
            _ => bail!("stream-bench printed {line:?}"),
        }
    }
    if file.is_empty() {
        bail!("stream-bench printed no runs");
    }
    let ratio = median(streamed.iter().zip(&file).map(|(s, f)| s / f).collect());
    let size = std::fs::metadata(input)?.len();
    let mut table = String::new();
    let _ =
        writeln!(table, "| module | size | verify_embedded, file (ms) | StreamVerifier, 4 KiB pieces (ms) | ratio |");
    let _ = writeln!(table, "|---|---|---|---|---|");
    let _ = writeln!(
        table,
        "| {} | {size} | {:.2} | {:.2} | {ratio:.3} |",
        input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        median(file),
        median(streamed),
    );
    let _ = writeln!(table, "\nmedians of {runs} paired runs in one process");
    println!("{table}");
    if let Some(out) = out {
        std::fs::write(out, &table).with_context(|| format!("cannot write {}", out.display()))?;
    }
    if check && ratio > 1.1 {
        bail!("target missed: streaming {ratio:.3}x file verification > 1.1");
    }
    Ok(())
}
