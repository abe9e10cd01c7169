//! `wsc detach`, `wsc attach`, `wsc split`.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;
use regex::Regex;
use wsc_core::format::SectionHeader;

use crate::Outcome;
use crate::args::{Input, Output, SignatureFile};
use crate::files::{self, Mode, Replace};

#[derive(Debug, Args)]
#[command(
    mut_arg("input", |a| a.help("Signed module")),
    mut_arg("output", |a| a.help("The module without its signature section")),
    mut_arg("signature", |a| a.help("Where to write the signature data"))
)]
pub(crate) struct DetachArgs {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    output: Output,
    #[command(flatten)]
    signature: SignatureFile,
}

#[derive(Debug, Args)]
#[command(
    mut_arg("input", |a| a.help("Unsigned module")),
    mut_arg("output", |a| a.help("The module with the signature embedded"))
)]
pub(crate) struct AttachArgs {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    output: Output,
    #[command(flatten)]
    signature: SignatureFile,
}

#[derive(Debug, Args)]
#[command(mut_arg("output", |a| a.help("Output with delimiters")))]
pub(crate) struct SplitArgs {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    output: Output,
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
        .output("-o", &a.output.output)
        .output("-S", &a.signature.signature)
        .rewritten_input("-i", &a.input.input, Some(&a.output.output))
        .check()?;
    let (f, _) = files::open_module(&a.input.input)?;
    // The module and the signature land together or not at all.
    let mut outputs = files::Outputs::default();
    let sig = outputs.stage(&a.output.output, Mode::Public, Replace::Allow, |o| {
        wsc_core::detach(f, &mut files::NamedWriter::new(o, &a.output.output))
            .with_context(|| format!("cannot detach the signature of '{}'", a.input.input.display()))
    })?;
    outputs.stage(&a.signature.signature, Mode::Public, Replace::Allow, |o| {
        o.write_all(&sig).map_err(|e| files::name_write_error(&a.signature.signature, e).into())
    })?;
    outputs.commit()?;
    eprintln!(
        "signature ({} bytes) written to '{}', module to '{}'",
        sig.len(),
        a.signature.signature.display(),
        a.output.output.display()
    );
    Ok(Outcome::Done)
}

pub(crate) fn attach(a: &AttachArgs) -> Result<Outcome> {
    files::SameFileCheck::default()
        .output("-o", &a.output.output)
        .input("-S", &a.signature.signature)
        .rewritten_input("-i", &a.input.input, Some(&a.output.output))
        .check()?;
    let sig =
        files::read_small(&a.signature.signature, wsc_core::sigdata::MAX_SIGNATURE_DATA as u64, "signature file")?;
    let (f, _) = files::open_module(&a.input.input)?;
    files::write_atomic(&a.output.output, Mode::Public, |o| {
        wsc_core::attach(f, &mut files::NamedWriter::new(o, &a.output.output), &sig).with_context(|| {
            format!("cannot attach '{}' to '{}'", a.signature.signature.display(), a.input.input.display())
        })
    })?;
    eprintln!("signed module written to '{}'", a.output.output.display());
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
    let (f, _) = files::open_module(&a.input.input)?;
    let report = files::write_atomic(&a.output.output, Mode::Public, |o| {
        wsc_core::split(f, &mut files::NamedWriter::new(o, &a.output.output), Some(&select), &mut random)
            .with_context(|| format!("cannot split '{}'", a.input.input.display()))
    })?;
    eprintln!(
        "{} delimiter(s) added, {} in all; written to '{}'",
        report.added,
        report.total,
        a.output.output.display()
    );
    Ok(Outcome::Done)
}
