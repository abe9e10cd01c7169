//! The code map's dependency lines in docs/architecture.md against
//! `cargo metadata`.
//!
//! The lines are the first fenced block under the heading
//! `## Who may depend on whom`. Each starts with a workspace package at the
//! start of a line, then `->`, then `none` or a comma-separated list of
//! workspace packages; an indented line continues the list. A name alone is
//! a normal dependency, `name [feature a]` (or `[feature a or b]`) an
//! optional one turned on by those features, `name [tests]` a
//! dev-dependency (a package's dev-dependency on itself is left out).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The document that holds the code map, relative to the root.
pub(super) const DOC: &str = "docs/architecture.md";

/// The heading the dependency lines sit under.
const HEADING: &str = "## Who may depend on whom";

/// How a package depends on another.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Always (a normal or build dependency that is not optional).
    Normal,
    /// Optional, turned on by these features.
    Features(BTreeSet<String>),
    /// A dev-dependency.
    Tests,
}

impl Kind {
    fn show(&self) -> String {
        match self {
            Kind::Normal => String::new(),
            Kind::Features(f) => format!(" [feature {}]", f.iter().cloned().collect::<Vec<_>>().join(" or ")),
            Kind::Tests => " [tests]".to_string(),
        }
    }
}

/// Package name to its (dependency, kind) edges.
type Map = BTreeMap<String, BTreeSet<(String, Kind)>>;

/// Every difference between the doc's lines and `cargo metadata`.
pub(super) fn problems(root: &Path) -> Result<Vec<String>> {
    let doc = std::fs::read_to_string(root.join(DOC)).with_context(|| format!("cannot read {DOC}"))?;
    let out = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).context("cargo metadata output")?;
    compare(&doc, &json)
}

/// The differences between the code map in `doc` and the workspace in the
/// `cargo metadata` JSON `json`; an unreadable code map is an error.
fn compare(doc: &str, json: &serde_json::Value) -> Result<Vec<String>> {
    let documented = parse(doc)?;
    let actual = from_metadata(json)?;
    let mut out = Vec::new();
    for name in actual.keys().filter(|n| !documented.contains_key(*n)) {
        out.push(format!("{DOC}: no dependency line for {name}"));
    }
    for (name, edges) in &documented {
        let Some(real) = actual.get(name) else {
            out.push(format!("{DOC}: {name} is not a workspace package"));
            continue;
        };
        for (dep, kind) in edges.difference(real) {
            out.push(format!("{DOC}: {name} -> {dep}{}: cargo metadata has no such dependency", kind.show()));
        }
        for (dep, kind) in real.difference(edges) {
            out.push(format!("{DOC}: {name} -> {dep}{}: in cargo metadata, missing from the line", kind.show()));
        }
    }
    Ok(out)
}

/// The dependency lines of the code map.
fn parse(doc: &str) -> Result<Map> {
    let mut lines = doc.lines().skip_while(|l| l.trim_end() != HEADING);
    if lines.next().is_none() {
        bail!("{DOC}: no heading {HEADING:?}");
    }
    let mut lines = lines.skip_while(|l| !l.starts_with("```"));
    if lines.next().is_none() {
        bail!("{DOC}: no fenced block under {HEADING:?}");
    }
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in lines.take_while(|l| !l.starts_with("```")) {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            let Some((_, rest)) = entries.last_mut() else {
                bail!("{DOC}: a continuation line before any package: {line:?}");
            };
            rest.push(' ');
            rest.push_str(line.trim());
        } else {
            let Some((name, rest)) = line.split_once("->") else {
                bail!("{DOC}: not `package -> dependencies`: {line:?}");
            };
            entries.push((name.trim().to_string(), rest.trim().to_string()));
        }
    }
    let mut map = Map::new();
    for (name, rest) in entries {
        let edges = if rest == "none" { BTreeSet::new() } else { edges(&name, &rest)? };
        if map.insert(name.clone(), edges).is_some() {
            bail!("{DOC}: two lines for {name}");
        }
    }
    Ok(map)
}

/// The entries of one line's list.
fn edges(name: &str, list: &str) -> Result<BTreeSet<(String, Kind)>> {
    let mut out = BTreeSet::new();
    for entry in list.split(',').map(str::trim) {
        let (dep, kind) = match entry.split_once('[') {
            None => (entry, Kind::Normal),
            Some((dep, tag)) => {
                let tag = tag.strip_suffix(']').with_context(|| format!("{DOC}: {name}: unclosed [ in {entry:?}"))?;
                let kind = if tag == "tests" {
                    Kind::Tests
                } else if let Some(f) = tag.strip_prefix("feature ") {
                    Kind::Features(f.split(" or ").map(|s| s.trim().to_string()).collect())
                } else {
                    bail!("{DOC}: {name}: {entry:?}: the tag is [tests] or [feature a] (or [feature a or b])");
                };
                (dep.trim(), kind)
            }
        };
        if dep.is_empty() || dep.contains(char::is_whitespace) {
            bail!("{DOC}: {name}: {entry:?} is not a package name");
        }
        if !out.insert((dep.to_string(), kind)) {
            bail!("{DOC}: {name}: {entry:?} is named twice");
        }
    }
    Ok(out)
}

