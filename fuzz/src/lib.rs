//! The logic of the wsc-core fuzz targets, in the style of wasm-tools'
//! `fuzz/`: the binaries in `fuzz_targets/` are one-line wrappers around the
//! functions here, and wsc-core's stable smoke tests
//! (`crates/wsc-core/tests/fuzz_smoke.rs`, `alloc_bound.rs`) include this
//! very file with `#[path]` and call the same functions on deterministic
//! mutations of the test vectors.
//!
//! Each entry point runs one parser on arbitrary bytes and checks what must
//! hold for every input. A broken invariant panics, which is what libFuzzer
//! and the smoke tests catch. Errors are handed back for the caller to look
//! at; each one has already been checked by [`check_error`].
//!
//! The checkpoint hashes a report gives are compared with hashes computed
//! here by a small reader of its own ([`expected_checkpoints`]): canonical
//! section encodings, one SHA-256 over the content, a checkpoint after each
//! delimiter and at the end (docs/format.md section 3). The oracle never takes
//! a hash from the report under test.
//!
//! The file uses only std, sha2 and wsc-core's public API, and declares no
//! submodules, so that it compiles unchanged as the root of this crate and
//! as a module of an integration test.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use wsc_core::KeyId;
use wsc_core::Verification;
use wsc_core::format::{PartSelection, SectionHeader, SectionReader};
use wsc_core::keys::KEY_ID_LEN;
use wsc_core::sigdata::{
    AlgorithmId, Hash, MAX_HASHES, MAX_RECORDS, MAX_SETS, MAX_SIGNATURE_DATA, SetEntry, SignatureData, SignatureRecord,
};
use wsc_core::{
    Error, KeyAlgorithm, KeyError, PublicKey, RecordOutcome, RecordVerifier, Report, Scope, SecretKey, Selection,
    Verified, VerifyError,
};

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// What every target asks of an error: a non-empty message, and no I/O
/// error, since every input here is in memory.
pub fn check_error(e: &Error) {
    let msg = e.to_string();
    assert!(!msg.trim().is_empty(), "error with an empty message: {e:?}");
    assert!(!matches!(e, Error::Io(_)), "I/O error from an in-memory input: {e}");
}

/// A key error must read as a non-empty message, alone and as [`Error::Key`].
pub fn check_key_error(e: &KeyError) {
    assert!(!e.to_string().trim().is_empty(), "key error with an empty message: {e:?}");
    let wrapped = Error::from(e.clone());
    assert!(matches!(wrapped, Error::Key(_)), "a KeyError must become Error::Key");
    check_error(&wrapped);
}

// ---------------------------------------------------------------------------
// Target `sections`: SectionReader
// ---------------------------------------------------------------------------

/// What the `sections` target read (with the input length known).
#[derive(Debug)]
pub struct SectionsOutcome {
    /// Every header read before the end or the error.
    pub headers: Vec<SectionHeader>,
    /// `Ok` when the whole input was read as sections.
    pub result: Result<(), Error>,
}

