//! `wsc show`: what a module holds, verifying nothing: its sections, its
//! signature data and, for a component, the tree of its nested parts.

use std::io::{Read, Write};

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{Value, json};
use wsc_core::format::ModuleKind;
use wsc_core::keys::hex;
use wsc_core::sigdata::{SetEntry, SignatureData};
use wsc_core::{Part, TreeLimits};

use crate::Outcome;
use crate::args::Input;
use crate::files;

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    input: Input,
    /// Also print every hash and signature in full.
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: &ShowArgs) -> Result<Outcome> {
    let (f, len) = files::open_module(&a.input.input)?;
    let ctx = || format!("cannot read '{}'", a.input.input.display());
    let mut sections = wsc_core::Sections::new(f, Some(len)).with_context(ctx)?;
    // One section at a time, printed as it is read: memory stays flat
    // however many sections the module has. A buffered stdout keeps
    // millions of lines fast.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    if a.json {
        show_json(a, &mut sections, &mut out, ctx)?;
    } else {
        show_text(a, &mut sections, &mut out, ctx)?;
    }
    out.flush()?;
    Ok(Outcome::Done)
}

fn show_text<R: Read>(
    a: &ShowArgs,
    sections: &mut wsc_core::Sections<R>,
    out: &mut impl Write,
    ctx: impl Fn() -> String,
) -> Result<()> {
    writeln!(out, "{}: {}", a.input.input.display(), sections.kind().as_str())?;
    let mut i = 0u64;
    while let Some(s) = sections.next().transpose().with_context(&ctx)? {
        write!(out, "{i:>4}: offset {:>10}  {:>10} bytes  {}", s.offset, s.len, section_kind(s.id))?;
        if let Some(name) = &s.name {
            write!(out, " \"{name}\"")?;
        }
        writeln!(out, "{}", if s.canonical { "" } else { " (non-minimal size encoding)" })?;
        i += 1;
    }
    writeln!(out, "{i} section(s)")?;
    match sections.signature() {
        None => writeln!(out, "no signature section")?,
        Some(d) => print_sig(out, d, a.verbose)?,
    }
    if sections.kind() == ModuleKind::Component {
        let parts = tree(a, &ctx)?;
        writeln!(out, "component tree: {} part(s)", parts.len())?;
        for p in &parts {
            writeln!(
                out,
                "{:indent$}{} {} at offset {}, {} bytes, {}",
                "",
                path_text(&p.path),
                p.kind.as_str(),
                p.offset,
                p.len,
                if p.signed { "signed" } else { "unsigned" },
                indent = 2 + 2 * p.depth as usize
            )?;
        }
    }
    Ok(())
}

/// The parts of the input, found by seeking through the file (headers only).
fn tree(a: &ShowArgs, ctx: impl Fn() -> String) -> Result<Vec<Part>> {
    let (f, _) = files::open_module(&a.input.input)?;
    wsc_core::component_tree_seekable(f, &TreeLimits::default()).with_context(ctx)
}

/// `root`, or the index path joined with dots (`2.0`).
fn path_text(path: &[u32]) -> String {
    if path.is_empty() {
        return "root".to_string();
    }
    path.iter().map(ToString::to_string).collect::<Vec<_>>().join(".")
}

