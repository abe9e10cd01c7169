//! Checking the requirements: ids, statuses, links, tests that run in CI, code paths.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::cfg::{Gates, parse_cfg};
use super::rust::{Header, headers, inner_attributes, item};
use super::{MAX_WHAT, ORIGINS, Requirement, STATUSES, ids};

/// Every problem found, as messages (empty when all is well).
pub(super) fn validate(reqs: &[Requirement], root: &Path, gates: &Gates) -> Vec<String> {
    let mut problems = Vec::new();
    let all = ids();
    let known: BTreeSet<&str> = all.iter().map(String::as_str).collect();
    let present: BTreeSet<&str> = reqs.iter().map(|r| r.id.as_str()).collect();
    for id in &all {
        if !present.contains(id.as_str()) {
            problems.push(format!("{id}: missing (every id of the seed list must be present)"));
        }
    }
    for r in reqs {
        let id = &r.id;
        if !known.contains(id.as_str()) {
            problems.push(format!("{id}: unknown id"));
        }
        if r.meaning.trim().is_empty() {
            problems.push(format!("{id}: no meaning"));
        }
        if !ORIGINS.contains(&r.origin.as_str()) {
            problems.push(format!("{id}: origin {:?} is not one of {}", r.origin, ORIGINS.join(", ")));
        }
        if !STATUSES.contains(&r.status.as_str()) {
            problems.push(format!("{id}: status {:?} is not one of {}", r.status, STATUSES.join(", ")));
        }
        if r.status == "implemented" && r.tests.is_empty() {
            problems.push(format!("{id}: marked implemented but names no test"));
        }
        let mut seen = BTreeSet::new();
        for l in &r.tests {
            let t = &l.test;
            if !seen.insert(t.as_str()) {
                problems.push(format!("{id}: test {t} is linked twice"));
            }
            if l.what.trim().is_empty() {
                problems.push(format!("{id}: test {t}: no `what`"));
            } else if l.what.chars().count() > MAX_WHAT {
                problems.push(format!(
                    "{id}: test {t}: `what` is longer than {MAX_WHAT} characters: say it in a few words"
                ));
            }
            if let Err(e) = check_test(root, t, gates) {
                problems.push(format!("{id}: test {t}: {e}"));
            }
        }
        for c in &r.code {
            if c.is_empty() || c.contains("..") || Path::new(c).is_absolute() || !root.join(c).exists() {
                problems.push(format!("{id}: code path {c:?} does not exist in the repository"));
            }
        }
    }
    problems
}

/// Whether `spec` (`path/to/file.rs::test_name`) names a `#[test]` function
/// that CI runs.
pub(super) fn check_test(root: &Path, spec: &str, gates: &Gates) -> Result<()> {
    let Some((file, name)) = spec.rsplit_once("::") else {
        bail!("not of the form path/to/file.rs::test_name");
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("{name:?} is not a function name");
    }
    if file.contains("..") || Path::new(file).is_absolute() || !file.ends_with(".rs") {
        bail!("{file:?} is not a .rs path inside the repository");
    }
    let text = std::fs::read_to_string(root.join(file)).with_context(|| format!("cannot read {file}"))?;
    let hs = headers(&text);
    let Some(h) = find_test(&hs, name) else { bail!("no #[test] fn {name}( in {file}") };
    let features = gates.features_for(file);
    if let Some(why) = gate_problem(&hs, h, &features) {
        bail!("{why}: CI's `cargo test --workspace` does not run it");
    }
    // The `mod` declarations that bring the file into its crate.
    let mut child = PathBuf::from(file);
    while let Some((parent, module)) = declaration(root, &child) {
        let text = std::fs::read_to_string(root.join(&parent)).with_context(|| format!("cannot read {parent:?}"))?;
        let hs = headers(&text);
        let Some(d) = hs.iter().position(|x| !x.block && declares_mod(&item(&x.text).1, &module)) else { break };
        if let Some(why) = gate_problem(&hs, d, &features) {
            bail!(
                "the declaration of its module in {}: {why}: CI's `cargo test --workspace` does not run it",
                parent.display()
            );
        }
        child = parent;
    }
    Ok(())
}

/// Whether `text` has `fn name(` under a `#[test]` attribute.
#[cfg(test)]
pub(super) fn has_test_fn(text: &str, name: &str) -> bool {
    find_test(&headers(text), name).is_some()
}

