//! Parsing requirements.toml.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};

use super::Requirement;

/// Parses requirements.toml: one `[ID]` table per requirement with the keys
/// of [`Requirement`] (a misspelt or unknown key is an error), each test link
/// an inline table `{ test = "path/to/file.rs::name", what = "..." }` whose
/// `what` is not blank. The requirements come out sorted by id text; the
/// table is rendered in the order of [`ids`].
pub(super) fn parse(text: &str) -> Result<Vec<Requirement>> {
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