/// Reads every section header of `data` and streams every payload, four
/// ways: with the total length known; without it; through a reader that
/// returns a few bytes at a time and is interrupted now and then; and with
/// [`SectionReader::read_data`] instead of chunks. Checks each header
/// against the bytes, and that the four ways agree.
pub fn sections(data: &[u8]) -> SectionsOutcome {
    let total = read_sections(data, data, Some(data.len() as u64), Payload::Chunks);
    let streamed = read_sections(data, data, None, Payload::Chunks);
    let trickled = read_sections(data, Trickle::new(data), None, Payload::Chunks);
    let in_memory = read_sections(data, data, Some(data.len() as u64), Payload::InMemory);

    // A reader that hands out bytes in dribs and drabs changes nothing.
    assert_eq!(streamed.headers, trickled.headers, "trickled reads give other headers");
    assert_eq!(err_text(&streamed.result), err_text(&trickled.result), "trickled reads give another outcome");
    // read_data and data_chunks read the same sections.
    assert_eq!(total.headers, in_memory.headers, "read_data gives other headers than data_chunks");
    assert_eq!(err_text(&total.result), err_text(&in_memory.result), "read_data gives another outcome");
    // Knowing the total length only makes errors come earlier.
    assert_eq!(total.result.is_ok(), streamed.result.is_ok(), "the total length changed the outcome");
    assert!(
        streamed.headers.starts_with(&total.headers),
        "with the total length known, the headers are not a prefix of the streamed ones"
    );
    if total.result.is_ok() {
        assert_eq!(total.headers, streamed.headers);
    }
    for r in [&total.result, &streamed.result, &trickled.result, &in_memory.result] {
        if let Err(e) = r {
            check_error(e);
        }
    }
    total
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Payload {
    /// `data_chunks` for every section.
    Chunks,
    /// `read_data` for sections that fit the signature-data cap, skipping the others.
    InMemory,
}

fn read_sections(data: &[u8], input: impl Read, total: Option<u64>, payload: Payload) -> SectionsOutcome {
    let mut headers = Vec::new();
    let mut rd = match SectionReader::with_total_len(input, total) {
        Ok(rd) => rd,
        Err(e) => {
            assert!(matches!(e, Error::BadPreamble { .. }), "a preamble error that is not BadPreamble: {e}");
            return SectionsOutcome { headers, result: Err(e) };
        }
    };
    assert_eq!(&rd.kind().preamble()[..], &data[..8], "kind() does not match the preamble");
    assert_eq!(rd.position(), 8);
    let mut next_offset = 8u64;
    let result = loop {
        let h = match rd.next_header() {
            Ok(Some(h)) => h,
            Ok(None) => {
                assert_eq!(rd.position(), data.len() as u64, "clean end before the end of the input");
                break Ok(());
            }
            Err(e) => break Err(e),
        };
        check_header(data, &h, next_offset, total.is_some());
        headers.push(h.clone());
        let streamed = match payload {
            Payload::Chunks => stream_payload(&mut rd, data, &h),
            Payload::InMemory if h.data_len() <= MAX_SIGNATURE_DATA as u64 => {
                rd.read_data(MAX_SIGNATURE_DATA, "fuzzed section").map(|v| {
                    assert_eq!(v.len() as u64, h.data_len());
                    assert_eq!(
                        &v[..],
                        &data[h.data_offset as usize..h.end() as usize],
                        "read_data returned other bytes"
                    );
                })
            }
            // Skipped by the next next_header().
            Payload::InMemory => Ok(()),
        };
        if let Err(e) = streamed {
            // With the total length known, a header that was accepted has all
            // of its payload in the input.
            assert!(total.is_none(), "payload of an accepted header failed with the total length known: {e}");
            break Err(e);
        }
        if payload == Payload::Chunks {
            assert_eq!(rd.position(), h.end(), "position after the payload is not the section end");
        }
        next_offset = h.end();
    };
    SectionsOutcome { headers, result }
}

/// Streams the payload of `h` and checks it is exactly the input's bytes.
fn stream_payload<R: Read>(rd: &mut SectionReader<R>, data: &[u8], h: &SectionHeader) -> Result<(), Error> {
    let mut at = h.data_offset as usize;
    rd.data_chunks(|chunk| {
        assert!(!chunk.is_empty(), "empty chunk");
        assert!(at + chunk.len() <= data.len(), "chunk past the end of the input");
        assert_eq!(chunk, &data[at..at + chunk.len()], "chunk bytes differ from the input");
        at += chunk.len();
        Ok(())
    })?;
    assert_eq!(at as u64, h.end(), "streamed payload is not the announced size");
    Ok(())
}

fn check_header(data: &[u8], h: &SectionHeader, expected_offset: u64, total_known: bool) {
    let len = data.len() as u64;
    assert_eq!(h.offset, expected_offset, "section does not start where the previous one ended");
    assert_eq!(h.id, data[h.offset as usize], "id is not the byte at the offset");
    assert_eq!(h.id & 0x80, 0, "id with its high bit set was accepted");
    assert!(h.payload_offset >= h.offset + 2 && h.payload_offset <= h.offset + 6, "size field is 1..=5 bytes");
    assert!(h.data_offset >= h.payload_offset && h.data_offset <= h.end(), "data offset outside the payload");
    assert!(h.data_offset <= len, "header read past the end of the input");
    if total_known {
        assert!(h.end() <= len, "section end past the input with the total length known");
    }
    assert_eq!(h.data_len(), h.end() - h.data_offset);
    match &h.name {
        Some(name) => {
            assert_eq!(h.id, 0, "a name on a non-custom section");
            assert!(name.len() <= wsc_core::format::MAX_NAME_LEN as usize);
            let start = h.data_offset as usize - name.len();
            assert_eq!(&data[start..h.data_offset as usize], name.as_bytes(), "name bytes differ");
            assert_eq!(h.is_signature(), name == wsc_core::format::SIGNATURE_SECTION);
            assert_eq!(h.is_delimiter(), name == wsc_core::format::DELIMITER_SECTION);
        }
        None => {
            assert_ne!(h.id, 0, "custom section without a name");
            assert_eq!(h.data_offset, h.payload_offset);
            assert!(!h.is_signature() && !h.is_delimiter());
        }
    }
    let canon = h.canonical_header();
    let raw = &data[h.offset as usize..h.data_offset as usize];
    assert!(canon.len() <= raw.len(), "canonical header longer than the raw one");
    if h.canonical {
        assert_eq!(canon, raw, "a canonical header is not its own canonical form");
    }
    // The canonical header, followed by the payload, reads back as the same
    // section, now canonical.
    if h.data_len() <= 1 << 16 {
        let mut module = data[..8].to_vec();
        module.extend_from_slice(&canon);
        let end = (h.end().min(len)) as usize;
        module.extend_from_slice(&data[h.data_offset as usize..end]);
        module.resize(8 + canon.len() + h.data_len() as usize, 0);
        let mut rd = SectionReader::with_total_len(&module[..], Some(module.len() as u64))
            .expect("a preamble that was accepted once is accepted again");
        let again = rd
            .next_header()
            .unwrap_or_else(|e| panic!("canonical header does not read back: {e}; header {canon:02x?}"))
            .expect("canonical header reads back as a section");
        assert!(again.canonical, "canonical header is not canonical");
        assert_eq!((again.id, &again.name, again.data_len()), (h.id, &h.name, h.data_len()));
        assert_eq!(again.canonical_header(), canon, "canonical form is not a fixed point");
    }
}

/// A reader that returns 1 to 7 bytes per call and fails every fifth call
/// with `Interrupted`, which every reader must retry.
#[derive(Debug)]
pub struct Trickle<'a> {
    data: &'a [u8],
    calls: usize,
}

impl<'a> Trickle<'a> {
    /// Wraps `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Trickle { data, calls: 0 }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls % 5 == 0 {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = (self.calls % 7 + 1).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn err_text<T>(r: &Result<T, Error>) -> Option<String> {
    r.as_ref().err().map(ToString::to_string)
}

// ---------------------------------------------------------------------------
// Target `signature_data`: SignatureData::decode / encode
// ---------------------------------------------------------------------------

