//! WebAssembly signatures, byte-compatible with wasmsign2 and stricter.
//!
//! wsc-core reads and writes the `signature` custom section of WebAssembly
//! modules and components (the tool-conventions format that wasmsign2
//! implements), signs with Ed25519 or ECDSA P-256 keys or any [`Signer`],
//! and verifies whole modules, selected sections, or many keys at once.
//!
//! What it is:
//! * a streaming section reader that checks every length before use and
//!   allocates nothing from an untrusted length;
//! * the signature data encoding, byte-identical with wasmsign2 0.2.8 for
//!   Ed25519 records, keeping records it cannot read;
//! * the tree of a component's nested core modules and components, walked
//!   in one streaming pass under depth and count limits ([`component_tree`]);
//! * keys (wasmsign2 raw, PKCS#8, SPKI, SEC1, OpenSSH) and key ids;
//! * verification that returns what was verified ([`Verified`]), never `()`.
//!
//! What it is not: it opens no files, makes no network calls, runs no async
//! code and talks to no hardware. It works on byte slices and `Read`/`Write`
//! streams. Keyless (Sigstore) and certificate signatures live in other
//! crates and plug in through [`Signer`] and [`RecordVerifier`].
//!
//! Feature `std` (on by default) adds what reads or writes `std::io`
//! streams: signing, `inspect`, `component_tree`, `detach`, `attach`, `split`,
//! `format::SectionReader` and the `Read` wrappers `verify_embedded` and
//! `verify_detached`. With `default-features = false` the crate is
//! `no_std` + `alloc`: keys, the signature data, the format's headers,
//! Ed25519 and P-256 verification, [`verify`] and [`StreamVerifier`]
//! (`docs/embedding.md`, "no_std and small devices").
//!
//! ```
//! use wsc_core::{KeyAlgorithm, SecretKey, sign, verify};
//!
//! let module = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0".to_vec();
//! let key = SecretKey::generate(KeyAlgorithm::Ed25519, &mut rand_core::OsRng);
//! let signed = sign(&module, &key)?;
//! let verified = verify(&signed, &key.public_key())?;
//! assert!(verified.whole);
//! # Ok::<(), wsc_core::Error>(())
//! ```

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

mod error;
mod leb;
#[cfg(feature = "std")]
mod ops;
mod section;
#[cfg(feature = "std")]
mod sign;
mod signer;
#[cfg(feature = "std")]
mod tree;
mod verify;
mod walk;

#[cfg(feature = "test-kit")]
pub mod conformance;
pub mod keys;
pub mod sigdata;

pub use error::{Chain, Error, Result, VerifyError};
pub use keys::{KeyAlgorithm, KeyError, KeyId, PublicKey, SecretKey};
#[cfg(feature = "std")]
pub use ops::{Inspection, SectionSummary, Sections, SplitReport, attach, canonical_copy, detach, inspect, split};
#[cfg(feature = "std")]
pub use sign::{
    ContentCopier, Layout, NoCopy, Piece, SeekableSignReport, SignReport, SignedHead, content_hashes, sign_detached,
    sign_embedded, sign_embedded_head, sign_embedded_seekable, write_content,
};
pub use signer::{Signer, SignerError, WithKeyId, prehash};
#[cfg(feature = "std")]
pub use tree::{
    DEFAULT_MAX_DEPTH, DEFAULT_MAX_PARTS, NestedSigning, Part, TreeLimits, component_tree, component_tree_buffered,
    component_tree_seekable, component_tree_slice, sign_nested,
};
pub use verify::{
    DEFAULT_MAX_SIGNATURE_CHECKS, Evidence, RecordOutcome, RecordVerifier, Rejected, Report, Scope, SignatureRef,
    SignerId, Skipped, StreamVerifier, TimeSource, TrustedTime, Verification, Verified, VerifyOptions,
};
#[cfg(feature = "std")]
pub use verify::{verify_detached, verify_embedded};
pub use walk::Selection;

/// The WebAssembly binary layout as wsc reads and writes it: preambles,
/// section headers, the streaming section reader, the custom sections
/// wsc uses, and the content parts (checkpoints) a walk finds.
pub mod format {
    #[cfg(feature = "std")]
    pub use crate::section::SectionReader;
    pub use crate::section::{
        COMPONENT_PREAMBLE, DELIMITER_SECTION, MAX_NAME_LEN, MODULE_PREAMBLE, ModuleKind, SIGNATURE_SECTION,
        SectionHeader, encode_custom_section,
    };
    pub use crate::walk::{Checkpoint, PartSelection};
}

/// Signs a module held in memory; returns the signed module.
#[cfg(feature = "std")]
pub fn sign(module: &[u8], signer: &dyn Signer) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(module.len() + 256);
    let _report = sign_embedded(std::io::Cursor::new(module), &mut out, signer)?;
    Ok(out)
}

/// Verifies a whole module held in memory with one key.
pub fn verify(module: &[u8], key: &PublicKey) -> Result<Verified> {
    let verifiers: [&dyn RecordVerifier; 1] = [key];
    let mut v = StreamVerifier::embedded(&Verification::new(&verifiers).total_len(Some(module.len() as u64)));
    v.update(module)?;
    v.finish()?.single()
}
