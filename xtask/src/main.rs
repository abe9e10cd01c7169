//! Repository chores: `cargo xtask ci | bench | corpus | interop | fuzz | layers | nostd | package | msrv | trace | deny | sbom`.
//!
//! `cargo xtask ci` is the one command that runs every test: formatting,
//! clippy, the test suites, the layering rules, wsc-core without std, the
//! examples, the real-world corpus, the memory-limit checks and the
//! Sigstore interop checks. It installs the tools it needs (wasmsign2-cli)
//! when they are missing.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Parser;

mod bench;
mod corpus;
mod embed_bench;
mod fuzz;
mod interop;
mod keyless_sign;
mod layers;
mod nested_bench;
mod nostd;
mod oci_bench;
mod package;
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
  bench --stream [--input FILE] [--runs N] [--out FILE] [--check]
                              wsc-core's streaming verifier fed 4 KiB pieces vs verify_embedded
                              of the same file, in one process (target 1.1x)
  bench --ffi [--input FILE] [--runs N] [--out FILE] [--check]
                              wsc_verify called from C vs the Rust call it makes, same bytes
                              and policy (target 1.05x)
  bench --wasmtime [--input FILE] [--runs N] [--out FILE] [--check]
                              wsc-wasmtime's verify-then-compile vs wasmtime compiling the same
                              component (default: the corpus component.wasm; target 1.05x)
  bench --oci [--input FILE] [--runs N] [--out FILE] [--check]
                              wsc oci pull --policy vs wkg oci pull of a 20 MB component from a
                              local docker-registry, time and peak memory (target 1.3x)
  bench --nested [--input FILE] [--runs N] [--out FILE] [--check]
                              wsc verify --nested vs wsc verify of a component signed with
                              sign --nested (default: the corpus component.wasm; target 1.2x)
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
  nostd                       wsc-core without std: build, dependency features, and the
                              size probe (code size, heap and stack of one verification)
  trace [--check]             requirements.toml against the tests; write (or compare) traceability.md
  deny                        cargo deny check bans licenses sources (deny.toml)
  sbom                        CycloneDX 1.5 SBOM of wsc-cli in target/sbom/wsc-cli.cdx.json
  package [--verify]          the library crates package for crates.io: files, metadata,
                              the Rust versions their dependencies need
  msrv                        every package builds with the Rust its rust-version names";

/// The commands and the flags each takes; any other flag is a usage error.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", override_help = USAGE, arg_required_else_help = true)]
enum Cmd {
    /// Every check and test; first installs missing tools with xtask/setup.sh.
    Ci {
        /// Skip the real-world corpus.
        #[arg(long)]
        no_corpus: bool,
        /// Skip xtask/setup.sh.
        #[arg(long)]
        no_setup: bool,
    },
    /// Benchmarks (one mode flag at most).
    Bench(Bench),
    /// Fetch the real-world modules and sign/verify each.
    Corpus {
        /// Where the modules are ($WSC_CORPUS or .corpus by default).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Use the modules already in the folder.
        #[arg(long)]
        no_fetch: bool,
    },
    /// Keyless records with sigstore-python and a local Sigstore mock.
    Interop,
    /// Run each cargo-fuzz target for a while.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u32,
    },
    /// Check the crate dependency rules.
    Layers,
    /// wsc-core without std: build, dependency features, and the size probe.
    Nostd,
    /// requirements.toml against the tests; write traceability.md.
    Trace {
        /// Compare with the committed traceability.md instead of writing it.
        #[arg(long)]
        check: bool,
    },
    /// cargo deny check bans licenses sources (deny.toml).
    Deny,
    /// CycloneDX 1.5 SBOM of wsc-cli in target/sbom/wsc-cli.cdx.json.
    Sbom,
    /// The library crates package for crates.io (files, metadata, dependencies' Rust versions).
    Package {
        /// Also build each package from its own files (slow: a fresh target directory).
        #[arg(long)]
        verify: bool,
    },
    /// Every package builds with the Rust its rust-version names (rustup installs it).
    Msrv,
}