/// Decodes `data` as signature data and, when it decodes, encodes it again:
/// the encoding decodes to the same sets (offsets aside, which move when
/// the input used longer-than-needed LEB128 lengths; exactly the same sets
/// when it did not), and encoding is a fixed point.
pub fn signature_data(data: &[u8]) -> Result<SignatureData, Error> {
    let decoded = SignatureData::decode(data, 0);
    // The base offset only moves offsets.
    const SHIFT: u64 = 1 << 20;
    let shifted = SignatureData::decode(data, SHIFT);
    let x = match (decoded, shifted) {
        (Ok(x), Ok(s)) => {
            assert_eq!(normalized(&x.sets), normalized(&s.sets), "the base offset changed what decodes");
            for (a, b) in x.sets.iter().zip(&s.sets) {
                assert_eq!(set_offset(a) + SHIFT, set_offset(b), "the base offset did not shift the set offset");
            }
            x
        }
        (Err(e), Err(_)) => {
            check_error(&e);
            return Err(e);
        }
        (a, b) => panic!("the base offset changed whether signature data decodes: {:?} vs {:?}", a.err(), b.err()),
    };
    check_limits(&x, data.len());

    let enc = x.encode().expect("decoded signature data must encode");
    assert!(enc.len() <= data.len() - x.trailing_bytes, "re-encoding is longer than the input");
    let y = SignatureData::decode(&enc, 0)
        .unwrap_or_else(|e| panic!("re-encoded signature data does not decode: {e}; encoding {enc:02x?}"));
    assert_eq!(y.trailing_bytes, 0, "the encoding has trailing bytes");
    assert_eq!(normalized(&y.sets), normalized(&x.sets), "decode(encode(x)) differs from x");
    if x.sets.iter().all(|s| matches!(s, SetEntry::Valid(_))) {
        assert_eq!(y.valid_sets().count(), x.sets.len(), "a valid set became malformed");
    }
    if enc[..] == data[..data.len() - x.trailing_bytes] {
        // Canonical input: even the offsets and messages are the same.
        assert_eq!(y.sets, x.sets, "canonical signature data does not round-trip exactly");
    }
    assert_eq!(y.encode().expect("encodes"), enc, "encoding is not a fixed point");

    // Adding a record keeps the data decodable.
    let hashes: Vec<Hash> = x.valid_sets().next().map_or_else(|| vec![[0u8; 32]], |(_, s)| s.hashes.clone());
    let record = SignatureRecord::new(Some(KeyId::new(vec![0x5a; KEY_ID_LEN])), AlgorithmId::ED25519, vec![0xa5; 64]);
    let mut z = x.clone();
    match z.add_signature(&hashes, &record) {
        Ok(()) => {
            let enc = z.encode().expect("encodes after add_signature");
            let back = SignatureData::decode(&enc, 0)
                .unwrap_or_else(|e| panic!("data does not decode after add_signature: {e}"));
            assert!(back.sets.len() == x.sets.len() || back.sets.len() == x.sets.len() + 1);
            let raw = record.encode().expect("encodes");
            assert!(
                back.valid_sets().any(|(_, s)| s.hashes == hashes && s.records.iter().any(|r| r.raw == raw)),
                "the added record is not there"
            );
        }
        Err(e) => {
            assert!(matches!(e, Error::DuplicateSignature | Error::TooMany { .. }), "add_signature failed with {e}");
            check_error(&e);
        }
    }
    Ok(x)
}

fn set_offset(s: &SetEntry) -> u64 {
    match s {
        SetEntry::Valid(v) => v.offset,
        SetEntry::Malformed(m) => m.offset,
    }
}

fn check_limits(x: &SignatureData, input_len: usize) {
    assert!(x.sets.len() <= MAX_SETS as usize);
    assert!(x.trailing_bytes <= input_len);
    for set in &x.sets {
        match set {
            SetEntry::Valid(s) => {
                assert!(s.hashes.len() <= MAX_HASHES as usize);
                assert!(s.records.len() <= MAX_RECORDS as usize);
                let msg = s.message();
                assert_eq!(msg.len(), 10 + 32 * s.hashes.len());
                assert_eq!(&msg[..7], b"wasmsig");
                for r in &s.records {
                    assert!(r.trailing <= r.raw.len());
                    match &r.parsed {
                        Ok(rec) => {
                            assert!(
                                rec.key_id.as_ref().is_none_or(|k| !k.as_bytes().is_empty()),
                                "empty key id kept as Some"
                            );
                            let again = rec.encode().expect("a decoded record encodes");
                            assert!(again.len() <= r.raw.len() - r.trailing, "record re-encoding is longer");
                            let _ = rec.algorithm.to_string();
                        }
                        Err(reason) => {
                            assert!(!reason.to_string().trim().is_empty(), "empty reason for a bad record");
                            assert_eq!(r.trailing, 0);
                        }
                    }
                }
            }
            SetEntry::Malformed(m) => {
                assert!(!m.reason.to_string().trim().is_empty(), "empty reason for a malformed set")
            }
        }
    }
}

/// The sets with every offset zeroed and every error replaced by one blank
/// error, the parts of a set that depend on where it sits in the input.
pub fn normalized(sets: &[SetEntry]) -> Vec<SetEntry> {
    let blank = || wsc_core::Error::Malformed { offset: 0, what: "", reason: "" }.into();
    let mut sets = sets.to_vec();
    for s in &mut sets {
        match s {
            SetEntry::Valid(v) => {
                v.offset = 0;
                for r in &mut v.records {
                    r.offset = 0;
                    if let Err(m) = &mut r.parsed {
                        *m = blank();
                    }
                }
            }
            SetEntry::Malformed(m) => {
                m.offset = 0;
                m.reason = blank();
            }
        }
    }
    sets
}