/// The JSON document, streamed: `file`, `kind`, `signature` (known once
/// the first section is read), the `sections` array one element per line,
/// the `parts` of the component tree (one for a core module), then
/// `section_count`. An error half way leaves the document unfinished
/// on stdout and exits with 2.
fn show_json<R: Read>(
    a: &ShowArgs,
    sections: &mut wsc_core::Sections<R>,
    out: &mut impl Write,
    ctx: impl Fn() -> String,
) -> Result<()> {
    let first = sections.next().transpose().with_context(&ctx)?;
    let signature = sections.signature().map_or(Value::Null, sig_json);
    writeln!(out, "{{")?;
    writeln!(out, "  \"file\": {},", Value::String(a.input.input.display().to_string()))?;
    writeln!(out, "  \"kind\": \"{}\",", sections.kind().as_str())?;
    writeln!(out, "  \"signature\": {},", serde_json::to_string(&signature)?)?;
    write!(out, "  \"sections\": [")?;
    let mut count = 0u64;
    let mut next = first;
    while let Some(s) = next {
        let name = match &s.name {
            Some(n) => serde_json::to_string(n)?,
            None => "null".to_string(),
        };
        write!(
            out,
            "{}\n    {{\"id\": {}, \"name\": {name}, \"offset\": {}, \"len\": {}, \"canonical\": {}}}",
            if count == 0 { "" } else { "," },
            s.id,
            s.offset,
            s.len,
            s.canonical
        )?;
        count += 1;
        next = sections.next().transpose().with_context(&ctx)?;
    }
    writeln!(out, "{}],", if count == 0 { "" } else { "\n  " })?;
    write!(out, "  \"parts\": [")?;
    for (i, p) in tree(a, &ctx)?.iter().enumerate() {
        let part = json!({
            "path": p.path,
            "depth": p.depth,
            "kind": p.kind.as_str(),
            "offset": p.offset,
            "len": p.len,
            "signed": p.signed,
        });
        write!(out, "{}\n    {part}", if i == 0 { "" } else { "," })?;
    }
    writeln!(out, "\n  ],")?;
    writeln!(out, "  \"section_count\": {count}")?;
    writeln!(out, "}}")?;
    Ok(())
}

fn section_kind(id: u8) -> &'static str {
    match id {
        0 => "custom",
        1 => "type",
        2 => "import",
        3 => "function",
        4 => "table",
        5 => "memory",
        6 => "global",
        7 => "export",
        8 => "start",
        9 => "element",
        10 => "code",
        11 => "data",
        12 => "datacount",
        13 => "tag",
        _ => "other",
    }
}

fn print_sig(out: &mut impl Write, d: &SignatureData, verbose: bool) -> std::io::Result<()> {
    writeln!(out, "signature data: {} set(s)", d.sets.len())?;
    for (i, set) in d.sets.iter().enumerate() {
        match set {
            SetEntry::Malformed(m) => writeln!(out, "  set {i}: malformed at offset {}: {}", m.offset, m.reason)?,
            SetEntry::Valid(s) => {
                writeln!(out, "  set {i}: {} hash(es), {} signature(s)", s.hashes.len(), s.records.len())?;
                for (j, h) in s.hashes.iter().enumerate() {
                    let h = hex(h);
                    writeln!(out, "    hash {j}: {}", if verbose { h.as_str() } else { &h[..16] })?;
                }
                for (j, r) in s.records.iter().enumerate() {
                    match &r.parsed {
                        Ok(rec) => writeln!(
                            out,
                            "    signature {j}: {}, key id {}, {} bytes{}",
                            rec.algorithm,
                            rec.key_id.as_ref().map_or_else(|| "none".into(), ToString::to_string),
                            rec.signature.len(),
                            if verbose { format!(": {}", hex(&rec.signature)) } else { String::new() }
                        )?,
                        Err(e) => writeln!(out, "    signature {j}: malformed at offset {}: {e}", r.offset)?,
                    }
                }
            }
        }
    }
    if d.trailing_bytes > 0 {
        writeln!(out, "  {} byte(s) after the last set (ignored)", d.trailing_bytes)?;
    }
    Ok(())
}

fn sig_json(d: &SignatureData) -> Value {
    let sets: Vec<Value> = d
        .sets
        .iter()
        .map(|set| match set {
            SetEntry::Malformed(m) => json!({"malformed": m.reason.to_string(), "offset": m.offset}),
            SetEntry::Valid(s) => json!({
                "offset": s.offset,
                "hashes": s.hashes.iter().map(|h| hex(h)).collect::<Vec<_>>(),
                "signatures": s.records.iter().map(|r| match &r.parsed {
                    Ok(rec) => json!({
                        "offset": r.offset,
                        "algorithm_id": rec.algorithm.0,
                        "algorithm": rec.algorithm.name(),
                        "key_id": rec.key_id.as_ref().map(ToString::to_string),
                        "signature": hex(&rec.signature),
                    }),
                    Err(e) => json!({"offset": r.offset, "malformed": e.to_string()}),
                }).collect::<Vec<_>>(),
            }),
        })
        .collect();
    json!({"sets": sets, "trailing_bytes": d.trailing_bytes})
}
