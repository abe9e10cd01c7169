//! The signer seam: anything that can sign a set message.
//!
//! File keys implement it here; hardware and keyless signers implement it in
//! their own crates. The trait is object-safe and fallible, in the spirit of
//! RustCrypto's `signature::Signer::try_sign`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::error::Error;
use core::fmt;

use crate::keys::{KeyId, PublicKey, SecretKey};
use crate::sigdata::AlgorithmId;

/// A failure inside a signer (a device, a service), or in a transport the
/// signer uses. It must never contain secret material.
///
/// It is transparent: it prints as its cause and reports the cause's own
/// source, so a chain shows each message once. [`SignerError::get_ref`]
/// gives the cause itself, for downcasting.
#[derive(Debug)]
pub struct SignerError(Box<dyn Error + Send + Sync>);

impl SignerError {
    /// Wraps a cause.
    pub fn new(cause: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        SignerError(cause.into())
    }

    /// The cause.
    pub fn get_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        self.0.as_ref()
    }

    /// The cause, unwrapped.
    pub fn into_inner(self) -> Box<dyn Error + Send + Sync> {
        self.0
    }
}

impl fmt::Display for SignerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Error for SignerError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

/// Anything that signs the message of a hash set. Signers are shared
/// between threads (a batch signs modules in parallel) and print without
/// their secrets (`Debug` must never show key material).
pub trait Signer: Send + Sync + fmt::Debug {
    /// The algorithm id written into the record.
    fn algorithm(&self) -> AlgorithmId;

    /// The public key, when the signer has one to report.
    fn public_key(&self) -> Option<PublicKey>;

    /// The key id to write into the record, if any.
    fn key_id(&self) -> Option<KeyId> {
        None
    }

    /// Signs `message` (the full set message, not a digest) and returns
    /// the record's signature bytes.
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError>;
}

impl Signer for SecretKey {
    fn algorithm(&self) -> AlgorithmId {
        self.public_key().algorithm().algorithm_id()
    }

    fn public_key(&self) -> Option<PublicKey> {
        Some(SecretKey::public_key(self))
    }

    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(self.sign(message))
    }
}

/// A signer that also writes its default key id into each record.
#[derive(Debug)]
pub struct WithKeyId<S> {
    inner: S,
    key_id: KeyId,
}

impl<S: Signer> WithKeyId<S> {
    /// Uses the signer's own public key for the key id.
    /// Fails when the signer reports no public key.
    pub fn new(inner: S) -> Option<Self> {
        let key_id = inner.public_key()?.key_id();
        Some(WithKeyId { inner, key_id })
    }

    /// Uses the key id of `public`, which must be the signer's own key.
    pub fn checked(inner: S, public: &PublicKey) -> Result<Self, crate::Error> {
        match inner.public_key() {
            Some(pk) if pk == *public => Ok(WithKeyId { key_id: public.key_id(), inner }),
            _ => Err(crate::Error::KeyMismatch),
        }
    }
}

impl<S: Signer> Signer for WithKeyId<S> {
    fn algorithm(&self) -> AlgorithmId {
        self.inner.algorithm()
    }

    fn public_key(&self) -> Option<PublicKey> {
        self.inner.public_key()
    }

    fn key_id(&self) -> Option<KeyId> {
        Some(self.key_id.clone())
    }

    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.inner.try_sign(message)
    }
}

macro_rules! forward_signer {
    ($($t:ty),*) => {$(
        impl<S: Signer + ?Sized> Signer for $t {
            fn algorithm(&self) -> AlgorithmId {
                (**self).algorithm()
            }
            fn public_key(&self) -> Option<PublicKey> {
                (**self).public_key()
            }
            fn key_id(&self) -> Option<KeyId> {
                (**self).key_id()
            }
            fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
                (**self).try_sign(message)
            }
        }
    )*};
}

forward_signer!(&S, Box<S>);

/// For signers whose device signs a SHA-256 digest (ECDSA P-256 on an
/// ATECC608, a PKCS#11 token): the digest to send, and the checks on what
/// comes back, so that a device fault never becomes a record.
pub mod prehash {
    use sha2::{Digest, Sha256};

    use crate::keys::{KeyAlgorithm, PublicKey};

    /// Why a device's signature was not used.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
    #[non_exhaustive]
    pub enum PrehashError {
        /// The signer's key is not a P-256 key.
        #[error("the signer's public key is not a P-256 key")]
        NotP256,
        /// The device returned something that is not `r ‖ s`.
        #[error("the device returned {len} bytes, not a 64-byte P-256 signature")]
        Malformed {
            /// Bytes returned.
            len: usize,
        },
        /// The signature does not verify with the signer's public key.
        #[error("the device's signature does not verify with its public key")]
        DoesNotVerify,
    }

    /// The SHA-256 digest of a set message: what a P-256 device signs.
    pub fn digest(message: &[u8]) -> [u8; 32] {
        Sha256::digest(message).into()
    }

    /// A device's `r ‖ s` over `digest`, made a record's signature: parsed,
    /// S made low, and verified with `public` before it is returned.
    pub fn finish_p256(public: &PublicKey, digest: &[u8; 32], raw: &[u8]) -> Result<[u8; 64], PrehashError> {
        if public.algorithm() != KeyAlgorithm::P256 {
            return Err(PrehashError::NotP256);
        }
        let sig = p256::ecdsa::Signature::from_slice(raw).map_err(|_| PrehashError::Malformed { len: raw.len() })?;
        let sig = sig.normalize_s().unwrap_or(sig);
        if !public.verify_p256_prehash(digest, &sig) {
            return Err(PrehashError::DoesNotVerify);
        }
        Ok(sig.to_bytes().into())
    }
}
