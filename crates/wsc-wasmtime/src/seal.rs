//! The seal of a precompiled artifact.
//!
//! A seal is eight lines of text:
//!
//! ```text
//! wsc-wasmtime-seal/v1
//! kind component
//! cwasm-sha256 <64 hex>
//! source-sha256 <64 hex>
//! policy-sha256 <64 hex>
//! verified-at <unix seconds>
//! decision accepted
//! mac <64 hex>
//! ```
//!
//! `mac` is HMAC-SHA256 under the host's [`SealKey`] over the seven lines
//! before it (each with its `\n`). Opening a seal checks every line, the
//! MAC (in constant time), the artifact's SHA-256, the kind asked for and
//! that the policy is the loader's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use wsc_policy::{Policy, Verdict};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Kind;

const MAGIC: &str = "wsc-wasmtime-seal/v1";

/// Longest seal read: its eight lines are far shorter.
const MAX_SEAL_LEN: usize = 1024;

/// The host's secret for sealing artifacts: 32 bytes, zeroized on drop,
/// never printed.
///
/// [`SealKey::generate`] makes a key for one process (artifacts cached in
/// memory or in a directory the process owns for its lifetime). A host that
/// keeps artifacts across restarts stores 32 random bytes where only it can
/// read them and passes them to [`SealKey::from_bytes`]. Anyone holding the
/// key can make wasmtime run native code of their choosing.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SealKey([u8; 32]);

impl SealKey {
    /// A new random key from the operating system.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        SealKey(key)
    }

    /// A key from 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SealKey(bytes)
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

/// A verified source compiled for one engine, and its seal. Store both
/// (e.g. `plugin.cwasm` and `plugin.cwasm.seal`); neither is secret.
#[derive(Clone)]
pub struct Precompiled {
    /// The artifact wasmtime wrote.
    pub cwasm: Vec<u8>,
    /// Its seal.
    pub seal: Vec<u8>,
}

impl std::fmt::Debug for Precompiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Precompiled")
            .field("cwasm", &format_args!("{} bytes", self.cwasm.len()))
            .field("seal", &String::from_utf8_lossy(&self.seal))
            .finish()
    }
}

/// What an opened seal says about its artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unsealed {
    /// Module or component.
    pub kind: Kind,
    /// The SHA-256 of the signed source that was verified.
    pub source_sha256: [u8; 32],
    /// When it was verified.
    pub verified_at: SystemTime,
    /// The decision then: `accepted` or `audit_rejected`.
    pub decision: String,
}

/// Why a seal does not open.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The seal is longer than any seal.
    #[error("the seal is longer than {MAX_SEAL_LEN} bytes")]
    TooLong,
    /// A line is missing, misnamed or malformed.
    #[error("seal line {line}: expected `{expected}`")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What that line must be.
        expected: &'static str,
    },
    /// The MAC does not verify under this key: the seal was altered or
    /// made with another key.
    #[error("the seal's mac does not verify under this key")]
    Mac,
    /// The artifact is not the one sealed.
    #[error("the artifact's SHA-256 is not the sealed one")]
    Artifact,
    /// The seal is for the other kind.
    #[error("the seal is not for a {expected}")]
    Kind {
        /// What the caller asked for.
        expected: Kind,
    },
    /// The source was verified under another policy (or another version of
    /// this one): verify it again.
    #[error("the seal is for policy {sealed}, the loader's is {current}")]
    Policy {
        /// The sealed policy's SHA-256, hex.
        sealed: String,
        /// The loader's policy's SHA-256, hex.
        current: String,
    },
}

fn hex(bytes: &[u8]) -> String {
    wsc_core::keys::hex(bytes)
}

/// Seals an artifact just compiled from a verified source.
pub(crate) fn seal(
    key: &SealKey,
    kind: Kind,
    cwasm: Vec<u8>,
    source: &[u8],
    policy: &Policy,
    verdict: &Verdict,
    now: SystemTime,
) -> Precompiled {
    let at = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    let body = format!(
        "{MAGIC}\nkind {}\ncwasm-sha256 {}\nsource-sha256 {}\npolicy-sha256 {}\nverified-at {at}\ndecision {}\n",
        kind.as_str(),
        hex(&Sha256::digest(&cwasm)),
        hex(&Sha256::digest(source)),
        policy.sha256_hex(),
        verdict.decision().as_str(),
    );
    let mut mac = key.mac();
    mac.update(body.as_bytes());
    let tag = mac.finalize().into_bytes();
    let seal = format!("{body}mac {}\n", hex(&tag)).into_bytes();
    Precompiled { cwasm, seal }
}

