//! Errors of the PKCS#11 signer. No message ever contains a PIN.

use std::path::PathBuf;

use crate::uri::UriError;

/// Why a PKCS#11 operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The `pkcs11:` URI was refused.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// Neither the URI nor the caller named a module.
    #[error("no PKCS#11 module: add `?module-path=/path/to/module.so` to the URI or name one separately")]
    NoModule,
    /// The module path is not absolute.
    #[error("PKCS#11 module path {0} is not absolute")]
    RelativeModulePath(PathBuf),
    /// The module could not be loaded or initialised.
    #[error("cannot load PKCS#11 module {path}")]
    Load {
        /// The module path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: cryptoki::error::Error,
    },
    /// No initialised token matches the URI.
    #[error("no PKCS#11 token matches {0}")]
    TokenNotFound(String),
    /// More than one token matches the URI.
    #[error("{count} PKCS#11 tokens match {uri}; add token, serial or slot-id to the URI")]
    AmbiguousToken {
        /// The URI (without module path).
        uri: String,
        /// How many tokens matched.
        count: usize,
    },
    /// The URI names no object (`object` or `id`).
    #[error("the PKCS#11 URI must name a key with `object=<label>` or `id=<hex>`")]
    NoObject,
    /// The token refused the PIN.
    #[error("the PKCS#11 token refused the PIN (incorrect PIN)")]
    PinIncorrect,
    /// The PIN is locked after too many failed attempts.
    #[error("the PKCS#11 token's user PIN is locked")]
    PinLocked,
    /// The PIN has a length or characters the token does not accept.
    #[error("the PKCS#11 token refused the PIN (invalid length or characters)")]
    PinInvalid,
    /// No private key matches the URI.
    #[error("no private key matches {0}")]
    KeyNotFound(String),
    /// No public key object belongs to the private key.
    #[error("no public key object matches {0} (wsc needs the public key object next to the private key)")]
    PublicKeyNotFound(String),
    /// More than one key matches the URI.
    #[error("{count} keys match {uri}; add `id=` to the URI")]
    AmbiguousKey {
        /// The URI (without module path).
        uri: String,
        /// How many keys matched.
        count: usize,
    },
    /// Key generation would add a second key under a label already used.
    #[error("a key labelled {0:?} already exists on the token")]
    KeyExists(String),
    /// Key generation needs an object label.
    #[error("key generation needs `object=<label>` in the PKCS#11 URI")]
    NoLabel,
    /// The key is of a type or curve wsc does not sign with.
    #[error("unsupported key on the token: {0} (wsc signs with P-256 and Ed25519)")]
    UnsupportedKey(String),
    /// The token does not offer the mechanism.
    #[error("the PKCS#11 token does not support {0}")]
    UnsupportedMechanism(&'static str),
    /// The token returned a signature that is malformed or does not verify
    /// under the key's public key.
    #[error("the PKCS#11 token returned an invalid {0} signature")]
    BadSignature(&'static str),
    /// Any other PKCS#11 failure.
    #[error("PKCS#11 {operation} failed")]
    Pkcs11 {
        /// What wsc was doing.
        operation: &'static str,
        /// The cause.
        #[source]
        source: cryptoki::error::Error,
    },
}

impl Pkcs11Error {
    /// Wraps a cryptoki error, turning the well-known return values into
    /// their own variants.
    pub(crate) fn from_cryptoki(operation: &'static str, source: cryptoki::error::Error) -> Self {
        use cryptoki::error::{Error, RvError};
        match source {
            Error::Pkcs11(RvError::PinIncorrect, _) => Pkcs11Error::PinIncorrect,
            Error::Pkcs11(RvError::PinLocked, _) => Pkcs11Error::PinLocked,
            Error::Pkcs11(RvError::PinLenRange | RvError::PinInvalid, _) => Pkcs11Error::PinInvalid,
            Error::Pkcs11(RvError::MechanismInvalid, _) => Pkcs11Error::UnsupportedMechanism(operation),
            source => Pkcs11Error::Pkcs11 { operation, source },
        }
    }
}

/// Result with [`Pkcs11Error`].
pub type Result<T, E = Pkcs11Error> = std::result::Result<T, E>;
