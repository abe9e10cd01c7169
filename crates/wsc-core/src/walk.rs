//! One pass over the content sections: the rolling hash with a snapshot at
//! each delimiter, and what a section selection says about each part.

use alloc::vec::Vec;
#[cfg(feature = "std")]
use std::io::{Read, Write};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::section::SectionHeader;
#[cfg(feature = "std")]
use crate::section::SectionReader;
use crate::sigdata::{Hash, MAX_HASHES};
#[cfg(feature = "std")]
use crate::sigdata::{MAX_SIGNATURE_DATA, SignatureData};

/// Which sections a partial verification asks about.
pub type Selection<'a> = &'a dyn Fn(&SectionHeader) -> bool;

/// How the sections of one part answer the selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartSelection {
    /// The part has no section (two delimiters in a row).
    Empty,
    /// Every section of the part is selected.
    Selected,
    /// No section of the part is selected.
    Unselected,
    /// Some are and some are not.
    Mixed,
}

impl PartSelection {
    fn add(self, selected: bool) -> Self {
        match (self, selected) {
            (PartSelection::Empty, true) | (PartSelection::Selected, true) => PartSelection::Selected,
            (PartSelection::Empty, false) | (PartSelection::Unselected, false) => PartSelection::Unselected,
            _ => PartSelection::Mixed,
        }
    }
}

/// A point where the rolling hash is compared: after each delimiter, and
/// at the end of the content when it does not end with a delimiter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checkpoint {
    /// Offset of the part's first byte in the input.
    pub start: u64,
    /// Offset just past the part (and its delimiter).
    pub end: u64,
    /// The rolling hash over all content up to `end`.
    pub hash: Hash,
    /// Whether the part ends with a delimiter (else it ends the content).
    pub delimiter: bool,
    /// How the part answers the selection (`Selected` when there is none).
    pub selection: PartSelection,
    /// Offset of the first selected section of the part.
    pub first_selected: Option<u64>,
}

/// The result of one pass over the content.
#[derive(Debug)]
pub(crate) struct Walk {
    pub(crate) checkpoints: Vec<Checkpoint>,
    /// Whether every header was minimal (signing reads it).
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    pub(crate) canonical: bool,
    /// Length of the canonical content (the hashed bytes; signing reads it).
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    pub(crate) canonical_len: u64,
    pub(crate) start: u64,
    pub(crate) end: u64,
}

impl Walk {
    pub(crate) fn hashes(&self) -> Vec<Hash> {
        self.checkpoints.iter().map(|c| c.hash).collect()
    }
}

#[cfg(feature = "std")]
/// The embedded signature: the section's offset and its decoded data.
pub(crate) type Embedded = Option<(u64, SignatureData)>;

#[cfg(feature = "std")]
/// Reads the first section if it is the `signature` section and returns its
/// decoded data; otherwise hands that header back to be walked as content.
pub(crate) fn read_head<R: Read>(rd: &mut SectionReader<R>) -> Result<(Embedded, Option<SectionHeader>)> {
    match rd.next_header()? {
        Some(h) if h.is_signature() => {
            let raw = rd.read_data(MAX_SIGNATURE_DATA, "signature section")?;
            let data = SignatureData::decode(&raw, h.data_offset)?;
            Ok((Some((h.offset, data)), None))
        }
        other => Ok((None, other)),
    }
}

#[cfg(feature = "std")]
/// Hashes every content section from `first` (already read) onwards.
/// A `signature` section among the content is an error, except as the very
/// first section when `signature_is_content` (detached mode).
pub(crate) fn walk<R: Read>(
    rd: &mut SectionReader<R>,
    first: Option<SectionHeader>,
    signature_is_content: bool,
    selection: Option<Selection<'_>>,
) -> Result<Walk> {
    walk_into(rd, first, signature_is_content, selection, Sink::None)
}

#[cfg(feature = "std")]
/// Where a walk also sends the content it hashes.
pub(crate) enum Sink<'a> {
    /// Nowhere.
    None,
    /// The canonical content, byte for byte.
    Bytes(&'a mut dyn Write),
    /// Each section's header and its canonical encoding, before its data.
    Headers(&'a mut dyn FnMut(&SectionHeader, &[u8]) -> Result<()>),
}

#[cfg(feature = "std")]
/// [`walk`], also sending the content to `sink`.
pub(crate) fn walk_into<R: Read>(
    rd: &mut SectionReader<R>,
    first: Option<SectionHeader>,
    signature_is_content: bool,
    selection: Option<Selection<'_>>,
    mut sink: Sink<'_>,
) -> Result<Walk> {
    let start = first.as_ref().map_or(rd.position(), |h| h.offset);
    let mut walker = Walker::new(start, signature_is_content, selection);
    let mut next = first;
    loop {
        let h = match next.take() {
            Some(h) => h,
            None => match rd.next_header()? {
                Some(h) => h,
                None => break,
            },
        };
        let header = walker.header(&h)?;
        match &mut sink {
            Sink::None => {}
            Sink::Bytes(out) => out.write_all(&header)?,
            Sink::Headers(f) => f(&h, &header)?,
        }
        rd.data_chunks(|c| {
            walker.data(c);
            if let Sink::Bytes(out) = &mut sink {
                out.write_all(c)?;
            }
            Ok(())
        })?;
        walker.end_section()?;
    }
    walker.finish(rd.position())
}

/// The content walk, fed one section at a time: by [`walk_into`] from a
/// reader, or by the streaming verifier as bytes arrive.
pub(crate) struct Walker<'s> {
    hasher: Sha256,
    checkpoints: Vec<Checkpoint>,
    canonical: bool,
    canonical_len: u64,
    start: u64,
    part_start: u64,
    sel: PartSelection,
    first_selected: Option<u64>,
    is_first: bool,
    signature_is_content: bool,
    selection: Option<Selection<'s>>,
    /// The section being walked: its offset, end and whether it is a delimiter.
    current: Option<(u64, u64, bool)>,
}