/// Benchmarks: at most one mode flag, and only the options of that mode.
#[derive(Debug, clap::Args)]
#[command(override_usage = "cargo xtask bench [--runs N] [--corpus DIR] [--files a,b] [--out FILE] [--check]\n       \
                      cargo xtask bench --pki-worst [--runs N] [--out FILE]\n       \
                      cargo xtask bench --policy [--input FILE] [--runs N] [--out FILE] [--check]\n       \
                      cargo xtask bench --stream [--input FILE] [--runs N] [--out FILE] [--check]\n       \
                      cargo xtask bench --ffi [--input FILE] [--runs N] [--out FILE] [--check]\n       \
                      cargo xtask bench --wasmtime [--input FILE] [--runs N] [--out FILE] [--check]\n       \
                      cargo xtask bench --oci [--input FILE] [--runs N] [--out FILE] [--check]\n       \
                      cargo xtask bench --nested [--input FILE] [--runs N] [--out FILE] [--check]\n       \
                      cargo xtask bench --keyless [--runs N] [--out FILE]\n       \
                      cargo xtask bench --keyless-sign [--runs N] [--modules N] [--requests N] [--connections N] [--out FILE] [--check]")]
#[command(group = clap::ArgGroup::new("mode").multiple(false))]
struct Bench {
    /// wsc verify --trust-anchor on the worst certificate-path inputs.
    #[arg(long, group = "mode")]
    pki_worst: bool,
    /// wsc verify --policy (2 of 3 keys) vs verify -K, and loading 50 principals.
    #[arg(long, group = "mode")]
    policy: bool,
    /// wsc-core's streaming verifier fed 4 KiB pieces vs verify_embedded of the file.
    #[arg(long, group = "mode")]
    stream: bool,
    /// wsc_verify called from C vs the Rust call it makes, same bytes.
    #[arg(long, group = "mode")]
    ffi: bool,
    /// wsc-wasmtime's verify-then-compile vs wasmtime compiling the same component.
    #[arg(long, group = "mode")]
    wasmtime: bool,
    /// wsc oci pull --policy vs wkg oci pull of a 20 MB component from a local registry.
    #[arg(long, group = "mode")]
    oci: bool,
    /// wsc verify --nested vs wsc verify of a component whose parts are all signed.
    #[arg(long, group = "mode")]
    nested: bool,
    /// The module of --policy, --stream and --ffi (default: the corpus
    /// large-flite.wasm) or the component of --wasmtime (the corpus component.wasm)
    /// or of --oci (the hello component with a 20 MiB custom section).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Keyless verification of a 1 MiB module vs sigstore-python.
    #[arg(long, group = "mode")]
    keyless: bool,
    /// Keyless vs keyed signing, and Rekor entries per second, against wsc-sigstore-local.
    #[arg(long, group = "mode")]
    keyless_sign: bool,
    /// Measured rounds.
    #[arg(long, value_name = "N")]
    runs: Option<usize>,
    /// Also write the table to FILE.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Fail when a target is missed.
    #[arg(long, conflicts_with_all = ["pki_worst", "keyless"])]
    check: bool,
    /// The corpus folder.
    #[arg(long, value_name = "DIR", conflicts_with = "mode")]
    corpus: Option<PathBuf>,
    /// Corpus files (names without .wasm).
    #[arg(long, value_name = "a,b", value_delimiter = ',', conflicts_with = "mode")]
    files: Vec<String>,
    /// Modules signed per process (--keyless-sign only).
    #[arg(long, value_name = "N", conflicts_with_all = ["pki_worst", "policy", "keyless", "corpus", "files"])]
    modules: Option<usize>,
    /// Rekor entries created in the throughput measure (--keyless-sign only).
    #[arg(long, value_name = "N", conflicts_with_all = ["pki_worst", "policy", "keyless", "corpus", "files"])]
    requests: Option<usize>,
    /// Concurrent connections of the load generator (--keyless-sign only).
    #[arg(long, value_name = "N", conflicts_with_all = ["pki_worst", "policy", "keyless", "corpus", "files"])]
    connections: Option<usize>,
}

