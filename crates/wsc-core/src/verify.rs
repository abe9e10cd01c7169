//! Verification: whole module, partial (a selection of sections), many keys
//! at once, embedded or detached.
//!
//! The policy is stricter than wasmsign2's (see `docs/format.md`):
//! * whole-module verification needs one validly signed set whose hashes are
//!   exactly the module's checkpoints, in order (every delimiter and the end);
//! * partial verification counts a validly signed set only when its hashes
//!   are the module's first checkpoints, in order (nothing it signed was cut,
//!   removed or changed); every selected section must lie in a part such a
//!   set covers, the part after the last delimiter included, and at least
//!   one hash must be checked; "whole" is said only when one set covers
//!   every part;
//! * a malformed or unknown record is skipped and reported, never fatal.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
#[cfg(feature = "std")]
use std::io::{self, Read};

use crate::error::{Error, Result, VerifyError};
use crate::keys::PublicKey;
use crate::section::{Event, ModuleKind, SectionParser};
use crate::sigdata::{AlgorithmId, Hash, MAX_SIGNATURE_DATA, SetEntry, SignatureData, SignatureRecord};
use crate::walk::{Checkpoint, PartSelection, Selection, Walk, Walker};

/// Default cap on signature checks in one verification call.
pub const DEFAULT_MAX_SIGNATURE_CHECKS: usize = 1024;

/// Something that can check signature records: a public key here; a
/// certificate or keyless verifier in other crates.
pub trait RecordVerifier {
    /// Whether the record is addressed to this verifier (algorithm, key id).
    /// Records it does not want are not checked and cost nothing.
    fn wants(&self, record: &SignatureRecord) -> bool;

    /// Checks the record's signature over `message`.
    fn verify_record(&self, message: &[u8], record: &SignatureRecord) -> RecordOutcome;
}

/// Who signed a record, as established by what verified it. Never taken
/// from the record's unsigned key id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum SignerId {
    /// A public key: SHA-256 of its SubjectPublicKeyInfo DER.
    Key {
        /// SHA-256 of the SPKI DER.
        spki_sha256: [u8; 32],
    },
    /// A Sigstore keyless certificate: its OIDC issuer and its SAN.
    Keyless {
        /// The OIDC issuer.
        issuer: String,
        /// The certificate identity (SAN).
        identity: String,
    },
    /// A certificate-bound record: SHA-256 of the leaf's SPKI DER.
    X509 {
        /// SHA-256 of the leaf's SPKI DER.
        leaf_spki_sha256: [u8; 32],
    },
}

impl SignerId {
    /// The signer id of a public key.
    pub fn of_key(key: &PublicKey) -> core::result::Result<Self, crate::keys::KeyError> {
        Ok(SignerId::Key { spki_sha256: sha256(&key.to_der()?) })
    }
}

/// SHA-256 of `bytes`.
fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

impl fmt::Display for SignerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignerId::Key { spki_sha256 } => write!(f, "key:sha256:{}", crate::keys::hex(spki_sha256)),
            SignerId::Keyless { issuer, identity } => write!(f, "keyless:{issuer}|{identity}"),
            SignerId::X509 { leaf_spki_sha256 } => write!(f, "x509:sha256:{}", crate::keys::hex(leaf_spki_sha256)),
        }
    }
}

/// Where a trusted signing time comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeSource {
    /// A verified Rekor (transparency log) entry.
    Rekor,
    /// A verified RFC 3161 timestamp.
    Tsa,
}

impl TimeSource {
    /// `rekor` or `tsa`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TimeSource::Rekor => "rekor",
            TimeSource::Tsa => "tsa",
        }
    }
}

/// A signing time that a verifier checked (a log entry or a timestamp).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrustedTime {
    /// Its source.
    pub source: TimeSource,
    /// Seconds since the Unix epoch.
    pub unix_secs: i64,
}

impl TrustedTime {
    /// A time from `source`.
    pub fn new(source: TimeSource, unix_secs: i64) -> Self {
        TrustedTime { source, unix_secs }
    }
}

/// What a verifier established about a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Evidence {
    /// Who signed.
    pub signer: SignerId,
    /// When, if a log entry or a timestamp says so.
    pub time: Option<TrustedTime>,
    /// A description for people (a certificate subject, an identity).
    pub description: Option<String>,
}

impl Evidence {
    /// Evidence of `signer`, with no time and no description.
    pub fn new(signer: SignerId) -> Self {
        Evidence { signer, time: None, description: None }
    }

