//! Provisioning: inspect a device, check that a slot is a private,
//! unreadable P-256 signing key and that the zones are locked, generate
//! the key, and the irreversible locks (each behind a confirmation value).
//!
//! A CSR for the key is made by passing an [`AteccSigner`] to
//! `wsc_pki::Csr::create`; the private key never leaves the chip.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use crate::config::{ConfigZone, LockStatus, SlotProblem};
use crate::driver::Atecc;
use crate::error::{AteccError, Result};
use crate::signer::{AteccSigner, verifying_key_from_xy};

/// Byte 2 of the Info revision on an ATECC608.
pub const ATECC608_FAMILY: u8 = 0x60;

/// What a device says about itself and one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReport {
    /// Info revision (`00 00 60 02` = 608A, `00 00 60 03` = 608B).
    pub revision: [u8; 4],
    /// The 9-byte serial number.
    pub serial: [u8; 9],
    /// The configuration zone as read.
    pub config: ConfigZone,
    /// Lock state.
    pub locks: LockStatus,
    /// The slot examined.
    pub slot: u8,
    /// What keeps the slot from being a signing key (empty: fit).
    pub problems: Vec<SlotProblem>,
}

impl DeviceReport {
    /// Whether the device is an ATECC608 (A or B).
    pub fn is_atecc608(&self) -> bool {
        self.revision[2] == ATECC608_FAMILY
    }

    /// Ok when the slot is fit and both zones are locked: the key was made
    /// on the chip under a configuration nobody can change any more.
    pub fn ready_to_sign(&self) -> Result<()> {
        let mut why: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        if !self.is_atecc608() {
            why.push(format!("not an ATECC608 (revision {})", wsc_core::keys::hex(&self.revision)));
        }
        if !self.locks.config_locked {
            why.push("configuration zone is unlocked".into());
        }
        if !self.locks.data_locked {
            why.push("data zone is unlocked".into());
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(AteccError::NotProvisioned(format!("slot {}: {}", self.slot, why.join("; "))))
        }
    }
}

impl<I2C: I2c, D: DelayNs> Atecc<I2C, D> {
    /// Reads Info and the configuration zone and checks `slot`.
    pub fn inspect(&mut self, slot: u8) -> Result<DeviceReport> {
        let revision = self.info()?;
        let config = self.read_config()?;
        Ok(DeviceReport {
            revision,
            serial: config.serial_number(),
            locks: config.lock_status(),
            problems: config.signing_slot_problems(slot),
            config,
            slot,
        })
    }

    /// Generates a new private key in `slot` and returns its public key
    /// (X ‖ Y). Requires a locked configuration zone and a fit slot; after
    /// the data lock only a regenerable (SlotConfig bit 13), unlocked slot.
    /// The public key is read back with GenKey mode 0 and compared.
    pub fn provision_key(&mut self, slot: u8) -> Result<[u8; 64]> {
        let report = self.inspect(slot)?;
        if !report.is_atecc608() {
            return Err(AteccError::NotProvisioned("not an ATECC608".into()));
        }
        if !report.locks.config_locked {
            return Err(AteccError::NotProvisioned("lock the configuration zone first".into()));
        }
        if !report.problems.is_empty() {
            let why: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
            return Err(AteccError::NotProvisioned(format!("slot {slot}: {}", why.join("; "))));
        }
        if report.locks.data_locked
            && (!report.config.slot_config(slot).genkey_after_lock() || report.locks.slot_locked(slot))
        {
            return Err(AteccError::NotProvisioned(format!("slot {slot} holds a permanent key; use it as it is")));
        }
        let xy = self.generate_key(slot)?;
        verifying_key_from_xy(&xy)?;
        if self.public_key(slot)? != xy {
            return Err(AteccError::Malformed {
                opcode: crate::protocol::opcode::GENKEY,
                reason: "public key changed",
            });
        }
        Ok(xy)
    }

    /// **Irreversible.** Locks the configuration zone, but only if the
    /// device holds exactly `expected` (compared here, and by the device
    /// through the CRC).
    pub fn lock_config(&mut self, expected: &ConfigZone) -> Result<()> {
        let actual = self.read_config()?;
        if actual.lock_status().config_locked {
            return Err(AteccError::Confirmation("configuration zone is already locked".into()));
        }
        if &actual != expected {
            return Err(AteccError::Confirmation("configuration zone differs from the expected image".into()));
        }
        self.lock_config_zone(expected.crc())
    }

    /// **Irreversible.** Locks the data and OTP zones; `serial` must be
    /// the device's serial number, as a confirmation.
    pub fn lock_data(&mut self, serial: &[u8; 9]) -> Result<()> {
        let config = self.read_config()?;
        if &config.serial_number() != serial {
            return Err(AteccError::Confirmation("serial number does not match this device".into()));
        }
        if !config.lock_status().config_locked {
            return Err(AteccError::Confirmation("lock the configuration zone first".into()));
        }
        if config.lock_status().data_locked {
            return Err(AteccError::Confirmation("data zone is already locked".into()));
        }
        self.lock_data_zone()
    }
}

impl<I2C: I2c, D: DelayNs> AteccSigner<I2C, D> {
    /// Makes a signer only for a provisioned slot (fit, zones locked);
    /// the first signature is a self-test, checked against the public key.
    pub fn open_provisioned(mut device: Atecc<I2C, D>, slot: u8) -> Result<Self> {
        device.inspect(slot)?.ready_to_sign()?;
        let signer = AteccSigner::new(device, slot)?;
        signer.sign_digest(&[0x5A; 32])?;
        Ok(signer)
    }
}
