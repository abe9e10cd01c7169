//! `cargo xtask layers`: the dependency rules of docs/architecture.md, and
//! its code map's dependency lines against `cargo metadata`.

mod code_map;
mod lints;

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util;

/// What a verification-side crate (wsc-policy, wsc-ffi) must not pull in:
/// the CLI, a pinned transport, network, async runtime or hardware.
const VERIFY_SIDE: &[&str] = &[
    "wsc-cli",
    "wsc-pinning",
    "wsc-hsm",
    "wsc-sigstore-local",
    "tokio",
    "reqwest",
    "hyper",
    "h2",
    "ureq",
    "mio",
    "async-",
    "openidconnect",
    "tough",
    "cryptoki",
    "embedded-hal",
    "linux-embedded-hal",
];

/// (crate, dependency, why): an exception to [`RULES`].
const ALLOWED: &[(&str, &str, &str)] =
    &[("wsc-wasmtime", "async-trait", "wasmtime itself depends on this macro (compile time only)")];

/// (crate, forbidden dependency name prefixes, why).
const RULES: &[(&str, &[&str], &str)] = &[
    (
        "wsc-core",
        &[
            "wsc-",
            "tokio",
            "reqwest",
            "hyper",
            "rustls",
            "ureq",
            "mio",
            "async-",
            "futures",
            "embedded-hal",
            "linux-embedded-hal",
            "cryptoki",
            "wasmi",
            "serde_json",
            "clap",
            "anyhow",
        ],
        "wsc-core has no network, async, hardware, CLI or anyhow dependency",
    ),
    ("wsc-pinning", &["wsc-"], "wsc-pinning depends on no wsc crate"),
    (
        "wsc-tsp",
        &["wsc-", "sigstore-", "reqwest", "hyper", "tokio", "rustls", "ureq"],
        "the RFC 3161 codec has no transport and no verification, and depends on no wsc crate",
    ),
    (
        "wsc-hsm-pkcs11",
        &["wsc-cli", "wsc-keyless", "wsc-pinning", "wsc-pki", "tokio", "reqwest"],
        "a hardware backend sits on wsc-core only",
    ),
    (
        "wsc-hsm-atecc",
        &["wsc-cli", "wsc-keyless", "wsc-pinning", "tokio", "reqwest"],
        "a hardware backend sits on wsc-core (and wsc-pki for provisioning) only",
    ),
    (
        "wsc-keyless",
        &[
            "wsc-cli",
            "wsc-hsm",
            "reqwest",
            "hyper",
            "tokio",
            "openidconnect",
            "tough",
            "ring",
            "cryptoki",
            "embedded-hal",
        ],
        "keyless verification is offline: no HTTP client, async runtime or TUF client in its graph",
    ),
    (
        "wsc-cli",
        &["wsc-sigstore-local"],
        "wsc never links the local Sigstore instance: `wsc demo` starts its program (wsc-sigstore-local)",
    ),
    (
        "wsc-sigstore-local",
        &["wsc-", "sigstore-"],
        "the local Sigstore instance shares no code with the client it tests",
    ),
    (
        "wsc-policy",
        VERIFY_SIDE,
        "wsc-policy sits on the verification side of wsc-keyless and wsc-pki and on wsc-core: \
         no pinned transport, network, async runtime or hardware",
    ),
    (
        "wsc-ffi",
        VERIFY_SIDE,
        "the C library is verification only: no network, async runtime, pinned transport or hardware",
    ),
    (
        "wsc-wasmtime",
        VERIFY_SIDE,
        "the wasmtime crate verifies and compiles: no network, async runtime, pinned transport or hardware",
    ),
    (
        "wsc-pki",
        &["wsc-keyless", "wsc-pinning", "wsc-hsm", "wsc-cli", "tokio", "reqwest", "cryptoki", "embedded-hal"],
        "wsc-pki is offline, needs no hardware, and sits on wsc-core only",
    ),
    (
        "wsc-oci",
        &[
            "wsc-cli",
            "wsc-hsm",
            "wsc-sigstore-local",
            "oci-client",
            "oci-wasm",
            "cryptoki",
            "embedded-hal",
            "linux-embedded-hal",
        ],
        "the registry client sits on the pinned transport: no CLI, hardware or local Sigstore, and no other \
         registry client (oci-client cannot take a pinned client)",
    ),
];

