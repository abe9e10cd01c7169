//! A byte-level ATECC608 simulator (feature `simulator`), for tests.
//!
//! [`SimAtecc`] implements embedded-hal 1.0 `I2c` and `DelayNs`, so the
//! real driver runs against it unchanged. It models the word address
//! byte, the command FIFO (a packet runs only after the STOP that ends the
//! transfer), CRC checks, wake / idle / sleep, NACKs while busy, a virtual
//! watchdog, the configuration, OTP and data zones, lock rules, slot
//! policies, P-256 key generation and signing with the `p256` crate, and
//! fault injection. Timing is virtual: delays only advance a counter.
//!
//! What it does not model: encrypted reads and writes, authorisation
//! flows (ReqAuth, ReqRandom), digest and MAC modes of GenKey, 64-byte
//! Nonce input, UpdateExtra, counters, and electrical effects.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::elliptic_curve::scalar::IsHigh;
use sha2::{Digest, Sha256};

use crate::config::{CONFIG_SIZE, ConfigZone, KEY_TYPE_P256, UNLOCKED};
use crate::crc::crc16;
use crate::protocol::{DEFAULT_ADDRESS, frame, opcode};

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// NACK the next `n` transfers addressed to the device.
    Nack(u32),
    /// Flip a bit in the next `n` command replies (the host sees a bad CRC).
    CorruptReply(u32),
    /// Damage the next `n` received commands (the device answers `0xFF`).
    CorruptCommand(u32),
    /// Ignore the next `n` wake pulses.
    NoWake(u32),
    /// Answer the next command with `opcode` with `status`, without running it.
    Status {
        /// The command to fail.
        opcode: u8,
        /// The status byte to answer with.
        status: u8,
    },
    /// Stay busy for `n` extra polls after the next command.
    Busy(u32),
    /// Lose power (fall asleep, volatile state cleared) after the next Nonce.
    SleepAfterNonce,
    /// Answer every wake with status `0x07` (self-test failure).
    SelfTestFailure,
    /// Return every signature with a high S, as real chips may.
    HighS,
}

/// Counters for assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Wake pulses that woke the device.
    pub wakes: u32,
    /// Complete command packets received.
    pub commands: u32,
    /// Commands refused for a bad CRC.
    pub bad_crcs: u32,
    /// Transfers NACKed because the device was busy.
    pub busy_nacks: u32,
    /// Times the watchdog put the device to sleep.
    pub watchdog_sleeps: u32,
    /// Signatures made.
    pub signatures: u32,
}

/// Power state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    /// Asleep: volatile state lost; only a wake pulse helps.
    Sleep,
    /// Idle: TempKey and the digest buffer kept.
    Idle,
    /// Awake and listening.
    Awake,
}

/// The simulator's I2C error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimError(pub ErrorKind);

impl embedded_hal::i2c::Error for SimError {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

const NACK: SimError = SimError(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));

#[derive(Default)]
struct Faults {
    nack: u32,
    corrupt_reply: u32,
    corrupt_command: u32,
    no_wake: u32,
    statuses: VecDeque<(u8, u8)>,
    extra_busy: u32,
    sleep_after_nonce: bool,
    self_test: bool,
    high_s: bool,
}

struct State {
    address: u8,
    power: Power,
    busy: u32,
    busy_polls: u32,
    config: [u8; CONFIG_SIZE],
    otp: [u8; 64],
    data: Vec<Vec<u8>>,
    keys: Vec<Option<SigningKey>>,
    temp_key: Option<[u8; 32]>,
    digest_buffer: Option<[u8; 32]>,
    alt_key: Option<[u8; 32]>,
    input: Vec<u8>,
    pending: Option<Vec<u8>>,
    output: Vec<u8>,
    read_ptr: usize,
    seed: [u8; 32],
    rng_counter: u64,
    faults: Faults,
    stats: SimStats,
    time_ns: u64,
    wake_time_ns: u64,
    watchdog_ns: Option<u64>,
    lose_power_on_idle: bool,
}

/// A simulated ATECC608B. Clones share one device, so a test keeps a
/// handle for fault injection and inspection while the driver owns another
/// (as the bus and as the delay).
#[derive(Clone)]
pub struct SimAtecc {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for SimAtecc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("SimAtecc")
            .field("address", &s.address)
            .field("power", &s.power)
            .field("locks", &ConfigZone(s.config).lock_status())
            .finish_non_exhaustive()
    }
}

