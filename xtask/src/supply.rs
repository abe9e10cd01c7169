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
//!   the same bytes. `Cargo.lock` is read with the `toml` crate and the
//!   JSON written with `serde_json`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

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
    let json = cyclonedx(&tree, &lock_checksums(&lock)?, &host)?;
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

/// The part of `Cargo.lock` the SBOM reads.
#[derive(Debug, Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<LockedPackage>,
}

#[derive(Debug, Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    checksum: Option<String>,
}

/// `name@version` -> checksum, from `Cargo.lock`.
fn lock_checksums(lock: &str) -> Result<BTreeMap<String, String>> {
    let lock: Lock = toml::from_str(lock).context("Cargo.lock is not a lock file")?;
    Ok(lock.package.into_iter().filter_map(|p| Some((format!("{}@{}", p.name, p.version), p.checksum?))).collect())
}

/// An SPDX expression from a Cargo licence field (`MIT/Apache-2.0` is the old form of `MIT OR Apache-2.0`).
fn spdx(license: &str) -> String {
    license.split('/').map(str::trim).collect::<Vec<_>>().join(" OR ")
}

/// A CycloneDX 1.5 document (the fields the SBOM uses, in the order written).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom<'a> {
    bom_format: &'static str,
    spec_version: &'static str,
    version: u32,
    metadata: Metadata<'a>,
    components: Vec<Component<'a>>,
    dependencies: Vec<Dependency>,
}

#[derive(Debug, Serialize)]
struct Metadata<'a> {
    tools: Tools,
    component: Component<'a>,
    properties: Vec<Property<'a>>,
}

#[derive(Debug, Serialize)]
struct Tools {
    components: Vec<Tool>,
}

#[derive(Debug, Serialize)]
struct Tool {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'static str,
    version: &'static str,
}

#[derive(Debug, Serialize)]
struct Property<'a> {
    name: &'static str,
    value: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Component<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "bom-ref")]
    bom_ref: String,
    name: &'a str,
    version: &'a str,
    purl: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    licenses: Vec<License>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_references: Vec<ExternalReference<'a>>,
}

#[derive(Debug, Serialize)]
struct Hash<'a> {
    alg: &'static str,
    content: &'a str,
}

#[derive(Debug, Serialize)]
struct License {
    expression: String,
}

#[derive(Debug, Serialize)]
struct ExternalReference<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    url: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    #[serde(rename = "ref")]
    reference: String,
    depends_on: Vec<String>,
}

/// One component: a hash only for a registry package, the licence and the
/// repository when known.
fn component<'a>(p: &'a Package, kind: &'static str, checksums: &'a BTreeMap<String, String>) -> Component<'a> {
    let hash = checksums.get(&p.key()).filter(|_| !p.local).map(|sum| Hash { alg: "SHA-256", content: sum });
    let license = Some(&p.license).filter(|l| !l.is_empty()).map(|l| License { expression: spdx(l) });
    let vcs = Some(&p.repository).filter(|r| !r.is_empty()).map(|r| ExternalReference { kind: "vcs", url: r });
    Component {
        kind,
        bom_ref: p.purl(),
        name: &p.name,
        version: &p.version,
        purl: p.purl(),
        hashes: hash.into_iter().collect(),
        licenses: license.into_iter().collect(),
        external_references: vcs.into_iter().collect(),
    }
}