/// The workspace packages' dependencies on each other, from `cargo metadata`.
fn from_metadata(json: &serde_json::Value) -> Result<Map> {
    let packages = json["packages"].as_array().context("cargo metadata: no packages")?;
    let names: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut map = Map::new();
    for p in packages {
        let name = p["name"].as_str().context("cargo metadata: a package without a name")?;
        let mut edges = BTreeSet::new();
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["name"].as_str().context("cargo metadata: a dependency without a name")?;
            if !names.contains(dep) {
                continue;
            }
            let kind = match (d["kind"].as_str(), d["optional"].as_bool().unwrap_or(false)) {
                (Some("dev"), _) if dep == name => continue,
                (Some("dev"), _) => Kind::Tests,
                (_, false) => Kind::Normal,
                (_, true) => Kind::Features(enabling(p, dep)),
            };
            edges.insert((dep.to_string(), kind));
        }
        map.insert(name.to_string(), edges);
    }
    Ok(map)
}

/// The features of package `p` that turn its optional dependency `dep` on
/// (`dep:x`, `x/feature`); the implicit feature `x` when none names it.
fn enabling(p: &serde_json::Value, dep: &str) -> BTreeSet<String> {
    let names_dep = |v: &str| v == format!("dep:{dep}") || v.split_once('/').is_some_and(|(d, _)| d == dep);
    let mut out: BTreeSet<String> = p["features"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, list)| list.as_array().into_iter().flatten().filter_map(|v| v.as_str()).any(names_dep))
        .map(|(f, _)| f.clone())
        .collect();
    if out.is_empty() {
        out.insert(dep.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three packages: `a` needs `b`, has `c` behind feature `x` and `b`
    /// again in its tests; `b` and `c` need nothing.
    fn metadata() -> serde_json::Value {
        serde_json::json!({ "packages": [
            { "name": "a", "features": { "x": ["dep:c"], "default": [] }, "dependencies": [
                { "name": "b", "kind": null, "optional": false },
                { "name": "c", "kind": null, "optional": true },
                { "name": "b", "kind": "dev", "optional": false },
                { "name": "a", "kind": "dev", "optional": false },
                { "name": "serde", "kind": null, "optional": false },
            ] },
            { "name": "b", "features": {}, "dependencies": [] },
            { "name": "c", "features": {}, "dependencies": [] },
        ] })
    }

    fn doc(block: &str) -> String {
        format!("# Title\n\nprose\n\n{HEADING}\n\n```\n{block}```\n\nmore prose -> not a line\n")
    }

    #[test]
    fn lines_that_match_metadata_pass() {
        let text = doc("a -> b, c [feature x],\n     b [tests]\nb -> none\nc -> none\n");
        assert_eq!(compare(&text, &metadata()).expect("parses"), Vec::<String>::new());
    }

    #[test]
    fn a_dependency_that_is_not_there_and_a_missing_one_are_reported() {
        // `b -> c` is not in the metadata; `a`'s feature-gated `c` is missing.
        let text = doc("a -> b, b [tests]\nb -> c\nc -> none\n");
        let p = compare(&text, &metadata()).expect("parses");
        assert_eq!(
            p,
            vec![
                format!("{DOC}: a -> c [feature x]: in cargo metadata, missing from the line"),
                format!("{DOC}: b -> c: cargo metadata has no such dependency"),
            ]
        );
    }

    #[test]
    fn a_wrong_kind_a_missing_package_and_an_unknown_one_are_reported() {
        let text = doc("a -> b, c [feature y], b [tests]\nc -> none\nd -> none\n");
        let p = compare(&text, &metadata()).expect("parses");
        assert_eq!(
            p,
            vec![
                format!("{DOC}: no dependency line for b"),
                format!("{DOC}: a -> c [feature y]: cargo metadata has no such dependency"),
                format!("{DOC}: a -> c [feature x]: in cargo metadata, missing from the line"),
                format!("{DOC}: d is not a workspace package"),
            ]
        );
    }

    #[test]
    fn malformed_lines_are_errors() {
        for block in ["a b c\n", "  a -> b\n", "a -> b [test]\n", "a -> b [feature x\n", "a -> none\na -> none\n"] {
            assert!(compare(&doc(block), &metadata()).is_err(), "{block:?} was accepted");
        }
        assert!(compare("no heading\n", &metadata()).is_err());
    }

    #[test]
    fn the_implicit_feature_of_an_optional_dependency_counts() {
        let json = serde_json::json!({ "packages": [
            { "name": "a", "features": {}, "dependencies": [{ "name": "b", "kind": null, "optional": true }] },
            { "name": "b", "features": {}, "dependencies": [] },
        ] });
        assert!(compare(&doc("a -> b [feature b]\nb -> none\n"), &json).expect("parses").is_empty());
    }
}