// ---------------------------------------------------------------------------
// Target `keys`: PublicKey::from_any, SecretKey::from_any
// ---------------------------------------------------------------------------

/// What the `keys` target read.
#[derive(Debug)]
pub struct KeysOutcome {
    /// `PublicKey::from_any`.
    pub public: Result<PublicKey, KeyError>,
    /// `SecretKey::from_any`, as the matching public key.
    pub secret: Result<PublicKey, KeyError>,
}

/// Reads `data` as a public key and as a secret key. A key that reads
/// survives every encoding it offers; a secret key signs what its public
/// key verifies.
pub fn keys(data: &[u8]) -> KeysOutcome {
    let public = PublicKey::from_any(data);
    match &public {
        Ok(pk) => check_public_key(pk),
        Err(e) => check_key_error(e),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        match PublicKey::from_openssh(text) {
            Ok(all) => {
                assert!(!all.is_empty(), "from_openssh returned no key and no error");
                all.iter().for_each(check_public_key);
            }
            Err(e) => check_key_error(&e),
        }
    }
    let secret = SecretKey::from_any(data).map(|sk| {
        check_secret_key(&sk);
        sk.public_key()
    });
    if let Err(e) = &secret {
        check_key_error(e);
    }
    KeysOutcome { public, secret }
}

fn check_public_key(pk: &PublicKey) {
    assert_eq!(pk.key_id().as_bytes().len(), KEY_ID_LEN);
    assert!(!format!("{pk:?}").is_empty());
    let der = pk.to_der().expect("a public key encodes as DER");
    assert_eq!(&PublicKey::from_any(&der).expect("its own DER reads back"), pk);
    let pem = pk.to_pem().expect("a public key encodes as PEM");
    assert_eq!(&PublicKey::from_any(pem.as_bytes()).expect("its own PEM reads back"), pk);
    match pk.algorithm() {
        KeyAlgorithm::Ed25519 => {
            let raw = pk.to_raw().expect("an Ed25519 key has a raw form");
            assert_eq!(&PublicKey::from_any(&raw).expect("its own raw form reads back"), pk);
        }
        _ => assert!(pk.to_raw().is_err(), "only Ed25519 keys have a raw form"),
    }
    let alg = pk.algorithm().algorithm_id();
    assert!(pk.wants(&SignatureRecord::new(None, alg, vec![])));
    assert!(pk.wants(&SignatureRecord::new(Some(pk.key_id()), alg, vec![])));
    assert!(!pk.wants(&SignatureRecord::new(None, AlgorithmId(0x7f), vec![])));
    // Garbage signatures are answered, not panicked on.
    let _ = pk.verify(b"wsc fuzz", &[0u8; 64]);
    let _ = pk.verify(b"wsc fuzz", &[]);
}

fn check_secret_key(sk: &SecretKey) {
    let pk = sk.public_key();
    check_public_key(&pk);
    let msg = b"wasmsig fuzz message";
    let sig = sk.sign(msg);
    assert!(pk.verify(msg, &sig), "a fresh signature does not verify");
    assert!(!pk.verify(b"another message", &sig), "a signature verifies another message");
    let der = sk.to_der().expect("a secret key encodes as DER");
    assert_eq!(SecretKey::from_any(&der).expect("its own DER reads back").public_key(), pk);
    let pem = sk.to_pem().expect("a secret key encodes as PEM");
    assert_eq!(SecretKey::from_any(pem.as_bytes()).expect("its own PEM reads back").public_key(), pk);
    let shown = format!("{sk:?}");
    if let Ok(raw) = sk.to_raw() {
        assert_eq!(SecretKey::from_any(&raw).expect("its own raw form reads back").public_key(), pk);
        let seed = wsc_core::keys::hex(&raw[1..33]);
        assert!(!shown.contains(&seed), "Debug shows the secret key");
    }
}

// ---------------------------------------------------------------------------
// Target `verify`: verify_embedded, verify_detached
// ---------------------------------------------------------------------------

/// The fixed key of the `verify` target: `k1` of the wasmsign2 vectors
/// (`testdata/wasmsign2/keys/k1.pk`), so that the signed vectors, used as
/// seeds, verify and lead the fuzzer past the signature checks.
pub const FIXED_PUBLIC_KEY: [u8; 33] = [
    0x01, 0xee, 0x10, 0xa0, 0x66, 0x83, 0x50, 0x38, 0xc4, 0xc4, 0x5f, 0x7c, 0x95, 0x8b, 0xfa, 0x06, 0x5e, 0x3b, 0x04,
    0x1f, 0x30, 0xcf, 0x33, 0x2d, 0xa0, 0x18, 0x07, 0x9f, 0xd4, 0x3c, 0x54, 0x58, 0x19,
];

/// The fixed key.
pub fn fixed_key() -> PublicKey {
    PublicKey::from_any(&FIXED_PUBLIC_KEY).expect("the fixed key is a valid Ed25519 key")
}

fn select_all(_: &SectionHeader) -> bool {
    true
}

fn select_debug(h: &SectionHeader) -> bool {
    h.custom_name().is_some_and(|n| n.starts_with(".debug_"))
}

fn select_standard(h: &SectionHeader) -> bool {
    h.id != 0
}