fn main() -> Result<()> {
    match Cmd::parse() {
        Cmd::Ci { no_corpus, no_setup } => {
            if !no_setup {
                util::run(Command::new("bash").arg(util::root().join("xtask/setup.sh")))?;
            }
            ci(!no_corpus)
        }
        Cmd::Bench(b) => bench(b),
        Cmd::Corpus { dir, no_fetch } => {
            let dir = dir.unwrap_or_else(default_corpus);
            if !no_fetch {
                corpus::fetch(&dir)?;
            }
            corpus::check(&dir)
        }
        Cmd::Interop => interop::run(),
        Cmd::Layers => layers::check(),
        Cmd::Nostd => nostd::run(),
        Cmd::Trace { check } => trace::run(check),
        Cmd::Deny => supply::deny(),
        Cmd::Sbom => supply::sbom(),
        Cmd::Package { verify } => package::check(verify),
        Cmd::Msrv => package::msrv(),
        Cmd::Fuzz { seconds } => fuzz::run(seconds),
    }
}

fn bench(b: Bench) -> Result<()> {
    let write = |table: &str| -> Result<()> {
        println!("{table}");
        if let Some(out) = &b.out {
            std::fs::write(out, table).with_context(|| format!("cannot write {}", out.display()))?;
        }
        Ok(())
    };
    if b.input.is_some() && !(b.policy || b.stream || b.ffi || b.wasmtime || b.oci || b.nested) {
        bail!(
            "--input is an option of `cargo xtask bench --policy`, `--stream`, `--ffi`, `--wasmtime`, `--oci` and \
             `--nested`\n{USAGE}"
        );
    }
    if !b.keyless_sign && (b.modules.is_some() || b.requests.is_some() || b.connections.is_some()) {
        // clap's `requires` counts an absent flag's default `false` as given, so this one is checked here.
        bail!("--modules, --requests and --connections are options of `cargo xtask bench --keyless-sign`\n{USAGE}");
    }
    if b.keyless_sign {
        let at_least_one = |name: &str, v: Option<usize>, default: usize| -> Result<usize> {
            let v = v.unwrap_or(default);
            if v == 0 {
                bail!("{name} must be at least 1");
            }
            Ok(v)
        };
        let opts = keyless_sign::Opts {
            runs: at_least_one("--runs", b.runs, 10)?,
            modules: at_least_one("--modules", b.modules, 100)?,
            requests: at_least_one("--requests", b.requests, 5000)?,
            connections: at_least_one("--connections", b.connections, 8)?,
            check: b.check,
        };
        write(&keyless_sign::bench(&opts)?)
    } else if b.policy {
        policy_bench::bench(&policy_bench::Opts {
            input: b.input.unwrap_or_else(|| default_corpus().join("large-flite.wasm")),
            runs: b.runs.unwrap_or(10),
            out: b.out,
            check: b.check,
        })
    } else if b.stream {
        let input = b.input.unwrap_or_else(|| default_corpus().join("large-flite.wasm"));
        embed_bench::stream(&input, b.runs.unwrap_or(15), b.out.as_deref(), b.check)
    } else if b.oci {
        oci_bench::oci(b.input.as_deref(), b.runs.unwrap_or(10), b.out.as_deref(), b.check)
    } else if b.nested {
        let input = b.input.unwrap_or_else(|| default_corpus().join("component.wasm"));
        nested_bench::nested(&input, b.runs.unwrap_or(10), b.out.as_deref(), b.check)
    } else if b.ffi {
        let input = b.input.unwrap_or_else(|| default_corpus().join("large-flite.wasm"));
        embed_bench::ffi(&input, b.runs.unwrap_or(10), b.out.as_deref(), b.check)
    } else if b.wasmtime {
        let input = b.input.unwrap_or_else(|| default_corpus().join("component.wasm"));
        embed_bench::wasmtime(&input, b.runs.unwrap_or(3), b.out.as_deref(), b.check)
    } else if b.keyless {
        write(&interop::keyless_bench(b.runs.unwrap_or(10))?)
    } else if b.pki_worst {
        bench::pki_worst(b.runs.unwrap_or(15), b.out.as_deref())
    } else {
        bench::bench(&bench::BenchOpts {
            corpus: b.corpus.unwrap_or_else(default_corpus),
            runs: b.runs.unwrap_or(15),
            files: b.files,
            out: b.out,
            check: b.check,
        })
    }
}

