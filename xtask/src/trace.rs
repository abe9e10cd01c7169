//! `cargo xtask trace [--check]`: every security requirement tied to a test.
//!
//! Reads `docs/security/requirements.toml` (the small TOML subset described at
//! the top of that file, parsed here without a TOML crate), checks it, and
//! writes `docs/security/traceability.md`. It fails when
//!
//! * an id of the full list ([`ids`]) is missing, unknown or repeated;
//! * a status, origin or key is not one of the known values;
//! * a requirement marked `implemented` names no test;
//! * a named test does not exist: the file must contain `fn <name>(` with a
//!   `#[test]` attribute among the attribute and comment lines just above it;
//! * a named code path does not exist;
//! * with `--check`, the table it would write differs from the committed one.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::util;

const REQUIREMENTS: &str = "docs/security/requirements.toml";
const TABLE: &str = "docs/security/traceability.md";

/// The statuses a requirement may have.
const STATUSES: [&str; 4] = ["implemented", "partial", "not-applicable", "roadmap"];

/// Where a requirement's meaning comes from.
const ORIGINS: [&str; 2] = ["seed", "inferred"];

/// How many lines above `fn name(` the `#[test]` attribute may be.
const ATTRIBUTE_WINDOW: usize = 6;

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

/// A value of the TOML subset.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Str(String),
    List(Vec<String>),
}

/// One `[table]` with its keys in file order, and the line of its header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Table {
    name: String,
    line: usize,
    entries: Vec<(String, Value)>,
}

/// One requirement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Requirement {
    id: String,
    origin: String,
    meaning: String,
    status: String,
    code: Vec<String>,
    tests: Vec<String>,
    checks: Vec<String>,
    note: String,
}

