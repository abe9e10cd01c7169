//! The tree of a component: its nested core modules and components, to any
//! depth, found in one streaming pass.
//!
//! A nested part is the payload of a core module section (id 1) or a
//! component section (id 4) of a component. The walk descends into each
//! payload as a sub-stream bounded by its section size: no payload is
//! buffered, and every nested size must fit inside its parent.

use alloc::vec::Vec;
use std::io::{self, BufRead, Read, Seek, SeekFrom};

use crate::error::{Error, Result};
use crate::section::{HeaderDecoder, ModuleKind, SectionHeader, SectionReader, preamble_kind};

/// Section id of a nested core module in a component.
const CORE_MODULE_SECTION: u8 = 1;
/// Section id of a nested component in a component.
const COMPONENT_SECTION: u8 = 4;
/// Read buffer of [`component_tree`].
const BUFFER: usize = 64 * 1024;

/// Default of [`TreeLimits::max_depth`].
pub const DEFAULT_MAX_DEPTH: u32 = 16;
/// Default of [`TreeLimits::max_parts`].
pub const DEFAULT_MAX_PARTS: usize = 10_000;

/// How deep and how large a component tree may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreeLimits {
    /// Deepest nesting allowed; the root is at depth 0.
    pub max_depth: u32,
    /// Most parts allowed, the root included.
    pub max_parts: usize,
}

impl Default for TreeLimits {
    fn default() -> Self {
        TreeLimits { max_depth: DEFAULT_MAX_DEPTH, max_parts: DEFAULT_MAX_PARTS }
    }
}

impl TreeLimits {
    /// These limits with another maximum depth.
    pub fn with_max_depth(mut self, max_depth: u32) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// These limits with another maximum number of parts.
    pub fn with_max_parts(mut self, max_parts: usize) -> Self {
        self.max_parts = max_parts;
        self
    }
}

/// One part of a component tree: the root, a nested core module or a
/// nested component.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Part {
    /// Nesting depth; the root is at 0.
    pub depth: u32,
    /// Offset of the part's preamble in the input.
    pub offset: u64,
    /// Length of the part, preamble included.
    pub len: u64,
    /// Core module or component.
    pub kind: ModuleKind,
    /// Whether the part's own top-level sections include a `signature`
    /// custom section. Signatures of nested parts do not count.
    pub signed: bool,
    /// Index of the part among its parent's nested parts, for each level
    /// from the root: empty for the root, `[2, 0]` for the first part
    /// inside the root's third.
    pub path: Vec<u32>,
}

/// One open part during the walk.
struct Frame {
    /// Offset just past the part; `None` for the root, which ends with the input.
    end: Option<u64>,
    kind: ModuleKind,
    /// Index of the part in the output.
    part: usize,
    /// Nested parts found in it so far.
    children: u32,
}

/// Walks the tree of a module or component read from `input`, once,
/// streaming. Returns the parts in input order, the root first. A core
/// module gives one part. Memory holds the parts and a 64 KiB buffer,
/// whatever the input's size.
pub fn component_tree<R: Read>(input: R, limits: &TreeLimits) -> Result<Vec<Part>> {
    walk(Reading(io::BufReader::with_capacity(BUFFER, input)), None, limits)
}

/// [`component_tree`] over a caller's buffered reader: its buffers are
/// parsed in place, so the walk copies no section data.
pub fn component_tree_buffered<B: BufRead>(input: B, limits: &TreeLimits) -> Result<Vec<Part>> {
    walk(Reading(input), None, limits)
}

/// [`component_tree`] on a seekable input: section data is skipped by
/// seeking, so only headers and preambles are read (a few KiB for a
/// large component). The input's length, taken first, bounds every
/// section; the input is left at its end.
pub fn component_tree_seekable<R: Read + Seek>(mut input: R, limits: &TreeLimits) -> Result<Vec<Part>> {
    let total = input.seek(SeekFrom::End(0))?;
    input.rewind()?;
    walk(io::BufReader::with_capacity(4096, input), Some(total), limits)
}

/// [`component_tree`] on a module or component held in memory.
pub fn component_tree_slice(input: &[u8], limits: &TreeLimits) -> Result<Vec<Part>> {
    walk(Reading(input), Some(input.len() as u64), limits)
}

/// What the walk reads from: buffered bytes, and a way to skip section
/// data.
trait TreeInput: BufRead {
    /// Skips `len` bytes at `pos`, which the caller has bounded by the
    /// input's end when it is known.
    fn skip_data(&mut self, pos: &mut u64, len: u64) -> Result<()>;
}

/// Skips by reading: for any buffered reader.
struct Reading<B>(B);

impl<B: BufRead> Read for Reading<B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<B: BufRead> BufRead for Reading<B> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.0.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.0.consume(amt)
    }
}

