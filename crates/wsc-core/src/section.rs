//! A streaming reader of the sections of a module or component.
//!
//! It reads the preamble, then one section header at a time. The payload of
//! a section is streamed in chunks or read into memory under a cap; nothing is
//! allocated from a length field before the bytes have arrived.

use alloc::string::String;
use alloc::vec::Vec;
#[cfg(feature = "std")]
use std::io::{self, Read, Write};

use crate::error::{Error, Result};
use crate::leb::{self, LebDecoder};

/// Preamble of a core WebAssembly module (version 1).
pub const MODULE_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
/// Preamble of a component (layer 1, version 0x0d).
pub const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
/// Name of the custom section that carries signatures.
pub const SIGNATURE_SECTION: &str = "signature";
/// Name of the custom section that marks a cut point.
pub const DELIMITER_SECTION: &str = "signature_delimiter";
/// Longest custom-section name wsc reads.
pub const MAX_NAME_LEN: u32 = 64 * 1024;

const CHUNK: usize = 256 * 1024;

/// What the preamble says the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModuleKind {
    /// A core module (`00 61 73 6d 01 00 00 00`).
    Module,
    /// A component (`00 61 73 6d 0d 00 01 00`).
    Component,
}

impl ModuleKind {
    /// The 8-byte preamble of this kind.
    pub fn preamble(self) -> [u8; 8] {
        match self {
            ModuleKind::Module => MODULE_PREAMBLE,
            ModuleKind::Component => COMPONENT_PREAMBLE,
        }
    }

    /// A lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleKind::Module => "module",
            ModuleKind::Component => "component",
        }
    }
}

/// The header of one section, with offsets into the input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SectionHeader {
    /// Section id (0 = custom).
    pub id: u8,
    /// Offset of the id byte.
    pub offset: u64,
    /// Payload size as written.
    pub size: u32,
    /// Offset of the payload's first byte.
    pub payload_offset: u64,
    /// The name, for custom sections.
    pub name: Option<String>,
    /// Offset of the data (after the name for custom sections).
    pub data_offset: u64,
    /// Whether the header used minimal LEB128 encodings.
    pub canonical: bool,
}

impl SectionHeader {
    /// Offset just past the section.
    pub fn end(&self) -> u64 {
        self.payload_offset + u64::from(self.size)
    }

    /// Length of the data (payload minus the name for custom sections).
    pub fn data_len(&self) -> u64 {
        self.end() - self.data_offset
    }

    /// The custom-section name, if any.
    pub fn custom_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether this is the `signature` custom section.
    pub fn is_signature(&self) -> bool {
        self.custom_name() == Some(SIGNATURE_SECTION)
    }

    /// Whether this is a `signature_delimiter` custom section.
    pub fn is_delimiter(&self) -> bool {
        self.custom_name() == Some(DELIMITER_SECTION)
    }

    /// The header as wasmsign2 re-encodes it: id, minimal size and, for
    /// custom sections, minimal name length and the name.
    pub fn canonical_header(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.name.as_ref().map_or(0, String::len));
        out.push(self.id);
        match &self.name {
            Some(name) => {
                let name_len = name.len() as u32;
                let size = leb::encoded_len(name_len) as u64 + u64::from(name_len) + self.data_len();
                // The canonical size is never larger than the raw one, so it fits.
                leb::write(&mut out, size as u32);
                leb::write(&mut out, name_len);
                out.extend_from_slice(name.as_bytes());
            }
            None => leb::write(&mut out, self.size),
        }
        out
    }
}

/// Reads sections one at a time from a stream.
#[cfg(feature = "std")]
#[derive(Debug)]
pub struct SectionReader<R> {
    inner: R,
    kind: ModuleKind,
    pos: u64,
    /// Data bytes of the current section not yet consumed.
    pending: u64,
    /// Total input length, when known, to reject lengths early.
    total: Option<u64>,
    buf: Vec<u8>,
}

#[cfg(feature = "std")]
impl<R: Read> SectionReader<R> {
    /// Reads and checks the preamble.
    pub fn new(inner: R) -> Result<Self> {
        Self::with_total_len(inner, None)
    }

    /// Like [`new`](Self::new), with the input's total length, so that a
    /// length field beyond the end is rejected before any read.
    pub fn with_total_len(mut inner: R, total: Option<u64>) -> Result<Self> {
        let mut pre = [0u8; 8];
        let n = read_full(&mut inner, &mut pre)?;
        let kind = preamble_kind(&pre[..n])?;
        Ok(SectionReader { inner, kind, pos: 8, pending: 0, total, buf: Vec::new() })
    }