fn default_corpus() -> PathBuf {
    std::env::var_os("WSC_CORPUS").map_or_else(|| util::root().join(".corpus"), PathBuf::from)
}

pub(crate) fn cargo() -> Command {
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(util::root());
    c
}

/// Builds the release `wsc` and returns its path.
pub(crate) fn build_release_wsc() -> Result<PathBuf> {
    util::run(cargo().args(["build", "--locked", "--release", "-p", "wsc-cli"]))?;
    Ok(util::target_dir().join("release/wsc"))
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
    nostd::run()?;
    trace::run(true)?;
    supply::deny()?;
    supply::sbom()?;
    package::check(false)?;
    package::msrv()?;
    for ex in
        ["example-sign-verify-in-memory", "example-wasmi-host", "example-iot-provisioning", "example-wasmtime-host"]
    {
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
        // The benchmarks must keep working; one round on one file (not a timing check).
        policy_bench::bench(&policy_bench::Opts {
            input: dir.join("large-flite.wasm"),
            runs: 1,
            out: None,
            check: false,
        })?;
        embed_bench::stream(&dir.join("large-flite.wasm"), 1, None, false)?;
        embed_bench::ffi(&dir.join("large-flite.wasm"), 1, None, false)?;
        bench::bench(&bench::BenchOpts {
            corpus: dir.clone(),
            runs: 1,
            files: vec!["large-flite".into()],
            out: None,
            check: false,
        })?;
        // The release wsc is built by now: one round of the OCI pull benchmark is about a second.
        oci_bench::oci(None, 1, None, false)?;
        nested_bench::nested(&dir.join("component.wasm"), 1, None, false)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Cmd, clap::Error> {
        Cmd::try_parse_from(std::iter::once("xtask").chain(line.split_whitespace()))
    }

    #[test]
    fn every_documented_flag_parses() {
        for line in [
            "ci",
            "ci --no-corpus --no-setup",
            "bench",
            "bench --runs 3 --corpus c --files a,b --out o.md --check",
            "bench --pki-worst --runs 5 --out o.md",
            "bench --policy --input m.wasm --runs 30 --out o.md --check",
            "bench --keyless --runs 10 --out o.md",
            "bench --oci --input c.wasm --runs 5 --out o.md --check",
            "bench --nested --input c.wasm --runs 5 --out o.md --check",
            "bench --keyless-sign --runs 1 --modules 2 --requests 3 --connections 4 --out o.md --check",
            "corpus --dir d --no-fetch",
            "interop",
            "fuzz --seconds 10",
            "layers",
            "nostd",
            "trace --check",
            "deny",
            "sbom",
        ] {
            if let Err(e) = parse(line) {
                panic!("{line}: {e}");
            }
        }
        let Ok(Cmd::Bench(b)) = parse("bench --files a,b --runs 3") else { panic!("bench") };
        assert_eq!((b.files, b.runs), (vec!["a".to_string(), "b".to_string()], Some(3)));
        let Ok(Cmd::Fuzz { seconds }) = parse("fuzz") else { panic!("fuzz") };
        assert_eq!(seconds, 60);
    }

    #[test]
    fn unknown_flags_and_flags_of_another_mode_are_usage_errors() {
        for line in [
            "",
            "frob",
            "ci --frobnicate",
            "ci --no-corpus extra",
            "bench --runz 3",
            "bench --runs x",
            "bench --keyless --keyless-sign",
            "bench --pki-worst --policy",
            "bench --pki-worst --check",
            "bench --keyless --check",
            "bench --keyless --files a",
            "bench --keyless-sign --corpus c",
            "bench --policy --modules 3",
            "corpus --seconds 3",
            "fuzz --seconds x",
            "trace --chek",
            "layers --check",
            "nostd --check",
        ] {
            assert!(parse(line).is_err(), "{line:?} parsed");
        }
        let Ok(Cmd::Bench(b)) = parse("bench --modules 3") else { panic!("parses, refused by bench()") };
        let e = bench(b).expect_err("--modules without --keyless-sign");
        assert!(e.to_string().contains("--keyless-sign"), "{e}");
    }
}
