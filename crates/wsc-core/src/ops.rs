//! Detach, attach, split and inspect. Each streams the module once.

use std::io::{self, Read, Write};

use crate::error::{Error, Result};
use crate::section::{
    DELIMITER_SECTION, ModuleKind, SIGNATURE_SECTION, SectionHeader, SectionReader, encode_custom_section,
};
use crate::sigdata::{MAX_HASHES, MAX_SIGNATURE_DATA, SignatureData};
use crate::walk::{self, Selection};

fn reader<R: Read>(input: R) -> Result<SectionReader<io::BufReader<R>>> {
    SectionReader::new(io::BufReader::with_capacity(256 * 1024, input))
}

fn refuse_signature(h: &SectionHeader) -> Result<()> {
    if h.is_signature() {
        return Err(Error::MisplacedSignatureSection { offset: h.offset });
    }
    Ok(())
}

/// Removes the signature section: writes the module without it to `output`
/// and returns the signature data (the detached signature).
pub fn detach<R: Read, W: Write>(input: R, output: &mut W) -> Result<Vec<u8>> {
    let mut rd = reader(input)?;
    let (head, first) = walk::read_head(&mut rd)?;
    let Some((_, data)) = head else {
        return Err(Error::NoSignature);
    };
    let raw = data.encode()?;
    output.write_all(&rd.kind().preamble())?;
    walk::copy_canonical(&mut rd, first, output, refuse_signature)?;
    Ok(raw)
}

/// Embeds detached signature data as the first section. Refuses a module
/// that has a signature section already, and data that does not decode.
pub fn attach<R: Read, W: Write>(input: R, output: &mut W, signature: &[u8]) -> Result<()> {
    if signature.len() > MAX_SIGNATURE_DATA {
        return Err(Error::TooLarge {
            offset: 0,
            what: "signature data",
            len: signature.len() as u64,
            limit: MAX_SIGNATURE_DATA as u64,
        });
    }
    SignatureData::decode(signature, 0)?;
    let mut rd = reader(input)?;
    output.write_all(&rd.kind().preamble())?;
    output.write_all(&encode_custom_section(SIGNATURE_SECTION, signature)?)?;
    walk::copy_canonical(&mut rd, None, output, |h| if h.is_signature() { Err(Error::AlreadySigned) } else { Ok(()) })
}

/// What `split` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SplitReport {
    /// Delimiters added.
    pub added: usize,
    /// Delimiters in the output.
    pub total: usize,
}

/// Inserts `signature_delimiter` sections wherever the selection changes
/// between neighbouring sections, and at the end, so that parts can be
/// verified separately and sections appended later. Existing delimiters and
/// the signature section are kept, so split can be repeated; no empty part
/// is created. `delimiter` supplies the 16 random bytes of each new one.
pub fn split<R: Read, W: Write>(
    input: R,
    output: &mut W,
    selection: Option<Selection<'_>>,
    delimiter: &mut dyn FnMut() -> [u8; 16],
) -> Result<SplitReport> {
    let mut rd = reader(input)?;
    output.write_all(&rd.kind().preamble())?;
    let mut added = 0;
    let mut total = 0;
    let mut prev: Option<bool> = None;
    let mut first = true;
    let mut emit = |out: &mut W, total: &mut usize| -> Result<()> {
        if *total >= MAX_HASHES as usize {
            return Err(Error::TooMany {
                offset: 0,
                what: "signature delimiters",
                count: *total as u64 + 1,
                limit: MAX_HASHES.into(),
            });
        }
        out.write_all(&encode_custom_section(DELIMITER_SECTION, &delimiter())?)?;
        *total += 1;
        Ok(())
    };
    while let Some(h) = rd.next_header()? {
        let is_first = std::mem::replace(&mut first, false);
        if h.is_signature() {
            if !is_first {
                return Err(Error::MisplacedSignatureSection { offset: h.offset });
            }
        } else if h.is_delimiter() {
            total += 1;
            prev = None;
        } else {
            let s = selection.is_none_or(|f| f(&h));
            if prev.is_some_and(|p| p != s) {
                emit(output, &mut total)?;
                added += 1;
            }
            prev = Some(s);
        }
        output.write_all(&h.canonical_header())?;
        rd.copy_data(output)?;
    }
    if prev.is_some() {
        emit(output, &mut total)?;
        added += 1;
    }
    Ok(SplitReport { added, total })
}

/// One section, as `inspect` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SectionSummary {
    /// Section id.
    pub id: u8,
    /// Custom-section name.
    pub name: Option<String>,
    /// Offset of the section.
    pub offset: u64,
    /// Total length on the wire, header included.
    pub len: u64,
    /// Whether the header used minimal encodings.
    pub canonical: bool,
}

/// What a module holds, read without verifying anything.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Inspection {
    /// Module or component.
    pub kind: ModuleKind,
    /// The signature data, when the first section is `signature`.
    pub signature: Option<SignatureData>,
    /// Every section, the signature section included.
    pub sections: Vec<SectionSummary>,
}

/// Lists the sections and decodes the signature section, verifying nothing.
/// `total_len`, when known, lets oversized length fields fail at once.
pub fn inspect<R: Read>(input: R, total_len: Option<u64>) -> Result<Inspection> {
    let mut rd = SectionReader::with_total_len(io::BufReader::with_capacity(256 * 1024, input), total_len)?;
    let mut sections = Vec::new();
    let mut signature = None;
    while let Some(h) = rd.next_header()? {
        if h.is_signature() {
            if !sections.is_empty() {
                return Err(Error::MisplacedSignatureSection { offset: h.offset });
            }
            let raw = rd.read_data(MAX_SIGNATURE_DATA, "signature section")?;
            signature = Some(SignatureData::decode(&raw, h.data_offset)?);
        }
        sections.push(SectionSummary {
            id: h.id,
            name: h.name.clone(),
            offset: h.offset,
            len: h.end() - h.offset,
            canonical: h.canonical,
        });
    }
    Ok(Inspection { kind: rd.kind(), signature, sections })
}
