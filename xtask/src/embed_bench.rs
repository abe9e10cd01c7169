//! The embedding benchmarks, each a ratio of two like-for-like
//! measurements in the same run, timed inside the processes (process
//! start-up is in neither):
//!
//! * `cargo xtask bench --stream`: wsc-core's streaming verifier fed 4 KiB
//!   pieces against `verify_embedded` of the same file. Target: 1.1x.
//! * `cargo xtask bench --ffi`: `wsc_verify` called from C against the Rust
//!   call it makes, on the same bytes and policy. Target: 1.05x.
//! * `cargo xtask bench --wasmtime`: `Loader::component` (verify, then
//!   compile) against wasmtime's `Component::new` of the same bytes.
//!   Target: 1.05x.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::bench::median;
use crate::util;

/// Two columns of paired timings and how to report them.
struct Paired<'a> {
    input: &'a Path,
    /// The reference and the measured, as the table's headers name them.
    columns: [&'a str; 2],
    reference: Vec<f64>,
    measured: Vec<f64>,
    note: String,
    target: f64,
    what: &'a str,
}

impl Paired<'_> {
    /// Prints (and writes) the table; fails on a missed target if `check`.
    fn report(self, out: Option<&Path>, check: bool) -> Result<()> {
        if self.reference.is_empty() || self.reference.len() != self.measured.len() {
            bail!("{}: no runs, or unpaired runs", self.what);
        }
        let ratio = median(self.measured.iter().zip(&self.reference).map(|(m, r)| m / r).collect());
        let size = std::fs::metadata(self.input)?.len();
        let mut table = String::new();
        let [a, b] = self.columns;
        let _ = writeln!(table, "| input | size | {a} (ms) | {b} (ms) | ratio |");
        let _ = writeln!(table, "|---|---|---|---|---|");
        let _ = writeln!(
            table,
            "| {} | {size} | {:.2} | {:.2} | {ratio:.3} |",
            self.input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            median(self.reference),
            median(self.measured),
        );
        let _ = writeln!(table, "\n{}", self.note);
        println!("{table}");
        if let Some(out) = out {
            std::fs::write(out, &table).with_context(|| format!("cannot write {}", out.display()))?;
        }
        if check && ratio > self.target {
            bail!("target missed: {} {ratio:.3}x > {}", self.what, self.target);
        }
        Ok(())
    }
}

/// Runs `cmd` and parses one number per column per line.
fn numbers(cmd: &mut Command, columns: usize) -> Result<Vec<Vec<f64>>> {
    let o = cmd.output().with_context(|| format!("cannot run {cmd:?}"))?;
    if !o.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    let mut out = vec![Vec::new(); columns];
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let row: Vec<f64> = line.split_whitespace().map(str::parse).collect::<Result<_, _>>()?;
        if row.len() != columns {
            bail!("{cmd:?} printed {line:?}");
        }
        for (col, v) in out.iter_mut().zip(row) {
            col.push(v);
        }
    }
    Ok(out)
}

/// `cargo xtask bench --stream`: the streaming verifier fed 4 KiB pieces
/// against `verify_embedded` of the same file, in one process, paired
/// runs. Target: at most 1.1x.
pub(crate) fn stream(input: &Path, runs: usize, out: Option<&Path>, check: bool) -> Result<()> {
    let root = util::root();
    util::run(crate::cargo().args(["build", "--locked", "--release", "-p", "wsc-core", "--example", "stream-bench"]))?;
    let exe = root.join("target/release/examples/stream-bench");
    let mut cols = numbers(Command::new(&exe).arg(input).arg(runs.to_string()), 2)?.into_iter();
    let (file, streamed) = (cols.next().unwrap_or_default(), cols.next().unwrap_or_default());
    Paired {
        input,
        columns: ["verify_embedded, file", "StreamVerifier, 4 KiB pieces"],
        reference: file,
        measured: streamed,
        note: format!("medians of {runs} paired runs in one process"),
        target: 1.1,
        what: "streaming vs file verification",
    }
    .report(out, check)
}