    /// What the preamble said.
    pub fn kind(&self) -> ModuleKind {
        self.kind
    }

    /// Bytes consumed so far (the offset of the next unread byte, once the
    /// current payload is consumed).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Reads the next section header, skipping whatever is left of the
    /// current payload. `None` at a clean end of input.
    pub fn next_header(&mut self) -> Result<Option<SectionHeader>> {
        self.skip_data()?;
        let mut id = [0u8; 1];
        if read_full(&mut self.inner, &mut id)? == 0 {
            return Ok(None);
        }
        let mut dec = HeaderDecoder::new(self.pos, self.total);
        let mut got = dec.push(&id)?.1;
        while got.is_none() {
            // One byte at a time through the numbers, the name at once.
            let want = dec.wants();
            let bytes = if want == 1 {
                let mut b = [0u8; 1];
                if read_full(&mut self.inner, &mut b)? == 0 {
                    return Err(Error::eof(dec.position(), dec.reading()));
                }
                b.to_vec()
            } else {
                let what = dec.reading();
                let mut v = Vec::with_capacity(want.min(CHUNK));
                let n = (&mut self.inner).take(want as u64).read_to_end(&mut v)?;
                if n < want {
                    return Err(Error::eof(dec.position() + n as u64, what));
                }
                v
            };
            got = dec.push(&bytes)?.1;
        }
        let h = got.expect("the loop ends with a header");
        self.pos = h.data_offset;
        self.pending = h.data_len();
        Ok(Some(h))
    }

    /// Streams the rest of the current section's data to `f`, in chunks.
    pub fn data_chunks(&mut self, mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        // The buffer grows to what the payloads need, at most one chunk.
        let need = self.pending.min(CHUNK as u64) as usize;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        while self.pending > 0 {
            let want = self.pending.min(self.buf.len() as u64) as usize;
            let n = match self.inner.read(&mut self.buf[..want]) {
                Ok(0) => return Err(Error::eof(self.pos, "section data")),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            self.pos += n as u64;
            self.pending -= n as u64;
            f(&self.buf[..n])?;
        }
        Ok(())
    }

    /// Copies the rest of the current section's data to `out`.
    pub fn copy_data(&mut self, out: &mut impl Write) -> Result<()> {
        self.data_chunks(|c| out.write_all(c).map_err(Error::from))
    }

    /// Reads the rest of the current section's data into memory, refusing
    /// more than `cap` bytes.
    pub fn read_data(&mut self, cap: usize, what: &'static str) -> Result<Vec<u8>> {
        if self.pending > cap as u64 {
            return Err(Error::TooLarge { offset: self.pos, what, len: self.pending, limit: cap as u64 });
        }
        let len = self.pending as usize;
        let v = self.read_exact_vec(len, what)?;
        self.pending = 0;
        Ok(v)
    }

    /// Returns the underlying reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn skip_data(&mut self) -> Result<()> {
        if self.pending > 0 {
            self.data_chunks(|_| Ok(()))?;
        }
        Ok(())
    }

    /// Reads exactly `len` bytes; the vector grows with the bytes that
    /// really arrive, never with the announced length.
    fn read_exact_vec(&mut self, len: usize, what: &'static str) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(len.min(CHUNK));
        let n = (&mut self.inner).take(len as u64).read_to_end(&mut v)?;
        self.pos += n as u64;
        if n < len {
            return Err(Error::eof(self.pos, what));
        }
        Ok(v)
    }
}

/// What [`SectionParser::feed`] reports, in input order.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// A section header.
    Header(SectionHeader),
    /// Bytes of the current section's data (after the name, for custom
    /// sections), borrowed from the input.
    Data(&'a [u8]),
    /// The current section ended.
    End,
}

/// Splits a module or component given in pieces of any size into
/// sections: the push form of [`SectionReader`], sharing its header
/// decoder. Data is handed over as slices of the input, never copied.
#[derive(Debug)]
pub(crate) struct SectionParser {
    /// Offset of the next byte.
    pos: u64,
    total: Option<u64>,
    preamble: Vec<u8>,
    kind: Option<ModuleKind>,
    header: Option<HeaderDecoder>,
    /// Data bytes of the current section not yet seen.
    pending: u64,
    /// Inside a section whose `End` is still due.
    open: bool,
}

impl SectionParser {
    /// A parser for an input of `total` bytes, when known (then a length
    /// field beyond the end fails at once).
    pub(crate) fn new(total: Option<u64>) -> Self {
        SectionParser { pos: 0, total, preamble: Vec::new(), kind: None, header: None, pending: 0, open: false }
    }

