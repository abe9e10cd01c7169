//! `cfg` predicates and the features CI turns on ([`Gates`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// A `cfg(..)` predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cfg {
    /// `test`, `unix`, ...
    Name(String),
    /// `feature = "x"`, `target_os = "linux"`, ...
    Pair(String, String),
    All(Vec<Cfg>),
    Any(Vec<Cfg>),
    Not(Box<Cfg>),
}

impl Cfg {
    /// Whether CI's `cargo test --workspace` has it on, with `features` on for the package.
    pub(super) fn enabled(&self, features: &BTreeSet<String>) -> bool {
        match self {
            Cfg::Name(n) => n == "test",
            Cfg::Pair(k, v) => k == "feature" && features.contains(v),
            Cfg::All(v) => v.iter().all(|c| c.enabled(features)),
            Cfg::Any(v) => v.iter().any(|c| c.enabled(features)),
            // Not evaluated: refused.
            Cfg::Not(_) => false,
        }
    }
}

/// Parses the inside of `cfg(..)`.
pub(super) fn parse_cfg(s: &str) -> Result<Cfg> {
    let mut p = CfgParser { s: s.as_bytes(), pos: 0 };
    let c = p.predicate()?;
    p.space();
    if p.pos != p.s.len() {
        bail!("unexpected text in cfg({s})");
    }
    Ok(c)
}

pub(super) struct CfgParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl CfgParser<'_> {
    fn space(&mut self) {
        while self.s.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.space();
        let hit = self.s.get(self.pos) == Some(&b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn predicate(&mut self) -> Result<Cfg> {
        self.space();
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
            self.pos += 1;
        }
        let name = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        if name.is_empty() {
            bail!("expected a cfg name at byte {start}");
        }
        if self.eat(b'=') {
            self.space();
            if !self.eat(b'"') {
                bail!("expected a string after {name} =");
            }
            let v0 = self.pos;
            while self.s.get(self.pos).is_some_and(|b| *b != b'"') {
                self.pos += 1;
            }
            let value = String::from_utf8_lossy(&self.s[v0..self.pos]).into_owned();
            if !self.eat(b'"') {
                bail!("unterminated string in cfg");
            }
            return Ok(Cfg::Pair(name, value));
        }
        if !self.eat(b'(') {
            return Ok(Cfg::Name(name));
        }
        let mut args = Vec::new();
        loop {
            if self.eat(b')') {
                break;
            }
            args.push(self.predicate()?);
            if !self.eat(b',') {
                if !self.eat(b')') {
                    bail!("expected ',' or ')' in {name}(..)");
                }
                break;
            }
        }
        match name.as_str() {
            "all" => Ok(Cfg::All(args)),
            "any" => Ok(Cfg::Any(args)),
            "not" if args.len() == 1 => Ok(Cfg::Not(Box::new(args.remove(0)))),
            _ => bail!("unknown cfg operator {name}(..)"),
        }
    }
}

/// The features CI's `cargo test --workspace` turns on for each workspace
/// package, by package folder (relative to the root).
#[derive(Debug, Default)]
pub(super) struct Gates {
    packages: Vec<(PathBuf, BTreeSet<String>)>,
}

impl Gates {
    /// From `cargo metadata --no-deps` of the workspace.
    pub(super) fn from_cargo_metadata(root: &Path) -> Result<Gates> {
        let out = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(root)
            .output()
            .context("cannot run cargo metadata")?;
        if !out.status.success() {
            bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).context("cargo metadata output")?;
        Gates::from_metadata(&json, root)
    }

    /// From the JSON of `cargo metadata`: every package starts with
    /// `default`, gets what any package's dependency on it asks for, then
    /// what its features turn on, in it and in its dependencies, until
    /// nothing changes.
    pub(super) fn from_metadata(json: &serde_json::Value, root: &Path) -> Result<Gates> {
        struct Dep {
            /// Index of the package it points at (a workspace path dependency).
            package: Option<usize>,
            /// The name its features refer to it by.
            name: String,
            features: Vec<String>,
            default: bool,
        }
        struct Pkg {
            dir: PathBuf,
            features: BTreeMap<String, Vec<String>>,
            deps: Vec<Dep>,
        }
        let packages = json["packages"].as_array().context("cargo metadata: no packages")?;
        let dirs: Vec<PathBuf> = packages
            .iter()
            .map(|p| {
                let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap_or_default());
                manifest.parent().map(Path::to_path_buf).unwrap_or_default()
            })
            .collect();
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
        };
        let pkgs: Vec<Pkg> = packages
            .iter()
            .zip(&dirs)
            .map(|(p, dir)| Pkg {
                dir: dir.clone(),
                features: p["features"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), strings(v))).collect())
                    .unwrap_or_default(),
                deps: p["dependencies"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|d| Dep {
                                package: d["path"]
                                    .as_str()
                                    .and_then(|path| dirs.iter().position(|x| x == Path::new(path))),
                                name: d["rename"]
                                    .as_str()
                                    .or_else(|| d["name"].as_str())
                                    .unwrap_or_default()
                                    .to_string(),
                                features: strings(&d["features"]),
                                default: d["uses_default_features"].as_bool().unwrap_or(true),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        let mut on: Vec<BTreeSet<String>> = pkgs.iter().map(|_| BTreeSet::from(["default".to_string()])).collect();
        for p in &pkgs {
            for d in &p.deps {
                if let Some(i) = d.package {
                    on[i].extend(d.features.iter().cloned());
                    if d.default {
                        on[i].insert("default".to_string());
                    }
                }
            }
        }
        loop {
            let mut changed = false;
            for (i, p) in pkgs.iter().enumerate() {
                for f in on[i].clone() {
                    for entry in p.features.get(&f).into_iter().flatten() {
                        if entry.starts_with("dep:") {
                            continue;
                        }
                        let (target, feature) = match entry.split_once('/') {
                            Some((dep, feat)) => {
                                let dep = dep.trim_end_matches('?');
                                let j = p.deps.iter().find(|d| d.name == dep).and_then(|d| d.package);
                                (j, feat.to_string())
                            }
                            None => (Some(i), entry.clone()),
                        };
                        if let Some(j) = target {
                            changed |= on[j].insert(feature);
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let packages = pkgs
            .iter()
            .zip(on)
            .map(|(p, f)| (p.dir.strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| p.dir.clone()), f))
            .collect();
        Ok(Gates { packages })
    }

    /// The features on for the package holding `file` (the deepest package
    /// folder it is in); none when it is in no package.
    pub(super) fn features_for(&self, file: &str) -> BTreeSet<String> {
        self.packages
            .iter()
            .filter(|(dir, _)| Path::new(file).starts_with(dir))
            .max_by_key(|(dir, _)| dir.components().count())
            .map(|(_, f)| f.clone())
            .unwrap_or_default()
    }
}