/// The selections partial verification runs with: every section, the
/// `.debug_*` custom sections, the standard (non-custom) sections.
pub const SELECTIONS: [(&str, Selection<'static>); 3] =
    [("all", &select_all), ("debug", &select_debug), ("standard", &select_standard)];

/// Runs the `verify` target on one input: `data` as a module with an
/// embedded signature; then, when it is at least two bytes long, split as
/// `len: u16 LE ‖ signature data (len mod …) ‖ module` for detached
/// verification. Whole and partial scope, with [`fixed_key`].
pub fn verify(data: &[u8]) {
    let key = fixed_key();
    verify_embedded_all(data, &key);
    if data.len() >= 2 {
        let n = usize::from(u16::from_le_bytes([data[0], data[1]])) % (data.len() - 1);
        let (sig, module) = data[2..].split_at(n);
        verify_detached_all(module, sig, &key);
    }
}

/// The results of one verification in every scope.
#[derive(Debug)]
pub struct VerifyOutcome {
    /// Whole-module scope.
    pub whole: Result<Report, Error>,
    /// Partial scope, one per entry of [`SELECTIONS`].
    pub partial: Vec<Result<Report, Error>>,
    /// The content's checkpoints as [`expected_checkpoints`] computes them,
    /// when it can read the content. Every report that read the module has
    /// been checked against them.
    pub expected: Option<Vec<ExpectedCheckpoint>>,
}

impl VerifyOutcome {
    /// Whether the whole module verified.
    pub fn verified_whole(&self) -> bool {
        verified(&self.whole).is_some()
    }

    /// The checkpoint hashes, computed independently of the reports, when
    /// the whole-scope run read the module.
    pub fn checkpoint_hashes(&self) -> Option<Vec<Hash>> {
        self.whole.as_ref().ok()?;
        self.expected.as_ref().map(|cps| cps.iter().map(|c| c.hash).collect())
    }
}

// ---------------------------------------------------------------------------
// The content hash, computed independently of wsc-core
// ---------------------------------------------------------------------------

/// One checkpoint of docs/format.md section 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedCheckpoint {
    /// Offset of the part's first byte.
    pub start: u64,
    /// Offset just past the part (and its delimiter).
    pub end: u64,
    /// Whether the part ends with a delimiter.
    pub delimiter: bool,
    /// SHA-256 over the canonical encoding of all content up to `end`.
    pub hash: Hash,
}

/// The checkpoints of the content of `module` from `content_start` to its
/// end, computed here from the bytes with sha2 and without wsc-core: each
/// section hashed as `id ‖ minimal LEB128(size) ‖ payload`, a custom
/// section's payload as `minimal LEB128(name_len) ‖ name ‖ data` with the
/// size recomputed, one SHA-256 over all of it, a checkpoint after each
/// `signature_delimiter` section and, unless the content ends with one, at
/// the end. `None` when the bytes are not a sequence of whole sections.
pub fn expected_checkpoints(module: &[u8], content_start: usize) -> Option<Vec<ExpectedCheckpoint>> {
    let mut state = Sha256::new();
    let mut out = Vec::new();
    let (mut pos, mut part_start) = (content_start, content_start);
    while pos < module.len() {
        let id = module[pos];
        let (size, n) = read_leb(module, pos + 1)?;
        let payload = pos + 1 + n;
        let end = payload.checked_add(size as usize).filter(|e| *e <= module.len())?;
        let mut canonical = vec![id];
        let mut delimiter = false;
        if id == 0 {
            let (name_len, m) = read_leb(module, payload)?;
            let name_start = payload + m;
            let name_end = name_start.checked_add(name_len as usize).filter(|e| *e <= end)?;
            let name = &module[name_start..name_end];
            delimiter = name == b"signature_delimiter";
            let mut body = leb(name_len);
            body.extend_from_slice(name);
            body.extend_from_slice(&module[name_end..end]);
            canonical.extend(leb(u32::try_from(body.len()).ok()?));
            canonical.extend(body);
        } else {
            canonical.extend(leb(size));
            canonical.extend_from_slice(&module[payload..end]);
        }
        state.update(&canonical);
        if delimiter {
            let hash: Hash = state.clone().finalize().into();
            out.push(ExpectedCheckpoint { start: part_start as u64, end: end as u64, delimiter: true, hash });
            part_start = end;
        }
        pos = end;
    }
    if out.is_empty() || part_start < module.len() {
        let hash: Hash = state.finalize().into();
        out.push(ExpectedCheckpoint { start: part_start as u64, end: module.len() as u64, delimiter: false, hash });
    }
    Some(out)
}

/// What verified, if anything.
pub fn verified(r: &Result<Report, Error>) -> Option<&Verified> {
    r.as_ref().ok().and_then(|r| r.results.first()).and_then(|v| v.as_ref().ok())
}

/// Verifies `module` (embedded signature) with `verifier` in every scope and
/// checks each answer against an independent reading of the signature data;
/// then verifies the same content detached and checks both agree.
pub fn verify_embedded_all(module: &[u8], verifier: &dyn RecordVerifier) -> VerifyOutcome {
    let run = |total: Option<u64>, scope: Scope<'_>| {
        wsc_core::verify_embedded(module, &Verification::new(&[verifier]).scope(scope).total_len(total))
    };
    let total = Some(module.len() as u64);
    let sig = embedded_signature(module);
    let sigdata = match &sig {
        Some((_, _, Ok(d))) => Some(d),
        _ => None,
    };
    let content_start = sig.as_ref().map_or(8, |s| s.0);
    let outcome = VerifyOutcome {
        whole: run(total, Scope::Whole),
        partial: SELECTIONS.iter().map(|(_, sel)| run(total, Scope::Partial(*sel))).collect(),
        expected: expected_checkpoints(module, content_start as usize),
    };
    // Without the total length, errors come later but answers are the same.
    assert_same(&outcome.whole, &run(None, Scope::Whole), 0, "verify_embedded with and without the total length");
    check_outcome(&outcome, module, sigdata, verifier, content_start, true);

    // The same content and signature data, detached, verify alike. Not when
    // the content starts with another `signature` section: detached
    // verification takes that one as content, embedded refuses it.
    if let Some((end, raw, Ok(_))) = &sig {
        let rest = &module[*end as usize..];
        if !starts_with_signature_section(rest) {
            let mut detached = module[..8].to_vec();
            detached.extend_from_slice(rest);
            let det = verify_detached_all(&detached, raw, verifier);
            let shift = *end - 8;
            assert_same(&outcome.whole, &det.whole, shift, "embedded vs detached, whole");
            for (i, (a, b)) in outcome.partial.iter().zip(&det.partial).enumerate() {
                assert_same(a, b, shift, SELECTIONS[i].0);
            }
        }
    }
    outcome
}

