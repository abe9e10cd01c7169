//! The 128-byte configuration zone: serial number, lock bytes, and the
//! SlotConfig / KeyConfig words that decide what a slot may do.

use std::fmt;

use crate::crc::crc16;

/// Bytes in the configuration zone.
pub const CONFIG_SIZE: usize = 128;
/// Number of data slots.
pub const SLOTS: u8 = 16;
/// KeyConfig.KeyType for a P-256 key.
pub const KEY_TYPE_P256: u8 = 4;
/// The lock byte value of an unlocked zone.
pub const UNLOCKED: u8 = 0x55;

/// SlotConfig of a slot holding a private key (bit meanings of §1.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotConfig(pub u16);

impl SlotConfig {
    /// Bit 0: may sign external messages.
    pub fn external_sign(self) -> bool {
        self.0 & 1 != 0
    }
    /// Bit 1: may sign internally generated messages.
    pub fn internal_sign(self) -> bool {
        self.0 & 0x0002 != 0
    }
    /// Bit 2: may be used by ECDH.
    pub fn ecdh(self) -> bool {
        self.0 & 0x0004 != 0
    }
    /// Bit 7: the slot is secret (required for private keys).
    pub fn is_secret(self) -> bool {
        self.0 & 0x0080 != 0
    }
    /// Bit 13: GenKey may replace the key after the data zone is locked.
    pub fn genkey_after_lock(self) -> bool {
        self.0 & 0x2000 != 0
    }
    /// Bit 14: PrivWrite (encrypted key import) allowed.
    pub fn priv_write(self) -> bool {
        self.0 & 0x4000 != 0
    }
}

/// KeyConfig of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyConfig(pub u16);

impl KeyConfig {
    /// Bit 0: the slot holds an ECC private key.
    pub fn private(self) -> bool {
        self.0 & 1 != 0
    }
    /// Bit 1: GenKey mode 0 may compute the public key.
    pub fn pub_info(self) -> bool {
        self.0 & 0x0002 != 0
    }
    /// Bits 2..4: the key type (4 = P-256).
    pub fn key_type(self) -> u8 {
        ((self.0 >> 2) & 0x7) as u8
    }
    /// Bit 5: the slot can be locked on its own.
    pub fn lockable(self) -> bool {
        self.0 & 0x0020 != 0
    }
    /// Bit 6: a random nonce is required.
    pub fn req_random(self) -> bool {
        self.0 & 0x0040 != 0
    }
    /// Bit 7: another key must authorise use.
    pub fn req_auth(self) -> bool {
        self.0 & 0x0080 != 0
    }
}

/// A copy of the configuration zone.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigZone(pub [u8; CONFIG_SIZE]);

impl fmt::Debug for ConfigZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigZone")
            .field("serial", &wsc_core::keys::hex(&self.serial_number()))
            .field("locks", &self.lock_status())
            .finish()
    }
}

impl ConfigZone {
    /// The 9-byte serial number (bytes 0..3 and 8..12).
    pub fn serial_number(&self) -> [u8; 9] {
        let c = &self.0;
        [c[0], c[1], c[2], c[3], c[8], c[9], c[10], c[11], c[12]]
    }
    /// RevNum (bytes 4..7), the same 4 bytes Info returns.
    pub fn revision(&self) -> [u8; 4] {
        [self.0[4], self.0[5], self.0[6], self.0[7]]
    }
    /// The configured 7-bit I2C address (byte 16 shifted right).
    pub fn i2c_address(&self) -> u8 {
        self.0[16] >> 1
    }
    /// ChipMode (byte 19).
    pub fn chip_mode(&self) -> u8 {
        self.0[19]
    }
    /// SlotConfig of `slot` (panics for slot ≥ 16).
    pub fn slot_config(&self, slot: u8) -> SlotConfig {
        let i = 20 + 2 * usize::from(slot);
        SlotConfig(u16::from_le_bytes([self.0[i], self.0[i + 1]]))
    }
    /// KeyConfig of `slot` (panics for slot ≥ 16).
    pub fn key_config(&self, slot: u8) -> KeyConfig {
        let i = 96 + 2 * usize::from(slot);
        KeyConfig(u16::from_le_bytes([self.0[i], self.0[i + 1]]))
    }
    /// The lock bytes.
    pub fn lock_status(&self) -> LockStatus {
        LockStatus::from_word([self.0[84], self.0[85], self.0[86], self.0[87]], [self.0[88], self.0[89]])
    }
    /// The CRC the Lock command expects for this image.
    pub fn crc(&self) -> u16 {
        crc16(&self.0)
    }