    /// Offset of the next byte.
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    /// Parses `input`, reporting each header, data slice and section end.
    pub(crate) fn feed(&mut self, mut input: &[u8], on: &mut dyn FnMut(Event<'_>) -> Result<()>) -> Result<()> {
        while !input.is_empty() {
            if self.kind.is_none() {
                let take = (8 - self.preamble.len()).min(input.len());
                self.preamble.extend_from_slice(&input[..take]);
                input = &input[take..];
                self.pos += take as u64;
                if self.preamble.len() == 8 {
                    self.kind = Some(preamble_kind(&self.preamble)?);
                }
                continue;
            }
            if self.pending > 0 {
                let take = usize::try_from(self.pending).unwrap_or(usize::MAX).min(input.len());
                on(Event::Data(&input[..take]))?;
                input = &input[take..];
                self.pos += take as u64;
                self.pending -= take as u64;
                if self.pending == 0 {
                    self.open = false;
                    on(Event::End)?;
                }
                continue;
            }
            let dec = self.header.get_or_insert_with(|| HeaderDecoder::new(self.pos, self.total));
            let (used, done) = dec.push(input)?;
            input = &input[used..];
            self.pos += used as u64;
            if let Some(h) = done {
                self.header = None;
                self.pending = h.data_len();
                on(Event::Header(h))?;
                if self.pending == 0 {
                    on(Event::End)?;
                } else {
                    self.open = true;
                }
            }
        }
        Ok(())
    }

    /// Checks that the input ended cleanly: after the preamble, between
    /// sections.
    pub(crate) fn finish(&self) -> Result<ModuleKind> {
        let Some(kind) = self.kind else {
            return Err(Error::BadPreamble { found: self.preamble.clone() });
        };
        if let Some(dec) = &self.header {
            return Err(Error::eof(self.pos, dec.reading()));
        }
        if self.open {
            return Err(Error::eof(self.pos, "section data"));
        }
        Ok(kind)
    }
}

/// The kind an 8-byte preamble names.
pub(crate) fn preamble_kind(pre: &[u8]) -> Result<ModuleKind> {
    if pre == MODULE_PREAMBLE {
        Ok(ModuleKind::Module)
    } else if pre == COMPONENT_PREAMBLE {
        Ok(ModuleKind::Component)
    } else {
        Err(Error::BadPreamble { found: pre.to_vec() })
    }
}

/// Decodes one section header from bytes given in pieces of any size:
/// the id, the size, and for custom sections the name's length and the
/// name. Every length is checked as soon as it is known, and nothing is
/// allocated beyond the bytes that arrived.
#[derive(Debug)]
pub(crate) struct HeaderDecoder {
    /// Offset of the id byte.
    offset: u64,
    /// Offset of the next byte.
    pos: u64,
    /// Input length, when known.
    total: Option<u64>,
    state: HeaderState,
}

#[derive(Debug)]
enum HeaderState {
    Id,
    Size { id: u8, dec: LebDecoder },
    NameLen { id: u8, size: leb::Leb, payload_offset: u64, dec: LebDecoder },
    Name { id: u8, size: leb::Leb, payload_offset: u64, name_len: leb::Leb, name: Vec<u8> },
    Done,
}

impl HeaderDecoder {
    /// A header whose id byte is at `offset`.
    pub(crate) fn new(offset: u64, total: Option<u64>) -> Self {
        HeaderDecoder { offset, pos: offset, total, state: HeaderState::Id }
    }

    /// Offset of the next byte the decoder needs.
    #[cfg(feature = "std")]
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    /// What the decoder is reading, for errors.
    pub(crate) fn reading(&self) -> &'static str {
        match self.state {
            HeaderState::Id | HeaderState::Done => "section header",
            HeaderState::Size { .. } => "section size",
            HeaderState::NameLen { .. } => "custom section name length",
            HeaderState::Name { .. } => "custom section name",
        }
    }

    /// How many bytes the decoder can take now without reading past the
    /// header: one inside a number, the rest of the name inside a name.
    #[cfg(feature = "std")]
    pub(crate) fn wants(&self) -> usize {
        match &self.state {
            HeaderState::Name { name_len, name, .. } => name_len.value as usize - name.len(),
            HeaderState::Done => 0,
            _ => 1,
        }
    }

