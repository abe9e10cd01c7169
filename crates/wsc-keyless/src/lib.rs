//! Sigstore keyless signatures for WebAssembly, verified offline.
//!
//! A keyless record is a signature record (algorithm id `0x20`) inside the
//! wasmsign2 `signature` section. Its payload is a standard Sigstore bundle
//! (JSON) whose artifact is the signed message of its set
//! (`"wasmsig" ‖ 01 01 01 ‖ hashes`), so keyless signatures get
//! multi-signature, delimiters and partial verification exactly like Ed25519
//! ones. Everything a verifier needs is inside the module and the trust root:
//! verification opens no network connection.
//!
//! What it is: the bridge between wsc-core and the sigstore-rust verification
//! crates (`sigstore-verify` 0.15.1, which checks the Fulcio chain, the SCT,
//! the signature, the Rekor v1 SET, inclusion proof and checkpoint, Rekor v2
//! entries and RFC 3161 timestamps, and log-entry consistency), plus the
//! identity policy (exact or regular-expression identity and issuer, GitHub
//! workflow claims) and the bundle interop helpers (the message to sign,
//! attach, export).
//!
//! A keyless record is a message-signature bundle whose SHA-256
//! `messageDigest` is the digest of its set message: anything else (a DSSE
//! envelope, another digest algorithm, no digest) is refused before
//! `sigstore-verify` sees it. Regular expressions of the policy are
//! anchored by [`anchored_regex`], which no pattern can escape.
//!
//! With the `sign` feature it also signs: identity tokens (explicit, CI
//! providers, browser login), Fulcio, Rekor (v1, v2) and TSA clients over
//! wsc-pinning, and the [`sign::KeylessSigner`] that checks every bundle it
//! makes with the same offline verifier before handing it back. With the
//! `tuf` feature, [`tuf`] keeps the trust root cached per trust domain and
//! updates it through a TUF repository (a pinned client, its own small
//! runtime). Without those features the crate has no network dependency at
//! all.
//!
//! It also verifies attestations ([`BundleVerifier::verify_attestation`]):
//! a DSSE bundle whose in-toto statement names an artifact by its SHA-256
//! (an OCI manifest signed by cosign v3 or attested by GitHub), with an
//! opt-in for bundles timestamped by a TSA and not logged.
//!
//! What it is not: it writes no Sigstore cryptography of its own
//! (verification is `sigstore-verify`'s), and it does not log DSSE
//! envelopes in Rekor v2 logs.

mod attestation;
mod bundle;
mod error;
mod identity;
mod roots;
mod verifier;

#[cfg(feature = "sign")]
pub mod sign;
#[cfg(feature = "tuf")]
pub mod tuf;

use wsc_core::sigdata::AlgorithmId;

pub use attestation::{IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1, Statement, VerifiedAttestation, read_statement};
pub use bundle::{BundleRecord, ExportedRecord, export_records, module_message};
pub use error::{KeylessError, Mismatch, RecordShape};
pub use identity::{AnchoredRegex, GithubClaims, IdentityPolicy, Matcher, Runner, anchored_regex};
pub use roots::{production_root, root_from_json, staging_root};
pub use sigstore_verify;
pub use verifier::{BundleVerifier, Expectation, SignerIdentity};

/// The algorithm id of a keyless record: its payload is a Sigstore bundle.
pub const KEYLESS_ALGORITHM: AlgorithmId = AlgorithmId::SIGSTORE_KEYLESS;

/// Largest bundle wsc reads from a file.
pub const MAX_BUNDLE_LEN: usize = 1024 * 1024;