/// Checks the requirements and writes (or, with `check_only`, compares) the table.
pub(crate) fn run(check_only: bool) -> Result<()> {
    let root = util::root();
    let text =
        std::fs::read_to_string(root.join(REQUIREMENTS)).with_context(|| format!("cannot read {REQUIREMENTS}"))?;
    let tables = parse(&text).with_context(|| format!("{REQUIREMENTS} is not in the supported TOML subset"))?;
    let reqs = requirements(&tables).with_context(|| REQUIREMENTS.to_string())?;
    let problems = validate(&reqs, &root);
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

/// Parses the TOML subset: `#` comments, `[name]` headers, and
/// `key = "string"` or `key = ["string", ...]` (arrays may span lines and
/// end with a comma). Strings are basic strings with the escapes
/// `\" \\ \n \t \r \uXXXX`. Every key belongs to a table.
fn parse(text: &str) -> Result<Vec<Table>> {
    let mut p = Parser { chars: text.chars().collect(), pos: 0, line: 1 };
    let mut tables: Vec<Table> = Vec::new();
    loop {
        p.skip_blank();
        let Some(c) = p.peek() else { break };
        match c {
            '\n' => {
                p.bump();
            }
            '#' => p.skip_comment(),
            '[' => {
                let line = p.line;
                p.bump();
                p.skip_spaces();
                let name = p.bare_key().with_context(|| format!("line {line}: table name"))?;
                p.skip_spaces();
                p.expect(']').with_context(|| format!("line {line}: table header"))?;
                p.end_of_line()?;
                if tables.iter().any(|t| t.name == name) {
                    bail!("line {line}: table [{name}] appears twice");
                }
                tables.push(Table { name, line, entries: Vec::new() });
            }
            _ => {
                let line = p.line;
                let key = p.bare_key().with_context(|| format!("line {line}: key"))?;
                p.skip_spaces();
                p.expect('=').with_context(|| format!("line {line}: after key {key:?}"))?;
                p.skip_spaces();
                let value = p.value().with_context(|| format!("line {line}: value of {key:?}"))?;
                p.end_of_line()?;
                let Some(table) = tables.last_mut() else {
                    bail!("line {line}: key {key:?} before any [table]");
                };
                if table.entries.iter().any(|(k, _)| *k == key) {
                    bail!("line {line}: key {key:?} appears twice in [{}]", table.name);
                }
                table.entries.push((key, value));
            }
        }
    }
    Ok(tables)
}

#[derive(Debug)]
struct Parser {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// Spaces, tabs and carriage returns (not newlines).
    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
            self.bump();
        }
    }

    fn skip_blank(&mut self) {
        self.skip_spaces();
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    /// Spaces, newlines and comments (inside an array).
    fn skip_space_lines(&mut self) {
        loop {
            self.skip_spaces();
            match self.peek() {
                Some('\n') => {
                    self.bump();
                }
                Some('#') => self.skip_comment(),
                _ => break,
            }
        }
    }

    fn expect(&mut self, want: char) -> Result<()> {
        match self.peek() {
            Some(c) if c == want => {
                self.bump();
                Ok(())
            }
            Some(c) => bail!("line {}: expected {want:?}, found {c:?}", self.line),
            None => bail!("line {}: expected {want:?}, found the end of the file", self.line),
        }
    }

    /// After a header or a value: only spaces and a comment before the newline.
    fn end_of_line(&mut self) -> Result<()> {
        self.skip_spaces();
        match self.peek() {
            None | Some('\n') => Ok(()),
            Some('#') => {
                self.skip_comment();
                Ok(())
            }
            Some(c) => bail!("line {}: unexpected {c:?} after the value", self.line),
        }
    }

    fn bare_key(&mut self) -> Result<String> {
        let mut key = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                key.push(c);
                self.bump();
            } else {
                break;
            }
        }
        if key.is_empty() {
            match self.peek() {
                Some(c) => bail!("line {}: expected a bare key (A-Z a-z 0-9 _ -), found {c:?}", self.line),
                None => bail!("line {}: expected a bare key, found the end of the file", self.line),
            }
        }
        Ok(key)
    }

    fn value(&mut self) -> Result<Value> {
        match self.peek() {
            Some('"') => Ok(Value::Str(self.string()?)),
            Some('[') => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    self.skip_space_lines();
                    match self.peek() {
                        Some(']') => {
                            self.bump();
                            break;
                        }
                        None => bail!("unterminated array at the end of the file"),
                        Some(_) => items.push(self.string()?),
                    }
                    self.skip_space_lines();
                    match self.bump() {
                        Some(',') => {}
                        Some(']') => break,
                        Some(c) => bail!("line {}: expected ',' or ']' in an array, found {c:?}", self.line),
                        None => bail!("unterminated array at the end of the file"),
                    }
                }
                Ok(Value::List(items))
            }
            Some(c) => {
                bail!("line {}: only \"strings\" and [\"string\", ...] arrays are supported, found {c:?}", self.line)
            }
            None => bail!("missing value at the end of the file"),
        }
    }

    fn string(&mut self) -> Result<String> {
        let line = self.line;
        self.expect('"')?;
        let mut s = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => bail!("line {line}: unterminated string"),
                Some('"') => return Ok(s),
                Some('\\') => {
                    let c = match self.bump() {
                        Some('"') => '"',
                        Some('\\') => '\\',
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('u') => {
                            let hex: String = (0..4).filter_map(|_| self.bump()).collect();
                            u32::from_str_radix(&hex, 16)
                                .ok()
                                .filter(|_| hex.len() == 4)
                                .and_then(char::from_u32)
                                .with_context(|| format!("line {line}: bad \\u escape {hex:?}"))?
                        }
                        Some(c) => bail!("line {line}: unsupported escape \\{c}"),
                        None => bail!("line {line}: unterminated string"),
                    };
                    s.push(c);
                }
                Some(c) if c.is_control() && c != '\t' => bail!("line {line}: control character in a string"),
                Some(c) => s.push(c),
            }
        }
    }
}

// ---------------------------------------------------------------- checking