    /// Adds a trusted time.
    pub fn with_time(mut self, time: Option<TrustedTime>) -> Self {
        self.time = time;
        self
    }

    /// Adds a description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// What a verifier said about one record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordOutcome {
    /// The signature is valid, and who signed it.
    Valid(Evidence),
    /// The signature is not valid, and why.
    Invalid {
        /// Why.
        reason: String,
    },
}

impl RecordVerifier for PublicKey {
    fn wants(&self, record: &SignatureRecord) -> bool {
        PublicKey::wants(self, record)
    }

    fn verify_record(&self, message: &[u8], record: &SignatureRecord) -> RecordOutcome {
        if !self.verify(message, &record.signature) {
            return RecordOutcome::Invalid { reason: "the signature does not verify with this key".into() };
        }
        // Fail closed: a key with no SPKI encoding has no identity.
        match SignerId::of_key(self) {
            Ok(id) => RecordOutcome::Valid(Evidence::new(id)),
            Err(e) => RecordOutcome::Invalid { reason: format!("the key has no SPKI encoding: {e}") },
        }
    }
}

/// How much of the module a verification must cover.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Scope<'a> {
    /// Every section, up to the end of the module.
    Whole,
    /// The selected sections; the rest may be unsigned.
    Partial(Selection<'a>),
}

impl fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Whole => "Whole",
            Scope::Partial(_) => "Partial(..)",
        })
    }
}

/// Limits for one verification call.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Most signature checks (records times keys) one call may do.
    pub max_signature_checks: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions { max_signature_checks: DEFAULT_MAX_SIGNATURE_CHECKS }
    }
}

/// A record that verification skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skipped {
    /// Set index.
    pub set: usize,
    /// Record index in the set, or `None` when the whole set was skipped.
    pub record: Option<usize>,
    /// Offset in the signature data.
    pub offset: u64,
    /// Why.
    pub reason: String,
}

/// A valid signature: which set and which record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignatureRef {
    /// Set index.
    pub set: usize,
    /// Record index in the set.
    pub record: usize,
    /// The record's algorithm.
    pub algorithm: AlgorithmId,
    /// Who signed, and when, as the verifier established it.
    pub evidence: Evidence,
}

/// A record addressed to a verifier that did not verify, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejected {
    /// Index of the verifier.
    pub verifier: usize,
    /// Set index.
    pub set: usize,
    /// Record index in the set.
    pub record: usize,
    /// Why.
    pub reason: String,
}

/// What one verifier (key) verified. Only this crate creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct Verified {
    /// The signatures of this key that are valid and cover the checked hashes.
    pub signatures: Vec<SignatureRef>,
    /// Whether the whole module is covered.
    pub whole: bool,
    /// Offset of the first content byte (after the signature section).
    pub start: u64,
    /// Every byte from `start` to `verified_end` is covered by a signature.
    pub verified_end: u64,
    /// End of the input.
    pub end: u64,
    /// Number of hashes compared.
    pub hashes_checked: usize,
}

impl Verified {
    /// The range left unverified, if any.
    pub fn unverified(&self) -> Option<(u64, u64)> {
        (self.verified_end < self.end).then_some((self.verified_end, self.end))
    }
}

/// The outcome of verifying with several keys.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct Report {
    /// Module or component.
    pub kind: ModuleKind,
    /// Offset of the signature section, when embedded.
    pub signature_offset: Option<u64>,
    /// One result per verifier, in the order given.
    pub results: Vec<core::result::Result<Verified, VerifyError>>,
    /// Records and sets that were skipped.
    pub skipped: Vec<Skipped>,
    /// Records addressed to a verifier that did not verify.
    pub rejected: Vec<Rejected>,
    /// Bytes after the last set in the signature data (ignored).
    pub trailing_bytes: usize,
    /// The content checkpoints (parts) of the module.
    pub checkpoints: Vec<Checkpoint>,
    /// Per set, how many hashes it has (0 for a malformed set).
    set_hash_counts: Vec<usize>,
    /// Whether the scope was [`Scope::Whole`].
    whole_scope: bool,
}

impl Report {
    /// The result for a single verifier; `Err` unless it verified.
    pub fn single(self) -> Result<Verified> {
        match self.results.into_iter().next() {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(Error::Verification(e)),
            None => Err(Error::Verification(VerifyError::NoValidSignature)),
        }
    }

