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

/// Copies a module with canonical (minimal) section headers, every section
/// kept, as wasmsign2 writes the copy of a module it signs detached. Returns
/// whether a header was re-encoded. A detached signature of the input
/// verifies against the copy: hashing is canonical.
pub fn canonical_copy<R: Read, W: Write>(input: R, output: &mut W) -> Result<bool> {
    let mut rd = reader(input)?;
    output.write_all(&rd.kind().preamble())?;
    let mut reencoded = false;
    walk::copy_canonical(&mut rd, None, output, |h| {
        reencoded |= !h.canonical;
        Ok(())
    })?;
    Ok(reencoded)
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
///
/// The list holds one entry per section, so its size grows with the
/// number of sections: for large or untrusted input, walk [`Sections`]
/// instead, which holds one section at a time.
pub fn inspect<R: Read>(input: R, total_len: Option<u64>) -> Result<Inspection> {
    let mut walk = Sections::new(input, total_len)?;
    let sections = walk.by_ref().collect::<Result<Vec<_>>>()?;
    Ok(Inspection { kind: walk.kind(), signature: walk.take_signature(), sections })
}

/// The sections of a module, read one at a time, verifying nothing.
///
/// Memory stays flat in the input size: one section header (names are at
/// most [`MAX_NAME_LEN`](crate::format::MAX_NAME_LEN) bytes), the read buffer and
/// the signature data (at most
/// [`MAX_SIGNATURE_DATA`](crate::sigdata::MAX_SIGNATURE_DATA) bytes). The
/// signature section is decoded when it is read, so
/// [`signature`](Self::signature) is known once the first section has been
/// returned. After an error the iterator ends.
///
/// ```
/// # fn main() -> wsc_core::Result<()> {
/// let module = b"\0asm\x01\0\0\0\x00\x04\x03abc";
/// let mut sections = wsc_core::Sections::new(&module[..], None)?;
/// let names: Vec<_> = sections.by_ref().map(|s| s.map(|s| s.name)).collect::<Result<_, _>>()?;
/// assert_eq!(names, [Some("abc".to_string())]);
/// assert_eq!(sections.count_so_far(), 1);
/// assert!(sections.signature().is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Sections<R: Read> {
    rd: SectionReader<io::BufReader<R>>,
    signature: Option<SignatureData>,
    count: u64,
    done: bool,
}

impl<R: Read> Sections<R> {
    /// Reads the preamble. `total_len`, when known, lets oversized length
    /// fields fail at once.
    pub fn new(input: R, total_len: Option<u64>) -> Result<Self> {
        let rd = SectionReader::with_total_len(io::BufReader::with_capacity(256 * 1024, input), total_len)?;
        Ok(Sections { rd, signature: None, count: 0, done: false })
    }

    /// Module or component.
    pub fn kind(&self) -> ModuleKind {
        self.rd.kind()
    }

    /// The signature data, once the first section has been read and if it
    /// is the `signature` section.
    pub fn signature(&self) -> Option<&SignatureData> {
        self.signature.as_ref()
    }

    /// Takes the signature data out (see [`signature`](Self::signature)).
    pub fn take_signature(&mut self) -> Option<SignatureData> {
        self.signature.take()
    }

    /// How many sections have been returned so far.
    pub fn count_so_far(&self) -> u64 {
        self.count
    }

    fn read_next(&mut self) -> Result<Option<SectionSummary>> {
        let Some(h) = self.rd.next_header()? else {
            return Ok(None);
        };
        if h.is_signature() {
            if self.count > 0 {
                return Err(Error::MisplacedSignatureSection { offset: h.offset });
            }
            let raw = self.rd.read_data(MAX_SIGNATURE_DATA, "signature section")?;
            self.signature = Some(SignatureData::decode(&raw, h.data_offset)?);
        }
        self.count += 1;
        let len = h.end() - h.offset;
        Ok(Some(SectionSummary { id: h.id, name: h.name, offset: h.offset, len, canonical: h.canonical }))
    }
}

impl<R: Read> Iterator for Sections<R> {
    type Item = Result<SectionSummary>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.read_next().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}
