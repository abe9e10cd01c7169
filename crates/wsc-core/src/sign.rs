//! Signing, embedded and detached, in two streaming passes.
//!
//! Pass one hashes the content; pass two writes the new signature section and
//! copies the content. Memory use does not depend on the module size.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::error::{Error, Result};
use crate::section::{SIGNATURE_SECTION, SectionReader, encode_custom_section};
use crate::sigdata::{Hash, SignatureData, SignatureRecord, signed_message};
use crate::signer::{Signer, SignerError};
use crate::walk;

/// What a signing call did.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct SignReport {
    /// The hashes that were signed (one per part).
    pub hashes: Vec<Hash>,
    /// Sets in the resulting signature data.
    pub sets: usize,
    /// Whether the content had non-minimal size encodings and was re-encoded
    /// in the output (embedded mode), as wasmsign2 does.
    pub reencoded: bool,
    /// Length of the new signature data.
    pub signature_len: usize,
}

/// Signs `hashes` with `signer` and adds the record to `data`.
fn add_record(data: &mut SignatureData, hashes: &[Hash], signer: &dyn Signer) -> Result<()> {
    let msg = signed_message(hashes);
    let sig = signer.try_sign(&msg).map_err(Error::Signer)?;
    if let Some(pk) = signer.public_key() {
        if pk.algorithm().algorithm_id() == signer.algorithm() && !pk.verify(&msg, &sig) {
            return Err(Error::Signer(SignerError::new(
                "the signature does not verify with the signer's own public key",
            )));
        }
    }
    let record = SignatureRecord::new(signer.key_id(), signer.algorithm(), sig);
    data.add_signature(hashes, &record)
}

/// Signs a module and writes it with its signature section to `output`.
///
/// An existing signature section is kept and extended: the new signature
/// joins the set with the same hashes, or starts a new set. Records wsc
/// cannot read are kept. Content with non-minimal size encodings is
/// re-encoded (as wasmsign2 does). On error, what was written to `output`
/// is unspecified: write to a temporary file and rename on success.
pub fn sign_embedded<R: Read + Seek, W: Write>(
    mut input: R,
    output: &mut W,
    signer: &dyn Signer,
) -> Result<SignReport> {
    let head = sign_embedded_head(&mut input, signer, &mut NoCopy)?;
    output.write_all(&head.head)?;
    write_content(&mut input, output, &head)?;
    Ok(head.report)
}

/// Where the content lies in the input, and how long the head of the
/// signed module will probably be; see [`sign_embedded_head`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Layout {
    /// Offset of the content in the input (after an old signature section).
    pub content_start: u64,
    /// The predicted length of the head (preamble and signature section):
    /// one hash, the signer's usual signature length.
    pub predicted_head_len: u64,
}

/// A signed module without its content: the head to write first, and
/// where the content that follows it comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct SignedHead {
    /// The preamble and the new signature section.
    pub head: Vec<u8>,
    /// The content's byte range in the input.
    pub content: std::ops::Range<u64>,
    /// The content has non-minimal size encodings and must be written by
    /// [`write_content`]; otherwise it is the input's bytes in `content`.
    pub reencode: bool,
    /// What was signed.
    pub report: SignReport,
}

/// A piece of a signed module's content, in order: a range of the input
/// to copy as it is, or bytes to write (a re-encoded section header).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Piece<'a> {
    /// Copy these input bytes unchanged.
    Copy(std::ops::Range<u64>),
    /// Write these bytes.
    Bytes(&'a [u8]),
}