/// Verifies `module` against detached signature data `sig` in every scope
/// and checks each answer against an independent reading of `sig`.
pub fn verify_detached_all(module: &[u8], sig: &[u8], verifier: &dyn RecordVerifier) -> VerifyOutcome {
    let run = |total: Option<u64>, scope: Scope<'_>| {
        wsc_core::verify_detached(module, sig, &Verification::new(&[verifier]).scope(scope).total_len(total))
    };
    let total = Some(module.len() as u64);
    let outcome = VerifyOutcome {
        whole: run(total, Scope::Whole),
        partial: SELECTIONS.iter().map(|(_, sel)| run(total, Scope::Partial(*sel))).collect(),
        expected: expected_checkpoints(module, 8),
    };
    assert_same(&outcome.whole, &run(None, Scope::Whole), 0, "verify_detached with and without the total length");
    let sigdata = SignatureData::decode(sig, 0).ok();
    check_outcome(&outcome, module, sigdata.as_ref(), verifier, 8, false);
    outcome
}

/// The hash lists of the sets in `data` that carry at least one record that
/// `verifier` wants and accepts: the only content a verification may accept.
pub fn signed_hash_lists(data: &SignatureData, verifier: &dyn RecordVerifier) -> Vec<Vec<Hash>> {
    data.valid_sets()
        .filter(|(_, s)| {
            let msg = s.message();
            s.records.iter().any(|r| r.parsed.as_ref().is_ok_and(|rec| accepts(verifier, &msg, rec)))
        })
        .map(|(_, s)| s.hashes.clone())
        .collect()
}

/// Whether `verifier` wants `record` and says its signature over `message` is valid.
pub fn accepts(verifier: &dyn RecordVerifier, message: &[u8], record: &SignatureRecord) -> bool {
    verifier.wants(record) && matches!(verifier.verify_record(message, record), RecordOutcome::Valid(..))
}

/// The first section of `module` when it is the `signature` section: the
/// offset just past it, its payload, and the payload decoded.
pub fn embedded_signature(module: &[u8]) -> Option<(u64, Vec<u8>, Result<SignatureData, Error>)> {
    let mut rd = SectionReader::new(module).ok()?;
    let h = rd.next_header().ok()??;
    if !h.is_signature() {
        return None;
    }
    let raw = rd.read_data(MAX_SIGNATURE_DATA, "signature section").ok()?;
    let decoded = SignatureData::decode(&raw, h.data_offset);
    Some((h.end(), raw, decoded))
}

fn starts_with_signature_section(content: &[u8]) -> bool {
    let mut module = wsc_core::format::MODULE_PREAMBLE.to_vec();
    module.extend_from_slice(&content[..content.len().min(1 << 16)]);
    SectionReader::new(&module[..])
        .ok()
        .and_then(|mut rd| rd.next_header().ok().flatten())
        .is_some_and(|h| h.is_signature())
}

