//! Repository chores: `cargo xtask ci | bench | corpus | interop | fuzz | layers | trace | deny | sbom`.
//!
//! `cargo xtask ci` is the one command that runs every test: formatting,
//! clippy, the test suites, the layering rules, the examples, the real-world
//! corpus, the memory-limit checks and the Sigstore interop checks. It
//! installs the tools it needs (wasmsign2-cli) when they are missing.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

mod bench;
mod corpus;
mod fuzz;
mod interop;
mod keyless_sign;
mod layers;
mod policy_bench;
mod supply;
mod trace;
mod util;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci [--no-corpus] [--no-setup]
                              every check and test (the README's test command);
                              first installs missing tools with xtask/setup.sh
  bench [--runs N] [--corpus DIR] [--files a,b] [--out FILE] [--check]
                              wsc vs openssl and wasmsign2 on the large corpus files
                              (sign to a new and to an existing output, verify)
  bench --pki-worst [--runs N] [--out FILE]
                              wsc verify --trust-anchor on the worst certificate-path inputs
                              the size limits allow (target below 1 s)
  bench --policy [--input FILE] [--runs N] [--out FILE] [--check]
                              wsc verify --policy (2 of 3 keys) vs verify -K of one module
                              (default: the corpus large-flite.wasm), and loading 50 principals
  bench --keyless [--runs N] [--out FILE]
                              keyless verification of a 1 MiB module vs sigstore-python
  bench --keyless-sign [--runs N] [--modules N] [--requests N] [--connections N] [--out FILE] [--check]
                              keyless vs keyed signing of N modules in one run, and Rekor
                              entries per second, against wsc-sigstore-local (release)
  corpus [--dir DIR] [--no-fetch]
                              fetch the real-world modules and sign/verify each
  interop                     keyless records with sigstore-python and a local Sigstore mock
  fuzz [--seconds N]          run each cargo-fuzz target for N seconds (default 60)
  layers                      check the crate dependency rules
  trace [--check]             requirements.toml against the tests; write (or compare) traceability.md
  deny                        cargo deny check bans licenses sources (deny.toml)
  sbom                        CycloneDX 1.5 SBOM of wsc-cli in target/sbom/wsc-cli.cdx.json";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        bail!("{USAGE}");
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "ci" => {
            if !rest.iter().any(|a| a == "--no-setup") {
                util::run(Command::new("bash").arg(util::root().join("xtask/setup.sh")))?;
            }
            ci(!rest.iter().any(|a| a == "--no-corpus"))
        }
        "bench" if rest.iter().any(|a| a == "--keyless-sign") => {
            let table = keyless_sign::bench(&keyless_sign::Opts::from_args(rest)?)?;
            println!("{table}");
            if let Some(out) = opt(rest, "--out") {
                std::fs::write(out, &table).with_context(|| format!("cannot write {out}"))?;
            }
            Ok(())
        }
        "bench" if rest.iter().any(|a| a == "--policy") => policy_bench::bench(&policy_bench::Opts {
            input: opt(rest, "--input").map_or_else(|| default_corpus().join("large-flite.wasm"), PathBuf::from),
            runs: opt(rest, "--runs").map(|r| r.parse()).transpose().context("--runs takes a number")?.unwrap_or(10),
            out: opt(rest, "--out").map(PathBuf::from),
            check: rest.iter().any(|a| a == "--check"),
        }),
        "bench" if rest.iter().any(|a| a == "--keyless") => {
            let runs =
                opt(rest, "--runs").map(|r| r.parse()).transpose().context("--runs takes a number")?.unwrap_or(10);
            let table = interop::keyless_bench(runs)?;
            println!("{table}");
            if let Some(out) = opt(rest, "--out") {
                std::fs::write(out, &table).with_context(|| format!("cannot write {out}"))?;
            }
            Ok(())
        }
        "bench" => bench::bench(&bench::BenchOpts {
            corpus: opt(rest, "--corpus").map_or_else(default_corpus, PathBuf::from),
            runs: opt(rest, "--runs").map(|r| r.parse()).transpose().context("--runs takes a number")?.unwrap_or(15),
            files: opt(rest, "--files").map(|f| f.split(',').map(str::to_string).collect()).unwrap_or_default(),
            out: opt(rest, "--out").map(PathBuf::from),
            check: rest.iter().any(|a| a == "--check"),
        }),
        "corpus" => {
            let dir = opt(rest, "--dir").map_or_else(default_corpus, PathBuf::from);
            if !rest.iter().any(|a| a == "--no-fetch") {
                corpus::fetch(&dir)?;
            }
            corpus::check(&dir)
        }
        "interop" => interop::run(),
        "layers" => layers::check(),
        "trace" => trace::run(rest.iter().any(|a| a == "--check")),
        "deny" => supply::deny(),
        "sbom" => supply::sbom(),
        "fuzz" => fuzz::run(
            opt(rest, "--seconds").map(str::parse).transpose().context("--seconds takes a number")?.unwrap_or(60),
        ),
        _ => bail!("unknown command '{cmd}'\n{USAGE}"),
    }
}