    /// Whether at least one verifier verified.
    pub fn any_verified(&self) -> bool {
        self.results.iter().any(Result::is_ok)
    }

    /// How many parts of the module set `set` covers, on its own, when it
    /// covers the verification's scope on its own; else `None`.
    ///
    /// Meant for a set named by a [`SignatureRef`] of a verified result,
    /// whose hashes were checked against the module: for a whole scope
    /// they are exactly the module's; for a partial one a prefix. A set
    /// covers a partial scope alone when every selected part lies within
    /// that prefix and no part mixes selected and unselected sections.
    /// A union of sets never counts: each set answers for itself.
    pub fn set_covers_scope(&self, set: usize) -> Option<usize> {
        let count = *self.set_hash_counts.get(set)?;
        if count == 0 || count > self.checkpoints.len() {
            return None;
        }
        if self.whole_scope {
            return (count == self.checkpoints.len()).then_some(count);
        }
        let covers = self.checkpoints.iter().enumerate().all(|(i, cp)| match cp.selection {
            PartSelection::Mixed => false,
            PartSelection::Selected => i < count,
            _ => true,
        });
        covers.then_some(count)
    }
}

/// What a verification checks with: the verifiers, the scope and the
/// limits, and the input's length when known.
///
/// ```
/// use wsc_core::{KeyAlgorithm, RecordVerifier, Scope, SecretKey, Verification};
///
/// let key = SecretKey::generate(KeyAlgorithm::Ed25519, &mut rand_core::OsRng);
/// let signed = wsc_core::sign(b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0", &key)?;
/// let public = key.public_key();
/// let verifiers: [&dyn RecordVerifier; 1] = [&public];
/// let check = Verification::new(&verifiers).scope(Scope::Whole).total_len(Some(signed.len() as u64));
/// let report = wsc_core::verify_embedded(signed.as_slice(), &check)?;
/// assert!(report.single()?.whole);
/// # Ok::<(), wsc_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct Verification<'a> {
    verifiers: &'a [&'a dyn RecordVerifier],
    scope: Scope<'a>,
    options: VerifyOptions,
    total_len: Option<u64>,
}

impl<'a> Verification<'a> {
    /// Verification with these verifiers (one result each), of the whole
    /// module, with the default limits.
    pub fn new(verifiers: &'a [&'a dyn RecordVerifier]) -> Self {
        Verification { verifiers, scope: Scope::Whole, options: VerifyOptions::default(), total_len: None }
    }

    /// What must be covered.
    pub fn scope(mut self, scope: Scope<'a>) -> Self {
        self.scope = scope;
        self
    }

    /// The limits.
    pub fn options(mut self, options: VerifyOptions) -> Self {
        self.options = options;
        self
    }

    /// The input's total length, when known: a length field beyond it
    /// fails at once.
    pub fn total_len(mut self, total_len: Option<u64>) -> Self {
        self.total_len = total_len;
        self
    }
}

impl fmt::Debug for dyn RecordVerifier + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordVerifier")
    }
}

#[cfg(feature = "std")]
/// Verifies a module that carries its signature section. A thin wrapper
/// over [`StreamVerifier`].
pub fn verify_embedded<R: Read>(input: R, verification: &Verification<'_>) -> Result<Report> {
    feed_all(StreamVerifier::embedded(verification), input)
}

#[cfg(feature = "std")]
/// Verifies a module against detached signature data. A thin wrapper over
/// [`StreamVerifier`].
pub fn verify_detached<R: Read>(input: R, signature: &[u8], verification: &Verification<'_>) -> Result<Report> {
    feed_all(StreamVerifier::detached(signature, verification)?, input)
}

#[cfg(feature = "std")]
/// Reads `input` to its end into `v`, then finishes.
fn feed_all<R: Read>(mut v: StreamVerifier<'_>, mut input: R) -> Result<Report> {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        v.update(&buf[..n])?;
    }
    v.finish()
}

/// Bytes the `Read` wrappers read at a time.
const READ_CHUNK: usize = 256 * 1024;

