//! The one value tree both formats parse into, its paths, and the two
//! writers (JSON, TOML).
//!
//! TOML goes through the `toml` crate, which refuses a key defined twice
//! (the TOML spec makes it invalid). JSON goes through serde_json with a
//! map visitor of our own that refuses a name given twice in one object:
//! RFC 8259 leaves duplicates undefined, and a plain map keeps the last.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::error::{ErrorCode, Location, PolicyError};

/// Deepest nesting either parser may build; a policy needs four levels.
pub(crate) const MAX_DEPTH: usize = 32;

/// A parsed value. Floats and nulls have no place in a policy and are
/// refused while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    String(String),
    Integer(i64),
    Bool(bool),
    /// A TOML date-time, in its TOML text form.
    Datetime(String),
    Array(Vec<Value>),
    Table(BTreeMap<String, Value>),
}

impl Value {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Bool(_) => "a boolean",
            Value::Datetime(_) => "a date-time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A path in the file: `principals.release-ed.file`, `scopes[0].match`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Path(Vec<Seg>);

impl Path {
    pub(crate) fn root() -> Self {
        Path(Vec::new())
    }

    pub(crate) fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }

    pub(crate) fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

/// Whether a key can be written without quotes (TOML bare key).
pub(crate) fn is_bare_key(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_char('.')?;
                    }
                    if is_bare_key(k) {
                        f.write_str(k)?;
                    } else {
                        write_basic_string(f, k)?;
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Line and column (1-based) of a byte offset.
fn location(text: &str, offset: usize) -> Location {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Location { line, column }
}

/// Parses TOML text.
pub(crate) fn parse_toml(text: &str) -> Result<Value, PolicyError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let code = if e.message().contains("duplicate key") { ErrorCode::DuplicateField } else { ErrorCode::Syntax };
        let mut err = PolicyError::new(code, "", format!("not valid TOML: {}", e.message().trim_end()));
        if let Some(span) = e.span() {
            err = err.at_location(location(text, span.start));
        }
        err
    })?;
    from_toml_table(table, &Path::root(), 0)
}

fn from_toml_table(table: toml::Table, path: &Path, depth: usize) -> Result<Value, PolicyError> {
    let mut out = BTreeMap::new();
    for (k, v) in table {
        let p = path.key(&k);
        let v = from_toml(v, &p, depth + 1)?;
        out.insert(k, v);
    }
    Ok(Value::Table(out))
}

fn from_toml(v: toml::Value, path: &Path, depth: usize) -> Result<Value, PolicyError> {
    if depth > MAX_DEPTH {
        return Err(PolicyError::new(ErrorCode::TooLarge, path, format!("nested deeper than {MAX_DEPTH} levels")));
    }
    Ok(match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::Integer(i),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::Datetime(d.to_string()),
        toml::Value::Float(_) => {
            return Err(PolicyError::new(ErrorCode::InvalidType, path, "a policy has no floating-point values"));
        }
        toml::Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for (i, v) in a.into_iter().enumerate() {
                out.push(from_toml(v, &path.index(i), depth + 1)?);
            }
            Value::Array(out)
        }
        toml::Value::Table(t) => from_toml_table(t, path, depth)?,
    })
}

/// Parses JSON text, refusing a name given twice in one object.
pub(crate) fn parse_json(text: &str) -> Result<Value, PolicyError> {
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = JsonSeed { path: Path::root(), depth: 0, found: &found };
    let result = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match result {
        Ok(v) => Ok(v),
        Err(e) => {
            let at = Location { line: e.line(), column: e.column() };
            match found.into_inner() {
                Some(err) => Err(err.at_location(at)),
                None => {
                    let msg = format!("not valid JSON: {e}");
                    Err(PolicyError::new(ErrorCode::Syntax, "", msg).at_location(at))
                }
            }
        }
    }
}

/// Builds a [`Value`] from JSON, with the path of each value, so that a
/// refusal names where it is. The typed error goes to `found`; serde_json
/// only carries a marker and the position.
struct JsonSeed<'a> {
    path: Path,
    depth: usize,
    found: &'a RefCell<Option<PolicyError>>,
}

impl JsonSeed<'_> {
    fn refuse<E: de::Error>(&self, err: PolicyError) -> E {
        let msg = err.message().to_string();
        *self.found.borrow_mut() = Some(err);
        E::custom(msg)
    }
}

