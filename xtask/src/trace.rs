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
//! * a named test would not run in CI ([`gate_problem`]): it is `#[ignore]`d
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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::util;

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

// ---------------------------------------------------------------- parsing

/// Parses requirements.toml: one `[ID]` table per requirement with the keys
/// of [`Requirement`] (a misspelt or unknown key is an error), each test link
/// an inline table `{ test = "path/to/file.rs::name", what = "..." }` whose
/// `what` is not blank. The requirements come out sorted by id text; the
/// table is rendered in the order of [`ids`].
fn parse(text: &str) -> Result<Vec<Requirement>> {
    let tables: BTreeMap<String, Requirement> = toml::from_str(text).context(
        "not a table of [ID] requirements (keys: origin, meaning, status, code, tests, checks, note; \
         each test link { test = \"path/to/file.rs::name\", what = \"what it asserts\" })",
    )?;
    let mut out = Vec::with_capacity(tables.len());
    for (id, mut r) in tables {
        for (i, l) in r.tests.iter().enumerate() {
            if l.test.trim().is_empty() {
                bail!("[{id}]: tests: link {}: no `test`", i + 1);
            }
            if l.what.trim().is_empty() {
                bail!(
                    "[{id}]: tests: link {}: {}: no `what` (say in a few words what the test asserts)",
                    i + 1,
                    l.test
                );
            }
        }
        r.id = id;
        out.push(r);
    }
    Ok(out)
}

// ---------------------------------------------------------------- checking