/// The header of `fn name` with a `#[test]` attribute.
pub(super) fn find_test(hs: &[Header], name: &str) -> Option<usize> {
    hs.iter().position(|h| {
        let (attrs, rest) = item(&h.text);
        h.block && attrs.iter().any(|a| a == "test") && is_fn(&rest, name)
    })
}

/// An item's text (attributes removed) without its visibility and qualifiers.
pub(super) fn unqualified(rest: &str) -> String {
    let mut words = rest.split_whitespace().peekable();
    while let Some(w) = words.peek() {
        if ["pub", "async", "const", "unsafe"].contains(w) || w.starts_with("pub(") {
            words.next();
        } else {
            break;
        }
    }
    words.collect::<Vec<_>>().join(" ")
}

/// Whether an item's text (attributes removed) declares `fn name`.
pub(super) fn is_fn(rest: &str, name: &str) -> bool {
    unqualified(rest)
        .strip_prefix("fn ")
        .is_some_and(|r| r.strip_prefix(name).is_some_and(|after| after.trim_start().starts_with(['(', '<'])))
}

/// Whether an item's text (attributes removed) is `mod name`.
pub(super) fn declares_mod(rest: &str, name: &str) -> bool {
    unqualified(rest) == format!("mod {name}")
}

/// Why the item of header `h` would not run in CI, if it would not: its own
/// attributes, those of each enclosing `mod` and the inner attributes
/// (`#![..]`) of the file and of those `mod`s.
pub(super) fn gate_problem(hs: &[Header], h: usize, features: &BTreeSet<String>) -> Option<String> {
    let mut attrs: Vec<(String, String)> = Vec::new();
    let (own, _) = item(&hs[h].text);
    attrs.extend(own.into_iter().map(|a| (a, "the test".to_string())));
    for &m in &hs[h].enclosing {
        let (outer, rest) = item(&hs[m].text);
        attrs.extend(outer.into_iter().map(|a| (a, format!("the enclosing `{rest}`"))));
    }
    // Inner attributes: of the file (no enclosing block) or of an enclosing block.
    for x in hs {
        let applies = match x.enclosing.last() {
            None => true,
            Some(b) => hs[h].enclosing.contains(b),
        };
        if applies {
            attrs.extend(inner_attributes(&x.text).into_iter().map(|a| (a, "the file or module (#![..])".to_string())));
        }
    }
    for (a, on) in attrs {
        let word = a.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or_default();
        match word {
            "ignore" => return Some(format!("{on} is #[{a}]")),
            "cfg_attr" if a.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|w| w == "ignore") => {
                return Some(format!("{on} is ignored under a cfg (#[{a}])"));
            }
            "cfg" => {
                let inner = a.strip_prefix("cfg").map(str::trim).and_then(|r| r.strip_prefix('(')?.strip_suffix(')'));
                let on_in_ci = inner.and_then(|i| parse_cfg(i).ok()).is_some_and(|c| c.enabled(features));
                if !on_in_ci {
                    return Some(format!("{on} is gated by #[{a}]"));
                }
            }
            _ => {}
        }
    }
    None
}

/// The file that declares the module in `file` with `mod name;`, and
/// `name`; `None` for a crate root (`lib.rs`, `main.rs`, a file directly in
/// `tests/`, `examples/` or `benches/`) or when no declaring file exists.
pub(super) fn declaration(root: &Path, file: &Path) -> Option<(PathBuf, String)> {
    let stem = file.file_stem()?.to_str()?;
    let dir = file.parent()?;
    let dir_name = dir.file_name().and_then(|d| d.to_str()).unwrap_or_default();
    if (dir_name == "src" && (stem == "lib" || stem == "main")) || ["tests", "examples", "benches"].contains(&dir_name)
    {
        return None;
    }
    let (name, home) = if stem == "mod" { (dir_name.to_string(), dir.parent()?) } else { (stem.to_string(), dir) };
    let home_name = home.file_name().and_then(|d| d.to_str()).unwrap_or_default();
    let candidates: Vec<PathBuf> = if home_name == "src" {
        vec![home.join("lib.rs"), home.join("main.rs")]
    } else {
        vec![home.with_extension("rs"), home.join("mod.rs")]
    };
    candidates.into_iter().filter(|c| c != file).find_map(|c| {
        let text = std::fs::read_to_string(root.join(&c)).ok()?;
        let declared = headers(&text).iter().any(|h| !h.block && declares_mod(&item(&h.text).1, &name));
        declared.then(|| (c, name.clone()))
    })
}