/// Opens a seal: every check must pass.
pub(crate) fn open(
    key: &SealKey,
    want: Kind,
    cwasm: &[u8],
    seal: &[u8],
    policy: &Policy,
) -> Result<Unsealed, SealError> {
    if seal.len() > MAX_SEAL_LEN {
        return Err(SealError::TooLong);
    }
    let text = std::str::from_utf8(seal).map_err(|_| SealError::Malformed { line: 1, expected: MAGIC })?;
    // At most MAX_SEAL_LEN lines.
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let field = |n: usize, name: &str, expected: &'static str| -> Result<String, SealError> {
        let bad = SealError::Malformed { line: n, expected };
        let line = lines.get(n - 1).and_then(|l| l.strip_suffix('\n')).ok_or(bad)?;
        let value = if name.is_empty() {
            (line == MAGIC).then_some(line)
        } else {
            line.strip_prefix(name).and_then(|v| v.strip_prefix(' '))
        };
        value.map(str::to_string).ok_or(SealError::Malformed { line: n, expected })
    };
    field(1, "", MAGIC)?;
    let kind = field(2, "kind", "kind module|component")?;
    let cwasm_sha = field(3, "cwasm-sha256", "cwasm-sha256 <64 hex>")?;
    let source_sha = field(4, "source-sha256", "source-sha256 <64 hex>")?;
    let policy_sha = field(5, "policy-sha256", "policy-sha256 <64 hex>")?;
    let at = field(6, "verified-at", "verified-at <unix seconds>")?;
    let decision = field(7, "decision", "decision accepted|audit_rejected")?;
    let tag = field(8, "mac", "mac <64 hex>")?;
    if lines.len() > 8 {
        return Err(SealError::Malformed { line: 9, expected: "the end of the seal" });
    }
    let body_len: usize = lines[..7].iter().map(|l| l.len()).sum();

    // The MAC first: nothing else in an unauthenticated seal is trusted.
    let tag = digest(&tag).ok_or(SealError::Malformed { line: 8, expected: "mac <64 hex>" })?;
    let mut mac = key.mac();
    mac.update(&seal[..body_len]);
    mac.verify_slice(&tag).map_err(|_| SealError::Mac)?;

    let kind = match kind.as_str() {
        "module" => Kind::Module,
        "component" => Kind::Component,
        _ => return Err(SealError::Malformed { line: 2, expected: "kind module|component" }),
    };
    if kind != want {
        return Err(SealError::Kind { expected: want });
    }
    let sealed_cwasm = digest(&cwasm_sha).ok_or(SealError::Malformed { line: 3, expected: "cwasm-sha256 <64 hex>" })?;
    if sealed_cwasm != <[u8; 32]>::from(Sha256::digest(cwasm)) {
        return Err(SealError::Artifact);
    }
    if policy_sha != policy.sha256_hex() {
        return Err(SealError::Policy { sealed: policy_sha, current: policy.sha256_hex() });
    }
    let source_sha256 =
        digest(&source_sha).ok_or(SealError::Malformed { line: 4, expected: "source-sha256 <64 hex>" })?;
    let secs: u64 = at.parse().map_err(|_| SealError::Malformed { line: 6, expected: "verified-at <unix seconds>" })?;
    if !matches!(decision.as_str(), "accepted" | "audit_rejected") {
        return Err(SealError::Malformed { line: 7, expected: "decision accepted|audit_rejected" });
    }
    Ok(Unsealed { kind, source_sha256, verified_at: UNIX_EPOCH + Duration::from_secs(secs), decision })
}

/// 64 lower-case hex digits as 32 bytes.
fn digest(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    wsc_core::KeyId::from_hex(text)?.as_bytes().try_into().ok()
}
