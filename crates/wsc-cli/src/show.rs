//! `wsc show`: what a module holds, verifying nothing.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{Value, json};
use wsc_core::keys::hex;
use wsc_core::sigdata::{SetEntry, SignatureData};

use crate::Outcome;
use crate::files;

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// Module or component.
    #[arg(short = 'i', long = "input-file", value_name = "FILE")]
    input: PathBuf,
    /// Also print every hash and signature in full.
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: &ShowArgs) -> Result<Outcome> {
    let (f, len) = files::open_module(&a.input)?;
    let ins = wsc_core::inspect(f, Some(len)).with_context(|| format!("cannot read '{}'", a.input.display()))?;
    if a.json {
        let sections: Vec<Value> = ins
            .sections
            .iter()
            .map(|s| json!({"id": s.id, "name": s.name, "offset": s.offset, "len": s.len, "canonical": s.canonical}))
            .collect();
        let out = json!({
            "file": a.input.display().to_string(),
            "kind": ins.kind.as_str(),
            "signature": ins.signature.as_ref().map(sig_json),
            "sections": sections,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(Outcome::Done);
    }
    println!("{}: {} with {} section(s)", a.input.display(), ins.kind.as_str(), ins.sections.len());
    for (i, s) in ins.sections.iter().enumerate() {
        let name = s.name.as_ref().map(|n| format!(" \"{n}\"")).unwrap_or_default();
        let padded = if s.canonical { "" } else { " (non-minimal size encoding)" };
        println!("{i:>4}: offset {:>10}  {:>10} bytes  {}{name}{padded}", s.offset, s.len, section_kind(s.id));
    }
    match &ins.signature {
        None => println!("no signature section"),
        Some(d) => print_sig(d, a.verbose),
    }
    Ok(Outcome::Done)
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

fn print_sig(d: &SignatureData, verbose: bool) {
    println!("signature data: {} set(s)", d.sets.len());
    for (i, set) in d.sets.iter().enumerate() {
        match set {
            SetEntry::Malformed(m) => println!("  set {i}: malformed at offset {}: {}", m.offset, m.reason),
            SetEntry::Valid(s) => {
                println!("  set {i}: {} hash(es), {} signature(s)", s.hashes.len(), s.records.len());
                for (j, h) in s.hashes.iter().enumerate() {
                    let h = hex(h);
                    println!("    hash {j}: {}", if verbose { h.as_str() } else { &h[..16] });
                }
                for (j, r) in s.records.iter().enumerate() {
                    match &r.parsed {
                        Ok(rec) => println!(
                            "    signature {j}: {}, key id {}, {} bytes{}",
                            rec.algorithm,
                            rec.key_id.as_deref().map(hex).unwrap_or_else(|| "none".into()),
                            rec.signature.len(),
                            if verbose { format!(": {}", hex(&rec.signature)) } else { String::new() }
                        ),
                        Err(e) => println!("    signature {j}: malformed at offset {}: {e}", r.offset),
                    }
                }
            }
        }
    }
    if d.trailing_bytes > 0 {
        println!("  {} byte(s) after the last set (ignored)", d.trailing_bytes);
    }
}

fn sig_json(d: &SignatureData) -> Value {
    let sets: Vec<Value> = d
        .sets
        .iter()
        .map(|set| match set {
            SetEntry::Malformed(m) => json!({"malformed": m.reason, "offset": m.offset}),
            SetEntry::Valid(s) => json!({
                "offset": s.offset,
                "hashes": s.hashes.iter().map(|h| hex(h)).collect::<Vec<_>>(),
                "signatures": s.records.iter().map(|r| match &r.parsed {
                    Ok(rec) => json!({
                        "offset": r.offset,
                        "algorithm_id": rec.algorithm.0,
                        "algorithm": rec.algorithm.name(),
                        "key_id": rec.key_id.as_deref().map(hex),
                        "signature": hex(&rec.signature),
                    }),
                    Err(e) => json!({"offset": r.offset, "malformed": e}),
                }).collect::<Vec<_>>(),
            }),
        })
        .collect();
    json!({"sets": sets, "trailing_bytes": d.trailing_bytes})
}
