//! `wsc detach`, `wsc attach`, `wsc split`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use regex::Regex;
use wsc_core::format::SectionHeader;

use crate::Outcome;
use crate::files::{self, Mode, Replace};

#[derive(Debug, Args)]
pub(crate) struct DetachArgs {
    /// Signed module.
    #[arg(short = 'i', long = "input-file", value_name = "FILE")]
    input: PathBuf,
    /// The module without its signature section.
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    output: PathBuf,
    /// Where to write the signature data.
    #[arg(short = 'S', long = "signature-file", value_name = "FILE")]
    signature: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct AttachArgs {
    /// Unsigned module.
    #[arg(short = 'i', long = "input-file", value_name = "FILE")]
    input: PathBuf,
    /// The module with the signature embedded.
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    output: PathBuf,
    /// Detached signature file.
    #[arg(short = 'S', long = "signature-file", value_name = "FILE")]
    signature: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct SplitArgs {
    /// Module to split.
    #[arg(short = 'i', long = "input-file", value_name = "FILE")]
    input: PathBuf,
    /// Output with delimiters.
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    output: PathBuf,
    /// Custom sections whose name matches REGEX go with the standard
    /// sections; a delimiter goes wherever that changes, and at the end.
    #[arg(short = 's', long = "split", value_name = "REGEX")]
    split: Option<String>,
}

/// wasmsign2's `-s REGEX`: every standard section, and the custom sections
/// whose name matches; without a regex, every section.
pub(crate) struct SplitRegex(Option<Regex>);

impl SplitRegex {
    pub(crate) fn parse(pattern: Option<&str>) -> Result<Self> {
        pattern
            .map(|r| Regex::new(r).with_context(|| format!("invalid --split regex '{r}'")))
            .transpose()
            .map(SplitRegex)
    }

    pub(crate) fn selects(&self, h: &SectionHeader) -> bool {
        match (h.custom_name(), &self.0) {
            (Some(name), Some(re)) => re.is_match(name),
            _ => true,
        }
    }
}

pub(crate) fn detach(a: &DetachArgs) -> Result<Outcome> {
    files::SameFileCheck::default()
        .output("-o", &a.output)
        .output("-S", &a.signature)
        .rewritten_input("-i", &a.input, Some(&a.output))
        .check()?;
    let (f, _) = files::open_module(&a.input)?;
    // The module and the signature land together or not at all.
    let mut outputs = files::Outputs::default();
    let sig = outputs.stage(&a.output, Mode::Public, Replace::Allow, |o| {
        wsc_core::detach(f, &mut files::NamedWriter::new(o, &a.output))
            .with_context(|| format!("cannot detach the signature of '{}'", a.input.display()))
    })?;
    outputs.stage(&a.signature, Mode::Public, Replace::Allow, |o| {
        o.write_all(&sig).map_err(|e| files::name_write_error(&a.signature, e).into())
    })?;
    outputs.commit()?;
    eprintln!(
        "signature ({} bytes) written to '{}', module to '{}'",
        sig.len(),
        a.signature.display(),
        a.output.display()
    );
    Ok(Outcome::Done)
}

pub(crate) fn attach(a: &AttachArgs) -> Result<Outcome> {
    files::SameFileCheck::default()
        .output("-o", &a.output)
        .input("-S", &a.signature)
        .rewritten_input("-i", &a.input, Some(&a.output))
        .check()?;
    let sig = files::read_small(&a.signature, wsc_core::sigdata::MAX_SIGNATURE_DATA as u64, "signature file")?;
    let (f, _) = files::open_module(&a.input)?;
    files::write_atomic(&a.output, Mode::Public, |o| {
        wsc_core::attach(f, &mut files::NamedWriter::new(o, &a.output), &sig)
            .with_context(|| format!("cannot attach '{}' to '{}'", a.signature.display(), a.input.display()))
    })?;
    eprintln!("signed module written to '{}'", a.output.display());
    Ok(Outcome::Done)
}

pub(crate) fn split(a: &SplitArgs) -> Result<Outcome> {
    let regex = SplitRegex::parse(a.split.as_deref())?;
    let select = |h: &SectionHeader| regex.selects(h);
    let mut random = || {
        let mut b = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
        b
    };
    let (f, _) = files::open_module(&a.input)?;
    let report = files::write_atomic(&a.output, Mode::Public, |o| {
        wsc_core::split(f, &mut files::NamedWriter::new(o, &a.output), Some(&select), &mut random)
            .with_context(|| format!("cannot split '{}'", a.input.display()))
    })?;
    eprintln!("{} delimiter(s) added, {} in all; written to '{}'", report.added, report.total, a.output.display());
    Ok(Outcome::Done)
}