fn opt<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

fn default_corpus() -> PathBuf {
    std::env::var_os("WSC_CORPUS").map_or_else(|| util::root().join(".corpus"), PathBuf::from)
}

fn cargo() -> Command {
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(util::root());
    c
}

/// Builds the release `wsc` and returns its path.
pub(crate) fn build_release_wsc() -> Result<PathBuf> {
    util::run(cargo().args(["build", "--locked", "--release", "-p", "wsc-cli"]))?;
    Ok(util::root().join("target/release/wsc"))
}

/// Finds wasmsign2: $WASMSIGN2, then PATH, then ~/.cargo/bin.
pub(crate) fn find_wasmsign2() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("WASMSIGN2") {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("wasmsign2"))
        .find(|p| p.is_file())
        .context("wasmsign2 not found: `cargo install --locked wasmsign2-cli@0.2.8` (cargo xtask ci does it)")
}

fn ensure_wasmsign2() -> Result<PathBuf> {
    if let Ok(p) = find_wasmsign2() {
        return Ok(p);
    }
    util::run(Command::new(env!("CARGO")).args(["install", "--locked", "wasmsign2-cli@0.2.8"]))?;
    find_wasmsign2()
}

fn ci(with_corpus: bool) -> Result<()> {
    let root = util::root();
    util::run(cargo().args(["fmt", "--all", "--check"]))?;
    util::run(Command::new("sha256sum").current_dir(root.join("testdata/wasmsign2")).args([
        "-c",
        "--quiet",
        "SHA256SUMS",
    ]))?;
    let wasmsign2 = ensure_wasmsign2()?;
    util::run(cargo().args(["clippy", "--locked", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    util::run(cargo().args(["test", "--locked", "--workspace"]).env("WASMSIGN2", &wasmsign2))?;
    layers::check()?;
    trace::run(true)?;
    supply::deny()?;
    supply::sbom()?;
    for ex in ["example-sign-verify-in-memory", "example-wasmi-host", "example-iot-provisioning"] {
        util::run(cargo().args(["run", "--locked", "--quiet", "-p", ex]))?;
    }
    memory_limit()?;
    interop::run()?;
    // Keyless signing against the local instance keeps working: one small
    // round and a short Rekor load, every output verified (not a timing check).
    keyless_sign::bench(&keyless_sign::Opts { runs: 1, modules: 10, requests: 300, connections: 8, check: false })?;
    // Every fuzz target builds and runs briefly (a crash fails CI).
    fuzz::run(10)?;
    if with_corpus {
        let dir = default_corpus();
        corpus::fetch(&dir)?;
        corpus::check(&dir)?;
        // The benchmark must keep working; one round on one file (not a timing check).
        bench::bench(&bench::BenchOpts {
            corpus: dir,
            runs: 1,
            files: vec!["large-flite".into()],
            out: None,
            check: false,
        })?;
    }
    eprintln!("ci: all checks passed");
    Ok(())
}

/// The crafted 4 GiB length fields are rejected under a 256 MiB address-space limit.
fn memory_limit() -> Result<()> {
    let wsc = build_release_wsc()?;
    let v = util::root().join("testdata/wasmsign2");
    for f in ["crafted/huge-section-len.wasm", "crafted/add.huge-sigdata-len.wasm"] {
        let script = format!(
            "ulimit -v 262144; exec '{}' verify -i '{}' -K '{}'",
            wsc.display(),
            v.join(f).display(),
            v.join("keys/k1.pk").display()
        );
        let (code, err) = util::code_stderr(Command::new("sh").arg("-c").arg(&script))?;
        if code != 2 || !err.contains("offset") {
            bail!("{f} under a 256 MiB limit: exit {code}, expected 2 with an offset in the message\n{err}");
        }
        eprintln!("memory limit: {f} rejected: {}", err.trim());
    }
    Ok(())
}
