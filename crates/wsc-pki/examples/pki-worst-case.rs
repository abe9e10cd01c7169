//! Writes the costliest certificate-bound input the size limits allow, for
//! `cargo xtask bench --pki-worst`: `DIR/loop7.wasm` (1024 records, each a
//! leaf plus 7 same-subject intermediates issuing each other in a loop),
//! `DIR/loop5.wasm` (the same with 5, a search small enough to pass the
//! per-record limit, so the total budget is what stops it),
//! `DIR/anchored7.wasm` (7 looping CAs named like the anchor, so each step
//! also tries a signature) and `DIR/anchor.pem` (the root to verify
//! against, which issued none of them).
//!
//! Usage: `cargo run --release -p wsc-pki --example pki-worst-case -- DIR`

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

use wsc_pki::MAX_INTERMEDIATES;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args_os().nth(1).ok_or("usage: pki-worst-case DIR")?);
    std::fs::create_dir_all(&dir)?;
    let records = wsc_core::DEFAULT_MAX_SIGNATURE_CHECKS;
    let seven = common::worst::crafted(MAX_INTERMEDIATES, records);
    std::fs::write(dir.join("anchor.pem"), wsc_pki::chain_to_pem([seven.anchor.as_slice()])?)?;
    std::fs::write(dir.join("loop7.wasm"), &seven.module)?;
    let (chain, leaf_key) = common::worst::loop_chain(5);
    let (five, _) = common::worst::module_with(&chain, &leaf_key, records);
    std::fs::write(dir.join("loop5.wasm"), &five)?;
    let (chain, leaf_key) = common::worst::loop_chain_named("Budget Root", MAX_INTERMEDIATES);
    let (anchored, _) = common::worst::module_with(&chain, &leaf_key, records);
    std::fs::write(dir.join("anchored7.wasm"), &anchored)?;
    eprintln!(
        "wrote {records} records each: loop7.wasm ({} bytes, {} per record), loop5.wasm ({} bytes), \
         anchored7.wasm ({} bytes), anchor.pem to '{}'",
        seven.module.len(),
        seven.record_len,
        five.len(),
        anchored.len(),
        dir.display()
    );
    Ok(())
}