/// Checks every answer of `outcome` against the signature data as read
/// here and against the checkpoints computed by [`expected_checkpoints`].
fn check_outcome(
    outcome: &VerifyOutcome,
    module: &[u8],
    sigdata: Option<&SignatureData>,
    verifier: &dyn RecordVerifier,
    content_start: u64,
    embedded: bool,
) {
    let runs =
        std::iter::once((None, &outcome.whole)).chain(SELECTIONS.iter().map(|s| Some(s.0)).zip(&outcome.partial));
    let lists = sigdata.map(|d| signed_hash_lists(d, verifier));
    for (selection, run) in runs {
        let report = match run {
            Err(e) => {
                check_error(e);
                continue;
            }
            Ok(r) => r,
        };
        let data = sigdata.expect("verification read signature data that does not decode here");
        let lists = lists.as_deref().expect("lists exist with the data");
        assert_eq!(report.results.len(), 1, "one result per verifier");
        assert_eq!(report.signature_offset, embedded.then_some(8), "signature section offset");
        assert_eq!(report.trailing_bytes, data.trailing_bytes);
        assert_eq!(&report.kind.preamble()[..], &module[..8]);

        // Checkpoints: contiguous parts from the content start to the end.
        let cps = &report.checkpoints;
        assert!(!cps.is_empty() && cps.len() <= MAX_HASHES as usize, "{} checkpoints", cps.len());
        assert_eq!(cps[0].start, content_start, "first part does not start at the content");
        for w in cps.windows(2) {
            assert_eq!(w[0].end, w[1].start, "parts are not contiguous");
            assert!(w[0].delimiter, "a part before the last one without a delimiter");
        }
        for cp in cps {
            assert!(cp.start <= cp.end);
        }
        let end = module.len() as u64;
        assert_eq!(cps[cps.len() - 1].end, end, "last part does not end at the end of the input");
        // The parts and hashes are the ones computed here from the bytes.
        let expected = outcome.expected.as_ref().expect("wsc read content that the independent reader cannot");
        let got: Vec<ExpectedCheckpoint> = cps
            .iter()
            .map(|c| ExpectedCheckpoint { start: c.start, end: c.end, delimiter: c.delimiter, hash: c.hash })
            .collect();
        assert_eq!(&got, expected, "checkpoints differ from the independently computed ones");
        if selection.is_none() || selection == Some("all") {
            assert!(
                cps.iter().all(|c| matches!(c.selection, PartSelection::Selected | PartSelection::Empty)),
                "selection recorded without a predicate"
            );
        }

        let hashes: Vec<Hash> = expected.iter().map(|c| c.hash).collect();
        let result = &report.results[0];
        match selection {
            None => match result {
                Ok(v) => {
                    assert!(lists.contains(&hashes), "whole module verified, but no accepted set has its hashes");
                    assert!(v.whole && v.verified_end == end && v.end == end && v.start == content_start);
                    assert_eq!(v.hashes_checked, cps.len());
                    assert!(!v.signatures.is_empty());
                    for s in &v.signatures {
                        let set = match &data.sets[s.set] {
                            SetEntry::Valid(set) => set,
                            SetEntry::Malformed(_) => panic!("a signature in a malformed set"),
                        };
                        assert_eq!(set.hashes, hashes, "a signature of a set with other hashes");
                        let rec = set.records[s.record].parsed.as_ref().expect("a signature that is not a record");
                        assert_eq!(rec.algorithm, s.algorithm);
                        assert!(accepts(verifier, &set.message(), rec), "a signature that does not verify here");
                    }
                }
                Err(VerifyError::NoValidSignature) => {
                    assert!(lists.is_empty(), "no valid signature, but one verifies here")
                }
                Err(VerifyError::ContentMismatch) => {
                    assert!(
                        !lists.is_empty() && !lists.contains(&hashes),
                        "content mismatch, but the content is signed"
                    );
                    assert!(
                        !lists.iter().any(|l| !l.is_empty() && l.len() < hashes.len() && hashes.starts_with(l)),
                        "content mismatch, but a set signs the first parts"
                    )
                }
                Err(VerifyError::PartsUnsigned { signed, present }) => {
                    assert!(!lists.contains(&hashes), "parts unsigned, but the content is signed");
                    assert!(
                        lists.iter().any(|l| l.len() == *signed && signed < present && hashes.starts_with(l)),
                        "parts unsigned, but no set signs the first {signed} of {present} parts"
                    )
                }
                Err(e) => panic!("whole-module verification failed with {e}"),
            },
            Some(name) => {
                let expected = expected_partial(cps, &hashes, lists);
                match (result, expected) {
                    (Ok(v), Ok((verified_end, checked, whole))) => {
                        assert_eq!((v.verified_end, v.hashes_checked), (verified_end, checked), "partial ({name})");
                        assert_eq!(v.whole, whole, "partial ({name}): whole");
                        assert_eq!(whole, verified_end == end, "partial ({name}): whole only up to the end");
                        assert_eq!((v.start, v.end), (content_start, end));
                        assert!(!v.signatures.is_empty());
                    }
                    (Err(a), Err(b)) => assert_eq!(a, &b, "partial ({name})"),
                    (a, b) => panic!("partial ({name}) verification said {a:?}, expected {b:?}"),
                }
            }
        }
    }
    // Whole-module success means every part is signed.
    if let (Some(v), Some(all)) = (verified(&outcome.whole), verified(&outcome.partial[0])) {
        assert!(all.whole && all.verified_end == v.end, "whole verifies, partial (all) covers less");
    } else if verified(&outcome.whole).is_some() {
        panic!("whole verifies, partial (all) does not: {:?}", outcome.partial[0].as_ref().map(|r| &r.results));
    }
}

/// What partial verification must answer, from the checkpoints, their
/// independently computed hashes and the hash lists of the validly signed
/// sets: the policy of `docs/format.md` section 7. A set counts only when its
/// hashes are the module's first checkpoint hashes, in order; "whole" only
/// when one set has exactly the module's hashes. Returns the verified end,
/// the hashes checked and "whole".
fn expected_partial(
    cps: &[wsc_core::format::Checkpoint],
    module_hashes: &[Hash],
    lists: &[Vec<Hash>],
) -> Result<(u64, usize, bool), VerifyError> {
    let present = module_hashes.len();
    let counted: Vec<&Vec<Hash>> =
        lists.iter().filter(|l| l.len() <= present && l[..] == module_hashes[..l.len()]).collect();
    if counted.is_empty() {
        // The largest set that has more hashes than the module has parts.
        if let Some(signed) = lists.iter().map(Vec::len).filter(|n| *n > present).max() {
            return Err(VerifyError::SignedPartsMissing { signed, present });
        }
        // The part where a set stops matching, the furthest such part.
        let changed = lists.iter().filter_map(|l| l.iter().zip(module_hashes).position(|(a, b)| a != b)).max();
        if let Some(i) = changed {
            return Err(VerifyError::SignedPartChanged { start: cps[i].start, end: cps[i].end });
        }
        return Err(VerifyError::NoValidSignature);
    }
    let covered = counted.iter().map(|l| l.len()).max().unwrap_or(0);
    let mut checked = 0;
    let mut verified_end = cps[0].start;
    for (i, cp) in cps.iter().enumerate() {
        let ok = i < covered;
        match cp.selection {
            PartSelection::Mixed => return Err(VerifyError::PredicateNotAligned { end: cp.end }),
            PartSelection::Selected if !ok => {
                return Err(VerifyError::SelectionNotCovered { offset: cp.first_selected.unwrap_or(cp.start) });
            }
            _ => {}
        }
        if ok {
            checked += 1;
            verified_end = cp.end;
        }
    }
    if checked == 0 {
        return Err(VerifyError::NothingChecked);
    }
    Ok((verified_end, checked, covered == present))
}