    /// Takes bytes from `input`; returns how many it used, and the header
    /// once it is complete.
    pub(crate) fn push(&mut self, input: &[u8]) -> Result<(usize, Option<SectionHeader>)> {
        let mut used = 0;
        while used < input.len() {
            let state = core::mem::replace(&mut self.state, HeaderState::Done);
            match state {
                HeaderState::Done => return Ok((used, None)),
                HeaderState::Name { id, size, payload_offset, name_len, mut name } => {
                    let take = (name_len.value as usize - name.len()).min(input.len() - used);
                    name.extend_from_slice(&input[used..used + take]);
                    used += take;
                    self.pos += take as u64;
                    if name.len() == name_len.value as usize {
                        let name = String::from_utf8(name).map_err(|_| {
                            Error::malformed(payload_offset, "custom section", "name is not valid UTF-8")
                        })?;
                        return Ok((used, Some(self.header(id, size, payload_offset, Some(name), name_len.minimal))));
                    }
                    self.state = HeaderState::Name { id, size, payload_offset, name_len, name };
                }
                other => {
                    let byte = input[used];
                    used += 1;
                    self.pos += 1;
                    if let Some(h) = self.step(other, byte)? {
                        return Ok((used, Some(h)));
                    }
                }
            }
        }
        Ok((used, None))
    }

    /// One byte of the id or of a number.
    fn step(&mut self, state: HeaderState, byte: u8) -> Result<Option<SectionHeader>> {
        match state {
            HeaderState::Id => {
                if byte & 0x80 != 0 {
                    return Err(Error::malformed(self.offset, "section header", "section id has its high bit set"));
                }
                self.state = HeaderState::Size { id: byte, dec: LebDecoder::default() };
            }
            HeaderState::Size { id, mut dec } => match dec.push(byte, self.offset + 1, "section size")? {
                None => self.state = HeaderState::Size { id, dec },
                Some(size) => {
                    let payload_offset = self.pos;
                    if let Some(total) = self.total {
                        let left = total.saturating_sub(payload_offset);
                        if u64::from(size.value) > left {
                            return Err(Error::TooLarge {
                                offset: self.offset + 1,
                                what: "section size",
                                len: u64::from(size.value),
                                limit: left,
                            });
                        }
                    }
                    if id != 0 {
                        return Ok(Some(self.header(id, size, payload_offset, None, true)));
                    }
                    self.state = HeaderState::NameLen { id, size, payload_offset, dec: LebDecoder::default() };
                }
            },
            HeaderState::NameLen { id, size, payload_offset, mut dec } => {
                match dec.push(byte, payload_offset, "custom section name length")? {
                    None => self.state = HeaderState::NameLen { id, size, payload_offset, dec },
                    Some(name_len) => {
                        let used = self.pos - payload_offset;
                        if u64::from(name_len.value) + used > u64::from(size.value) {
                            return Err(Error::malformed(
                                payload_offset,
                                "custom section",
                                "name runs past the end of the section",
                            ));
                        }
                        if name_len.value > MAX_NAME_LEN {
                            return Err(Error::TooLarge {
                                offset: payload_offset,
                                what: "custom section name",
                                len: u64::from(name_len.value),
                                limit: u64::from(MAX_NAME_LEN),
                            });
                        }
                        if name_len.value == 0 {
                            return Ok(Some(self.header(
                                id,
                                size,
                                payload_offset,
                                Some(String::new()),
                                name_len.minimal,
                            )));
                        }
                        let name = Vec::with_capacity((name_len.value as usize).min(CHUNK));
                        self.state = HeaderState::Name { id, size, payload_offset, name_len, name };
                    }
                }
            }
            // `push` takes names and stops when done; nothing to do here.
            other @ (HeaderState::Name { .. } | HeaderState::Done) => self.state = other,
        }
        Ok(None)
    }

    fn header(
        &mut self,
        id: u8,
        size: leb::Leb,
        payload_offset: u64,
        name: Option<String>,
        name_minimal: bool,
    ) -> SectionHeader {
        self.state = HeaderState::Done;
        SectionHeader {
            id,
            offset: self.offset,
            size: size.value,
            payload_offset,
            name,
            data_offset: self.pos,
            canonical: size.minimal && name_minimal,
        }
    }
}

/// Reads until `buf` is full or the input ends; returns the count.
#[cfg(feature = "std")]
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

/// Encodes a custom section with minimal LEB128 lengths.
pub fn encode_custom_section(name: &str, data: &[u8]) -> Result<Vec<u8>> {
    let mut payload = Vec::with_capacity(name.len() + data.len() + 5);
    leb::write_len(&mut payload, name.len())?;
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(data);
    let mut out = Vec::with_capacity(payload.len() + 6);
    out.push(0);
    leb::write_len(&mut out, payload.len())?;
    out.extend_from_slice(&payload);
    Ok(out)
}