/// Verification fed as bytes arrive: [`update`](Self::update) with pieces
/// of any size, in order, then [`finish`](Self::finish) for the report.
/// Nothing of the module is kept but the signature section (at most
/// [`MAX_SIGNATURE_DATA`](crate::sigdata::MAX_SIGNATURE_DATA) bytes) and a
/// few hundred bytes per part, so a module can be verified while it
/// downloads or streams from flash. Records are checked as soon as the
/// signature section has arrived; the content is hashed as it passes.
///
/// ```
/// use wsc_core::{KeyAlgorithm, RecordVerifier, SecretKey, StreamVerifier, Verification};
///
/// let key = SecretKey::generate(KeyAlgorithm::Ed25519, &mut rand_core::OsRng);
/// let signed = wsc_core::sign(b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0", &key)?;
/// let public = key.public_key();
/// let verifiers: [&dyn RecordVerifier; 1] = [&public];
/// let mut v = StreamVerifier::embedded(&Verification::new(&verifiers));
/// for piece in signed.chunks(3) {
///     v.update(piece)?;
/// }
/// assert!(v.finish()?.single()?.whole);
/// # Ok::<(), wsc_core::Error>(())
/// ```
#[must_use = "a verification says nothing until it is finished"]
pub struct StreamVerifier<'a> {
    parser: SectionParser,
    verifiers: &'a [&'a dyn RecordVerifier],
    scope: Scope<'a>,
    options: VerifyOptions,
    phase: Phase<'a>,
}

impl fmt::Debug for StreamVerifier<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            Phase::Head => "head",
            Phase::Signature { .. } => "signature section",
            Phase::Content { .. } => "content",
            Phase::Unsigned { .. } => "unsigned",
            Phase::Failed => "failed",
        };
        f.debug_struct("StreamVerifier")
            .field("position", &self.parser.position())
            .field("phase", &phase)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

enum Phase<'a> {
    /// Embedded mode, before the first section.
    Head,
    /// Embedded mode, inside the signature section.
    Signature { offset: u64, data_offset: u64, end: u64, bytes: Vec<u8> },
    /// The content, with the signature data and the records' outcomes.
    Content { signature_offset: Option<u64>, data: Box<SignatureData>, plan: Plan, walker: Walker<'a> },
    /// Embedded mode and the first section is not a signature: walked
    /// only to name a misplaced signature section precisely.
    Unsigned { walker: Walker<'a> },
    /// An error was returned: every later call fails.
    Failed,
}

impl<'a> StreamVerifier<'a> {
    /// A module that carries its signature section.
    pub fn embedded(verification: &Verification<'a>) -> Self {
        let Verification { verifiers, scope, options, total_len } = *verification;
        StreamVerifier { parser: SectionParser::new(total_len), verifiers, scope, options, phase: Phase::Head }
    }

    /// A module whose signature data is `signature` (detached). The records
    /// are checked here, before any of the module arrives.
    pub fn detached(signature: &[u8], verification: &Verification<'a>) -> Result<Self> {
        let Verification { verifiers, scope, options, total_len } = *verification;
        let data = SignatureData::decode(signature, 0)?;
        let plan = check_signatures(&data, verifiers, &options)?;
        let walker = Walker::new(8, true, selection(scope));
        Ok(StreamVerifier {
            parser: SectionParser::new(total_len),
            verifiers,
            scope,
            options,
            phase: Phase::Content { signature_offset: None, data: Box::new(data), plan, walker },
        })
    }

    /// The next bytes of the module.
    pub fn update(&mut self, bytes: &[u8]) -> Result<()> {
        if matches!(self.phase, Phase::Failed) {
            return Err(Error::StreamFailed);
        }
        let (verifiers, scope, options) = (self.verifiers, self.scope, &self.options);
        let phase = &mut self.phase;
        let fed = self.parser.feed(bytes, &mut |event| step(phase, event, verifiers, scope, options));
        if fed.is_err() {
            self.phase = Phase::Failed;
        }
        fed
    }

    /// The end of the module: the report.
    pub fn finish(self) -> Result<Report> {
        if matches!(self.phase, Phase::Failed) {
            return Err(Error::StreamFailed);
        }
        let kind = self.parser.finish()?;
        let end = self.parser.position();
        match self.phase {
            Phase::Failed => Err(Error::StreamFailed),
            Phase::Head | Phase::Signature { .. } => Err(Error::NoSignature),
            Phase::Unsigned { walker } => {
                walker.finish(end)?;
                Err(Error::NoSignature)
            }
            Phase::Content { signature_offset, data, plan, walker } => {
                let walked = walker.finish(end)?;
                Ok(finish(kind, signature_offset, *data, plan, walked, self.scope))
            }
        }
    }
}

/// One parser event in the verification.
fn step<'a>(
    phase: &mut Phase<'a>,
    event: Event<'_>,
    verifiers: &[&dyn RecordVerifier],
    scope: Scope<'a>,
    options: &VerifyOptions,
) -> Result<()> {
    match (phase, event) {
        (p @ Phase::Head, Event::Header(h)) => {
            if h.is_signature() {
                if h.data_len() > MAX_SIGNATURE_DATA as u64 {
                    return Err(Error::TooLarge {
                        offset: h.data_offset,
                        what: "signature section",
                        len: h.data_len(),
                        limit: MAX_SIGNATURE_DATA as u64,
                    });
                }
                // Grows with the bytes that arrive, never with the length field.
                let bytes = Vec::with_capacity((h.data_len() as usize).min(READ_CHUNK));
                *p = Phase::Signature { offset: h.offset, data_offset: h.data_offset, end: h.end(), bytes };
            } else {
                let mut walker = Walker::new(h.offset, false, None);
                walker.header(&h)?;
                *p = Phase::Unsigned { walker };
            }
        }
        (Phase::Signature { bytes, .. }, Event::Data(d)) => bytes.extend_from_slice(d),
        (p @ Phase::Signature { .. }, Event::End) => {
            let Phase::Signature { offset, data_offset, end, bytes } = core::mem::replace(p, Phase::Failed) else {
                return Ok(());
            };
            let data = SignatureData::decode(&bytes, data_offset)?;
            drop(bytes);
            let plan = check_signatures(&data, verifiers, options)?;
            let walker = Walker::new(end, false, selection(scope));
            *p = Phase::Content { signature_offset: Some(offset), data: Box::new(data), plan, walker };
        }
        (Phase::Content { walker, .. } | Phase::Unsigned { walker }, Event::Header(h)) => {
            walker.header(&h)?;
        }
        (Phase::Content { walker, .. } | Phase::Unsigned { walker }, Event::Data(d)) => walker.data(d),
        (Phase::Content { walker, .. } | Phase::Unsigned { walker }, Event::End) => walker.end_section()?,
        // Head never sees data or an end before a header; Failed sees nothing.
        _ => {}
    }
    Ok(())
}

