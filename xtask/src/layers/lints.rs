//! Every workspace package takes the workspace's lints (`[lints]
//! workspace = true`), except wsc-ffi and wsc-wasmtime: they copy them with
//! `unsafe_code` relaxed from `forbid` to `deny`, so that only the functions
//! that need it (the C exports; the calls to wasmtime's `deserialize`) can
//! allow `unsafe`. The no_std size probe, a workspace of its own, copies
//! them the same way (its allocator and exported functions allow `unsafe`).

use std::path::Path;

use anyhow::{Context, Result};

/// The packages with their own lints table.
const UNSAFE_DENY: &[&str] = &["crates/wsc-ffi", "crates/wsc-wasmtime"];

/// Packages outside the workspace that copy wsc-ffi's table.
const OUTSIDE: &[&str] = &["examples/nostd-probe"];

/// Every package whose lints differ from these rules.
pub(super) fn problems(root: &Path) -> Result<Vec<String>> {
    let manifest = read(&root.join("Cargo.toml"))?;
    let workspace = manifest.get("workspace").context("Cargo.toml: no [workspace]")?;
    let expected_ffi = ffi_lints(workspace.get("lints").context("Cargo.toml: no [workspace.lints]")?)?;
    let members = workspace.get("members").and_then(toml::Value::as_array).context("Cargo.toml: no members")?;
    let mut out = Vec::new();
    for member in members.iter().filter_map(toml::Value::as_str) {
        let path = root.join(member).join("Cargo.toml");
        let lints = read(&path)?.get("lints").cloned();
        if UNSAFE_DENY.contains(&member) {
            if lints.as_ref() != Some(&expected_ffi) {
                out.push(format!(
                    "{member}/Cargo.toml: [lints] must be [workspace.lints] with rust.unsafe_code = \"deny\""
                ));
            }
        } else if lints.as_ref().and_then(|l| l.get("workspace")).and_then(toml::Value::as_bool) != Some(true) {
            out.push(format!("{member}/Cargo.toml: [lints] is not `workspace = true`"));
        }
    }
    for dir in OUTSIDE {
        if read(&root.join(dir).join("Cargo.toml"))?.get("lints") != Some(&expected_ffi) {
            out.push(format!("{dir}/Cargo.toml: [lints] must be [workspace.lints] with rust.unsafe_code = \"deny\""));
        }
    }
    Ok(out)
}

/// The workspace's lints with `unsafe_code` at `deny`.
fn ffi_lints(workspace: &toml::Value) -> Result<toml::Value> {
    let mut lints = workspace.clone();
    let rust = lints.get_mut("rust").and_then(toml::Value::as_table_mut).context("no [workspace.lints.rust]")?;
    rust.insert("unsafe_code".to_string(), toml::Value::String("deny".to_string()));
    Ok(lints)
}

fn read(path: &Path) -> Result<toml::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::ffi_lints;

    #[test]
    fn the_ffi_table_is_the_workspace_table_with_unsafe_code_denied() {
        let ws: toml::Value =
            toml::from_str("[rust]\nunsafe_code = \"forbid\"\nmissing_docs = \"warn\"\n").expect("toml");
        let want: toml::Value =
            toml::from_str("[rust]\nunsafe_code = \"deny\"\nmissing_docs = \"warn\"\n").expect("toml");
        assert_eq!(ffi_lints(&ws).expect("lints"), want);
        assert_ne!(ffi_lints(&ws).expect("lints"), ws);
    }
}
