//! `cargo xtask package`: the library crates package for crates.io.
//!
//! * `cargo package --no-verify` succeeds for every library crate, in one
//!   run (cargo resolves their dependencies on each other through a local
//!   overlay of the packages it just made). `--no-verify`: the full
//!   verification rebuilds every crate from its package in a fresh target
//!   directory, which CI cannot afford; `cargo xtask package --verify`
//!   runs it.
//! * Each package holds its library and nothing else: `src/`, the README
//!   and, for wsc-ffi, the header and the pkg-config template. Tests,
//!   examples and benchmarks need the workspace and stay in it.
//! * Every publishable package has a description, a licence, a readme,
//!   keywords and categories, and no placeholder URL.
//! * No crate in a library's normal or build dependencies needs a newer
//!   Rust than the library's `rust-version` says.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::util;

/// The published crates (the libraries and the `wsc` program), and the
/// files besides `src/` each package holds.
const LIBRARIES: &[(&str, &[&str])] = &[
    ("wsc-core", &[]),
    ("wsc-tsp", &[]),
    ("wsc-pinning", &[]),
    ("wsc-keyless", &[]),
    ("wsc-pki", &[]),
    ("wsc-policy", &[]),
    ("wsc-ffi", &["cbindgen.toml", "include/wsc.h", "wsc.pc.in"]),
    ("wsc-wasmtime", &[]),
    ("wsc-oci", &[]),
    ("wsc-hsm-pkcs11", &[]),
    ("wsc-hsm-atecc", &[]),
    ("wsc-cli", &["assets/demo.wasm"]),
];

/// Files cargo adds to every package.
const CARGO_FILES: &[&str] = &[".cargo_vcs_info.json", "Cargo.lock", "Cargo.toml", "Cargo.toml.orig", "README.md"];