/// Copies a module's content while [`sign_embedded_head`] hashes it: told
/// the layout first, then the content piece by piece (runs of unchanged
/// input up to 4 MiB, and re-encoded headers), so that the copy can go on
/// beside the hashing (with the kernel's `copy_file_range`, say).
pub trait ContentCopier {
    /// Where the content lies in the input and where its copy starts.
    fn start(&mut self, layout: Layout) -> Result<()>;
    /// The next piece of the content.
    fn piece(&mut self, piece: Piece<'_>) -> Result<()>;
}

/// A [`ContentCopier`] that copies nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCopy;

impl ContentCopier for NoCopy {
    fn start(&mut self, _: Layout) -> Result<()> {
        Ok(())
    }
    fn piece(&mut self, _: Piece<'_>) -> Result<()> {
        Ok(())
    }
}

/// Runs of unchanged input are handed over in pieces of at most this size,
/// so that copying starts early.
const COPY_RUN: u64 = 4 << 20;

/// Hashes and signs a module without writing it.
///
/// `copier` is told the layout once the old signature section is read,
/// then gets the content piece by piece while it is hashed. Its copy, laid
/// out from `predicted_head_len`, is the signed content if `head.len()` is
/// that prediction; otherwise write the content again after the head (with
/// [`write_content`], or by copying `content` when `reencode` is false).
/// A caller that copies the input itself must make sure it did not change
/// in between.
pub fn sign_embedded_head<R: Read>(
    input: R,
    signer: &dyn Signer,
    copier: &mut dyn ContentCopier,
) -> Result<SignedHead> {
    let mut rd = SectionReader::new(io::BufReader::with_capacity(256 * 1024, input))?;
    let (prev, first) = walk::read_head(&mut rd)?;
    let mut data = prev.map(|(_, d)| d).unwrap_or_default();
    let content_start = first.as_ref().map_or(rd.position(), |h| h.offset);
    copier.start(Layout { content_start, predicted_head_len: 8 + predicted_section_len(&data, signer)? })?;
    // The run of unchanged input not yet handed over.
    let mut run = content_start..content_start;
    let mut on_header = |h: &crate::section::SectionHeader, canonical: &[u8]| -> Result<()> {
        if h.canonical {
            run.end = h.end();
        } else {
            if !run.is_empty() {
                copier.piece(Piece::Copy(run.clone()))?;
            }
            copier.piece(Piece::Bytes(canonical))?;
            run = h.data_offset..h.end();
        }
        if run.end - run.start >= COPY_RUN {
            copier.piece(Piece::Copy(run.clone()))?;
            run = run.end..run.end;
        }
        Ok(())
    };
    let walked = walk::walk_into(&mut rd, first, false, None, walk::Sink::Headers(&mut on_header))?;
    if !run.is_empty() {
        copier.piece(Piece::Copy(run))?;
    }
    let hashes = walked.hashes();
    add_record(&mut data, &hashes, signer)?;
    let sigdata = data.encode()?;
    let mut head = rd.kind().preamble().to_vec();
    head.extend_from_slice(&encode_custom_section(SIGNATURE_SECTION, &sigdata)?);
    let report =
        SignReport { hashes, sets: data.sets.len(), reencoded: !walked.canonical, signature_len: sigdata.len() };
    Ok(SignedHead { head, content: walked.start..walked.end, reencode: !walked.canonical, report })
}

/// Writes the content of a module signed by [`sign_embedded_head`], from
/// the same input, re-encoded where needed; returns the bytes written.
pub fn write_content<R: Read + Seek, W: Write>(mut input: R, output: &mut W, head: &SignedHead) -> Result<u64> {
    let mut counter = CountingWriter { inner: output, n: 0 };
    copy_content(&mut input, &mut counter, head.content.clone(), !head.reencode)?;
    Ok(counter.n)
}

/// What [`sign_embedded_seekable`] wrote.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct SeekableSignReport {
    /// What was signed.
    pub report: SignReport,
    /// The length of the signed module: the output must be truncated to it
    /// (it can be longer when the first guess of the header size missed).
    pub output_len: u64,
    /// Whether the content was written in the same pass as hashing.
    pub single_pass: bool,
}

/// Signs like [`sign_embedded`], writing the content while it is hashed.
///
/// The signature section's size is predicted (one hash, the signer's usual
/// signature length) and the content is written after it in the same pass;
/// if the prediction misses, the content is copied again from `input`.
/// Writing to a seekable output lets a caller overlap hashing and writing
/// (a writer thread behind `output`). Truncate the output to
/// `output_len` afterwards.
pub fn sign_embedded_seekable<R: Read + Seek, W: Write + Seek>(
    mut input: R,
    output: &mut W,
    signer: &dyn Signer,
) -> Result<SeekableSignReport> {
    let (kind, data, walked, guess) = {
        let mut rd = SectionReader::new(io::BufReader::with_capacity(256 * 1024, &mut input))?;
        let (prev, first) = walk::read_head(&mut rd)?;
        let data = prev.map(|(_, d)| d).unwrap_or_default();
        let guess = 8 + predicted_section_len(&data, signer)?;
        output.seek(SeekFrom::Start(guess))?;
        let walked = walk::walk_into(&mut rd, first, false, None, walk::Sink::Bytes(output as &mut dyn Write))?;
        (rd.kind(), data, walked, guess)
    };
    let hashes = walked.hashes();
    let mut data = data;
    add_record(&mut data, &hashes, signer)?;
    let sigdata = data.encode()?;
    let section = encode_custom_section(SIGNATURE_SECTION, &sigdata)?;
    let head = 8 + section.len() as u64;
    output.seek(SeekFrom::Start(0))?;
    output.write_all(&kind.preamble())?;
    output.write_all(&section)?;
    let single_pass = head == guess;
    let content_len = if single_pass {
        walked.canonical_len
    } else {
        // The header size differs: write the content again after it.
        let mut counter = CountingWriter { inner: output, n: 0 };
        copy_content(&mut input, &mut counter, walked.start..walked.end, walked.canonical)?;
        counter.n
    };
    let report =
        SignReport { hashes, sets: data.sets.len(), reencoded: !walked.canonical, signature_len: sigdata.len() };
    Ok(SeekableSignReport { report, output_len: head + content_len, single_pass })
}