/// Every problem found, as messages (empty when all is well).
fn validate(reqs: &[Requirement], root: &Path, gates: &Gates) -> Vec<String> {
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
fn check_test(root: &Path, spec: &str, gates: &Gates) -> Result<()> {
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
fn has_test_fn(text: &str, name: &str) -> bool {
    find_test(&headers(text), name).is_some()
}

/// The header of `fn name` with a `#[test]` attribute.
fn find_test(hs: &[Header], name: &str) -> Option<usize> {
    hs.iter().position(|h| {
        let (attrs, rest) = item(&h.text);
        h.block && attrs.iter().any(|a| a == "test") && is_fn(&rest, name)
    })
}

/// An item's text (attributes removed) without its visibility and qualifiers.
fn unqualified(rest: &str) -> String {
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
fn is_fn(rest: &str, name: &str) -> bool {
    unqualified(rest)
        .strip_prefix("fn ")
        .is_some_and(|r| r.strip_prefix(name).is_some_and(|after| after.trim_start().starts_with(['(', '<'])))
}

/// Whether an item's text (attributes removed) is `mod name`.
fn declares_mod(rest: &str, name: &str) -> bool {
    unqualified(rest) == format!("mod {name}")
}

/// Why the item of header `h` would not run in CI, if it would not: its own
/// attributes, those of each enclosing `mod` and the inner attributes
/// (`#![..]`) of the file and of those `mod`s.
fn gate_problem(hs: &[Header], h: usize, features: &BTreeSet<String>) -> Option<String> {
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
fn declaration(root: &Path, file: &Path) -> Option<(PathBuf, String)> {
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

// ---------------------------------------------------------------- reading Rust, lightly

/// An item header: the code after the previous `;`, `{` or `}` up to the
/// `{` or `;` that ends it, comments removed (string literals kept).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Header {
    text: String,
    /// Ended by `{` (a block follows) rather than `;`.
    block: bool,
    /// The headers of the blocks open around it, outermost first.
    enclosing: Vec<usize>,
}

/// Every header of `text`, in order. Knows line and block comments, string,
/// raw string, byte string and char literals, and lifetimes; enough for
/// attributes, `mod` and `fn` items.
fn headers(text: &str) -> Vec<Header> {
    let c: Vec<char> = text.chars().collect();
    let mut out: Vec<Header> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut cur = String::new();
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        match ch {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
                cur.push(' ');
                continue;
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                let mut depth = 0;
                while i < c.len() {
                    if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                cur.push(' ');
                continue;
            }
            '"' => {
                cur.push('"');
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' && i + 1 < c.len() {
                        cur.push(c[i]);
                        i += 1;
                    }
                    cur.push(c[i]);
                    i += 1;
                }
                cur.push('"');
                i += 1;
                continue;
            }
            'r' if {
                let before = if i > 0 { c[i - 1] } else { ' ' };
                let raw_start = !is_ident(before) || (before == 'b' && (i < 2 || !is_ident(c[i - 2])));
                let mut j = i + 1;
                while c.get(j) == Some(&'#') {
                    j += 1;
                }
                raw_start && c.get(j) == Some(&'"')
            } =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while c[j] == '#' {
                    hashes += 1;
                    j += 1;
                }
                cur.push('"');
                j += 1;
                while j < c.len() {
                    if c[j] == '"' && (0..hashes).all(|k| c.get(j + 1 + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    cur.push(c[j]);
                    j += 1;
                }
                cur.push('"');
                i = j;
                continue;
            }
            '\'' => {
                // A char literal ('x', '\n', '\''), else a lifetime.
                if c.get(i + 1) == Some(&'\\') {
                    let mut j = i + 3;
                    while j < c.len() && c[j] != '\'' {
                        j += 1;
                    }
                    cur.push_str("' '");
                    i = j + 1;
                    continue;
                }
                if c.get(i + 2) == Some(&'\'') {
                    cur.push_str("' '");
                    i += 3;
                    continue;
                }
                cur.push('\'');
            }
            '{' => {
                out.push(Header { text: cur.trim().to_string(), block: true, enclosing: stack.clone() });
                stack.push(out.len() - 1);
                cur.clear();
            }
            '}' => {
                stack.pop();
                cur.clear();
            }
            ';' => {
                if !cur.trim().is_empty() {
                    out.push(Header { text: cur.trim().to_string(), block: false, enclosing: stack.clone() });
                }
                cur.clear();
            }
            _ => cur.push(ch),
        }
        i += 1;
    }
    out
}

/// The outer attributes at the start of a header (their text inside
/// `#[..]`, trimmed) and the item after them, its words joined by single
/// spaces. Inner attributes (`#![..]`) are skipped.
fn item(header: &str) -> (Vec<String>, String) {
    let mut attrs = Vec::new();
    let mut rest = header.trim_start();
    loop {
        let (inner, after) = if let Some(r) = rest.strip_prefix("#!") {
            (true, r.trim_start())
        } else if let Some(r) = rest.strip_prefix('#') {
            (false, r.trim_start())
        } else {
            break;
        };
        let Some(body) = after.strip_prefix('[') else { break };
        let Some(end) = closing_bracket(body) else { break };
        if !inner {
            attrs.push(body[..end].trim().to_string());
        }
        rest = body[end + 1..].trim_start();
    }
    (attrs, rest.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The inner attributes (`#![..]`) among the attributes at the start of a header.
fn inner_attributes(header: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = header.trim_start();
    while let Some(r) = rest.strip_prefix('#') {
        let (inner, r) = match r.trim_start().strip_prefix('!') {
            Some(r) => (true, r.trim_start()),
            None => (false, r.trim_start()),
        };
        let Some(body) = r.strip_prefix('[') else { break };
        let Some(end) = closing_bracket(body) else { break };
        if inner {
            out.push(body[..end].trim().to_string());
        }
        rest = body[end + 1..].trim_start();
    }
    out
}

/// The index of the `]` closing an attribute whose text starts `s` (after
/// its `[`), skipping nested brackets and strings.
fn closing_bracket(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    for (i, ch) in s.char_indices() {
        if in_str {
            match (escaped, ch) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match ch {
            '"' => in_str = true,
            '[' | '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ']' if depth == 0 => return Some(i),
            ']' => depth -= 1,
            _ => {}
        }
    }
    None
}

// ---------------------------------------------------------------- cfg and features

/// A `cfg(..)` predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cfg {
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
    fn enabled(&self, features: &BTreeSet<String>) -> bool {
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
fn parse_cfg(s: &str) -> Result<Cfg> {
    let mut p = CfgParser { s: s.as_bytes(), pos: 0 };
    let c = p.predicate()?;
    p.space();
    if p.pos != p.s.len() {
        bail!("unexpected text in cfg({s})");
    }
    Ok(c)
}

struct CfgParser<'a> {
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
struct Gates {
    packages: Vec<(PathBuf, BTreeSet<String>)>,
}

impl Gates {
    /// From `cargo metadata --no-deps` of the workspace.
    fn from_cargo_metadata(root: &Path) -> Result<Gates> {
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
    fn from_metadata(json: &serde_json::Value, root: &Path) -> Result<Gates> {
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
    fn features_for(&self, file: &str) -> BTreeSet<String> {
        self.packages
            .iter()
            .filter(|(dir, _)| Path::new(file).starts_with(dir))
            .max_by_key(|(dir, _)| dir.components().count())
            .map(|(_, f)| f.clone())
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------- the table

fn cell(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace('\n', " ")
}

fn code_list(items: &[String]) -> String {
    items.iter().map(|i| format!("`{}`", cell(i))).collect::<Vec<_>>().join("<br>")
}

fn test_list(links: &[Link]) -> String {
    links.iter().map(|l| format!("`{}`: {}", cell(&l.test), cell(&l.what))).collect::<Vec<_>>().join("<br>")
}

fn render(reqs: &[Requirement]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Traceability: security requirements to tests\n");
    let _ = writeln!(
        s,
        "Generated by `cargo xtask trace` from [requirements.toml](requirements.toml); do not edit by hand.\n\
         `cargo xtask trace --check` (run by `cargo xtask ci`) fails when this file is out of date, when an\n\
         `implemented` requirement names no test, when a named test does not exist or would not run in CI\n\
         (`#[ignore]`, or a `cfg` that `cargo test --workspace` does not turn on), or when a link does not\n\
         say what its test asserts. Each test is listed with what it asserts.\n"
    );
    let _ = writeln!(s, "| status | count |\n|---|---|");
    for st in STATUSES {
        let n = reqs.iter().filter(|r| r.status == st).count();
        let _ = writeln!(s, "| {st} | {n} |");
    }
    let _ = writeln!(s, "| **total** | {} |", reqs.len());
    let order = ids();
    let mut sorted: Vec<&Requirement> = reqs.iter().collect();
    sorted.sort_by_key(|r| order.iter().position(|i| *i == r.id).unwrap_or(usize::MAX));
    let mut group = String::new();
    for r in sorted {
        let prefix = r.id.split('-').next().unwrap_or_default().to_string();
        if prefix != group {
            let _ = writeln!(s, "\n## {}\n", group_title(&prefix));
            let _ = writeln!(
                s,
                "| id | meaning | status | tests (what each asserts) | code and checks | note |\n|---|---|---|---|---|---|"
            );
            group = prefix;
        }
        let meaning =
            if r.origin == "inferred" { format!("*(inferred)* {}", cell(&r.meaning)) } else { cell(&r.meaning) };
        let mut code = code_list(&r.code);
        if !r.checks.is_empty() {
            if !code.is_empty() {
                code.push_str("<br>");
            }
            code.push_str(&code_list(&r.checks));
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r.id,
            meaning,
            r.status,
            test_list(&r.tests),
            code,
            cell(&r.note)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Why `name` in `text` would not run, with `on` features (None: it runs).
    fn gated(text: &str, name: &str, on: &[&str]) -> Option<String> {
        let hs = headers(text);
        let h = find_test(&hs, name).unwrap_or_else(|| panic!("no test {name}"));
        gate_problem(&hs, h, &features(on))
    }

    #[test]
    fn parses_requirements_with_links_lists_and_comments() {
        let text = "# header comment\n\n[CV-1]  # trailing comment\norigin = \"seed\"\nmeaning = \"a \\\"quoted\\\" \\\\ word\\u00e9\"\ntests = [\n  { test = \"a.rs::x\", what = \"x holds\" }, # one\n  # between\n  {test=\"b.rs::y\",what=\"y, {really}\"},\n]\ncode = []\n[CV-2]\nnote=\"n\"\nchecks = [\"c\", \"d\",]\n";
        let r = parse(text).expect("parses");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].id, "CV-1");
        assert_eq!(r[0].origin, "seed");
        assert_eq!(r[0].meaning, "a \"quoted\" \\ word\u{e9}");
        let link = |t: &str, w: &str| Link { test: t.into(), what: w.into() };
        assert_eq!(r[0].tests, vec![link("a.rs::x", "x holds"), link("b.rs::y", "y, {really}")]);
        assert!(r[0].code.is_empty());
        assert_eq!(r[1].id, "CV-2");
        assert_eq!(r[1].note, "n");
        assert_eq!(r[1].checks, ["c", "d"]);
        assert_eq!(r[1].status, "", "a missing key is empty; validate reports what must be there");
    }

    #[test]
    fn unknown_keys_wrong_types_and_links_without_what_are_errors() {
        for (text, needle) in [
            ("key = \"v\"\n", "invalid type"),
            ("[A]\nk = \"unterminated\n", "TOML parse error"),
            ("[CV-1]\nnote = \"a\"\nnote = \"b\"\n", "duplicate key"),
            ("[CV-1]\n[CV-1]\n", "duplicate key"),
            ("[CV-1]\nstatus = [\"implemented\"]\n", "invalid type"),
            ("[CV-1]\nstatus = 3\n", "invalid type"),
            ("[CV-1]\ncode = \"a.rs\"\n", "invalid type"),
            ("[CV-1]\ntests = \"a.rs::b\"\n", "invalid type"),
            ("[CV-1]\nstatuss = \"implemented\"\n", "unknown field `statuss`"),
            ("[CV-1]\ntests = [\"a.rs::b\"]\n", "each test link { test ="),
            ("[CV-1]\ntests = [{ test = \"a.rs::b\" }]\n", "no `what`"),
            ("[CV-1]\ntests = [{ test = \"a.rs::b\", what = \"  \" }]\n", "no `what`"),
            ("[CV-1]\ntests = [{ what = \"w\" }]\n", "missing field `test`"),
            ("[CV-1]\ntests = [{ test = \" \", what = \"w\" }]\n", "no `test`"),
            ("[CV-1]\ntests = [{ test = \"a.rs::b\", what = \"w\", why = \"y\" }]\n", "unknown field `why`"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(format!("{e:#}").contains(needle), "{text:?}: {e:#}");
        }
        let r = parse("[CV-1]\ntests = [{ test = \"a.rs::b\", what = \"b holds\" }]\n").expect("a link with a what");
        assert_eq!(r[0].tests, vec![Link { test: "a.rs::b".into(), what: "b holds".into() }]);
    }

    #[test]
    fn finds_test_functions_only_under_a_test_attribute() {
        let text = "#[test]\nfn plain() {}\n\n/// doc\n#[test]\n#[allow(unused)]\n// note\nfn with_attrs() {}\n\n\
                    fn helper() {}\n#[test]\nfn other() {}\nfn not_a_test() {}\n    #[test]\n    fn indented() {}\n\
                    #[test]\nfn prefix_longer() {}\n#[test]\npub(crate) fn generic<T>() -> Result<(), String> { Ok(()) }\n\
                    const S: &str = \"#[test] fn in_a_string() {\";\n// #[test]\n// fn commented() {}\n\
                    #[test]\nfn after_braces() { let c = '{'; let s = r#\"}\"#; let l: &'static str = \"\"; }\n\
                    #[test]\nfn last() {}\n";
        for name in ["plain", "with_attrs", "indented", "generic", "after_braces", "last"] {
            assert!(has_test_fn(text, name), "{name}");
        }
        assert!(!has_test_fn(text, "helper"));
        assert!(!has_test_fn(text, "not_a_test"), "a fn right after another test's body is not a test");
        assert!(!has_test_fn(text, "prefix"), "fn prefix( does not match fn prefix_longer(");
        assert!(!has_test_fn(text, "in_a_string"));
        assert!(!has_test_fn(text, "commented"));
        assert!(!has_test_fn(text, "missing"));
    }

    #[test]
    fn ignored_and_cfg_gated_tests_are_refused() {
        let text = "#[test]\nfn runs() {}\n\
                    #[test]\n#[ignore]\nfn ignored() {}\n\
                    #[test]\n#[ignore = \"slow; needs a device\"]\nfn ignored_with_reason() {}\n\
                    #[test]\n#[cfg_attr(not(feature = \"hw\"), ignore)]\nfn conditionally_ignored() {}\n\
                    #[test]\n#[cfg(unix)]\nfn unix_only() {}\n\
                    #[cfg(feature = \"sign\")]\n#[test]\nfn signing() {}\n\
                    #[test]\n#[cfg(all(test, feature = \"sign\"))]\nfn all_on() {}\n\
                    #[test]\n#[cfg(any(windows, feature = \"sign\"))]\nfn any_on() {}\n\
                    #[test]\n#[cfg(not(windows))]\nfn not_windows() {}\n\
                    #[cfg(test)]\nmod tests {\n    #[test]\n    fn unit() {}\n}\n\
                    #[cfg(feature = \"hw\")]\nmod hw {\n    mod inner {\n        #[test]\n        fn deep() {}\n    }\n}\n";
        assert_eq!(gated(text, "runs", &[]), None);
        assert_eq!(gated(text, "unit", &[]), None, "#[cfg(test)] mod tests runs");
        for name in ["ignored", "ignored_with_reason"] {
            assert!(gated(text, name, &["sign", "hw"]).is_some_and(|w| w.contains("#[ignore")), "{name}");
        }
        assert!(gated(text, "conditionally_ignored", &["hw"]).is_some_and(|w| w.contains("ignored under a cfg")));
        assert!(gated(text, "unix_only", &[]).is_some_and(|w| w.contains("#[cfg(unix)]")));
        assert!(gated(text, "not_windows", &[]).is_some());
        assert_eq!(gated(text, "signing", &["default", "sign"]), None);
        assert!(gated(text, "signing", &["default"]).is_some_and(|w| w.contains("feature = \"sign\"")));
        assert_eq!(gated(text, "all_on", &["sign"]), None);
        assert!(gated(text, "all_on", &[]).is_some());
        assert_eq!(gated(text, "any_on", &["sign"]), None);
        assert!(gated(text, "any_on", &[]).is_some());
        assert!(
            gated(text, "deep", &[]).is_some_and(|w| w.contains("the enclosing `mod hw`")),
            "{:?}",
            gated(text, "deep", &[])
        );
        assert_eq!(gated(text, "deep", &["hw"]), None);

        // A file-level gate applies to every test in the file.
        let file = "//! doc\n#![cfg(feature = \"hw\")]\n#![allow(dead_code)]\nuse std::io;\n#[test]\nfn t() {}\n";
        assert!(gated(file, "t", &[]).is_some_and(|w| w.contains("#![..]")));
        assert_eq!(gated(file, "t", &["hw"]), None);
        let file = "#![cfg(test)]\n#[test]\nfn t() {}\n";
        assert_eq!(gated(file, "t", &[]), None);
    }

    #[test]
    fn cfg_expressions_parse_and_only_test_and_ci_features_count() {
        let on = features(&["default", "sign"]);
        for (cfg, enabled) in [
            ("test", true),
            ("feature = \"sign\"", true),
            ("feature=\"pkcs11\"", false),
            ("unix", false),
            ("target_os = \"linux\"", false),
            ("all(test, feature = \"sign\")", true),
            ("all(test, unix)", false),
            ("any(unix, test)", true),
            ("not(feature = \"pkcs11\")", false),
            ("all()", true),
        ] {
            let c = parse_cfg(cfg).unwrap_or_else(|e| panic!("{cfg}: {e}"));
            assert_eq!(c.enabled(&on), enabled, "{cfg}");
        }
        for bad in ["", "all(test", "feature = sign", "maybe(test)", "test test", "not(a, b)"] {
            assert!(parse_cfg(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn features_on_in_ci_come_from_defaults_dependents_and_feature_lists() {
        let root = Path::new("/r");
        let json = serde_json::json!({ "packages": [
            { "name": "cli", "manifest_path": "/r/crates/cli/Cargo.toml",
              "features": { "default": ["hw"], "hw": ["dep:hwlib", "lib/fast"], "extra": [] },
              "dependencies": [
                { "name": "lib", "path": "/r/crates/lib", "features": ["sign"], "uses_default_features": true },
                { "name": "hwlib", "path": "/r/crates/hwlib", "features": [], "uses_default_features": false } ] },
            { "name": "lib", "manifest_path": "/r/crates/lib/Cargo.toml",
              "features": { "default": [], "sign": ["net"], "net": [], "fast": [], "unused": [] },
              "dependencies": [] },
            { "name": "hwlib", "manifest_path": "/r/crates/hwlib/Cargo.toml",
              "features": { "default": ["std"], "std": [], "sim": [] },
              "dependencies": [
                { "name": "hwlib", "path": "/r/crates/hwlib", "features": ["sim"], "uses_default_features": true } ] }
        ]});
        let g = Gates::from_metadata(&json, root).expect("gates");
        assert_eq!(g.features_for("crates/cli/tests/a.rs"), features(&["default", "hw"]));
        assert_eq!(g.features_for("crates/lib/src/x.rs"), features(&["default", "sign", "net", "fast"]));
        assert_eq!(g.features_for("crates/hwlib/tests/sim.rs"), features(&["default", "std", "sim"]));
        assert!(g.features_for("elsewhere/x.rs").is_empty());
    }

    #[test]
    fn declarations_of_modules_are_found_for_src_files_only() {
        let root = util::root();
        let d = declaration(&root, Path::new("xtask/src/trace.rs"));
        assert_eq!(d, Some((PathBuf::from("xtask/src/main.rs"), "trace".to_string())));
        assert_eq!(declaration(&root, Path::new("xtask/src/main.rs")), None);
        assert_eq!(declaration(&root, Path::new("crates/wsc-cli/tests/interop.rs")), None);
    }

    #[test]
    fn validation_reports_missing_ids_bad_status_bad_links_and_untested_implemented() {
        let root = util::root();
        let gates = Gates::default();
        let link = |test: &str, what: &str| Link { test: test.into(), what: what.into() };
        let reqs = vec![
            Requirement {
                id: "CV-1".into(),
                origin: "seed".into(),
                meaning: "m".into(),
                status: "implemented".into(),
                ..Requirement::default()
            },
            Requirement {
                id: "CV-2".into(),
                origin: "guessed".into(),
                meaning: "m".into(),
                status: "done".into(),
                ..Requirement::default()
            },
            Requirement {
                id: "XX-1".into(),
                origin: "seed".into(),
                meaning: "m".into(),
                status: "roadmap".into(),
                tests: vec![
                    link("xtask/src/trace.rs::no_such_test", "nothing"),
                    link("nowhere", "x"),
                    link("xtask/src/trace.rs::id_list_is_complete", &"long ".repeat(50)),
                    link("xtask/src/trace.rs::id_list_is_complete", "twice"),
                ],
                code: vec!["no/such/path".into()],
                ..Requirement::default()
            },
        ];
        let p = validate(&reqs, &root, &gates).join("\n");
        for needle in [
            "CV-1: marked implemented but names no test",
            "CV-2: status \"done\"",
            "CV-2: origin \"guessed\"",
            "XX-1: unknown id",
            "no #[test] fn no_such_test(",
            "not of the form",
            "`what` is longer than",
            "is linked twice",
            "code path \"no/such/path\"",
            "CV-3: missing",
            "FEAT-5: missing",
            "TS-018: missing",
        ] {
            assert!(p.contains(needle), "{needle} not in:\n{p}");
        }
        assert!(!p.contains("CV-1: missing"));
        let ok = Requirement {
            id: "CV-1".into(),
            origin: "seed".into(),
            meaning: "m".into(),
            status: "implemented".into(),
            tests: vec![link("xtask/src/trace.rs::finds_test_functions_only_under_a_test_attribute", "finds test fns")],
            code: vec!["xtask/src/trace.rs".into()],
            ..Requirement::default()
        };
        let p = validate(&[ok], &root, &gates);
        assert!(p.iter().all(|m| m.ends_with("missing (every id of the seed list must be present)")), "{p:?}");
    }

    #[test]
    fn id_list_is_complete() {
        let all = ids();
        assert_eq!(all.len(), 8 + 11 + 9 + 8 + 8 + 18 + 6 + 5);
        for id in ["CV-8", "CR-11", "CD-9", "SP-8", "CG-8", "TS-001", "TS-018", "RR-6", "FEAT-5"] {
            assert!(all.iter().any(|i| i == id), "{id}");
        }
    }

    #[test]
    fn table_escapes_pipes_marks_inferred_ids_and_shows_what_each_test_asserts() {
        let reqs = vec![Requirement {
            id: "CV-7".into(),
            origin: "inferred".into(),
            meaning: "a | b".into(),
            status: "partial".into(),
            tests: vec![
                Link { test: "f.rs::t".into(), what: "t | holds".into() },
                Link { test: "g.rs::u".into(), what: "u holds".into() },
            ],
            checks: vec!["cargo xtask layers".into()],
            ..Requirement::default()
        }];
        let t = render(&reqs);
        assert!(
            t.contains(
                "| CV-7 | *(inferred)* a \\| b | partial | `f.rs::t`: t \\| holds<br>`g.rs::u`: u holds | `cargo xtask layers` |"
            ),
            "{t}"
        );
        assert!(t.contains("| partial | 1 |"), "{t}");
    }
}