pub(crate) fn check(verify: bool) -> Result<()> {
    let mut failures = Vec::new();
    let mut package = crate::cargo();
    package.args(["package", "--locked", "--allow-dirty"]);
    if !verify {
        package.arg("--no-verify");
    }
    for (name, _) in LIBRARIES {
        package.args(["-p", name]);
    }
    util::run(&mut package)?;
    for (name, extra) in LIBRARIES {
        let out = Command::new(env!("CARGO"))
            .current_dir(util::root())
            .args(["package", "--list", "--allow-dirty", "-p", name])
            .output()
            .context("cannot run cargo package --list")?;
        if !out.status.success() {
            bail!("cargo package --list -p {name}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let files: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
        failures.extend(file_problems(name, extra, &files));
    }
    let meta = metadata()?;
    failures.extend(manifest_problems(&meta));
    failures.extend(msrv_problems(&meta)?);
    if !failures.is_empty() {
        bail!("packaging:\n{}", failures.join("\n"));
    }
    eprintln!("package: {} crates package", LIBRARIES.len());
    Ok(())
}

/// Files in a package that are not its library, and missing ones.
fn file_problems(name: &str, extra: &[&str], files: &[String]) -> Vec<String> {
    let mut out: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with("src/") && !CARGO_FILES.contains(&f.as_str()) && !extra.contains(&f.as_str()))
        .map(|f| format!("{name}: the package holds {f}, which is not part of the library"))
        .collect();
    for want in ["README.md"].iter().chain(extra) {
        if !files.iter().any(|f| f == want) {
            out.push(format!("{name}: the package lacks {want}"));
        }
    }
    if !files.iter().any(|f| f == "src/lib.rs" || f == "src/main.rs") {
        out.push(format!("{name}: the package has neither src/lib.rs nor src/main.rs"));
    }
    out
}

fn metadata() -> Result<Value> {
    let out = Command::new(env!("CARGO"))
        .current_dir(util::root())
        .args(["metadata", "--locked", "--format-version", "1"])
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Publishable workspace packages without the metadata crates.io shows, or
/// with a placeholder URL.
fn manifest_problems(meta: &Value) -> Vec<String> {
    let members: BTreeSet<&str> =
        meta["workspace_members"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut out = Vec::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        if !p["id"].as_str().is_some_and(|id| members.contains(id)) {
            continue;
        }
        let name = p["name"].as_str().unwrap_or("?");
        for field in ["repository", "homepage", "documentation"] {
            if p[field].as_str().is_some_and(|u| u.contains(".invalid") || u.contains("example.")) {
                out.push(format!("{name}: {field} is a placeholder"));
            }
        }
        // `publish = false` is an empty list of registries.
        if p["publish"].as_array().is_some_and(Vec::is_empty) {
            continue;
        }
        for field in ["description", "license", "readme"] {
            if p[field].as_str().is_none_or(str::is_empty) {
                out.push(format!("{name}: no {field}"));
            }
        }
        for field in ["keywords", "categories"] {
            if p[field].as_array().is_none_or(Vec::is_empty) {
                out.push(format!("{name}: no {field}"));
            }
        }
    }
    out
}

/// (major, minor, patch) of a `rust-version`.
fn version(text: &str) -> Option<(u64, u64, u64)> {
    let mut it = text.split('.').map(str::parse::<u64>);
    let major = it.next()?.ok()?;
    let minor = it.next().unwrap_or(Ok(0)).ok()?;
    let patch = it.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

/// Dependencies that need a newer Rust than the library that uses them.
fn msrv_problems(meta: &Value) -> Result<Vec<String>> {
    let packages: BTreeMap<&str, &Value> =
        meta["packages"].as_array().into_iter().flatten().filter_map(|p| Some((p["id"].as_str()?, p))).collect();
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .context("cargo metadata: no resolve graph")?
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let mut out = Vec::new();
    for (name, _) in LIBRARIES {
        let Some((id, lib)) = packages.iter().find(|(_, p)| p["name"] == *name) else {
            bail!("cargo metadata: no package {name}");
        };
        let Some(own) = lib["rust_version"].as_str().and_then(version) else {
            out.push(format!("{name}: no rust-version"));
            continue;
        };
        // Normal and build dependencies, transitively.
        let mut seen = BTreeSet::new();
        let mut todo = vec![*id];
        while let Some(at) = todo.pop() {
            for dep in nodes.get(at).and_then(|n| n["deps"].as_array()).into_iter().flatten() {
                let runtime =
                    dep["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].as_str() != Some("dev"));
                if let Some(d) = dep["pkg"].as_str().filter(|d| runtime && seen.insert(*d)) {
                    todo.push(d);
                }
            }
        }
        for d in seen {
            let p = packages.get(d).copied().unwrap_or(&Value::Null);
            if p["rust_version"].as_str().and_then(version).is_some_and(|need| need > own) {
                out.push(format!(
                    "{name}: rust-version {}, but {} {} needs {}",
                    lib["rust_version"].as_str().unwrap_or("?"),
                    p["name"].as_str().unwrap_or("?"),
                    p["version"].as_str().unwrap_or("?"),
                    p["rust_version"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    Ok(out)
}

/// `cargo xtask msrv`: each workspace package builds (`cargo check`, its
/// library and binaries) with the Rust its `rust-version` names, installed
/// with rustup if missing. Packages that name the running toolchain's
/// version are built by the rest of CI.
pub(crate) fn msrv() -> Result<()> {
    let meta = metadata()?;
    let members: BTreeSet<&str> =
        meta["workspace_members"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut by_version: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        if p["id"].as_str().is_some_and(|id| members.contains(id)) {
            let v = p["rust_version"].as_str().context("a workspace package without rust-version")?;
            by_version.entry(v.to_string()).or_default().push(p["name"].as_str().unwrap_or("?").to_string());
        }
    }
    let current = rustc_version()?;
    for (v, names) in by_version {
        if version(&v) == Some(current) {
            continue;
        }
        util::run(Command::new("rustup").args(["toolchain", "install", &v, "--profile", "minimal"]))?;
        let mut check = Command::new("rustup");
        check.current_dir(util::root()).args(["run", &v, "cargo", "check", "--locked", "--lib", "--bins"]);
        for n in &names {
            check.args(["-p", n]);
        }
        for var in ["RUSTC", "RUSTDOC", "CARGO", "RUSTUP_TOOLCHAIN", "RUSTC_WRAPPER"] {
            check.env_remove(var);
        }
        util::run(&mut check).with_context(|| format!("{} do not build with Rust {v}", names.join(", ")))?;
        eprintln!("msrv: {} build with Rust {v}", names.join(", "));
    }
    Ok(())
}

/// The running toolchain's version.
fn rustc_version() -> Result<(u64, u64, u64)> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("--version").output().context("cannot run rustc --version")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(1).and_then(version).with_context(|| format!("rustc --version printed {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_file_in_a_package_is_a_problem() {
        let files: Vec<String> = ["Cargo.toml", "README.md", "src/lib.rs", "tests/x.rs"].map(String::from).to_vec();
        let p = file_problems("wsc-core", &[], &files);
        assert_eq!(p, ["wsc-core: the package holds tests/x.rs, which is not part of the library"]);
        let ok: Vec<String> = ["Cargo.toml", "README.md", "src/lib.rs"].map(String::from).to_vec();
        assert!(file_problems("wsc-core", &[], &ok).is_empty());
        assert_eq!(file_problems("wsc-ffi", &["include/wsc.h"], &ok), ["wsc-ffi: the package lacks include/wsc.h"]);
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version("1.95").expect("v") > version("1.86.0").expect("v"));
        assert!(version("1.100").expect("v") > version("1.95").expect("v"));
        assert_eq!(version("1.86"), Some((1, 86, 0)));
        assert_eq!(version("x"), None);
    }
}
