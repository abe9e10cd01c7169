//! `cargo xtask nostd`: wsc-core without `std`.
//!
//! No embedded target is installed here, so the proof is on the host:
//! wsc-core builds with `--no-default-features` as a `no_std` crate, no
//! crate of its normal dependency tree has its `std` feature on (or is a
//! known std-only crate), and the size probe (examples/nostd-probe, a
//! `no_std` static library with its own panic handler, which would clash
//! with std's) builds, links into a C program and gives the right answers.
//! Then it reports what the probe costs: the code and data it adds to the
//! program, and the heap and stack one verification uses.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use wsc_core::SecretKey;

use crate::{cargo, util};

/// Crates that need std or an operating system whatever their features,
/// as `cargo tree` names them (name, space, version).
const STD_ONLY: &[(&str, &str)] = &[
    ("thiserror v1.", "thiserror 1 needs std"),
    ("getrandom ", "it reads the operating system's randomness"),
    ("libc ", "it is an operating system's C library"),
];

/// `cargo xtask nostd`: every check, then the probe's measures.
pub(crate) fn run() -> Result<()> {
    util::run(cargo().args(["build", "--locked", "-p", "wsc-core", "--no-default-features"]))?;
    check_tree()?;
    println!("{}", probe()?);
    Ok(())
}

/// Fails when wsc-core's normal dependency tree without default features
/// turns `std` on anywhere.
fn check_tree() -> Result<()> {
    let tree = tree(&["--no-default-features"])?;
    let problems = std_problems(&tree);
    if !problems.is_empty() {
        bail!("wsc-core --no-default-features pulls in std:\n{}", problems.join("\n"));
    }
    let crates: std::collections::BTreeSet<&str> = tree.lines().map(|l| l.trim_end_matches(" (*)")).collect();
    eprintln!("nostd: {} crates under wsc-core --no-default-features, none with std", crates.len());
    Ok(())
}