    /// What keeps `slot` from being a private, unreadable P-256 key that
    /// signs external digests with the flow this crate uses. Empty means fit.
    pub fn signing_slot_problems(&self, slot: u8) -> Vec<SlotProblem> {
        if slot >= SLOTS {
            return vec![SlotProblem::NoSuchSlot];
        }
        let (sc, kc) = (self.slot_config(slot), self.key_config(slot));
        let mut p = Vec::new();
        if !kc.private() {
            p.push(SlotProblem::NotPrivate);
        }
        if kc.key_type() != KEY_TYPE_P256 {
            p.push(SlotProblem::NotP256(kc.key_type()));
        }
        if !sc.is_secret() {
            p.push(SlotProblem::NotSecret);
        }
        if !sc.external_sign() {
            p.push(SlotProblem::NoExternalSign);
        }
        if !kc.pub_info() {
            p.push(SlotProblem::NoPubInfo);
        }
        if kc.req_auth() || kc.req_random() {
            p.push(SlotProblem::NeedsAuthorization);
        }
        if sc.priv_write() {
            p.push(SlotProblem::KeyImportAllowed);
        }
        p
    }
}

/// Why a slot is not fit for wsc signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotProblem {
    /// The slot number is 16 or more.
    NoSuchSlot,
    /// KeyConfig.Private is 0.
    NotPrivate,
    /// KeyConfig.KeyType is not 4 (P-256).
    NotP256(u8),
    /// SlotConfig.IsSecret is 0.
    NotSecret,
    /// SlotConfig bit 0 (external sign) is 0.
    NoExternalSign,
    /// KeyConfig.PubInfo is 0: the public key cannot be recomputed.
    NoPubInfo,
    /// ReqAuth or ReqRandom is set; those flows are not implemented.
    NeedsAuthorization,
    /// PrivWrite is allowed: a key could be imported, so it may not have
    /// been born on the chip.
    KeyImportAllowed,
}

impl fmt::Display for SlotProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotProblem::NoSuchSlot => write!(f, "no such slot (0..15)"),
            SlotProblem::NotPrivate => write!(f, "KeyConfig.Private is 0"),
            SlotProblem::NotP256(t) => write!(f, "KeyConfig.KeyType is {t}, not 4 (P-256)"),
            SlotProblem::NotSecret => write!(f, "SlotConfig.IsSecret is 0"),
            SlotProblem::NoExternalSign => write!(f, "SlotConfig does not allow external signatures"),
            SlotProblem::NoPubInfo => write!(f, "KeyConfig.PubInfo is 0"),
            SlotProblem::NeedsAuthorization => write!(f, "KeyConfig requires authorisation (ReqAuth/ReqRandom)"),
            SlotProblem::KeyImportAllowed => write!(f, "SlotConfig allows PrivWrite key import"),
        }
    }
}

/// Lock state (config bytes 84..89).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockStatus {
    /// LockConfig (byte 87) is not `0x55`.
    pub config_locked: bool,
    /// LockValue (byte 86) is not `0x55`.
    pub data_locked: bool,
    /// SlotLocked (bytes 88..89): bit n = 0 means slot n is locked.
    pub slot_locked_bits: u16,
}

impl LockStatus {
    /// Decodes the config word at address `0x15` and bytes 88..89.
    pub fn from_word(word: [u8; 4], slot_locked: [u8; 2]) -> LockStatus {
        LockStatus {
            data_locked: word[2] != UNLOCKED,
            config_locked: word[3] != UNLOCKED,
            slot_locked_bits: u16::from_le_bytes(slot_locked),
        }
    }
    /// Whether `slot` is individually locked.
    pub fn slot_locked(&self, slot: u8) -> bool {
        slot < SLOTS && self.slot_locked_bits & (1 << slot) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_recommended_slot() {
        let mut c = [0u8; CONFIG_SIZE];
        c[20..22].copy_from_slice(&0x2083u16.to_le_bytes());
        c[96..98].copy_from_slice(&0x0033u16.to_le_bytes());
        c[22..24].copy_from_slice(&0x0085u16.to_le_bytes());
        c[98..100].copy_from_slice(&0x0053u16.to_le_bytes());
        c[86] = 0x55;
        c[87] = 0x00;
        c[88] = 0xFE;
        c[89] = 0xFF;
        let z = ConfigZone(c);
        assert!(z.signing_slot_problems(0).is_empty());
        assert!(z.slot_config(0).genkey_after_lock());
        assert_eq!(z.signing_slot_problems(1), [SlotProblem::NeedsAuthorization]);
        assert!(z.signing_slot_problems(2).contains(&SlotProblem::NotPrivate));
        assert_eq!(z.signing_slot_problems(16), [SlotProblem::NoSuchSlot]);
        let l = z.lock_status();
        assert!(l.config_locked && !l.data_locked && l.slot_locked(0) && !l.slot_locked(1));
    }
}
