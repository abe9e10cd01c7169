//! The driver: wake, idle and sleep, command transactions with polling and
//! bounded retries, and the commands wsc needs.

use std::fmt;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use crate::config::{CONFIG_SIZE, ConfigZone, LockStatus, SLOTS};
use crate::error::{AteccError, Result};
use crate::protocol::{
    ClockDivider, DEFAULT_ADDRESS, MAX_REPLY, Reply, Status, WORD_COMMAND, WORD_IDLE, WORD_RESET, WORD_SLEEP,
    max_execution_ms, opcode, packet, parse_frame,
};

/// Timing and retry settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// 7-bit I2C address of the device.
    pub address: u8,
    /// Wait after the wake pulse (tWHI), in µs.
    pub wake_delay_us: u32,
    /// Wake pulses sent before giving up.
    pub wake_attempts: u32,
    /// Reads of the wake reply per pulse (the device may NACK at first).
    pub wake_reads: u32,
    /// First wait after sending a command, in µs.
    pub poll_first_us: u32,
    /// Wait between polls while the device is busy, in µs.
    pub poll_period_us: u32,
    /// Attempts per command when the device saw a bad CRC, and per
    /// idempotent command on transient errors.
    pub command_attempts: u32,
    /// The clock divider in ChipMode; sets the GenKey and Sign deadlines.
    pub clock: ClockDivider,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            address: DEFAULT_ADDRESS,
            wake_delay_us: 1500,
            wake_attempts: 5,
            wake_reads: 3,
            poll_first_us: 1000,
            poll_period_us: 2000,
            command_attempts: 3,
            clock: ClockDivider::M0,
        }
    }
}

/// Where Nonce pass-through puts its 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceTarget {
    /// TempKey (mode `0x03`).
    TempKey,
    /// The Message Digest Buffer (mode `0x43`).
    MessageDigestBuffer,
    /// The Alternate Key Buffer (mode `0x83`).
    AlternateKeyBuffer,
}

impl NonceTarget {
    fn mode(self) -> u8 {
        match self {
            NonceTarget::TempKey => 0x03,
            NonceTarget::MessageDigestBuffer => 0x43,
            NonceTarget::AlternateKeyBuffer => 0x83,
        }
    }
}

/// Which buffer an external Sign reads its digest from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignSource {
    /// TempKey (mode `0x80`).
    TempKey,
    /// The Message Digest Buffer (mode `0xA0`, ATECC608 only).
    MessageDigestBuffer,
}

/// An ATECC608 on an I2C bus.
pub struct Atecc<I2C, D> {
    i2c: I2C,
    delay: D,
    options: Options,
}

impl<I2C, D> fmt::Debug for Atecc<I2C, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Atecc").field("options", &self.options).finish_non_exhaustive()
    }
}

fn bus<E: embedded_hal::i2c::Error>(e: E) -> AteccError {
    AteccError::Bus(e.kind())
}

fn check_slot(slot: u8) -> Result<()> {
    if slot < SLOTS { Ok(()) } else { Err(AteccError::Argument(format!("slot {slot} (slots are 0..15)"))) }
}

impl<I2C: I2c, D: DelayNs> Atecc<I2C, D> {
    /// A driver with default settings (address `0x60`).
    pub fn new(i2c: I2C, delay: D) -> Self {
        Atecc::with_options(i2c, delay, Options::default())
    }

    /// A driver with explicit settings.
    pub fn with_options(i2c: I2C, delay: D, options: Options) -> Self {
        Atecc { i2c, delay, options }
    }

    /// The settings.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Gives the bus and the delay back.
    pub fn release(self) -> (I2C, D) {
        (self.i2c, self.delay)
    }

    /// Wakes the device: a low pulse (a write to the general-call address
    /// `0x00`, whose NACK is expected), tWHI, then the `04 11` reply.
    pub fn wake(&mut self) -> Result<()> {
        let addr = self.options.address;
        for _ in 0..self.options.wake_attempts {
            // Nobody answers address 0; the error is the expected outcome.
            let _ = self.i2c.write(0x00, &[0x00]);
            self.delay.delay_us(self.options.wake_delay_us);
            let mut reply = [0u8; 4];
            let mut read = false;
            for _ in 0..self.options.wake_reads {
                if self.i2c.read(addr, &mut reply).is_ok() {
                    read = true;
                    break;
                }
                self.delay.delay_us(self.options.poll_period_us);
            }
            if !read {
                continue;
            }
            match parse_frame(&reply) {
                Ok(Reply::Status(Status::WakeToken)) => return Ok(()),
                Ok(Reply::Status(Status::SelfTestError)) => return Err(AteccError::SelfTestFailed),
                // Noise or stale output: put the device in idle and pulse again.
                _ => {
                    let _ = self.i2c.write(addr, &[WORD_IDLE]);
                }
            }
        }
        Err(AteccError::WakeFailed { attempts: self.options.wake_attempts })
    }