/// wsc-core's normal dependencies with their features, one per line
/// (`name version [features]`). Procedural macros run on the build
/// machine and are left out.
fn tree(extra: &[&str]) -> Result<String> {
    let out = cargo()
        .args(["tree", "--locked", "-p", "wsc-core", "-e", "normal,no-proc-macro", "--prefix", "none"])
        .args(["-f", "{p} [{f}]"])
        .args(extra)
        .output()
        .context("cannot run cargo tree")?;
    if !out.status.success() {
        bail!("cargo tree -p wsc-core failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What needs std in a `cargo tree --prefix none -f "{p} [{f}]"` listing.
fn std_problems(tree: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in tree.lines() {
        let line = line.trim_end_matches(" (*)");
        let Some((package, features)) = line.rsplit_once(" [") else {
            continue;
        };
        if features.trim_end_matches(']').split(',').any(|f| f == "std") {
            out.push(format!("{package} has its `std` feature on"));
        }
        for (prefix, why) in STD_ONLY {
            if package.starts_with(prefix) {
                out.push(format!("{package} is in the tree: {why}"));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// One verification by the probe program, and what it should answer.
struct Case {
    name: &'static str,
    key: Vec<u8>,
    module: Vec<u8>,
    valid: bool,
}

/// What the probe program printed for one case.
type Printed = BTreeMap<String, u64>;

/// One build of the probe.
struct Variant {
    /// How the report names it.
    label: &'static str,
    /// Its target directory, under cargo's.
    dir: &'static str,
    /// Its cargo features.
    features: &'static str,
    /// Its RUSTFLAGS, if any.
    rustflags: Option<&'static str>,
}

/// The probe as the host target builds it (x86 SIMD code for SHA-2 and
/// curve25519-dalek, chosen at run time), and with the code a 32-bit
/// device gets (portable SHA-2, serial 32-bit curve arithmetic), still
/// compiled for x86-64.
const VARIANTS: [Variant; 2] = [
    Variant { label: "x86-64 backends", dir: "nostd-probe", features: "", rustflags: None },
    Variant {
        label: "32-bit backends",
        dir: "nostd-probe-portable",
        features: "portable",
        rustflags: Some("--cfg curve25519_dalek_backend=\"serial\" --cfg curve25519_dalek_bits=\"32\""),
    },
];

/// What one variant measured: section growth, and each case's output.
struct Measured {
    grew: BTreeMap<String, i64>,
    runs: Vec<Printed>,
}

/// Builds each variant of the probe, links it into driver.c (and a stub
/// build without it), runs the cases and returns the report.
fn probe() -> Result<String> {
    let root = util::root();
    let dir = root.join("examples/nostd-probe");
    let manifest = dir.join("Cargo.toml");
    util::run(cargo().args(["fmt", "--check", "--manifest-path"]).arg(&manifest))?;
    util::run(
        cargo()
            .args(["clippy", "--locked", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(util::target_dir().join(VARIANTS[0].dir))
            .args(["--", "-D", "warnings"]),
    )?;
    let cases = cases(&root)?;
    let mut measured = Vec::new();
    for variant in &VARIANTS {
        let target = util::target_dir().join(variant.dir);
        let mut build = cargo();
        build
            .args(["build", "--locked", "--release", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .args(["--features", variant.features]);
        if let Some(flags) = variant.rustflags {
            build.env("RUSTFLAGS", flags);
        }
        util::run(&mut build)?;
        let scratch = target.join("run");
        std::fs::create_dir_all(&scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
        let with = scratch.join("driver");
        let without = scratch.join("driver-stub");
        link(&dir.join("driver.c"), Some(&target.join("release/libwsc_nostd_probe.a")), &with)?;
        link(&dir.join("driver.c"), None, &without)?;
        let mut runs = Vec::new();
        for (i, case) in cases.iter().enumerate() {
            let key = scratch.join(format!("case{i}.key"));
            let module = scratch.join(format!("case{i}.wasm"));
            write(&key, &case.key)?;
            write(&module, &case.module)?;
            let got = run_driver(&with, &key, &module)?;
            let want = u64::from(case.valid);
            if got.get("result") != Some(&want) {
                bail!("probe ({}) on {}: result {:?}, expected {want}", variant.label, case.name, got.get("result"));
            }
            if got.get("heap_live_after") != Some(&0) {
                bail!(
                    "probe ({}) on {}: {:?} heap bytes live after the call",
                    variant.label,
                    case.name,
                    got.get("heap_live_after")
                );
            }
            eprintln!(
                "nostd: probe ({}) on {}: {}",
                variant.label,
                case.name,
                if case.valid { "valid" } else { "invalid" }
            );
            runs.push(got);
        }
        measured.push(Measured { grew: section_growth(&without, &with)?, runs });
    }
    Ok(report(&cases, &measured))
}

/// The cases: two modules signed with testdata's key k1, verified with k1;
/// the smaller one unsigned; the larger one with a content byte changed,
/// and checked with key k2.
fn cases(root: &Path) -> Result<Vec<Case>> {
    let data = root.join("testdata/wasmsign2");
    let secret = |name: &str| -> Result<SecretKey> {
        SecretKey::from_any(&read(&data.join("keys").join(name))?).with_context(|| format!("testdata key {name}"))
    };
    let (k1, k2) = (secret("k1.sk")?, secret("k2.sk")?);
    let pk1 = k1.public_key().public_bits();
    let sign = |name: &str| -> Result<Vec<u8>> {
        wsc_core::sign(&read(&data.join("modules").join(name))?, &k1).with_context(|| format!("cannot sign {name}"))
    };
    let unsigned = read(&data.join("modules/add.wasm"))?;
    let small = sign("add.wasm")?;
    let large = sign("big.wasm")?;
    let mut changed = large.clone();
    if let Some(last) = changed.last_mut() {
        *last ^= 1;
    }
    Ok(vec![
        Case { name: "add.wasm signed with k1", key: pk1.clone(), module: small, valid: true },
        Case { name: "add.wasm unsigned (no signature checked)", key: pk1.clone(), module: unsigned, valid: false },
        Case { name: "big.wasm signed with k1", key: pk1.clone(), module: large.clone(), valid: true },
        Case { name: "big.wasm signed with k1, last byte changed", key: pk1, module: changed, valid: false },
        Case {
            name: "big.wasm signed with k1, checked with k2",
            key: k2.public_key().public_bits(),
            module: large,
            valid: false,
        },
    ])
}

/// Compiles driver.c with the library, or with stubs instead (`lib` None).
/// `--gc-sections` drops what nothing calls; `-z now` binds libc at start,
/// so that lazy binding does not count as stack of the verification.
fn link(driver: &Path, lib: Option<&Path>, out: &Path) -> Result<()> {
    let mut cc = Command::new(std::env::var_os("CC").unwrap_or_else(|| "cc".into()));
    cc.args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"]).arg(driver);
    match lib {
        Some(lib) => cc.arg(lib),
        None => cc.arg("-DWSC_PROBE_STUB"),
    };
    cc.args(["-lpthread", "-Wl,--gc-sections", "-Wl,-z,now", "-o"]).arg(out);
    util::run(&mut cc)
}

/// Runs the driver; its output is `name value` lines.
fn run_driver(exe: &Path, key: &Path, module: &Path) -> Result<Printed> {
    let out =
        Command::new(exe).arg(key).arg(module).output().with_context(|| format!("cannot run {}", exe.display()))?;
    if !out.status.success() {
        bail!("{} {} failed: {}", exe.display(), module.display(), String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let (name, value) = line.split_once(' ').with_context(|| format!("driver printed {line:?}"))?;
            Ok((name.to_string(), value.parse().with_context(|| format!("driver printed {line:?}"))?))
        })
        .collect()
}

/// Per loaded ELF section, how many bytes `with` has more than `without`
/// (`size -A`); sections of equal size are left out.
fn section_growth(without: &Path, with: &Path) -> Result<BTreeMap<String, i64>> {
    let (a, b) = (sections(without)?, sections(with)?);
    let mut grew = BTreeMap::new();
    for name in a.keys().chain(b.keys()) {
        let d = b.get(name).copied().unwrap_or(0) - a.get(name).copied().unwrap_or(0);
        if d != 0 {
            grew.insert(name.clone(), d);
        }
    }
    Ok(grew)
}

/// The sizes of the loaded sections `size -A -d` reports.
fn sections(exe: &Path) -> Result<BTreeMap<String, i64>> {
    let out = Command::new("size").args(["-A", "-d"]).arg(exe).output().context("cannot run size (binutils)")?;
    if !out.status.success() {
        bail!("size -A {} failed: {}", exe.display(), String::from_utf8_lossy(&out.stderr));
    }
    Ok(parse_size(&String::from_utf8_lossy(&out.stdout)))
}

/// Section name to size, from `size -A -d` output. Sections at address 0
/// (debug information, comments) are not loaded and are left out.
fn parse_size(text: &str) -> BTreeMap<String, i64> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let (name, size, addr) = (it.next()?, it.next()?.parse().ok()?, it.next()?);
            (name.starts_with('.') && addr != "0").then(|| (name.to_string(), size))
        })
        .collect()
}

/// Sections the report names; the others are dynamic linking and
/// exception tables.
const NAMED: [&str; 7] = [".text", ".rodata", ".data.rel.ro", ".eh_frame", ".eh_frame_hdr", ".data", ".bss"];

/// The report: what each variant adds to the program, then the runs.
fn report(cases: &[Case], measured: &[Measured]) -> String {
    let mut t = String::new();
    let _ =
        writeln!(t, "wsc-nostd-probe linked into a C program (x86_64 host; opt-level \"s\", LTO, panic = \"abort\"):");
    let _ = writeln!(t, "bytes it adds to the same program built with stubs (--gc-sections)\n");
    let header: Vec<&str> = VARIANTS.iter().map(|v| v.label).collect();
    let _ = writeln!(t, "| section | {} |", header.join(" | "));
    let _ = writeln!(t, "|---|{}", "---|".repeat(VARIANTS.len()));
    let rows: [(&str, &[&str]); 5] = [
        ("code (.text)", &[".text"]),
        ("read-only data (.rodata, .data.rel.ro)", &[".rodata", ".data.rel.ro"]),
        ("unwind tables (.eh_frame, .eh_frame_hdr)", &[".eh_frame", ".eh_frame_hdr"]),
        ("initialised data (.data)", &[".data"]),
        ("zeroed data (.bss: the 64 KiB heap arena, its marks)", &[".bss"]),
    ];
    for (label, names) in rows {
        let cells: Vec<String> =
            measured.iter().map(|m| names.iter().filter_map(|n| m.grew.get(*n)).sum::<i64>().to_string()).collect();
        let _ = writeln!(t, "| {label} | {} |", cells.join(" | "));
    }
    let other: Vec<String> = measured
        .iter()
        .map(|m| m.grew.iter().filter(|(n, _)| !NAMED.contains(&n.as_str())).map(|(_, d)| d).sum::<i64>().to_string())
        .collect();
    let _ = writeln!(t, "| other (dynamic linking, exception tables) | {} |", other.join(" | "));
    let _ = writeln!(t, "\none verification, the module fed in 4 KiB pieces (bytes):\n");
    let _ = writeln!(t, "| build | module | size | result | heap high-water (bump arena) | peak live heap | stack |");
    let _ = writeln!(t, "|---|---|---|---|---|---|---|");
    for (variant, m) in VARIANTS.iter().zip(measured) {
        for (case, got) in cases.iter().zip(&m.runs) {
            let v = |k: &str| got.get(k).copied().unwrap_or(0);
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} | {} | {} |",
                variant.label,
                case.name,
                case.module.len(),
                if v("result") == 1 { "valid" } else { "invalid" },
                v("heap_high_water"),
                v("heap_peak_live"),
                v("stack"),
            );
        }
    }
    t
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_std_feature_or_a_std_only_crate_is_named() {
        let tree = "wsc-core v0.1.0 (/w/crates/wsc-core) []\n\
                    sha2 v0.10.9 [default,std]\n\
                    sha2 v0.10.9 [default,std] (*)\n\
                    der v0.7.10 [alloc,oid,pem,zeroize]\n\
                    thiserror v1.0.69 []\n\
                    hmac v0.12.1 [reset,std-ish]\n";
        assert_eq!(
            std_problems(tree),
            ["sha2 v0.10.9 has its `std` feature on", "thiserror v1.0.69 is in the tree: thiserror 1 needs std"]
        );
        assert!(std_problems("der v0.7.10 [alloc,oid]\nthiserror v2.0.21 []\n").is_empty());
    }

    #[test]
    fn the_check_fails_wsc_core_with_std() {
        // Not vacuous: the default build turns std on in the curve crates.
        let problems = std_problems(&tree(&[]).expect("cargo tree"));
        assert!(problems.iter().any(|p| p.starts_with("ed25519-dalek ")), "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("p256 ")), "{problems:?}");
    }

    #[test]
    fn size_output_is_read_per_section() {
        let text = "driver  :\nsection   size   addr\n.text   1200   4096\n.bss   64   8192\n\
                    .debug_info   900   0\nTotal   2164\n";
        let got = parse_size(text);
        assert_eq!(got.get(".text"), Some(&1200));
        assert_eq!(got.get(".bss"), Some(&64));
        assert_eq!(got.len(), 2, "{got:?}");
    }
}