fn requirements(tables: &[Table]) -> Result<Vec<Requirement>> {
    let mut out = Vec::new();
    for t in tables {
        let mut r = Requirement { id: t.name.clone(), ..Requirement::default() };
        for (key, value) in &t.entries {
            let ctx = || format!("[{}] (line {}): {key}", t.name, t.line);
            match (key.as_str(), value) {
                ("origin", Value::Str(s)) => r.origin.clone_from(s),
                ("meaning", Value::Str(s)) => r.meaning.clone_from(s),
                ("status", Value::Str(s)) => r.status.clone_from(s),
                ("note", Value::Str(s)) => r.note.clone_from(s),
                ("code", Value::List(v)) => r.code.clone_from(v),
                ("tests", Value::List(v)) => r.tests.clone_from(v),
                ("checks", Value::List(v)) => r.checks.clone_from(v),
                ("origin" | "meaning" | "status" | "note", Value::List(_)) => bail!("{}: must be a string", ctx()),
                ("code" | "tests" | "checks", Value::Str(_)) => bail!("{}: must be an array of strings", ctx()),
                _ => bail!("{}: unknown key (known: origin, meaning, status, code, tests, checks, note)", ctx()),
            }
        }
        out.push(r);
    }
    Ok(out)
}

/// Every problem found, as messages (empty when all is well).
fn validate(reqs: &[Requirement], root: &Path) -> Vec<String> {
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
        for t in &r.tests {
            if let Err(e) = test_exists(root, t) {
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

/// Whether `spec` (`path/to/file.rs::test_name`) names a `#[test]` function.
fn test_exists(root: &Path, spec: &str) -> Result<()> {
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
    if has_test_fn(&text, name) { Ok(()) } else { bail!("no #[test] fn {name}( in {file}") }
}

/// Whether `text` has `fn name(` with `#[test]` among the attribute, comment
/// and blank lines at most [`ATTRIBUTE_WINDOW`] lines above it.
fn has_test_fn(text: &str, name: &str) -> bool {
    let needle = format!("fn {name}(");
    let lines: Vec<&str> = text.lines().collect();
    lines.iter().enumerate().any(|(i, line)| {
        let t = line.trim_start();
        let is_decl = t.starts_with(&needle)
            || t.strip_prefix("pub ").or_else(|| t.strip_prefix("pub(crate) ")).is_some_and(|r| r.starts_with(&needle));
        if !is_decl {
            return false;
        }
        for above in lines[i.saturating_sub(ATTRIBUTE_WINDOW)..i].iter().rev() {
            let a = above.trim();
            if a == "#[test]" {
                return true;
            }
            if !(a.is_empty() || a.starts_with("#[") || a.starts_with("//")) {
                return false;
            }
        }
        false
    })
}

// ---------------------------------------------------------------- the table

fn cell(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace('\n', " ")
}

fn code_list(items: &[String]) -> String {
    items.iter().map(|i| format!("`{}`", cell(i))).collect::<Vec<_>>().join("<br>")
}

fn render(reqs: &[Requirement]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Traceability: security requirements to tests\n");
    let _ = writeln!(
        s,
        "Generated by `cargo xtask trace` from [requirements.toml](requirements.toml); do not edit by hand.\n\
         `cargo xtask trace --check` (run by `cargo xtask ci`) fails when this file is out of date, when an\n\
         `implemented` requirement names no test, or when a named test does not exist.\n"
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
            let _ =
                writeln!(s, "| id | meaning | status | tests | code and checks | note |\n|---|---|---|---|---|---|");
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
            code_list(&r.tests),
            code,
            cell(&r.note)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strings_arrays_and_comments() {
        let text = "# header comment\n\n[CV-1]  # trailing comment\norigin = \"seed\"\nmeaning = \"a \\\"quoted\\\" \\\\ word\\u00e9\"\ntests = [\n  \"a.rs::x\", # one\n  # between\n  \"b.rs::y\",\n]\ncode = []\n[CV-2]\nnote=\"n\"\n";
        let t = parse(text).expect("parses");
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].name, "CV-1");
        assert_eq!(t[0].line, 3);
        assert_eq!(t[0].entries[0], ("origin".into(), Value::Str("seed".into())));
        assert_eq!(t[0].entries[1], ("meaning".into(), Value::Str("a \"quoted\" \\ word\u{e9}".into())));
        assert_eq!(t[0].entries[2], ("tests".into(), Value::List(vec!["a.rs::x".into(), "b.rs::y".into()])));
        assert_eq!(t[0].entries[3], ("code".into(), Value::List(vec![])));
        assert_eq!(t[1].entries, vec![("note".into(), Value::Str("n".into()))]);
    }

    #[test]
    fn rejects_what_is_outside_the_subset() {
        for (text, needle) in [
            ("key = \"v\"\n", "before any [table]"),
            ("[A]\nk = \"unterminated\n", "unterminated string"),
            ("[A]\nk = 3\n", "only \"strings\""),
            ("[A]\nk = \"a\" \"b\"\n", "after the value"),
            ("[A]\nk = [\"a\" \"b\"]\n", "expected ',' or ']'"),
            ("[A]\nk = [\"a\",\n", "unterminated array"),
            ("[A]\nk = \"\\x\"\n", "unsupported escape"),
            ("[A]\nk = \"a\"\nk = \"b\"\n", "appears twice"),
            ("[A]\n[A]\n", "appears twice"),
            ("[A.b]\n", "expected ']'"),
            ("[A]\nk = \"\\u12\"\n", "bad \\u escape"),
        ] {
            let e = parse(text).expect_err(text);
            let msg = format!("{e:#}");
            assert!(msg.contains(needle), "{text:?}: {msg}");
        }
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors() {
        let t = parse("[CV-1]\nstatus = [\"implemented\"]\n").expect("parses");
        assert!(format!("{:#}", requirements(&t).expect_err("list status")).contains("must be a string"));
        let t = parse("[CV-1]\ntests = \"a.rs::b\"\n").expect("parses");
        assert!(format!("{:#}", requirements(&t).expect_err("string tests")).contains("array"));
        let t = parse("[CV-1]\nstatuss = \"implemented\"\n").expect("parses");
        assert!(format!("{:#}", requirements(&t).expect_err("typo")).contains("unknown key"));
    }

    #[test]
    fn finds_test_functions_only_under_a_test_attribute() {
        let text = "#[test]\nfn plain() {}\n\n/// doc\n#[test]\n#[cfg(unix)]\n// note\nfn with_attrs() {}\n\n\
                    fn helper() {}\n#[test]\nfn other() {}\nfn not_a_test() {}\n    #[test]\n    fn indented() {}\n\
                    #[test]\nfn prefix_longer() {}\n";
        assert!(has_test_fn(text, "plain"));
        assert!(has_test_fn(text, "with_attrs"));
        assert!(has_test_fn(text, "indented"));
        assert!(!has_test_fn(text, "helper"));
        assert!(!has_test_fn(text, "not_a_test"), "a fn right after another test's body is not a test");
        assert!(!has_test_fn(text, "prefix"), "fn prefix( does not match fn prefix_longer(");
        assert!(!has_test_fn(text, "missing"));
    }

    #[test]
    fn validation_reports_missing_ids_bad_status_and_untested_implemented() {
        let root = util::root();
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
                tests: vec!["xtask/src/trace.rs::no_such_test".into(), "nowhere".into()],
                code: vec!["no/such/path".into()],
                ..Requirement::default()
            },
        ];
        let p = validate(&reqs, &root).join("\n");
        for needle in [
            "CV-1: marked implemented but names no test",
            "CV-2: status \"done\"",
            "CV-2: origin \"guessed\"",
            "XX-1: unknown id",
            "no #[test] fn no_such_test(",
            "not of the form",
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
            tests: vec!["xtask/src/trace.rs::finds_test_functions_only_under_a_test_attribute".into()],
            code: vec!["xtask/src/trace.rs".into()],
            ..Requirement::default()
        };
        let p = validate(&[ok], &root);
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
    fn table_escapes_pipes_and_marks_inferred_ids() {
        let reqs = vec![Requirement {
            id: "CV-7".into(),
            origin: "inferred".into(),
            meaning: "a | b".into(),
            status: "partial".into(),
            tests: vec!["f.rs::t".into()],
            checks: vec!["cargo xtask layers".into()],
            ..Requirement::default()
        }];
        let t = render(&reqs);
        assert!(t.contains("| CV-7 | *(inferred)* a \\| b | partial | `f.rs::t` | `cargo xtask layers` |"), "{t}");
        assert!(t.contains("| partial | 1 |"), "{t}");
    }
}
