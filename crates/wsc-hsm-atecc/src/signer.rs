//! `AteccSigner`: a `wsc_core::Signer` for one P-256 slot.

use std::fmt;
use std::sync::Mutex;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use wsc_core::sigdata::AlgorithmId;
use wsc_core::{PublicKey, Signer, SignerError};

use crate::driver::Atecc;
use crate::error::{AteccError, Result};

/// Signs with the private key in one slot. The public key is read once
/// (GenKey mode 0) and cached; every signature is checked against it
/// before it is returned, and S is normalised to the low half.
pub struct AteccSigner<I2C, D> {
    device: Mutex<Atecc<I2C, D>>,
    slot: u8,
    public: PublicKey,
}

impl<I2C, D> fmt::Debug for AteccSigner<I2C, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AteccSigner").field("slot", &self.slot).field("public", &self.public).finish_non_exhaustive()
    }
}

/// Turns the device's X ‖ Y into a P-256 verifying key.
pub fn verifying_key_from_xy(xy: &[u8; 64]) -> Result<p256::ecdsa::VerifyingKey> {
    let mut sec1 = [0u8; 65];
    sec1[0] = 0x04;
    sec1[1..].copy_from_slice(xy);
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| AteccError::Malformed {
        opcode: crate::protocol::opcode::GENKEY,
        reason: "public key is not a point on P-256",
    })
}

impl<I2C: I2c, D: DelayNs> AteccSigner<I2C, D> {
    /// Reads the public key of `slot` and makes a signer for it.
    pub fn new(mut device: Atecc<I2C, D>, slot: u8) -> Result<Self> {
        let xy = device.public_key(slot)?;
        Self::with_public_key(device, slot, &xy)
    }

    /// Makes a signer from a public key already known (X ‖ Y), without
    /// touching the device.
    pub fn with_public_key(device: Atecc<I2C, D>, slot: u8, xy: &[u8; 64]) -> Result<Self> {
        let verifying = verifying_key_from_xy(xy)?;
        let public = PublicKey::from_sec1(verifying.to_encoded_point(false).as_bytes())
            .map_err(|_| AteccError::BadSignature { slot })?;
        Ok(AteccSigner { device: Mutex::new(device), slot, public })
    }

    /// The slot.
    pub fn slot(&self) -> u8 {
        self.slot
    }

    /// The cached public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// A printable identifier such as `atecc@0x60/slot0` (no secrets).
    pub fn label(&self) -> String {
        let address = self.with_device(|d| d.options().address);
        format!("atecc@0x{address:02x}/slot{}", self.slot)
    }

    fn with_device<T>(&self, f: impl FnOnce(&mut Atecc<I2C, D>) -> T) -> T {
        let mut guard = self.device.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// Signs a SHA-256 digest; returns a low-S `r ‖ s` that verifies with
    /// the cached public key.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 64]> {
        let raw = self.with_device(|d| d.sign_digest(self.slot, digest))?;
        wsc_core::prehash::finish_p256(&self.public, digest, &raw)
            .map_err(|_| AteccError::BadSignature { slot: self.slot })
    }

    /// Gives the driver back.
    pub fn into_inner(self) -> Atecc<I2C, D> {
        self.device.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<I2C: I2c + Send, D: DelayNs + Send> Signer for AteccSigner<I2C, D> {
    fn algorithm(&self) -> AlgorithmId {
        AlgorithmId::ECDSA_P256_SHA256
    }

    fn public_key(&self) -> Option<PublicKey> {
        Some(self.public.clone())
    }

    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let digest = wsc_core::prehash::digest(message);
        self.sign_digest(&digest).map(|s| s.to_vec()).map_err(SignerError::new)
    }
}