/// Two runs over the same content agree: both read it or neither did, and
/// when both did, the same answer (offsets of `b` are `shift` less).
fn assert_same(a: &Result<Report, Error>, b: &Result<Report, Error>, shift: u64, what: &str) {
    let (ra, rb) = match (a, b) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(_), Err(_)) => return,
        _ => panic!(
            "{what}: one run read the input, the other did not: {:?} vs {:?}",
            a.as_ref().err(),
            b.as_ref().err()
        ),
    };
    assert_eq!(ra.kind, rb.kind, "{what}");
    assert_eq!(ra.skipped.len(), rb.skipped.len(), "{what}: skipped records");
    assert_eq!(ra.rejected.len(), rb.rejected.len(), "{what}: rejected records");
    assert_eq!(ra.trailing_bytes, rb.trailing_bytes, "{what}");
    let ha: Vec<_> = ra.checkpoints.iter().map(|c| (c.hash, c.delimiter, c.selection, c.end - c.start)).collect();
    let hb: Vec<_> = rb.checkpoints.iter().map(|c| (c.hash, c.delimiter, c.selection, c.end - c.start)).collect();
    assert_eq!(ha, hb, "{what}: checkpoints");
    for (x, y) in ra.results.iter().zip(&rb.results) {
        match (x, y) {
            (Ok(x), Ok(y)) => {
                assert_eq!(x.signatures, y.signatures, "{what}");
                assert_eq!(
                    (x.whole, x.hashes_checked, x.verified_end - x.start, x.end - x.start),
                    (y.whole, y.hashes_checked, y.verified_end - y.start, y.end - y.start),
                    "{what}"
                );
                assert_eq!(x.start - y.start, shift, "{what}: start");
            }
            (Err(x), Err(y)) => assert_eq!(std::mem::discriminant(x), std::mem::discriminant(y), "{what}: {x} vs {y}"),
            _ => panic!("{what}: {x:?} vs {y:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Structure, for structure-aware mutations
// ---------------------------------------------------------------------------

/// A LEB128 length or count field of a module or of signature data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LenField {
    /// Offset of the field's first byte.
    pub offset: usize,
    /// Bytes the field takes.
    pub len: usize,
    /// Its value.
    pub value: u32,
    /// Which field.
    pub what: &'static str,
}

/// The byte range of every section of `module`, in order, as far as it
/// reads (the range is cut at the end of the input).
pub fn section_ranges(module: &[u8]) -> Vec<(std::ops::Range<usize>, SectionHeader)> {
    let mut out = Vec::new();
    let Ok(mut rd) = SectionReader::new(module) else { return out };
    while let Ok(Some(h)) = rd.next_header() {
        let end = h.end().min(module.len() as u64) as usize;
        out.push((h.offset as usize..end, h));
    }
    out
}

/// Every length field of `module`: section sizes, custom-section name
/// lengths and, in a first `signature` section, every length and count of
/// the signature data.
pub fn module_length_fields(module: &[u8]) -> Vec<LenField> {
    let mut out = Vec::new();
    for (i, (range, h)) in section_ranges(module).into_iter().enumerate() {
        let size_at = h.offset as usize + 1;
        out.push(LenField {
            offset: size_at,
            len: h.payload_offset as usize - size_at,
            value: h.size,
            what: "section size",
        });
        if let Some(name) = &h.name {
            let at = h.payload_offset as usize;
            let len = h.data_offset as usize - name.len() - at;
            out.push(LenField { offset: at, len, value: name.len() as u32, what: "name length" });
        }
        if i == 0 && h.is_signature() {
            out.extend(sigdata_length_fields(&module[h.data_offset as usize..range.end], h.data_offset as usize));
        }
    }
    out
}

/// Every length and count field of signature data, found by a small reader
/// of its own; `base` is added to the offsets. Stops where the data stops
/// making sense.
pub fn sigdata_length_fields(data: &[u8], base: usize) -> Vec<LenField> {
    let mut out = Vec::new();
    let mut pos = 3;
    let mut field = |pos: &mut usize, what: &'static str| -> Option<u32> {
        let (value, len) = read_leb(data, *pos)?;
        out.push(LenField { offset: base + *pos, len, value, what });
        *pos += len;
        Some(value)
    };
    let _ = (|| -> Option<()> {
        let sets = field(&mut pos, "set count")?;
        for _ in 0..sets {
            let set_len = field(&mut pos, "set length")? as usize;
            let set_end = pos.checked_add(set_len)?;
            let hashes = field(&mut pos, "hash count")? as usize;
            pos = pos.checked_add(hashes.checked_mul(32)?)?;
            let records = field(&mut pos, "record count")?;
            for _ in 0..records {
                let rec_len = field(&mut pos, "record length")? as usize;
                let rec_end = pos.checked_add(rec_len)?;
                let kid = field(&mut pos, "key id length")? as usize;
                pos = pos.checked_add(kid)?.checked_add(1)?;
                field(&mut pos, "signature length")?;
                pos = rec_end;
            }
            pos = set_end;
        }
        Some(())
    })();
    out
}

/// Reads an unsigned LEB128 of at most 5 bytes at `pos`: value and length.
fn read_leb(data: &[u8], pos: usize) -> Option<(u32, usize)> {
    let mut value = 0u64;
    for i in 0..5 {
        let b = *data.get(pos + i)?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((u32::try_from(value).ok()?, i + 1));
        }
    }
    None
}

/// The minimal LEB128 encoding of `v`.
pub fn leb(mut v: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}
