//! Supply chain: `cargo xtask deny` (dependency policy) and `cargo xtask sbom`
//! (a CycloneDX 1.5 SBOM of the `wsc` command).
//!
//! * `deny` runs `cargo deny --locked check bans licenses sources` with the
//!   policy in `deny.toml`, installing cargo-deny when it is missing.
//!   Advisories are not checked here: the RustSec database must be fetched
//!   from the network (`cargo deny --locked check advisories` where it can be).
//! * `sbom` writes `target/sbom/wsc-cli.cdx.json` from `cargo tree` (the
//!   packages the host build of wsc-cli really compiles, normal and build
//!   dependencies, after feature resolution) and the checksums in
//!   `Cargo.lock`. It is written here rather than by cargo-cyclonedx, which
//!   reads `cargo metadata`'s wider resolve (it lists `ring`, which is not
//!   compiled) and writes a file into every workspace member's folder. The
//!   output has no timestamp or serial number, so the same lock file gives
//!   the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util;

/// The cargo-deny release `deny` installs when none is on the machine.
const CARGO_DENY: &str = "cargo-deny@0.20.2";

/// The package the SBOM describes.
const SBOM_PACKAGE: &str = "wsc-cli";

fn cargo() -> Command {
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(util::root());
    c
}

/// `cargo deny check bans licenses sources`.
pub(crate) fn deny() -> Result<()> {
    if util::code(cargo().args(["deny", "--version"]))? != 0 {
        util::run(Command::new(env!("CARGO")).args(["install", "--locked", CARGO_DENY]))?;
    }
    util::run(cargo().args(["deny", "--locked", "check", "bans", "licenses", "sources"]))
}

/// Writes `target/sbom/wsc-cli.cdx.json`.
pub(crate) fn sbom() -> Result<()> {
    let root = util::root();
    let host = host_triple()?;
    let out = cargo()
        .args(["tree", "--locked", "-p", SBOM_PACKAGE, "-e", "normal,build", "--target", &host])
        .args(["--prefix", "depth", "--format", "{p}|{l}|{r}", "--color", "never"])
        .output()
        .context("cannot run cargo tree")?;
    if !out.status.success() {
        bail!("cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let tree = parse_tree(&String::from_utf8_lossy(&out.stdout))?;
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("cannot read Cargo.lock")?;
    let json = cyclonedx(&tree, &lock_checksums(&lock), &host);
    let dir = root.join("target/sbom");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{SBOM_PACKAGE}.cdx.json"));
    std::fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("sbom: {} packages written to {}", tree.packages.len(), path.display());
    Ok(())
}

fn host_triple() -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc).arg("-vV").output().with_context(|| format!("cannot run {rustc} -vV"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV printed no host line")
}

/// One package of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Package {
    name: String,
    version: String,
    license: String,
    repository: String,
    /// A workspace (path) package rather than one from the registry.
    local: bool,
}

impl Package {
    fn key(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    fn purl(&self) -> String {
        format!("pkg:cargo/{}@{}", self.name, self.version)
    }
}

/// The root, every package and every edge of `cargo tree --prefix depth`.
#[derive(Debug, Default)]
struct Graph {
    root: String,
    packages: BTreeMap<String, Package>,
    edges: BTreeMap<String, BTreeSet<String>>,
}

/// Parses lines `<depth><name> v<version>[ (<path>)][ (proc-macro)]|<license>|<repository>[ (*)]`.
fn parse_tree(text: &str) -> Result<Graph> {
    let mut g = Graph::default();
    let mut stack: Vec<String> = Vec::new();
    for line in text.lines() {
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            continue; // blank lines and section headers
        }
        let depth: usize = line[..digits].parse().context("depth")?;
        let rest = line[digits..].trim_end();
        let rest = rest.strip_suffix(" (*)").unwrap_or(rest);
        let mut fields = rest.splitn(3, '|');
        let (p, license, repository) =
            (fields.next().unwrap_or_default(), fields.next().unwrap_or_default(), fields.next().unwrap_or_default());
        let mut words = p.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next().and_then(|v| v.strip_prefix('v'))) else {
            bail!("cargo tree line not understood: {line:?}");
        };
        let local = words.any(|w| w != "(proc-macro)");
        let pkg = Package {
            name: name.to_string(),
            version: version.to_string(),
            license: license.trim().to_string(),
            repository: repository.trim().to_string(),
            local,
        };
        let key = pkg.key();
        if depth == 0 {
            g.root.clone_from(&key);
        } else {
            let parent = stack.get(depth - 1).with_context(|| format!("depth {depth} without a parent: {line:?}"))?;
            g.edges.entry(parent.clone()).or_default().insert(key.clone());
        }
        stack.truncate(depth);
        stack.push(key.clone());
        g.packages.entry(key).or_insert(pkg);
    }
    if g.root.is_empty() {
        bail!("cargo tree printed no root package");
    }
    Ok(g)
}