fn selection(scope: Scope<'_>) -> Option<Selection<'_>> {
    match scope {
        Scope::Whole => None,
        Scope::Partial(f) => Some(f),
    }
}

/// Per verifier: valid signatures; plus skipped records.
struct Plan {
    valid: Vec<Vec<SignatureRef>>,
    skipped: Vec<Skipped>,
    rejected: Vec<Rejected>,
}

fn check_signatures(data: &SignatureData, verifiers: &[&dyn RecordVerifier], options: &VerifyOptions) -> Result<Plan> {
    let mut skipped = Vec::new();
    let mut needed = 0usize;
    for (si, set) in data.sets.iter().enumerate() {
        match set {
            SetEntry::Malformed(m) => {
                skipped.push(Skipped { set: si, record: None, offset: m.offset, reason: m.reason.to_string() })
            }
            SetEntry::Valid(s) => {
                for (ri, r) in s.records.iter().enumerate() {
                    match &r.parsed {
                        Err(e) => {
                            skipped.push(Skipped { set: si, record: Some(ri), offset: r.offset, reason: e.to_string() })
                        }
                        Ok(rec) => {
                            let n = verifiers.iter().filter(|v| v.wants(rec)).count();
                            if n == 0 && rec.algorithm.name().is_none() {
                                skipped.push(Skipped {
                                    set: si,
                                    record: Some(ri),
                                    offset: r.offset,
                                    reason: format!("algorithm {} is not known to wsc", rec.algorithm),
                                });
                            }
                            needed += n;
                        }
                    }
                }
            }
        }
    }
    if needed > options.max_signature_checks {
        return Err(Error::TooManySignatureChecks { needed, limit: options.max_signature_checks });
    }
    let mut valid = vec![Vec::new(); verifiers.len()];
    let mut rejected = Vec::new();
    for (si, s) in data.valid_sets() {
        let msg = s.message();
        for (ri, r) in s.records.iter().enumerate() {
            let Ok(rec) = &r.parsed else { continue };
            for (vi, v) in verifiers.iter().enumerate() {
                if !v.wants(rec) {
                    continue;
                }
                match v.verify_record(&msg, rec) {
                    RecordOutcome::Valid(evidence) => {
                        valid[vi].push(SignatureRef { set: si, record: ri, algorithm: rec.algorithm, evidence })
                    }
                    RecordOutcome::Invalid { reason } => {
                        rejected.push(Rejected { verifier: vi, set: si, record: ri, reason })
                    }
                }
            }
        }
    }
    Ok(Plan { valid, skipped, rejected })
}

fn finish(
    kind: ModuleKind,
    signature_offset: Option<u64>,
    data: SignatureData,
    plan: Plan,
    walked: Walk,
    scope: Scope<'_>,
) -> Report {
    let results = plan.valid.into_iter().map(|sigs| decide(&data, sigs, &walked, scope)).collect();
    let set_hash_counts = (0..data.sets.len()).map(|i| set_hashes(&data, i).len()).collect();
    Report {
        set_hash_counts,
        whole_scope: matches!(scope, Scope::Whole),
        kind,
        signature_offset,
        results,
        skipped: plan.skipped,
        rejected: plan.rejected,
        trailing_bytes: data.trailing_bytes,
        checkpoints: walked.checkpoints,
    }
}

fn set_hashes(data: &SignatureData, set: usize) -> &[Hash] {
    match &data.sets[set] {
        SetEntry::Valid(s) => &s.hashes,
        SetEntry::Malformed(_) => &[],
    }
}

fn decide(
    data: &SignatureData,
    sigs: Vec<SignatureRef>,
    walked: &Walk,
    scope: Scope<'_>,
) -> core::result::Result<Verified, VerifyError> {
    if sigs.is_empty() {
        return Err(VerifyError::NoValidSignature);
    }
    let cps = &walked.checkpoints;
    let base = |signatures, whole, verified_end, hashes_checked| Verified {
        signatures,
        whole,
        start: walked.start,
        verified_end,
        end: walked.end,
        hashes_checked,
    };
    match scope {
        Scope::Whole => {
            let module: Vec<Hash> = walked.hashes();
            let matching: Vec<SignatureRef> =
                sigs.iter().filter(|s| set_hashes(data, s.set) == module.as_slice()).cloned().collect();
            if matching.is_empty() {
                // A set whose hashes are the module's first parts, in order,
                // signed less than the whole: content appended after
                // signing, or a signature over some parts only.
                let prefix = sigs
                    .iter()
                    .map(|s| set_hashes(data, s.set))
                    .find(|h| !h.is_empty() && h.len() < module.len() && module.starts_with(h));
                return Err(match prefix {
                    Some(h) => VerifyError::PartsUnsigned { signed: h.len(), present: module.len() },
                    None => VerifyError::ContentMismatch,
                });
            }
            Ok(base(matching, true, walked.end, module.len()))
        }
        Scope::Partial(_) => {
            // A set counts only when the module still holds exactly what it
            // signed: its hashes are the module's first checkpoints, in
            // order. A part cut, removed, or changed (even an unselected one:
            // a removed part can be replaced by unselected padding) makes
            // the set count for nothing. Parts after it may be unsigned.
            let module = walked.hashes();
            let present = module.len();
            let mut missing = None;
            let mut changed: Option<usize> = None;
            let sigs: Vec<SignatureRef> = sigs
                .into_iter()
                .filter(|s| {
                    let h = set_hashes(data, s.set);
                    if h.len() > present {
                        missing = missing.max(Some(h.len()));
                        return false;
                    }
                    match h.iter().zip(&module).position(|(a, b)| a != b) {
                        None => true,
                        Some(i) => {
                            changed = Some(changed.map_or(i, |c| c.max(i)));
                            false
                        }
                    }
                })
                .collect();
            if sigs.is_empty() {
                if let Some(signed) = missing {
                    return Err(VerifyError::SignedPartsMissing { signed, present });
                }
                if let Some(cp) = changed.and_then(|i| cps.get(i)) {
                    return Err(VerifyError::SignedPartChanged { start: cp.start, end: cp.end });
                }
                return Err(VerifyError::NoValidSignature);
            }
            let accepted = |i: usize, h: &Hash| sigs.iter().any(|s| set_hashes(data, s.set).get(i) == Some(h));
            let mut checked = 0;
            let mut verified_end = walked.start;
            for (i, cp) in cps.iter().enumerate() {
                let ok = accepted(i, &cp.hash);
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
            // "Whole" only when one set's hashes are exactly the module's.
            let whole = sigs.iter().any(|s| set_hashes(data, s.set) == module.as_slice());
            let verified_end = if whole { walked.end } else { verified_end };
            Ok(base(sigs, whole, verified_end, checked))
        }
    }
}