impl<B: BufRead> TreeInput for Reading<B> {
    fn skip_data(&mut self, pos: &mut u64, len: u64) -> Result<()> {
        skip(&mut self.0, pos, len)
    }
}

/// Skips by seeking past what is not buffered.
impl<R: Read + Seek> TreeInput for io::BufReader<R> {
    fn skip_data(&mut self, pos: &mut u64, len: u64) -> Result<()> {
        let by = i64::try_from(len).map_err(|_| Error::eof(*pos, "section data"))?;
        self.seek_relative(by)?;
        *pos += len;
        Ok(())
    }
}

/// The walk itself. `total`, when known, lets an oversized root section
/// fail at once.
fn walk<B: TreeInput>(mut input: B, total: Option<u64>, limits: &TreeLimits) -> Result<Vec<Part>> {
    let mut pos = 0u64;
    let mut pre = [0u8; 8];
    let got = fill(&mut input, &mut pre, &mut pos)?;
    let kind = preamble_kind(&pre[..got])?;
    let mut parts = Vec::new();
    add_part(&mut parts, limits, 0, Part { depth: 0, offset: 0, len: 0, kind, signed: false, path: Vec::new() })?;
    let mut stack = Vec::new();
    stack.push(Frame { end: None, kind, part: 0, children: 0 });
    loop {
        // The depth a part nested here would have.
        let depth = stack.len() as u32;
        let Some(top) = stack.last_mut() else { break };
        if top.end == Some(pos) {
            stack.pop();
            continue;
        }
        let Some(h) = header(&mut input, &mut pos, top.end, total)? else {
            // A clean end of input between the root's sections.
            break;
        };
        let nested = match (top.kind, h.id) {
            (ModuleKind::Component, CORE_MODULE_SECTION) => Some(ModuleKind::Module),
            (ModuleKind::Component, COMPONENT_SECTION) => Some(ModuleKind::Component),
            _ => None,
        };
        let Some(kind) = nested else {
            if h.is_signature() {
                parts[top.part].signed = true;
            }
            input.skip_data(&mut pos, h.data_len())?;
            continue;
        };
        if depth > limits.max_depth {
            return Err(Error::TooMany {
                offset: h.offset,
                what: "component nesting depth",
                count: u64::from(depth),
                limit: u64::from(limits.max_depth),
            });
        }
        if h.size < 8 {
            return Err(Error::malformed(h.payload_offset, "nested part", "shorter than its 8-byte preamble"));
        }
        if fill(&mut input, &mut pre, &mut pos)? < pre.len() {
            return Err(Error::eof(pos, "nested part preamble"));
        }
        if pre != kind.preamble() {
            return Err(Error::NestedPreamble {
                offset: h.payload_offset,
                expected: kind.as_str(),
                found: pre.to_vec(),
            });
        }
        let mut path = parts[top.part].path.clone();
        path.push(top.children);
        top.children = top.children.saturating_add(1);
        let part = Part { depth, offset: h.payload_offset, len: u64::from(h.size), kind, signed: false, path };
        add_part(&mut parts, limits, h.offset, part)?;
        stack.push(Frame { end: Some(h.end()), kind, part: parts.len() - 1, children: 0 });
    }
    parts[0].len = pos;
    Ok(parts)
}

fn add_part(parts: &mut Vec<Part>, limits: &TreeLimits, offset: u64, part: Part) -> Result<()> {
    if parts.len() >= limits.max_parts {
        return Err(Error::TooMany {
            offset,
            what: "component parts",
            count: parts.len() as u64 + 1,
            limit: limits.max_parts as u64,
        });
    }
    parts.push(part);
    Ok(())
}

/// Reads one section header that must end by `end` (the end of the part
/// it belongs to; `None` for the root). `None` at a clean end of the root.
fn header<B: BufRead>(
    input: &mut B,
    pos: &mut u64,
    end: Option<u64>,
    total: Option<u64>,
) -> Result<Option<SectionHeader>> {
    let mut dec = HeaderDecoder::new(*pos, end.or(total));
    let mut first = true;
    loop {
        let buf = fill_buf(input)?;
        if buf.is_empty() {
            if first && end.is_none() {
                return Ok(None);
            }
            return Err(Error::eof(*pos, dec.reading()));
        }
        let room = end.map_or(buf.len(), |e| usize::try_from(e - *pos).unwrap_or(usize::MAX).min(buf.len()));
        if room == 0 {
            return Err(Error::malformed(*pos, dec.reading(), "runs past the end of its parent part"));
        }
        let (used, done) = dec.push(&buf[..room])?;
        input.consume(used);
        *pos += used as u64;
        first = false;
        if done.is_some() {
            return Ok(done);
        }
    }
}

