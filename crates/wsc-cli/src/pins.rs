//! `wsc pins show`: the pins of what a server presents.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::Outcome;
use crate::files;

#[derive(Debug, Subcommand)]
pub(crate) enum PinsCommand {
    /// Connect to a server and print the pins of every certificate it presents.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// https://HOST[:PORT]
    #[arg(long, value_name = "URL")]
    url: String,
    /// PEM file of trusted roots (default: the Mozilla roots).
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
}

pub(crate) fn run(cmd: &PinsCommand) -> Result<Outcome> {
    let PinsCommand::Show(a) = cmd;
    let roots = match &a.ca_file {
        Some(p) => {
            let pem = files::read_small(p, 16 * 1024 * 1024, "CA file")?;
            wsc_pinning::roots_from_pem(&pem).with_context(|| format!("CA file '{}'", p.display()))?
        }
        None => wsc_pinning::default_roots(),
    };
    let presented = wsc_pinning::presented_chain(&a.url, roots).with_context(|| format!("cannot inspect {}", a.url))?;
    println!("{} presented {} certificate(s), leaf first:", a.url, presented.chain.len());
    for (i, c) in presented.chain.iter().enumerate() {
        println!("  [{i}] subject: {}", c.subject);
        println!("      issuer:  {}", c.issuer);
        println!("      certificate sha256: {}", c.certificate_sha256);
        match &c.spki_sha256 {
            Some(p) => println!("      SPKI sha256:        {p}"),
            None => println!("      SPKI sha256:        (certificate does not parse)"),
        }
    }
    match &presented.webpki_error {
        None => println!("WebPKI check: passed"),
        Some(e) => println!("WebPKI check: FAILED ({e}); pins alone never make such a server trusted"),
    }
    let spki: Vec<String> =
        presented.chain.iter().skip(1).filter_map(|c| c.spki_sha256.map(|p| p.to_string())).collect();
    if !spki.is_empty() {
        println!("CA key pins (recommended; they survive leaf renewals):");
        println!("  {}", spki.join(","));
    }
    if let Some(leaf) = presented.chain.first() {
        println!("leaf certificate pin (changes at every renewal):");
        println!("  {}", leaf.certificate_sha256);
    }
    println!("Set them as, e.g., WSC_REKOR_PINS=<pin>[,<pin>...] (add the new pin beside the old one when rotating).");
    Ok(Outcome::Done)
}