impl Default for SimAtecc {
    fn default() -> Self {
        SimAtecc::new()
    }
}

/// A factory-blank ATECC608B configuration, modelled on Microchip's public
/// 608 test configuration: slots 0..2 are private P-256 keys with external
/// signing, regenerable after the data lock; both zones unlocked.
pub fn factory_config(seed: u64) -> [u8; CONFIG_SIZE] {
    let sn = Sha256::digest(seed.to_le_bytes());
    let mut c = [0u8; CONFIG_SIZE];
    c[0..4].copy_from_slice(&[0x01, 0x23, sn[0], sn[1]]);
    c[4..8].copy_from_slice(&[0x00, 0x00, 0x60, 0x03]);
    c[8..12].copy_from_slice(&sn[2..6]);
    c[12] = 0xEE;
    c[13] = 0x01;
    c[14] = 0x01;
    c[16] = DEFAULT_ADDRESS << 1;
    let slot_config: [u16; 16] = [
        0x2083, 0x2087, 0x208F, 0x8FC4, 0x8F8F, 0x8F8F, 0x8F8F, 0x8F9F, 0x0F0F, 0x8F8F, 0x8F8F, 0x8F8F, 0x8F8F, 0x0000,
        0x0000, 0x8FAF,
    ];
    let key_config: [u16; 16] = [
        0x0033, 0x0033, 0x0033, 0x001C, 0x001C, 0x001C, 0x001C, 0x001C, 0x003C, 0x003C, 0x003C, 0x003C, 0x003C, 0x003C,
        0x003C, 0x001C,
    ];
    for i in 0..16 {
        c[20 + 2 * i..22 + 2 * i].copy_from_slice(&slot_config[i].to_le_bytes());
        c[96 + 2 * i..98 + 2 * i].copy_from_slice(&key_config[i].to_le_bytes());
    }
    c[52..56].copy_from_slice(&[0xFF; 4]);
    c[60..64].copy_from_slice(&[0xFF; 4]);
    c[86] = UNLOCKED;
    c[87] = UNLOCKED;
    c[88] = 0xFF;
    c[89] = 0xFF;
    c[90] = 0x0E;
    c[91] = 0x60;
    c
}

fn slot_size(slot: usize) -> usize {
    match slot {
        0..=7 => 36,
        8 => 416,
        _ => 72,
    }
}

/// The same signature with S replaced by n - S when S is low.
fn high_s(sig: &p256::ecdsa::Signature) -> Option<p256::ecdsa::Signature> {
    let (r, s) = (sig.r(), sig.s());
    let s: p256::Scalar = *s.as_ref();
    let high = if bool::from(s.is_high()) { s } else { -s };
    p256::ecdsa::Signature::from_scalars(r.to_bytes(), high.to_bytes()).ok()
}

/// A status-only reply or an error status.
type Exec = Result<Vec<u8>, u8>;
const PARSE: u8 = 0x03;
const EXEC: u8 = 0x0F;

impl SimAtecc {
    /// A factory-blank device at address `0x60` with RNG seed 1.
    pub fn new() -> Self {
        SimAtecc::with_seed(1)
    }