impl<'de> DeserializeSeed<'de> for JsonSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a policy value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        match i64::try_from(v) {
            Ok(i) => Ok(Value::Integer(i)),
            Err(_) => Err(self.refuse(PolicyError::new(ErrorCode::InvalidValue, &self.path, "integer out of range"))),
        }
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Value, E> {
        let msg = "a policy has no floating-point values";
        Err(self.refuse(PolicyError::new(ErrorCode::InvalidType, &self.path, msg)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        let msg = "null has no place in a policy: leave the field out";
        Err(self.refuse(PolicyError::new(ErrorCode::InvalidType, &self.path, msg)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            let msg = format!("nested deeper than {MAX_DEPTH} levels");
            return Err(self.refuse(PolicyError::new(ErrorCode::TooLarge, &self.path, msg)));
        }
        let mut out = Vec::new();
        loop {
            let seed = JsonSeed { path: self.path.index(out.len()), depth: self.depth + 1, found: self.found };
            match seq.next_element_seed(seed)? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            let msg = format!("nested deeper than {MAX_DEPTH} levels");
            return Err(self.refuse(PolicyError::new(ErrorCode::TooLarge, &self.path, msg)));
        }
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = self.path.key(&key);
            if out.contains_key(&key) {
                let msg = format!("`{key}` is given twice in one object (RFC 8259 leaves that undefined)");
                return Err(self.refuse(PolicyError::new(ErrorCode::DuplicateField, &path, msg)));
            }
            let v = map.next_value_seed(JsonSeed { path, depth: self.depth + 1, found: self.found })?;
            out.insert(key, v);
        }
        Ok(Value::Table(out))
    }
}

/// The same value as serde_json's (tables keep their byte order).
fn to_serde(v: &Value) -> serde_json::Value {
    match v {
        Value::String(s) | Value::Datetime(s) => serde_json::Value::String(s.clone()),
        Value::Integer(i) => serde_json::Value::from(*i),
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_serde).collect()),
        Value::Table(t) => serde_json::Value::Object(t.iter().map(|(k, v)| (k.clone(), to_serde(v))).collect()),
    }
}

/// Compact JSON with keys in byte order and no spaces: the canonical form
/// the policy hash is taken over. `pretty` indents by two spaces instead.
pub(crate) fn to_json(v: &Value, pretty: bool) -> String {
    let j = to_serde(v);
    if pretty { format!("{j:#}") } else { j.to_string() }
}

/// A TOML basic string.
fn write_basic_string(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if (c as u32) < 0x20 || c == '\u{7f}' => write!(out, "\\u{:04X}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

/// A TOML string: a literal string (`'…'`, no escapes, as regexes read
/// best) when the text has a backslash and can be one, else a basic string.
fn write_toml_string(out: &mut String, s: &str) {
    let literal_ok = !s.contains('\'') && !s.chars().any(|c| c.is_control());
    if literal_ok && s.contains('\\') {
        out.push('\'');
        out.push_str(s);
        out.push('\'');
    } else {
        let _ = write_basic_string(out, s);
    }
}

/// A TOML string literal for `s`.
pub(crate) fn toml_string(s: &str) -> String {
    let mut out = String::new();
    write_toml_string(&mut out, s);
    out
}

fn write_toml_key(out: &mut String, k: &str) {
    if is_bare_key(k) {
        out.push_str(k);
    } else {
        let _ = write_basic_string(out, k);
    }
}

fn write_toml_path(out: &mut String, keys: &[&str]) {
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        write_toml_key(out, k);
    }
}

/// Keys in the order a reader wants them: `kind` and `name` first.
fn ordered(t: &BTreeMap<String, Value>) -> Vec<(&String, &Value)> {
    let rank = |k: &str| match k {
        "schema" => 0,
        "kind" => 1,
        "name" => 2,
        _ => 3,
    };
    let mut v: Vec<_> = t.iter().collect();
    v.sort_by_key(|(k, _)| rank(k));
    v
}

fn write_toml_inline(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => write_toml_string(out, s),
        Value::Datetime(s) => out.push_str(s),
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_toml_inline(out, item);
            }
            out.push(']');
        }
        Value::Table(t) => {
            if t.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push_str("{ ");
            for (i, (k, item)) in ordered(t).into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_toml_key(out, k);
                out.push_str(" = ");
                write_toml_inline(out, item);
            }
            out.push_str(" }");
        }
    }
}

fn write_toml_pairs(out: &mut String, t: &BTreeMap<String, Value>) {
    for (k, v) in ordered(t) {
        write_toml_key(out, k);
        out.push_str(" = ");
        write_toml_inline(out, v);
        out.push('\n');
    }
}

fn is_table_of_tables(t: &BTreeMap<String, Value>) -> bool {
    !t.is_empty() && t.values().all(|v| matches!(v, Value::Table(_)))
}

fn is_array_of_tables(a: &[Value]) -> bool {
    !a.is_empty() && a.iter().all(|v| matches!(v, Value::Table(_)))
}