/// The section length if the new record joins a one-hash set, or starts
/// one, with the signer's usual signature length.
fn predicted_section_len(data: &SignatureData, signer: &dyn Signer) -> Result<u64> {
    use crate::sigdata::AlgorithmId;
    let sig_len = match signer.algorithm() {
        AlgorithmId::ED25519 | AlgorithmId::ECDSA_P256_SHA256 => 64,
        _ => 0,
    };
    let record = SignatureRecord::new(signer.key_id(), signer.algorithm(), vec![0; sig_len]);
    let mut trial = data.clone();
    let one_hash = trial.valid_sets().find(|(_, s)| s.hashes.len() == 1).map_or([0u8; 32], |(_, s)| s.hashes[0]);
    // A duplicate can only come from a real signature; ignore it here.
    let _ = trial.add_signature(&[one_hash], &record);
    let sigdata = trial.encode()?;
    Ok(encode_custom_section(SIGNATURE_SECTION, &sigdata)?.len() as u64)
}

struct CountingWriter<'a, W> {
    inner: &'a mut W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Signs a module and returns detached signature data. Every section of the
/// input is content (an embedded signature section too), so the result
/// verifies against this exact input, also when its size encodings are not
/// minimal. `previous` is existing detached data to extend.
pub fn sign_detached<R: Read>(input: R, previous: Option<&[u8]>, signer: &dyn Signer) -> Result<(Vec<u8>, SignReport)> {
    let mut rd = SectionReader::new(io::BufReader::with_capacity(256 * 1024, input))?;
    let first = rd.next_header()?;
    let walked = walk::walk(&mut rd, first, true, None)?;
    let hashes = walked.hashes();
    let mut data = match previous {
        Some(p) => SignatureData::decode(p, 0)?,
        None => SignatureData::default(),
    };
    add_record(&mut data, &hashes, signer)?;
    let sigdata = data.encode()?;
    let report = SignReport { hashes, sets: data.sets.len(), reencoded: false, signature_len: sigdata.len() };
    Ok((sigdata, report))
}

/// The hashes a signer of this module would sign (embedded mode: the
/// content after an existing signature section), without signing.
pub fn content_hashes<R: Read>(input: R) -> Result<Vec<Hash>> {
    let mut rd = SectionReader::new(io::BufReader::with_capacity(256 * 1024, input))?;
    let (_, first) = walk::read_head(&mut rd)?;
    Ok(walk::walk(&mut rd, first, false, None)?.hashes())
}

/// Second pass: copies the content after the old signature section.
fn copy_content<R: Read + Seek, W: Write>(
    input: &mut R,
    output: &mut W,
    content: std::ops::Range<u64>,
    canonical: bool,
) -> Result<()> {
    input.seek(SeekFrom::Start(content.start))?;
    if canonical {
        let want = content.end - content.start;
        let n = io::copy(&mut input.take(want), output)?;
        if n != want {
            return Err(Error::eof(content.start + n, "module content (the input changed while signing)"));
        }
        return Ok(());
    }
    // Re-encode section by section. The reader needs a preamble, so read
    // the content as if it followed one.
    let pre = crate::section::MODULE_PREAMBLE;
    let chained =
        io::Read::chain(&pre[..], io::BufReader::with_capacity(256 * 1024, input.take(content.end - content.start)));
    let mut rd = SectionReader::new(chained)?;
    walk::copy_canonical(&mut rd, None, output, |_| Ok(()))
}