impl<'s> Walker<'s> {
    /// A walk of content starting at `start`. A `signature` section among
    /// the content is an error, except as the very first section when
    /// `signature_is_content` (detached mode).
    pub(crate) fn new(start: u64, signature_is_content: bool, selection: Option<Selection<'s>>) -> Self {
        Walker {
            hasher: Sha256::new(),
            checkpoints: Vec::new(),
            canonical: true,
            canonical_len: 0,
            start,
            part_start: start,
            sel: PartSelection::Empty,
            first_selected: None,
            is_first: true,
            signature_is_content,
            selection,
            current: None,
        }
    }

    /// A section begins: hashes its canonical header, which it returns.
    pub(crate) fn header(&mut self, h: &SectionHeader) -> Result<Vec<u8>> {
        if h.is_signature() && !(self.signature_is_content && self.is_first) {
            return Err(Error::MisplacedSignatureSection { offset: h.offset });
        }
        self.is_first = false;
        self.canonical &= h.canonical;
        let header = h.canonical_header();
        self.canonical_len += header.len() as u64 + h.data_len();
        self.hasher.update(&header);
        if !h.is_delimiter() {
            let s = self.selection.is_none_or(|f| f(h));
            if s && self.first_selected.is_none() {
                self.first_selected = Some(h.offset);
            }
            self.sel = self.sel.add(s);
        }
        self.current = Some((h.offset, h.end(), h.is_delimiter()));
        Ok(header)
    }

    /// Bytes of the current section's data.
    pub(crate) fn data(&mut self, c: &[u8]) {
        self.hasher.update(c);
    }

    /// The current section ended: a delimiter closes a part.
    pub(crate) fn end_section(&mut self) -> Result<()> {
        if let Some((offset, end, true)) = self.current.take() {
            push_checkpoint(&self.checkpoints, offset)?;
            self.checkpoints.push(Checkpoint {
                start: self.part_start,
                end,
                hash: self.hasher.clone().finalize().into(),
                delimiter: true,
                selection: self.sel,
                first_selected: self.first_selected.take(),
            });
            self.part_start = end;
            self.sel = PartSelection::Empty;
        }
        Ok(())
    }

    /// The content ended at `end`: the last part, when it does not end
    /// with a delimiter.
    pub(crate) fn finish(mut self, end: u64) -> Result<Walk> {
        if self.checkpoints.last().is_none_or(|c| c.end != end) {
            push_checkpoint(&self.checkpoints, end)?;
            self.checkpoints.push(Checkpoint {
                start: self.part_start,
                end,
                hash: self.hasher.finalize().into(),
                delimiter: false,
                selection: self.sel,
                first_selected: self.first_selected,
            });
        }
        Ok(Walk {
            checkpoints: self.checkpoints,
            canonical: self.canonical,
            canonical_len: self.canonical_len,
            start: self.start,
            end,
        })
    }
}

fn push_checkpoint(checkpoints: &[Checkpoint], offset: u64) -> Result<()> {
    if checkpoints.len() >= MAX_HASHES as usize {
        return Err(Error::TooMany {
            offset,
            what: "signature delimiters",
            count: checkpoints.len() as u64 + 1,
            limit: MAX_HASHES.into(),
        });
    }
    Ok(())
}

#[cfg(feature = "std")]
/// Copies every remaining section to `out` with canonical (minimal) headers.
/// `check` sees each header first and may refuse it.
pub(crate) fn copy_canonical<R: Read, W: Write>(
    rd: &mut SectionReader<R>,
    first: Option<SectionHeader>,
    out: &mut W,
    mut check: impl FnMut(&SectionHeader) -> Result<()>,
) -> Result<()> {
    let mut next = first;
    loop {
        let h = match next.take() {
            Some(h) => h,
            None => match rd.next_header()? {
                Some(h) => h,
                None => return Ok(()),
            },
        };
        check(&h)?;
        out.write_all(&h.canonical_header())?;
        rd.copy_data(out)?;
    }
}