/// Skips `len` bytes of section data.
fn skip<B: BufRead>(input: &mut B, pos: &mut u64, mut len: u64) -> Result<()> {
    while len > 0 {
        let buf = fill_buf(input)?;
        if buf.is_empty() {
            return Err(Error::eof(*pos, "section data"));
        }
        let n = usize::try_from(len).unwrap_or(usize::MAX).min(buf.len());
        input.consume(n);
        *pos += n as u64;
        len -= n as u64;
    }
    Ok(())
}

/// Reads until `out` is full or the input ends; returns the count.
fn fill<B: BufRead>(input: &mut B, out: &mut [u8], pos: &mut u64) -> Result<usize> {
    let mut n = 0;
    while n < out.len() {
        let buf = fill_buf(input)?;
        if buf.is_empty() {
            break;
        }
        let k = buf.len().min(out.len() - n);
        out[n..n + k].copy_from_slice(&buf[..k]);
        input.consume(k);
        n += k;
    }
    *pos += n as u64;
    Ok(n)
}

fn fill_buf<B: BufRead>(input: &mut B) -> Result<&[u8]> {
    loop {
        match input.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(input.fill_buf()?)
}

/// What [`sign_nested`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NestedSigning {
    /// The component with its nested parts signed.
    pub component: Vec<u8>,
    /// The paths of the parts signed here, inner parts first.
    pub signed: Vec<Vec<u32>>,
    /// The paths of the parts left as they were because they carry a
    /// signature of their own (their nested parts are not touched either).
    pub kept: Vec<Vec<u32>>,
}

/// Signs with `signer` every nested part of a component (core modules and
/// components, at any depth) that carries no signature section of its
/// own, inner parts first, so that a nested component's signature covers
/// its signed parts. A part that is signed already is kept byte for byte,
/// with everything inside it, so its signatures still verify. Around a
/// grown part only the section sizes are re-encoded (minimally); every
/// other byte is copied. The root is not signed: sign the result as a
/// whole afterwards (`wsc sign --nested` does both). The tree is checked
/// first, under `limits`; a core module input has no nested parts and is
/// returned as it is.
pub fn sign_nested(input: &[u8], signer: &dyn crate::Signer, limits: &TreeLimits) -> Result<NestedSigning> {
    let parts = component_tree_slice(input, limits)?;
    let mut done = NestedSigning { component: Vec::new(), signed: Vec::new(), kept: Vec::new() };
    done.component = match parts.first().map(|p| p.kind) {
        Some(ModuleKind::Component) => rebuild(input, 0, &[], signer, &mut done)?,
        _ => input.to_vec(),
    };
    Ok(done)
}

/// The component `bytes` (at `base` in the input) with its unsigned
/// nested parts signed.
fn rebuild(
    bytes: &[u8],
    base: u64,
    path: &[u32],
    signer: &dyn crate::Signer,
    done: &mut NestedSigning,
) -> Result<Vec<u8>> {
    let mut reader = SectionReader::with_total_len(bytes, Some(bytes.len() as u64))?;
    let mut out = bytes.get(..8).unwrap_or_default().to_vec();
    let mut index = 0u32;
    while let Some(h) = reader.next_header()? {
        let (start, payload, end) = (h.offset as usize, h.payload_offset as usize, h.end() as usize);
        let kind = match h.id {
            CORE_MODULE_SECTION => ModuleKind::Module,
            COMPONENT_SECTION => ModuleKind::Component,
            _ => {
                out.extend_from_slice(&bytes[start..end]);
                continue;
            }
        };
        let mut here = path.to_vec();
        here.push(index);
        index += 1;
        let part = &bytes[payload..end];
        let grown = nested_part(part, base + h.payload_offset, kind, &here, signer, done)?;
        out.push(h.id);
        crate::leb::write_len(&mut out, grown.len())?;
        out.extend_from_slice(&grown);
    }
    Ok(out)
}

/// One nested part, signed unless it is signed already.
fn nested_part(
    part: &[u8],
    offset: u64,
    kind: ModuleKind,
    path: &[u32],
    signer: &dyn crate::Signer,
    done: &mut NestedSigning,
) -> Result<Vec<u8>> {
    let mut reader = SectionReader::with_total_len(part, Some(part.len() as u64))?;
    let mut signed = false;
    while let Some(h) = reader.next_header()? {
        signed |= h.is_signature();
    }
    if signed {
        done.kept.push(path.to_vec());
        return Ok(part.to_vec());
    }
    let inner = match kind {
        ModuleKind::Component => rebuild(part, offset, path, signer, done)?,
        _ => part.to_vec(),
    };
    let mut out = Vec::with_capacity(inner.len() + 256);
    let _report = crate::sign_embedded(io::Cursor::new(&inner), &mut out, signer).map_err(|e| match e {
        // Offsets inside the part, moved to the input's.
        Error::Malformed { offset: o, what, reason } => Error::Malformed { offset: o + offset, what, reason },
        other => other,
    })?;
    done.signed.push(path.to_vec());
    Ok(out)
}