    /// Puts the device in idle: TempKey and the digest buffer are kept.
    pub fn idle(&mut self) -> Result<()> {
        self.i2c.write(self.options.address, &[WORD_IDLE]).map_err(bus)
    }

    /// Puts the device to sleep: all volatile state is lost.
    pub fn sleep(&mut self) -> Result<()> {
        self.i2c.write(self.options.address, &[WORD_SLEEP]).map_err(bus)
    }

    /// Runs one command: wake, send, poll, read and check the reply, idle.
    /// A reply saying the device saw a bad CRC is always retried (the
    /// command did not run); other transient errors only when `idempotent`.
    /// Returns the data of a data reply, or nothing for a success status.
    pub fn command(&mut self, op: u8, param1: u8, param2: u16, data: &[u8], idempotent: bool) -> Result<Vec<u8>> {
        if data.len() > crate::protocol::MAX_DATA {
            return Err(AteccError::Argument(format!("{} data bytes (at most 155)", data.len())));
        }
        let mut wire = vec![WORD_COMMAND];
        wire.extend_from_slice(&packet(op, param1, param2, data));
        let mut last = None;
        for _ in 0..self.options.command_attempts.max(1) {
            match self.execute_once(op, &wire) {
                Ok(out) => return Ok(out),
                Err(e @ AteccError::Status { status: Status::CommsError, .. }) => last = Some(e),
                // A retry that cannot wake reports the first failure.
                Err(e @ AteccError::WakeFailed { .. }) => return Err(last.unwrap_or(e)),
                Err(e) if idempotent && e.is_transient() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(AteccError::WakeFailed { attempts: 0 }))
    }

    fn execute_once(&mut self, op: u8, wire: &[u8]) -> Result<Vec<u8>> {
        self.wake()?;
        let result = self.send_and_read(op, wire);
        // Idle keeps the loaded digest; a busy device NACKs, which is harmless.
        let _ = self.idle();
        match result? {
            Reply::Data(d) => Ok(d),
            Reply::Status(Status::Success) => Ok(Vec::new()),
            Reply::Status(status) => Err(AteccError::Status { opcode: op, status }),
        }
    }

    fn send_and_read(&mut self, op: u8, wire: &[u8]) -> Result<Reply> {
        let addr = self.options.address;
        self.i2c.write(addr, wire).map_err(bus)?;
        let deadline_us = max_execution_ms(op, self.options.clock) * 1500;
        self.delay.delay_us(self.options.poll_first_us);
        let mut waited = self.options.poll_first_us;
        // The device NACKs its address while it executes.
        while self.i2c.write(addr, &[WORD_RESET]).is_err() {
            if waited >= deadline_us {
                return Err(AteccError::Timeout { opcode: op, ms: deadline_us / 1000 });
            }
            self.delay.delay_us(self.options.poll_period_us);
            waited += self.options.poll_period_us;
        }
        let mut buf = [0u8; MAX_REPLY];
        self.i2c.read(addr, &mut buf[..1]).map_err(bus)?;
        let count = usize::from(buf[0]);
        if !(4..=MAX_REPLY).contains(&count) {
            return Err(AteccError::Malformed { opcode: op, reason: "count byte out of range" });
        }
        self.i2c.read(addr, &mut buf[1..count]).map_err(bus)?;
        parse_frame(&buf[..count]).map_err(|e| match e {
            crate::protocol::FrameError::Crc => AteccError::ResponseCrc { opcode: op },
            crate::protocol::FrameError::Length => AteccError::Malformed { opcode: op, reason: "bad frame length" },
        })
    }

    fn fixed<const N: usize>(op: u8, data: Vec<u8>) -> Result<[u8; N]> {
        data.try_into().map_err(|_| AteccError::Malformed { opcode: op, reason: "unexpected data length" })
    }

    /// Info mode 0: the 4-byte revision (byte 2 is `0x60` on an ATECC608).
    pub fn info(&mut self) -> Result<[u8; 4]> {
        let d = self.command(opcode::INFO, 0, 0, &[], true)?;
        Self::fixed(opcode::INFO, d)
    }

    /// Random with a seed update: 32 bytes (a fixed pattern until the
    /// configuration zone is locked).
    pub fn random(&mut self) -> Result<[u8; 32]> {
        let d = self.command(opcode::RANDOM, 0, 0, &[], true)?;
        Self::fixed(opcode::RANDOM, d)
    }

    /// Nonce in pass-through mode: loads 32 bytes into `target`.
    pub fn nonce_load(&mut self, target: NonceTarget, value: &[u8; 32]) -> Result<()> {
        let d = self.command(opcode::NONCE, target.mode(), 0, value, true)?;
        if d.is_empty() {
            Ok(())
        } else {
            Err(AteccError::Malformed { opcode: opcode::NONCE, reason: "data instead of status" })
        }
    }

    /// GenKey mode `0x04`: makes a new private key in `slot` and returns
    /// its public key, X ‖ Y (big-endian).
    pub fn generate_key(&mut self, slot: u8) -> Result<[u8; 64]> {
        check_slot(slot)?;
        // A retry makes another key; the last reply describes the slot.
        let d = self.command(opcode::GENKEY, 0x04, u16::from(slot), &[], true)?;
        Self::fixed(opcode::GENKEY, d)
    }

    /// GenKey mode `0x00`: the public key of the private key in `slot`.
    pub fn public_key(&mut self, slot: u8) -> Result<[u8; 64]> {
        check_slot(slot)?;
        let d = self.command(opcode::GENKEY, 0x00, u16::from(slot), &[], true)?;
        Self::fixed(opcode::GENKEY, d)
    }

    /// Sign in external mode over the digest already in `source`; returns
    /// R ‖ S (big-endian). Not retried here: the buffer may be spent.
    pub fn sign_external(&mut self, slot: u8, source: SignSource) -> Result<[u8; 64]> {
        check_slot(slot)?;
        let mode = match source {
            SignSource::TempKey => 0x80,
            SignSource::MessageDigestBuffer => 0xA0,
        };
        let d = self.command(opcode::SIGN, mode, u16::from(slot), &[], false)?;
        Self::fixed(opcode::SIGN, d)
    }

    /// Signs a 32-byte digest with `slot`: Random (seed update), Nonce
    /// pass-through into the Message Digest Buffer, Sign mode `0xA0`. The
    /// whole sequence is repeated on transient errors (bounded).
    pub fn sign_digest(&mut self, slot: u8, digest: &[u8; 32]) -> Result<[u8; 64]> {
        check_slot(slot)?;
        let mut last = None;
        for _ in 0..self.options.command_attempts.max(1) {
            let attempt = self
                .random()
                .and_then(|_| self.nonce_load(NonceTarget::MessageDigestBuffer, digest))
                .and_then(|()| self.sign_external(slot, SignSource::MessageDigestBuffer));
            match attempt {
                Ok(sig) => return Ok(sig),
                Err(e) if e.is_transient() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(AteccError::WakeFailed { attempts: 0 }))
    }

    /// Reads one 4-byte word of the configuration zone (`word` 0..31).
    pub fn read_config_word(&mut self, word: u8) -> Result<[u8; 4]> {
        if word >= 32 {
            return Err(AteccError::Argument(format!("config word {word} (0..31)")));
        }
        let d = self.command(opcode::READ, 0x00, u16::from(word), &[], true)?;
        Self::fixed(opcode::READ, d)
    }

    /// Reads one 32-byte block of the configuration zone (`block` 0..3).
    pub fn read_config_block(&mut self, block: u8) -> Result<[u8; 32]> {
        if block >= 4 {
            return Err(AteccError::Argument(format!("config block {block} (0..3)")));
        }
        let d = self.command(opcode::READ, 0x80, u16::from(block) << 3, &[], true)?;
        Self::fixed(opcode::READ, d)
    }

    /// Reads the whole configuration zone (four 32-byte reads).
    pub fn read_config(&mut self) -> Result<ConfigZone> {
        let mut zone = [0u8; CONFIG_SIZE];
        for block in 0..4u8 {
            let b = self.read_config_block(block)?;
            zone[usize::from(block) * 32..][..32].copy_from_slice(&b);
        }
        Ok(ConfigZone(zone))
    }

    /// The lock bytes: config words `0x15` (bytes 84..87) and `0x16`.
    pub fn lock_status(&mut self) -> Result<LockStatus> {
        let w = self.read_config_word(0x15)?;
        let s = self.read_config_word(0x16)?;
        Ok(LockStatus::from_word(w, [s[0], s[1]]))
    }

    /// Writes one 4-byte word of the configuration zone (only while it is
    /// unlocked; words 0..3 and `0x15` are refused by the device).
    pub fn write_config_word(&mut self, word: u8, value: [u8; 4]) -> Result<()> {
        if word >= 32 {
            return Err(AteccError::Argument(format!("config word {word} (0..31)")));
        }
        self.command(opcode::WRITE, 0x00, u16::from(word), &value, true).map(drop)
    }

    /// **Irreversible.** Locks the configuration zone if the device's copy
    /// has CRC `expected_crc` (the device refuses otherwise).
    pub fn lock_config_zone(&mut self, expected_crc: u16) -> Result<()> {
        self.command(opcode::LOCK, 0x00, expected_crc, &[], false).map(drop)
    }

    /// **Irreversible.** Locks the data and OTP zones without a CRC check
    /// (private keys cannot be read, so the host cannot compute it).
    pub fn lock_data_zone(&mut self) -> Result<()> {
        self.command(opcode::LOCK, 0x81, 0, &[], false).map(drop)
    }

    /// **Irreversible.** Locks one slot (KeyConfig.Lockable must be set):
    /// mode `0x02 | slot << 2`, param2 0, as in the protocol document.
    pub fn lock_slot(&mut self, slot: u8) -> Result<()> {
        check_slot(slot)?;
        self.command(opcode::LOCK, 0x02 | (slot << 2), 0, &[], false).map(drop)
    }
}
