//! The one error type of wsc-core.

use alloc::vec::Vec;
use core::fmt;

/// What went wrong, with the byte offset in the input where it applies.
///
/// Format errors carry the offset of the first byte that could not be
/// accepted. Verification failures say which check failed. A wrapped cause
/// is the `source()`, never part of the message: print the chain
/// (`{:#}` with anyhow) to see it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a stream failed.
    #[cfg(feature = "std")]
    #[error("I/O error")]
    Io(#[from] std::io::Error),

    /// The input ended before a field that was announced.
    #[error("unexpected end of input at offset {offset} while reading {what}")]
    UnexpectedEof {
        /// Offset where more bytes were expected.
        offset: u64,
        /// The field being read.
        what: &'static str,
    },

    /// The input is not a WebAssembly module or component.
    #[error("not a WebAssembly module or component: unsupported preamble {found:02x?} at offset 0")]
    BadPreamble {
        /// The first eight bytes (or fewer) that were found.
        found: Vec<u8>,
    },

    /// A nested part of a component does not start with the preamble its
    /// section calls for.
    #[error("nested {expected} at offset {offset} does not start with a {expected} preamble: found {found:02x?}")]
    NestedPreamble {
        /// Offset of the nested part's first byte.
        offset: u64,
        /// What the section holds: `module` or `component`.
        expected: &'static str,
        /// The eight bytes found there.
        found: Vec<u8>,
    },

    /// A structural error in the module or in signature data.
    #[error("malformed {what} at offset {offset}: {reason}")]
    Malformed {
        /// Offset of the offending field.
        offset: u64,
        /// The structure being parsed.
        what: &'static str,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// A length field is larger than what is left of the input or than a cap.
    #[error("{what} at offset {offset} claims {len} bytes, but at most {limit} are possible there")]
    TooLarge {
        /// Offset of the length field.
        offset: u64,
        /// The length field.
        what: &'static str,
        /// Its value.
        len: u64,
        /// What was allowed there.
        limit: u64,
    },

    /// A count is above the format's limit.
    #[error("{what} at offset {offset}: {count} is over the limit of {limit}")]
    TooMany {
        /// Offset of the count field.
        offset: u64,
        /// What was counted.
        what: &'static str,
        /// The count found.
        count: u64,
        /// The limit.
        limit: u64,
    },

    /// A `signature` section that is not the first section.
    #[error(
        "a `signature` section at offset {offset} is not the first section; only the first section may carry signatures"
    )]
    MisplacedSignatureSection {
        /// Offset of the misplaced section.
        offset: u64,
    },

    /// The signature data uses a version, content type or hash function wsc does not know.
    #[error("unsupported signature data at offset {offset}: {what} is {value:#04x}, expected 0x01")]
    Unsupported {
        /// Offset of the field.
        offset: u64,
        /// Which field.
        what: &'static str,
        /// The value found.
        value: u8,
    },

    /// The module carries no signature (embedded) and none was given (detached).
    #[error("no signature found: the module has no `signature` section")]
    NoSignature,

    /// The module already has a signature section where none is allowed.
    #[error("the module already has a `signature` section")]
    AlreadySigned,

    /// The same signature is already present in its set.
    #[error("duplicate signature: this key already signed this content")]
    DuplicateSignature,

    /// A key could not be decoded.
    #[error("invalid key")]
    Key(#[from] crate::keys::KeyError),

    /// The secret key and the public key given for the key id do not match.
    #[error("the public key does not belong to the secret key")]
    KeyMismatch,

    /// A signer (software or hardware) failed.
    #[error("signer failed")]
    Signer(#[source] crate::signer::SignerError),

    /// More signature checks than the configured limit would be needed.
    #[error("verification would need {needed} signature checks, over the limit of {limit}")]
    TooManySignatureChecks {
        /// Checks the input asks for.
        needed: usize,
        /// The limit.
        limit: usize,
    },

    /// Verification ran and failed.
    #[error("verification failed")]
    Verification(#[from] VerifyError),

    /// A streaming verification was fed after one of its calls failed.
    #[error("an earlier call of this streaming verification failed; it cannot go on")]
    StreamFailed,
}

/// Why verification failed after every input was read correctly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No record in any set verified with the given key(s).
    #[error("no valid signature for the given key(s)")]
    NoValidSignature,
    /// Signatures verified, but for other content.
    #[error(
        "the module content does not match any validly signed hash set (content changed, truncated or extended after signing)"
    )]
    ContentMismatch,
    /// A part between two delimiters mixes selected and unselected sections.
    #[error(
        "the selected sections do not follow the signature delimiters: the part ending at offset {end} mixes selected and unselected sections"
    )]
    PredicateNotAligned {
        /// Offset where the offending part ends.
        end: u64,
    },
    /// A selected section is not covered by any validly signed hash.
    #[error("the selected section at offset {offset} is not covered by a valid signature")]
    SelectionNotCovered {
        /// Offset of the first uncovered selected section.
        offset: u64,
    },
    /// The predicate selected nothing, so nothing would be checked.
    #[error("the section selection matches no signed part, so nothing would be verified")]
    NothingChecked,
    /// Every validly signed set has more hashes than the module has parts:
    /// a signed part was removed or the module was cut after signing.
    #[error(
        "a signed part is missing: the signed set covers {signed} parts but the module has {present} (truncated or a part removed after signing)"
    )]
    SignedPartsMissing {
        /// Hashes in the largest validly signed set.
        signed: usize,
        /// Checkpoints (parts) in the module.
        present: usize,
    },
    /// The whole module must be signed, and the valid set signs only its
    /// first parts.
    #[error(
        "the signed set covers only the first {signed} of the module's {present} parts (content appended after signing, or a signature over some parts where the whole module must be signed)"
    )]
    PartsUnsigned {
        /// Parts the set signs.
        signed: usize,
        /// Parts the module has.
        present: usize,
    },
    /// No validly signed set matches the module's parts in order: the part
    /// at `start..end` differs from what was signed (changed, or removed and
    /// replaced).
    #[error(
        "the signed part at offsets {start}..{end} differs from what was signed (changed, or removed and replaced after signing)"
    )]
    SignedPartChanged {
        /// Offset of the part's first byte.
        start: u64,
        /// Offset just past the part.
        end: u64,
    },
}

/// Prints an error and its sources, joined with ": " (what anyhow's `{:#}`
/// prints), for reports that keep a reason as text.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn core::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

/// Result alias for wsc-core.
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    #[cold]
    pub(crate) fn malformed(offset: u64, what: &'static str, reason: &'static str) -> Self {
        Error::Malformed { offset, what, reason }
    }

    #[cold]
    pub(crate) fn eof(offset: u64, what: &'static str) -> Self {
        Error::UnexpectedEof { offset, what }
    }

    /// True when the error means "verification ran and the answer is no",
    /// as opposed to unreadable input.
    pub fn is_verification_failure(&self) -> bool {
        matches!(self, Error::Verification(_) | Error::NoSignature)
    }
}