/// `name@version` -> checksum, from `Cargo.lock`.
fn lock_checksums(lock: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let (mut name, mut version) = (String::new(), String::new());
    let value = |l: &str, key: &str| {
        l.strip_prefix(key)
            .and_then(|r| r.trim().strip_prefix('"'))
            .and_then(|r| r.strip_suffix('"'))
            .map(str::to_string)
    };
    for l in lock.lines() {
        if l.trim() == "[[package]]" {
            name.clear();
            version.clear();
        } else if let Some(v) = value(l, "name = ") {
            name = v;
        } else if let Some(v) = value(l, "version = ") {
            version = v;
        } else if let Some(v) = value(l, "checksum = ") {
            out.insert(format!("{name}@{version}"), v);
        }
    }
    out
}

/// A JSON string literal.
fn js(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// An SPDX expression from a Cargo licence field (`MIT/Apache-2.0` is the old form of `MIT OR Apache-2.0`).
fn spdx(license: &str) -> String {
    license.split('/').map(str::trim).collect::<Vec<_>>().join(" OR ")
}

/// The JSON object of one component (no trailing newline).
fn component(p: &Package, kind: &str, checksums: &BTreeMap<String, String>, indent: &str) -> String {
    let mut f: Vec<String> = vec![
        format!("\"type\": {}", js(kind)),
        format!("\"bom-ref\": {}", js(&p.purl())),
        format!("\"name\": {}", js(&p.name)),
        format!("\"version\": {}", js(&p.version)),
        format!("\"purl\": {}", js(&p.purl())),
    ];
    if let Some(sum) = checksums.get(&p.key()).filter(|_| !p.local) {
        f.push(format!("\"hashes\": [{{\"alg\": \"SHA-256\", \"content\": {}}}]", js(sum)));
    }
    if !p.license.is_empty() {
        f.push(format!("\"licenses\": [{{\"expression\": {}}}]", js(&spdx(&p.license))));
    }
    if !p.repository.is_empty() {
        f.push(format!("\"externalReferences\": [{{\"type\": \"vcs\", \"url\": {}}}]", js(&p.repository)));
    }
    let inner = format!("{indent}  ");
    format!("{{\n{inner}{}\n{indent}}}", f.join(&format!(",\n{inner}")))
}

fn cyclonedx(g: &Graph, checksums: &BTreeMap<String, String>, host: &str) -> String {
    let root = &g.packages[&g.root];
    let purl = |k: &String| g.packages.get(k).map_or_else(|| k.clone(), Package::purl);
    let mut s = String::new();
    s.push_str("{\n  \"bomFormat\": \"CycloneDX\",\n  \"specVersion\": \"1.5\",\n  \"version\": 1,\n");
    s.push_str("  \"metadata\": {\n");
    let _ = writeln!(
        s,
        "    \"tools\": {{\"components\": [{{\"type\": \"application\", \"name\": \"cargo xtask sbom\", \"version\": {}}}]}},",
        js(env!("CARGO_PKG_VERSION"))
    );
    let _ = writeln!(s, "    \"component\": {},", component(root, "application", checksums, "    "));
    let _ = writeln!(
        s,
        "    \"properties\": [{{\"name\": \"cargo:target\", \"value\": {}}}, {{\"name\": \"cargo:dependency-kinds\", \"value\": \"normal,build\"}}]",
        js(host)
    );
    s.push_str("  },\n  \"components\": [\n");
    let comps: Vec<String> = g
        .packages
        .values()
        .filter(|p| p.key() != g.root)
        .map(|p| format!("    {}", component(p, "library", checksums, "    ")))
        .collect();
    s.push_str(&comps.join(",\n"));
    s.push_str("\n  ],\n  \"dependencies\": [\n");
    let deps: Vec<String> = g
        .packages
        .keys()
        .map(|k| {
            let on: Vec<String> = g.edges.get(k).map(|e| e.iter().map(|d| js(&purl(d))).collect()).unwrap_or_default();
            format!("    {{\"ref\": {}, \"dependsOn\": [{}]}}", js(&purl(k)), on.join(", "))
        })
        .collect();
    s.push_str(&deps.join(",\n"));
    s.push_str("\n  ]\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_policy_bans_openssl_and_the_old_sigstore_crate() {
        let text = std::fs::read_to_string(util::root().join("deny.toml")).expect("deny.toml");
        for needle in [
            "crate = \"openssl\"",
            "crate = \"openssl-sys\"",
            "crate = \"sigstore\"",
            "crate = \"ring\"",
            "wildcards = \"deny\"",
            "unknown-registry = \"deny\"",
            "unknown-git = \"deny\"",
        ] {
            assert!(text.contains(needle), "deny.toml lacks {needle}");
        }
    }

    #[test]
    fn release_profile_keeps_overflow_checks_and_unsafe_is_forbidden() {
        let text = std::fs::read_to_string(util::root().join("Cargo.toml")).expect("Cargo.toml");
        let section = |name: &str| -> Vec<String> {
            text.lines()
                .skip_while(|l| l.trim() != name)
                .skip(1)
                .take_while(|l| !l.trim_start().starts_with('['))
                .map(|l| l.split('#').next().unwrap_or_default().replace(' ', ""))
                .collect()
        };
        assert!(section("[profile.release]").iter().any(|l| l == "overflow-checks=true"), "overflow-checks");
        assert!(section("[workspace.lints.rust]").iter().any(|l| l == "unsafe_code=\"forbid\""), "unsafe_code");
    }

    const TREE: &str = "0wsc-cli v0.1.0 (/w/crates/wsc-cli)|Apache-2.0|https://example.invalid/wsc\n\
                        1anyhow v1.0.105|MIT OR Apache-2.0|https://github.com/dtolnay/anyhow\n\
                        1clap v4.6.9|MIT/Apache-2.0|https://github.com/clap-rs/clap\n\
                        2clap_derive v4.6.9 (proc-macro)|MIT OR Apache-2.0|\n\
                        3quote v1.0.47|MIT OR Apache-2.0|https://github.com/dtolnay/quote\n\
                        2anyhow v1.0.105|MIT OR Apache-2.0|https://github.com/dtolnay/anyhow (*)\n\
                        1wsc-core v0.1.0 (/w/crates/wsc-core)|Apache-2.0|https://example.invalid/wsc\n\
                        \n\
                        [build-dependencies]\n";

    #[test]
    fn cargo_tree_lines_give_packages_and_edges() {
        let g = parse_tree(TREE).expect("parses");
        assert_eq!(g.root, "wsc-cli@0.1.0");
        assert_eq!(g.packages.len(), 6);
        assert!(g.packages["wsc-core@0.1.0"].local);
        assert!(!g.packages["clap_derive@4.6.9"].local, "proc-macro is not a path");
        assert_eq!(g.packages["clap_derive@4.6.9"].repository, "");
        let root: Vec<&str> = g.edges["wsc-cli@0.1.0"].iter().map(String::as_str).collect();
        assert_eq!(root, ["anyhow@1.0.105", "clap@4.6.9", "wsc-core@0.1.0"]);
        let clap: Vec<&str> = g.edges["clap@4.6.9"].iter().map(String::as_str).collect();
        assert_eq!(clap, ["anyhow@1.0.105", "clap_derive@4.6.9"], "a deduplicated (*) line is still an edge");
        assert!(g.edges["clap_derive@4.6.9"].contains("quote@1.0.47"));
        assert!(parse_tree("1orphan v1.0.0|MIT|\n").is_err());
        assert!(parse_tree("").is_err());
    }

    #[test]
    fn sbom_json_is_escaped_and_names_checksums_and_licences() {
        assert_eq!(js("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
        let lock = "[[package]]\nname = \"anyhow\"\nversion = \"1.0.105\"\nsource = \"registry+x\"\nchecksum = \"abc\"\n\n\
                    [[package]]\nname = \"wsc-core\"\nversion = \"0.1.0\"\n";
        let sums = lock_checksums(lock);
        assert_eq!(sums.get("anyhow@1.0.105").map(String::as_str), Some("abc"));
        assert_eq!(sums.len(), 1);
        let json = cyclonedx(&parse_tree(TREE).expect("parses"), &sums, "x86_64-unknown-linux-gnu");
        assert!(json.contains("\"specVersion\": \"1.5\""));
        assert!(json.contains("\"hashes\": [{\"alg\": \"SHA-256\", \"content\": \"abc\"}]"));
        assert!(json.contains("\"expression\": \"MIT OR Apache-2.0\""), "MIT/Apache-2.0 becomes an SPDX expression");
        assert!(json.contains("{\"ref\": \"pkg:cargo/wsc-cli@0.1.0\", \"dependsOn\": [\"pkg:cargo/anyhow@1.0.105\", \"pkg:cargo/clap@4.6.9\", \"pkg:cargo/wsc-core@0.1.0\"]}"));
        assert!(json.contains("{\"ref\": \"pkg:cargo/quote@1.0.47\", \"dependsOn\": []}"));
        assert_eq!(json.matches("\"type\": \"library\"").count(), 5);
        assert!(!json.contains("/w/crates"), "no local paths");
        let opens = json.matches(['{', '[']).count();
        let closes = json.matches(['}', ']']).count();
        assert_eq!(opens, closes);
    }
}