/// TOML text for a top-level table: plain values first, then `[table]`
/// sections (`[a.b]` for a table of tables, like `[principals.NAME]`),
/// then `[[array]]` entries; anything deeper is written inline.
pub(crate) fn to_toml(root: &BTreeMap<String, Value>) -> String {
    let mut out = String::new();
    let mut plain = BTreeMap::new();
    for (k, v) in root {
        let section = match v {
            Value::Table(_) => true,
            Value::Array(a) => is_array_of_tables(a),
            _ => false,
        };
        if !section {
            plain.insert(k.clone(), v.clone());
        }
    }
    write_toml_pairs(&mut out, &plain);
    // Sections in reading order: who, then how, then where.
    let rank = |k: &str| ["principals", "rules", "scopes", "default"].iter().position(|x| *x == k).unwrap_or(4);
    let mut sections: Vec<(&String, &Value)> = root.iter().collect();
    sections.sort_by_key(|(k, _)| rank(k));
    for (k, v) in sections {
        match v {
            Value::Table(t) if is_table_of_tables(t) => {
                for (sub, inner) in t {
                    if let Value::Table(inner) = inner {
                        out.push_str("\n[");
                        write_toml_path(&mut out, &[k, sub]);
                        out.push_str("]\n");
                        write_toml_pairs(&mut out, inner);
                    }
                }
            }
            Value::Table(t) => {
                out.push_str("\n[");
                write_toml_key(&mut out, k);
                out.push_str("]\n");
                write_toml_pairs(&mut out, t);
            }
            Value::Array(a) if is_array_of_tables(a) => {
                for item in a {
                    if let Value::Table(t) = item {
                        out.push_str("\n[[");
                        write_toml_key(&mut out, k);
                        out.push_str("]]\n");
                        write_toml_pairs(&mut out, t);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_as_written() {
        let cases: &[(Path, &str)] = &[
            (Path::root(), ""),
            (Path::root().key("principals").key("release-ed").key("file"), "principals.release-ed.file"),
            (Path::root().key("rules").key("release").key("all").index(1), "rules.release.all[1]"),
            (Path::root().key("scopes").index(0).key("match"), "scopes[0].match"),
            (Path::root().key("principals").key("a.b").key("x"), "principals.\"a.b\".x"),
        ];
        for (path, want) in cases {
            assert_eq!(path.to_string(), *want);
        }
    }

    #[test]
    fn json_duplicates_are_refused_with_their_path() {
        let cases: &[(&str, ErrorCode, &str)] = &[
            (r#"{"a": 1, "a": 2}"#, ErrorCode::DuplicateField, "a"),
            (r#"{"p": {"x": {"k": 1, "k": 1}}}"#, ErrorCode::DuplicateField, "p.x.k"),
            (r#"{"s": [{"n": "a"}, {"n": "b", "n": "b"}]}"#, ErrorCode::DuplicateField, "s[1].n"),
            (r#"{"a": 1.5}"#, ErrorCode::InvalidType, "a"),
            (r#"{"a": null}"#, ErrorCode::InvalidType, "a"),
            (r#"{"a": 18446744073709551615}"#, ErrorCode::InvalidValue, "a"),
            (r#"{"a": 1} x"#, ErrorCode::Syntax, ""),
            (r#"{"a": "#, ErrorCode::Syntax, ""),
        ];
        for (text, code, path) in cases {
            let e = parse_json(text).expect_err(text);
            assert_eq!((e.code(), e.path()), (*code, *path), "{text}: {e}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = parse_json(&deep_json).expect_err("deep JSON");
        assert!(matches!(e.code(), ErrorCode::Syntax | ErrorCode::TooLarge), "{e}");
        let deep_toml = format!("a = {}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = parse_toml(&deep_toml).expect_err("deep TOML");
        assert!(matches!(e.code(), ErrorCode::Syntax | ErrorCode::TooLarge), "{e}");
    }

    #[test]
    fn toml_writer_output_parses_back_to_the_same_tree() {
        let text = r#"
            top = "x"
            list = ["a", 'b\.c', "it's"]
            [tables.one]
            kind = "k"
            regex = 'a\.b'
            nested = { x = 1, y = [true, false], "odd key" = "\u0001" }
            [plain]
            z = 2026-01-01T00:00:00Z
            [[arr]]
            name = "n"
            m = { path = "a/*.wasm" }
            [[arr]]
            name = "o"
        "#;
        let v = parse_toml(text).expect("parses");
        let Value::Table(t) = &v else { panic!("a table") };
        let written = to_toml(t);
        assert_eq!(parse_toml(&written).expect("written TOML parses"), v, "{written}");
        let json = to_json(&v, true);
        let mut back = parse_json(&json).expect("written JSON parses");
        // JSON has no date-time type.
        if let (Value::Table(b), Value::Table(orig)) = (&mut back, &v) {
            let z = orig.get("plain").cloned();
            b.insert("plain".into(), z.expect("plain"));
        }
        assert_eq!(back, v);
    }
}
