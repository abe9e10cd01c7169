//! `cargo xtask trace [--check]`: every security requirement tied to tests
//! that run in CI and say what they assert.
//!
//! Reads `docs/security/requirements.toml` (with the `toml` crate; the keys
//! are described at the top of that file), checks it, and writes
//! `docs/security/traceability.md`. It fails when
//!
//! * the file is not TOML, or an `[ID]` table has a key that is not one of
//!   the known ones or a value of the wrong type;
//! * an id of the full list ([`ids`]) is missing, unknown or repeated;
//! * a status or origin is not one of the known values;
//! * a requirement marked `implemented` names no test;
//! * a test link is not `{ test = "path/to/file.rs::name", what = "..." }`,
//!   or its `what` (a few words on what the test asserts) is empty or long;
//! * a named test does not exist: the file must contain `fn <name>(` under a
//!   `#[test]` attribute;
//! * a named test would not run in CI ([`gate_problem`](check::gate_problem)): it is `#[ignore]`d
//!   (directly or through `cfg_attr`), or it, a `mod` around it, the `mod`
//!   declaration of its file or its file (`#![cfg(..)]`) is gated by a `cfg`
//!   that CI's `cargo test --locked --workspace` does not turn on;
//! * a named code path does not exist;
//! * with `--check`, the table it would write differs from the committed one.
//!
//! Which `cfg`s a test may sit under (the decision): `test`, and
//! `feature = "x"` when `x` is on for the test's package in
//! `cargo test --workspace`: its default features, the features any
//! workspace member asks of it (dependencies and dev-dependencies, a
//! package's own dev-dependency on itself included), and what those turn on
//! (read from `cargo metadata`, [`Gates`]). `all(..)` needs every part on,
//! `any(..)` one. Every other `cfg` (`unix`, `target_os = ".."`, `not(..)`,
//! custom ones) is refused: a link must hold wherever `cargo xtask ci` runs.

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::util;

mod cfg;
mod check;
mod parse;
mod rust;
mod table;
#[cfg(test)]
mod tests;

use cfg::Gates;
use check::validate;
use parse::parse;
use table::render;

const REQUIREMENTS: &str = "docs/security/requirements.toml";
const TABLE: &str = "docs/security/traceability.md";

/// The statuses a requirement may have.
const STATUSES: [&str; 4] = ["implemented", "partial", "not-applicable", "roadmap"];

/// Where a requirement's meaning comes from.
const ORIGINS: [&str; 2] = ["seed", "inferred"];

/// The longest `what` of a link: a few words, not a paragraph.
const MAX_WHAT: usize = 200;

/// Every requirement id, in the order of the table: the full list of the
/// seed security model.
pub(crate) fn ids() -> Vec<String> {
    let groups: [(&str, usize, usize); 8] = [
        ("CV", 8, 1),
        ("CR", 11, 1),
        ("CD", 9, 1),
        ("SP", 8, 1),
        ("CG", 8, 1),
        ("TS", 18, 3),
        ("RR", 6, 1),
        ("FEAT", 5, 1),
    ];
    let mut out = Vec::new();
    for (prefix, count, width) in groups {
        for n in 1..=count {
            out.push(format!("{prefix}-{n:0width$}"));
        }
    }
    out
}

/// What each id group is, for the table's headings.
fn group_title(prefix: &str) -> &'static str {
    match prefix {
        "CV" => "CV: verification procedures",
        "CR" => "CR: cybersecurity requirements",
        "CD" => "CD: cybersecurity design (key lifecycle, pinning)",
        "SP" => "SP: security properties",
        "CG" => "CG: cybersecurity goals",
        "TS" => "TS: threat scenarios",
        "RR" => "RR: residual risks",
        "FEAT" => "FEAT: roadmap features",
        _ => "other",
    }
}

/// A requirement's link to a test, with what the test asserts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Link {
    /// `path/to/file.rs::test_name`.
    test: String,
    /// What the test asserts, in a few words.
    #[serde(default)]
    what: String,
}

/// One requirement: an `[ID]` table of requirements.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Requirement {
    /// The table's name.
    #[serde(skip)]
    id: String,
    origin: String,
    meaning: String,
    status: String,
    code: Vec<String>,
    tests: Vec<Link>,
    checks: Vec<String>,
    note: String,
}

/// Checks the requirements and writes (or, with `check_only`, compares) the table.
pub(crate) fn run(check_only: bool) -> Result<()> {
    let root = util::root();
    let text =
        std::fs::read_to_string(root.join(REQUIREMENTS)).with_context(|| format!("cannot read {REQUIREMENTS}"))?;
    let reqs = parse(&text).with_context(|| REQUIREMENTS.to_string())?;
    let gates = Gates::from_cargo_metadata(&root)?;
    let problems = validate(&reqs, &root, &gates);
    if !problems.is_empty() {
        bail!("{REQUIREMENTS}: {} problem(s):\n  {}", problems.len(), problems.join("\n  "));
    }
    let table = render(&reqs);
    let path = root.join(TABLE);
    if check_only {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != table {
            bail!("{TABLE} is out of date with {REQUIREMENTS}: run `cargo xtask trace` and commit the result");
        }
        eprintln!("trace: {} requirements checked; {TABLE} is up to date", reqs.len());
    } else {
        std::fs::write(&path, &table).with_context(|| format!("cannot write {TABLE}"))?;
        eprintln!("trace: {} requirements checked; {TABLE} written", reqs.len());
    }
    Ok(())
}