/// The SBOM as pretty-printed JSON with a final newline.
fn cyclonedx(g: &Graph, checksums: &BTreeMap<String, String>, host: &str) -> Result<String> {
    let root = g.packages.get(&g.root).context("the root package is not in the graph")?;
    let purl = |k: &String| g.packages.get(k).map_or_else(|| k.clone(), Package::purl);
    let bom = Bom {
        bom_format: "CycloneDX",
        spec_version: "1.5",
        version: 1,
        metadata: Metadata {
            tools: Tools {
                components: vec![Tool {
                    kind: "application",
                    name: "cargo xtask sbom",
                    version: env!("CARGO_PKG_VERSION"),
                }],
            },
            component: component(root, "application", checksums),
            properties: vec![
                Property { name: "cargo:target", value: host },
                Property { name: "cargo:dependency-kinds", value: "normal,build" },
            ],
        },
        components: g
            .packages
            .values()
            .filter(|p| p.key() != g.root)
            .map(|p| component(p, "library", checksums))
            .collect(),
        dependencies: g
            .packages
            .keys()
            .map(|k| Dependency {
                reference: purl(k),
                depends_on: g.edges.get(k).map(|e| e.iter().map(purl).collect()).unwrap_or_default(),
            })
            .collect(),
    };
    let mut json = serde_json::to_string_pretty(&bom).context("cannot serialise the SBOM")?;
    json.push('\n');
    Ok(json)
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

    const TREE: &str = "0wsc-cli v0.1.0 (/w/crates/wsc-cli)|Apache-2.0|\n\
                        1anyhow v1.0.105|MIT OR Apache-2.0|https://github.com/dtolnay/anyhow\n\
                        1clap v4.6.9|MIT/Apache-2.0|https://github.com/clap-rs/clap\n\
                        2clap_derive v4.6.9 (proc-macro)|MIT OR Apache-2.0|\n\
                        3quote v1.0.47|MIT OR Apache-2.0|https://github.com/dtolnay/quote\n\
                        2anyhow v1.0.105|MIT OR Apache-2.0|https://github.com/dtolnay/anyhow (*)\n\
                        1wsc-core v0.1.0 (/w/crates/wsc-core)|Apache-2.0|\n\
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
    fn sbom_json_names_checksums_licences_and_edges() {
        let lock = "version = 4\n\n[[package]]\nname = \"anyhow\"\nversion = \"1.0.105\"\nsource = \"registry+x\"\nchecksum = \"abc\"\n\n\
                    [[package]]\nname = \"wsc-core\"\nversion = \"0.1.0\"\ndependencies = [\n \"anyhow\",\n]\n";
        let sums = lock_checksums(lock).expect("a lock file");
        assert_eq!(sums.get("anyhow@1.0.105").map(String::as_str), Some("abc"));
        assert_eq!(sums.len(), 1);
        assert!(lock_checksums("[[package]]\nname = 1\n").is_err());
        let mut g = parse_tree(TREE).expect("parses");
        if let Some(p) = g.packages.get_mut("quote@1.0.47") {
            p.repository = "https://x.invalid/\"q\"\\\n".into();
        }
        let json = cyclonedx(&g, &sums, "x86_64-unknown-linux-gnu").expect("serialises");
        assert!(json.ends_with("}\n"));
        assert!(!json.contains("/w/crates"), "no local paths");
        let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(v["bomFormat"], "CycloneDX");
        assert_eq!(v["specVersion"], "1.5");
        assert_eq!(v["metadata"]["component"]["bom-ref"], "pkg:cargo/wsc-cli@0.1.0");
        assert_eq!(v["metadata"]["properties"][0]["value"], "x86_64-unknown-linux-gnu");
        let comps = v["components"].as_array().expect("components");
        assert_eq!(comps.len(), 5);
        assert!(comps.iter().all(|c| c["type"] == "library"));
        let comp = |name: &str| comps.iter().find(|c| c["name"] == name).expect(name);
        assert_eq!(comp("anyhow")["hashes"], serde_json::json!([{"alg": "SHA-256", "content": "abc"}]));
        assert!(comp("wsc-core").get("hashes").is_none(), "no hash for a path package");
        assert_eq!(comp("clap")["licenses"][0]["expression"], "MIT OR Apache-2.0", "MIT/Apache-2.0 becomes SPDX");
        assert!(comp("clap_derive").get("externalReferences").is_none(), "no empty repository");
        assert_eq!(comp("quote")["externalReferences"][0]["url"], "https://x.invalid/\"q\"\\\n", "escaped");
        let deps = v["dependencies"].as_array().expect("dependencies");
        let on = |r: &str| deps.iter().find(|d| d["ref"] == r).expect(r)["dependsOn"].clone();
        assert_eq!(
            on("pkg:cargo/wsc-cli@0.1.0"),
            serde_json::json!(["pkg:cargo/anyhow@1.0.105", "pkg:cargo/clap@4.6.9", "pkg:cargo/wsc-core@0.1.0"])
        );
        assert_eq!(on("pkg:cargo/quote@1.0.47"), serde_json::json!([]));
    }
}
