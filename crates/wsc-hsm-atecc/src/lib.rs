//! Signing wsc records with a Microchip ATECC608 secure element.
//!
//! What it is:
//! * a small driver for the ATECC608A/B over I2C, generic over any
//!   embedded-hal 1.0 `I2c` bus and `DelayNs` delay: wake / idle / sleep,
//!   command packets with the device's CRC-16, reply checks, polling with
//!   per-command deadlines, bounded retries, and typed status errors;
//! * the commands wsc needs: Info, Random, Nonce (pass-through), GenKey,
//!   Sign (external digest), Read and Write of the configuration zone, Lock;
//! * [`AteccSigner`], a [`wsc_core::Signer`] for one P-256 slot
//!   (algorithm id `0x10`, 64-byte low-S `r ‖ s` over SHA-256 of the
//!   message; the host hashes, the chip signs the digest);
//! * provisioning helpers: check that a slot is a private, unreadable P-256
//!   signing key and that the zones are locked, generate the key, and the
//!   irreversible locks behind confirmation values;
//! * the `atecc:` signer URI ([`AteccUri`]);
//! * with feature `linux`, `linux::open` on an i2c-dev node;
//! * with feature `simulator`, `sim::SimAtecc`, a byte-level simulator
//!   for tests.
//!
//! What it is not: not a general cryptoauthlib replacement (no ECDH, AES,
//! MAC, KDF, encrypted I/O or authorisation flows), not a verifier (wsc-core
//! verifies with the public key alone, no hardware), and not tested on real
//! hardware by its own test suite: the tests prove the driver against the
//! protocol document, golden frames and the simulator.
//!
//! Provisioning and signing, here against the simulator; on Linux the
//! driver comes from `linux::open(&"atecc:/dev/i2c-1".parse()?)` instead.
//!
//! ```
//! # #[cfg(feature = "simulator")] {
//! use wsc_hsm_atecc::{Atecc, AteccSigner, sim::SimAtecc};
//!
//! let sim = SimAtecc::new();
//! let mut device = Atecc::new(sim.clone(), sim.clone());
//! let config = device.read_config()?;
//! device.lock_config(&config)?; // irreversible on a real chip
//! device.provision_key(0)?;
//! device.lock_data(&config.serial_number())?; // irreversible too
//! let signer = AteccSigner::open_provisioned(device, 0)?;
//!
//! let module = b"\0asm\x01\0\0\0".to_vec();
//! let signed = wsc_core::sign(&module, &signer).expect("signed");
//! assert!(wsc_core::verify(&signed, signer.public()).expect("verified").whole);
//! # }
//! # Ok::<(), wsc_hsm_atecc::AteccError>(())
//! ```

mod crc;
mod driver;
mod error;
mod provision;
mod signer;
mod uri;

pub mod config;
pub mod protocol;

#[cfg(feature = "linux")]
pub mod linux;
#[cfg(feature = "simulator")]
pub mod sim;

pub use config::{ConfigZone, KeyConfig, LockStatus, SlotConfig, SlotProblem};
pub use crc::{crc16, crc16_bytes};
pub use driver::{Atecc, NonceTarget, Options, SignSource};
pub use error::{AteccError, Result};
pub use protocol::{ClockDivider, Status};
pub use provision::{ATECC608_FAMILY, DeviceReport};
pub use signer::{AteccSigner, verifying_key_from_xy};
pub use uri::AteccUri;