/// (crate, forbidden direct dependencies, why): what a crate must not depend
/// on itself, even where its graph holds it through a crate of ours.
const DIRECT_RULES: &[(&str, &[&str], &str)] = &[
    (
        "wsc-cli",
        &["reqwest", "tokio", "hyper", "h2", "ureq", "async-", "futures", "sigstore-tuf", "sigstore-trust-root"],
        "the CLI has no HTTP or async stack of its own: clients come from wsc-pinning, the TUF update from wsc-keyless",
    ),
    (
        "wsc-oci",
        &["reqwest", "tokio", "hyper", "h2", "ureq", "async-", "futures"],
        "the registry client has no HTTP or async stack of its own: its client comes from wsc-pinning",
    ),
];

/// Source patterns wsc-core must not contain: it does no file, network,
/// process or environment I/O.
const CORE_FORBIDDEN_SOURCE: &[&str] = &["std::fs", "std::net", "std::process", "std::env", "File::open"];

pub(crate) fn check() -> Result<()> {
    let root = util::root();
    let mut failures = Vec::new();
    for (krate, forbidden, why) in RULES {
        if !root.join("crates").join(krate).is_dir() {
            continue;
        }
        for name in dependencies(&root, krate, &[])? {
            let allowed = ALLOWED.iter().any(|(k, d, _)| k == krate && *d == name);
            if !allowed && forbidden.iter().any(|f| name.starts_with(f)) {
                failures.push(format!("{krate} depends on {name}: {why}"));
            }
        }
    }
    for (krate, forbidden, why) in DIRECT_RULES {
        for name in dependencies(&root, krate, &["--depth", "1"])? {
            if forbidden.iter().any(|f| name.starts_with(f)) {
                failures.push(format!("{krate} depends on {name} directly: {why}"));
            }
        }
    }
    let core_src = root.join("crates/wsc-core/src");
    for entry in std::fs::read_dir(&core_src)? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        for pat in CORE_FORBIDDEN_SOURCE {
            if text.contains(pat) {
                failures.push(format!(
                    "{} uses {pat}: wsc-core does no file, network, process or environment I/O",
                    path.display()
                ));
            }
        }
    }
    // Nothing may depend on the CLI.
    let meta = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["tree", "--locked", "-e", "normal", "-i", "wsc-cli", "--prefix", "none"])
        .output()?;
    let inv = String::from_utf8_lossy(&meta.stdout);
    if inv.lines().count() > 1 {
        failures.push(format!("something depends on wsc-cli:\n{inv}"));
    }
    failures.extend(code_map::problems(&root)?);
    failures.extend(lints::problems(&root)?);
    if !failures.is_empty() {
        bail!("layering violations:\n{}", failures.join("\n"));
    }
    eprintln!("layers: ok");
    Ok(())
}

/// The names of the normal dependencies of `krate` that `cargo tree`
/// lists with `extra` arguments (all of them, or only the direct ones).
fn dependencies(root: &std::path::Path, krate: &str, extra: &[&str]) -> Result<Vec<String>> {
    let out = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["tree", "--locked", "-e", "normal", "--prefix", "none", "-p", krate])
        .args(extra)
        .output()
        .context("cannot run cargo tree")?;
    if !out.status.success() {
        bail!("cargo tree -p {krate} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let tree = String::from_utf8_lossy(&out.stdout);
    Ok(tree.lines().skip(1).filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    /// `cargo test --workspace` enforces the layering rules too, not only
    /// `cargo xtask layers` (as rust-analyzer's tidy runs as a test).
    #[test]
    fn layering_rules_hold() {
        if let Err(e) = super::check() {
            panic!("{e:#}");
        }
    }
}