/// `cargo xtask bench --wasmtime`: verify-then-compile against compiling
/// alone, the same signed bytes and engine, alternating, in one process.
/// Target: at most 1.05x.
pub(crate) fn wasmtime(input: &Path, runs: usize, out: Option<&Path>, check: bool) -> Result<()> {
    let root = util::root();
    util::run(crate::cargo().args([
        "build",
        "--locked",
        "--release",
        "-p",
        "wsc-wasmtime",
        "--example",
        "compile-bench",
    ]))?;
    let exe = root.join("target/release/examples/compile-bench");
    let mut cols = numbers(Command::new(&exe).arg(input).arg(runs.to_string()), 3)?.into_iter();
    let (plain, verified) = (cols.next().unwrap_or_default(), cols.next().unwrap_or_default());
    let alone = median(cols.next().unwrap_or_default());
    let compile = median(plain.clone());
    Paired {
        input,
        columns: ["wasmtime compile alone", "Loader (verify, then compile)"],
        reference: plain,
        measured: verified,
        note: format!(
            "medians of {runs} paired runs in one process (Engine::default(), parallel compilation on {} cores); \
             the verification alone (Policy::evaluate of the same bytes) took {alone:.2} ms, {:.1}% of the compile",
            std::thread::available_parallelism().map_or(1, usize::from),
            alone / compile * 100.0
        ),
        target: 1.05,
        what: "verify-then-compile vs compile",
    }
    .report(out, check)
}

/// `cargo xtask bench --ffi`: `wsc_verify` from a C program linked with
/// the release libwsc.so against the Rust call it makes
/// (`Policy::evaluate`, then the verdict JSON), same policy, same bytes in
/// memory; `rounds` alternating process pairs of `runs` calls each.
/// Target: at most 1.05x.
pub(crate) fn ffi(input: &Path, runs: usize, out: Option<&Path>, check: bool) -> Result<()> {
    let root = util::root();
    util::run(crate::cargo().args([
        "build",
        "--locked",
        "--release",
        "-p",
        "wsc-ffi",
        "--lib",
        "--example",
        "verify-bench",
    ]))?;
    let lib = root.join("target/release");
    let dir = crate::bench::tempfile_dir()?;
    let c_bench = dir.join("bench");
    util::run(
        Command::new("cc")
            .args(["-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-o"])
            .arg(&c_bench)
            .arg(root.join("crates/wsc-ffi/bench/bench.c"))
            .arg("-I")
            .arg(root.join("crates/wsc-ffi/include"))
            .arg("-L")
            .arg(&lib)
            // RPATH, not RUNPATH: it wins over the LD_LIBRARY_PATH that
            // `cargo run` sets (with target/debug in it).
            .arg(format!("-Wl,--disable-new-dtags,-rpath,{}", lib.display()))
            .arg("-lwsc"),
    )?;
    // The module signed with k1, and a policy that wants k1.
    let keys = root.join("testdata/wasmsign2/keys");
    let key = wsc_core::SecretKey::from_any(&std::fs::read(keys.join("k1.sk"))?)?;
    let module = dir.join("signed.wasm");
    let bytes = std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    std::fs::write(&module, wsc_core::sign(&bytes, &key)?)?;
    std::fs::copy(keys.join("k1.pk"), dir.join("k1.pk"))?;
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "schema = \"wsc-policy/v1\"\n[principals.k1]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\n\
         [default]\nrule = \"k1\"\n",
    )?;
    let rust_bench = root.join("target/release/examples/verify-bench");
    let (mut c, mut rust) = (Vec::new(), Vec::new());
    let rounds = 3;
    let count = runs.to_string();
    for _ in 0..rounds {
        let args = [policy.as_os_str(), module.as_os_str(), count.as_ref()];
        c.extend(numbers(Command::new(&c_bench).args(args).env_remove("LD_LIBRARY_PATH"), 1)?.remove(0));
        rust.extend(numbers(Command::new(&rust_bench).args(args), 1)?.remove(0));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Paired {
        input,
        columns: ["Rust: Policy::evaluate + JSON", "C: wsc_verify"],
        reference: rust,
        measured: c,
        note: format!(
            "medians of {} calls each ({rounds} alternating rounds of a C and a Rust process, {runs} calls after \
             a warm-up each); one-key policy, module in memory",
            rounds * runs
        ),
        target: 1.05,
        what: "wsc_verify from C vs the Rust call",
    }
    .report(out, check)
}