    /// A factory-blank device whose serial number and RNG derive from `seed`.
    pub fn with_seed(seed: u64) -> Self {
        let state = State {
            address: DEFAULT_ADDRESS,
            power: Power::Sleep,
            busy: 0,
            busy_polls: 2,
            config: factory_config(seed),
            otp: [0; 64],
            data: (0..16).map(|i| vec![0; slot_size(i)]).collect(),
            keys: vec![None; 16],
            temp_key: None,
            digest_buffer: None,
            alt_key: None,
            input: Vec::new(),
            pending: None,
            output: Vec::new(),
            read_ptr: 0,
            seed: Sha256::digest([b"rng".as_slice(), &seed.to_le_bytes()].concat()).into(),
            rng_counter: 0,
            faults: Faults::default(),
            stats: SimStats::default(),
            time_ns: 0,
            wake_time_ns: 0,
            watchdog_ns: Some(1_300_000_000),
            lose_power_on_idle: false,
        };
        SimAtecc { state: Arc::new(Mutex::new(state)) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the device to another 7-bit address.
    pub fn set_address(&self, address: u8) {
        let mut s = self.lock();
        s.address = address;
        s.config[16] = address << 1;
    }

    /// Polls each command stays busy (NACKing) before its reply is ready.
    pub fn set_busy_polls(&self, polls: u32) {
        self.lock().busy_polls = polls;
    }

    /// The watchdog period in virtual ns (`None`: no watchdog).
    pub fn set_watchdog(&self, ns: Option<u64>) {
        self.lock().watchdog_ns = ns;
    }

    /// Injects a fault.
    pub fn inject(&self, fault: Fault) {
        let mut s = self.lock();
        let f = &mut s.faults;
        match fault {
            Fault::Nack(n) => f.nack += n,
            Fault::CorruptReply(n) => f.corrupt_reply += n,
            Fault::CorruptCommand(n) => f.corrupt_command += n,
            Fault::NoWake(n) => f.no_wake += n,
            Fault::Status { opcode, status } => f.statuses.push_back((opcode, status)),
            Fault::Busy(n) => f.extra_busy += n,
            Fault::SleepAfterNonce => f.sleep_after_nonce = true,
            Fault::SelfTestFailure => f.self_test = true,
            Fault::HighS => f.high_s = true,
        }
    }

    /// The counters.
    pub fn stats(&self) -> SimStats {
        self.lock().stats
    }

    /// The power state.
    pub fn power(&self) -> Power {
        self.lock().power
    }

    /// A copy of the configuration zone.
    pub fn config(&self) -> ConfigZone {
        ConfigZone(self.lock().config)
    }

    /// Virtual time elapsed through `DelayNs`, in ns.
    pub fn elapsed_ns(&self) -> u64 {
        self.lock().time_ns
    }
}

impl ErrorType for SimAtecc {
    type Error = SimError;
}

impl I2c for SimAtecc {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), SimError> {
        self.lock().transaction(address, operations)
    }
}

impl DelayNs for SimAtecc {
    fn delay_ns(&mut self, ns: u32) {
        self.lock().time_ns += u64::from(ns);
    }
}

impl State {
    fn zone(&self) -> ConfigZone {
        ConfigZone(self.config)
    }
    fn config_locked(&self) -> bool {
        self.config[87] != UNLOCKED
    }
    fn data_locked(&self) -> bool {
        self.config[86] != UNLOCKED
    }

    fn clear_volatile(&mut self) {
        self.temp_key = None;
        self.digest_buffer = None;
        self.alt_key = None;
        self.input.clear();
        self.pending = None;
        self.output.clear();
        self.read_ptr = 0;
        self.busy = 0;
    }

    fn fall_asleep(&mut self) {
        self.clear_volatile();
        self.power = Power::Sleep;
    }

    fn transaction(&mut self, address: u8, ops: &mut [Operation<'_>]) -> Result<(), SimError> {
        if let (Power::Awake, Some(limit)) = (self.power, self.watchdog_ns) {
            if self.time_ns.saturating_sub(self.wake_time_ns) >= limit {
                self.fall_asleep();
                self.stats.watchdog_sleeps += 1;
            }
        }
        if address == 0x00 {
            // A write to the general-call address holds SDA low long
            // enough to wake the device; nobody ACKs it.
            if ops.iter().any(|op| matches!(op, Operation::Write(_))) {
                self.wake_pulse();
            }
            return Err(NACK);
        }
        if address != self.address || self.power != Power::Awake {
            return Err(NACK);
        }
        if self.busy > 0 {
            self.busy -= 1;
            self.stats.busy_nacks += 1;
            return Err(NACK);
        }
        if self.faults.nack > 0 {
            self.faults.nack -= 1;
            return Err(NACK);
        }
        for op in ops.iter_mut() {
            match op {
                Operation::Write(bytes) => self.write(bytes),
                Operation::Read(buf) => {
                    for b in buf.iter_mut() {
                        *b = self.output.get(self.read_ptr).copied().unwrap_or(0xFF);
                        self.read_ptr += 1;
                    }
                }
            }
        }
        // The STOP ending the transfer starts a complete command.
        if let Some(packet) = self.pending.take() {
            self.execute(&packet);
        }
        Ok(())
    }

    fn wake_pulse(&mut self) {
        if self.faults.no_wake > 0 {
            self.faults.no_wake -= 1;
            return;
        }
        if self.power == Power::Awake {
            return;
        }
        self.power = Power::Awake;
        self.wake_time_ns = self.time_ns;
        self.stats.wakes += 1;
        self.input.clear();
        self.output = frame(&[if self.faults.self_test { 0x07 } else { 0x11 }]);
        self.read_ptr = 0;
    }

    fn write(&mut self, bytes: &[u8]) {
        let Some((&word, rest)) = bytes.split_first() else { return };
        match word {
            0x00 => {
                self.read_ptr = 0;
                self.input.clear();
            }
            0x01 => self.fall_asleep(),
            0x02 => {
                if std::mem::take(&mut self.lose_power_on_idle) {
                    self.fall_asleep();
                } else {
                    self.power = Power::Idle;
                    self.input.clear();
                    self.output.clear();
                    self.read_ptr = 0;
                }
            }
            0x03 => {
                self.input.extend_from_slice(rest);
                if let Some(&count) = self.input.first() {
                    let count = usize::from(count).max(1);
                    if self.input.len() >= count {
                        self.pending = Some(self.input[..count].to_vec());
                        self.input.clear();
                    }
                }
            }
            _ => {}
        }
    }

    fn execute(&mut self, packet: &[u8]) {
        self.stats.commands += 1;
        let payload = match self.run(packet) {
            Ok(d) if d.is_empty() => vec![0x00],
            Ok(d) => d,
            Err(status) => vec![status],
        };
        let mut reply = frame(&payload);
        if self.faults.corrupt_reply > 0 {
            self.faults.corrupt_reply -= 1;
            reply[1] ^= 0x01;
        }
        self.output = reply;
        self.read_ptr = 0;
        self.busy = self.busy_polls + std::mem::take(&mut self.faults.extra_busy);
    }

    fn run(&mut self, packet: &[u8]) -> Exec {
        if packet.len() < 7 {
            return Err(PARSE);
        }
        let (body, crc) = packet.split_at(packet.len() - 2);
        let damaged = self.faults.corrupt_command > 0;
        if damaged {
            self.faults.corrupt_command -= 1;
        }
        if damaged || crc16(body).to_le_bytes() != [crc[0], crc[1]] {
            self.stats.bad_crcs += 1;
            return Err(0xFF);
        }
        let (op, p1, p2, data) = (body[1], body[2], u16::from_le_bytes([body[3], body[4]]), &body[5..]);
        if let Some(i) = self.faults.statuses.iter().position(|&(o, _)| o == op) {
            let (_, status) = self.faults.statuses.remove(i).unwrap_or((op, EXEC));
            return Err(status);
        }
        match op {
            opcode::INFO => self.info(p1, p2, data),
            opcode::RANDOM => {
                if p1 > 1 || !data.is_empty() {
                    return Err(PARSE);
                }
                Ok(self.random_bytes().to_vec())
            }
            opcode::NONCE => self.nonce(p1, data),
            opcode::GENKEY => self.genkey(p1, p2, data),
            opcode::SIGN => self.sign(p1, p2, data),
            opcode::READ => self.read(p1, p2, data),
            opcode::WRITE => self.write_cmd(p1, p2, data),
            opcode::LOCK => self.lock_cmd(p1, p2, data),
            _ => Err(PARSE),
        }
    }

    fn random_bytes(&mut self) -> [u8; 32] {
        if !self.config_locked() {
            // The publicly observed pattern before the configuration lock.
            let mut out = [0u8; 32];
            for chunk in out.chunks_mut(4) {
                chunk.copy_from_slice(&[0xFF, 0xFF, 0x00, 0x00]);
            }
            return out;
        }
        self.rng_counter += 1;
        Sha256::digest([self.seed.as_slice(), &self.rng_counter.to_le_bytes()].concat()).into()
    }

    fn info(&mut self, p1: u8, p2: u16, data: &[u8]) -> Exec {
        if !data.is_empty() {
            return Err(PARSE);
        }
        match p1 {
            0x00 => Ok(self.config[4..8].to_vec()),
            0x01 if p2 < 16 => Ok(vec![u8::from(self.keys[usize::from(p2)].is_some()), 0, 0, 0]),
            _ => Err(PARSE),
        }
    }

    fn nonce(&mut self, p1: u8, data: &[u8]) -> Exec {
        match p1 & 0x03 {
            0x03 => {
                if p1 & 0x20 != 0 || data.len() != 32 {
                    return Err(PARSE);
                }
                let mut value = [0u8; 32];
                value.copy_from_slice(data);
                match p1 & 0xC0 {
                    0x00 => self.temp_key = Some(value),
                    0x40 => self.digest_buffer = Some(value),
                    0x80 => self.alt_key = Some(value),
                    _ => return Err(PARSE),
                }
                if std::mem::take(&mut self.faults.sleep_after_nonce) {
                    self.lose_power_on_idle = true;
                }
                Ok(Vec::new())
            }
            mode @ (0x00 | 0x01) => {
                if data.len() != 20 || p1 & 0xFC != 0 {
                    return Err(PARSE);
                }
                let random = self.random_bytes();
                let temp = Sha256::digest([random.as_slice(), data, &[opcode::NONCE, mode, 0x00]].concat());
                self.temp_key = Some(temp.into());
                Ok(random.to_vec())
            }
            _ => Err(PARSE),
        }
    }

    fn private_p256_slot(&self, slot: u8) -> bool {
        let z = self.zone();
        let (sc, kc) = (z.slot_config(slot), z.key_config(slot));
        kc.private() && kc.key_type() == KEY_TYPE_P256 && sc.is_secret()
    }

    fn genkey(&mut self, p1: u8, p2: u16, data: &[u8]) -> Exec {
        if !matches!(p1, 0x00 | 0x04) || !data.is_empty() || p2 >= 16 {
            return Err(PARSE);
        }
        let slot = p2 as u8;
        if !self.config_locked() || !self.private_p256_slot(slot) {
            return Err(EXEC);
        }
        let z = self.zone();
        if p1 == 0x04 {
            if self.data_locked() && (!z.slot_config(slot).genkey_after_lock() || z.lock_status().slot_locked(slot)) {
                return Err(EXEC);
            }
            let key = loop {
                let bytes = self.random_bytes();
                if let Ok(k) = SigningKey::from_bytes(&bytes.into()) {
                    break k;
                }
            };
            self.keys[usize::from(slot)] = Some(key);
        } else if !z.key_config(slot).pub_info() {
            return Err(EXEC);
        }
        let key = self.keys[usize::from(slot)].as_ref().ok_or(EXEC)?;
        let point = key.verifying_key().to_encoded_point(false);
        Ok(point.as_bytes()[1..].to_vec())
    }

    fn sign(&mut self, p1: u8, p2: u16, data: &[u8]) -> Exec {
        if !matches!(p1, 0x80 | 0xA0) || !data.is_empty() || p2 >= 16 {
            return Err(PARSE);
        }
        let slot = p2 as u8;
        if !self.config_locked() || !self.data_locked() || !self.private_p256_slot(slot) {
            return Err(EXEC);
        }
        if !self.zone().slot_config(slot).external_sign() {
            return Err(EXEC);
        }
        // The source buffer is spent by the Sign.
        let digest = if p1 == 0xA0 { self.digest_buffer.take() } else { self.temp_key.take() }.ok_or(EXEC)?;
        let key = self.keys[usize::from(slot)].as_ref().ok_or(EXEC)?;
        let mut sig: p256::ecdsa::Signature = key.sign_prehash(&digest).map_err(|_| 0x05)?;
        if self.faults.high_s {
            sig = high_s(&sig).ok_or(0x05)?;
        }
        self.stats.signatures += 1;
        Ok(sig.to_bytes().to_vec())
    }

    /// Offset and length of a config/OTP access, or a parse error.
    fn small_zone_range(p1: u8, p2: u16, blocks: u16) -> Result<(usize, usize), u8> {
        let (block, word) = (p2 >> 3, p2 & 7);
        if block >= blocks || p2 > 0xFF {
            return Err(PARSE);
        }
        if p1 & 0x80 != 0 {
            if word != 0 {
                return Err(PARSE);
            }
            Ok((usize::from(block) * 32, 32))
        } else {
            Ok((usize::from(block) * 32 + usize::from(word) * 4, 4))
        }
    }

    fn data_range(&self, p1: u8, p2: u16) -> Result<(u8, usize, usize), u8> {
        let (slot, block, word) = (((p2 >> 3) & 0xF) as u8, usize::from(p2 >> 8), usize::from(p2 & 7));
        let len = if p1 & 0x80 != 0 { 32 } else { 4 };
        let offset = block * 32 + if len == 4 { word * 4 } else { 0 };
        if offset + len > slot_size(usize::from(slot)) {
            return Err(PARSE);
        }
        Ok((slot, offset, len))
    }

    fn read(&mut self, p1: u8, p2: u16, data: &[u8]) -> Exec {
        if !data.is_empty() || p1 & 0x7C != 0 {
            return Err(PARSE);
        }
        match p1 & 0x03 {
            0 => {
                let (off, len) = Self::small_zone_range(p1, p2, 4)?;
                Ok(self.config[off..off + len].to_vec())
            }
            1 => {
                let (off, len) = Self::small_zone_range(p1, p2, 2)?;
                if !self.data_locked() {
                    return Err(EXEC);
                }
                Ok(self.otp[off..off + len].to_vec())
            }
            2 => {
                let (slot, off, len) = self.data_range(p1, p2)?;
                // Secret slots (all private keys) never leave the device.
                if !self.data_locked() || self.zone().slot_config(slot).is_secret() {
                    return Err(EXEC);
                }
                Ok(self.data[usize::from(slot)][off..off + len].to_vec())
            }
            _ => Err(PARSE),
        }
    }

    fn write_cmd(&mut self, p1: u8, p2: u16, data: &[u8]) -> Exec {
        let len = if p1 & 0x80 != 0 { 32 } else { 4 };
        if p1 & 0x7C != 0 || data.len() != len {
            return Err(PARSE);
        }
        match p1 & 0x03 {
            0 => {
                let (off, len) = Self::small_zone_range(p1, p2, 4)?;
                let end = off + len;
                if self.config_locked() || off < 16 || (off < 88 && end > 84) {
                    return Err(EXEC);
                }
                self.config[off..end].copy_from_slice(data);
                Ok(Vec::new())
            }
            1 => {
                let (off, len) = Self::small_zone_range(p1, p2, 2)?;
                if !self.config_locked() || self.data_locked() {
                    return Err(EXEC);
                }
                self.otp[off..off + len].copy_from_slice(data);
                Ok(Vec::new())
            }
            2 => {
                let (slot, off, len) = self.data_range(p1, p2)?;
                if !self.config_locked() || self.data_locked() || self.zone().key_config(slot).private() {
                    return Err(EXEC);
                }
                self.data[usize::from(slot)][off..off + len].copy_from_slice(data);
                Ok(Vec::new())
            }
            _ => Err(PARSE),
        }
    }

    fn lock_cmd(&mut self, p1: u8, p2: u16, data: &[u8]) -> Exec {
        if !data.is_empty() {
            return Err(PARSE);
        }
        let check_crc = p1 & 0x80 == 0;
        match p1 & 0x03 {
            0 => {
                if p1 & 0x7C != 0 {
                    return Err(PARSE);
                }
                if self.config_locked() || (check_crc && crc16(&self.config) != p2) {
                    return Err(EXEC);
                }
                self.config[87] = 0x00;
                Ok(Vec::new())
            }
            1 => {
                if p1 & 0x7C != 0 {
                    return Err(PARSE);
                }
                let contents: Vec<u8> = self.data.concat().into_iter().chain(self.otp).collect();
                if !self.config_locked() || self.data_locked() || (check_crc && crc16(&contents) != p2) {
                    return Err(EXEC);
                }
                self.config[86] = 0x00;
                Ok(Vec::new())
            }
            2 => {
                let slot = (p1 >> 2) & 0x0F;
                let z = self.zone();
                if !self.data_locked() || !z.key_config(slot).lockable() || z.lock_status().slot_locked(slot) {
                    return Err(EXEC);
                }
                let bits = z.lock_status().slot_locked_bits & !(1 << slot);
                self.config[88..90].copy_from_slice(&bits.to_le_bytes());
                Ok(Vec::new())
            }
            _ => Err(PARSE),
        }
    }
}
