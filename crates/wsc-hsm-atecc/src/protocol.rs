//! Wire format without I/O: word address bytes, opcodes, command packets,
//! reply frames, status codes and execution times.

use std::fmt;

use crate::crc::{crc16, crc16_bytes};

/// Word address byte: reset the read pointer.
pub const WORD_RESET: u8 = 0x00;
/// Word address byte: enter sleep (volatile state lost).
pub const WORD_SLEEP: u8 = 0x01;
/// Word address byte: enter idle (TempKey and digest buffer kept).
pub const WORD_IDLE: u8 = 0x02;
/// Word address byte: a command packet follows.
pub const WORD_COMMAND: u8 = 0x03;

/// The default 7-bit I2C address of blank parts.
pub const DEFAULT_ADDRESS: u8 = 0x60;

/// The reply a freshly woken device gives.
pub const WAKE_REPLY: [u8; 4] = [0x04, 0x11, 0x33, 0x43];

/// Most data bytes one command may carry.
pub const MAX_DATA: usize = 155;
/// Longest reply frame the driver reads.
pub const MAX_REPLY: usize = 75;

/// Command opcodes.
pub mod opcode {
    /// Info.
    pub const INFO: u8 = 0x30;
    /// Random.
    pub const RANDOM: u8 = 0x1B;
    /// Nonce.
    pub const NONCE: u8 = 0x16;
    /// GenKey.
    pub const GENKEY: u8 = 0x40;
    /// Sign.
    pub const SIGN: u8 = 0x41;
    /// Read.
    pub const READ: u8 = 0x02;
    /// Write.
    pub const WRITE: u8 = 0x12;
    /// Lock.
    pub const LOCK: u8 = 0x17;
}

/// A status byte from a 4-byte reply frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `0x00`: success.
    Success,
    /// `0x01`: CheckMac or Verify miscompare.
    Miscompare,
    /// `0x03`: bad length, opcode or parameter.
    ParseError,
    /// `0x05`: the computation produced an invalid result; a retry may work.
    EccFault,
    /// `0x07`: the power-on self test failed.
    SelfTestError,
    /// `0x08`: the random number generator failed its health test.
    HealthTestError,
    /// `0x0F`: not allowed in the current state or configuration.
    ExecutionError,
    /// `0x11`: the first reply after a wake.
    WakeToken,
    /// `0xFF`: the device saw a bad CRC or framing error in the command.
    CommsError,
    /// Any other value.
    Unknown(u8),
}

impl Status {
    /// Classifies a status byte.
    pub fn from_byte(b: u8) -> Status {
        match b {
            0x00 => Status::Success,
            0x01 => Status::Miscompare,
            0x03 => Status::ParseError,
            0x05 => Status::EccFault,
            0x07 => Status::SelfTestError,
            0x08 => Status::HealthTestError,
            0x0F => Status::ExecutionError,
            0x11 => Status::WakeToken,
            0xFF => Status::CommsError,
            other => Status::Unknown(other),
        }
    }

    /// The status byte.
    pub fn byte(self) -> u8 {
        match self {
            Status::Success => 0x00,
            Status::Miscompare => 0x01,
            Status::ParseError => 0x03,
            Status::EccFault => 0x05,
            Status::SelfTestError => 0x07,
            Status::HealthTestError => 0x08,
            Status::ExecutionError => 0x0F,
            Status::WakeToken => 0x11,
            Status::CommsError => 0xFF,
            Status::Unknown(b) => b,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Status::Success => "success",
            Status::Miscompare => "miscompare",
            Status::ParseError => "parse error (bad length, opcode or parameter)",
            Status::EccFault => "ECC fault",
            Status::SelfTestError => "self-test failure",
            Status::HealthTestError => "RNG health test failure",
            Status::ExecutionError => "execution error (not allowed by the lock state or slot configuration)",
            Status::WakeToken => "wake token",
            Status::CommsError => "communication error (the device saw a bad CRC)",
            Status::Unknown(_) => "unknown status",
        };
        write!(f, "status 0x{:02X}, {text}", self.byte())
    }
}

/// Builds a command packet (without the `0x03` word address byte).
/// Panics if `data` is longer than [`MAX_DATA`]; `Atecc::command` checks first.
pub fn packet(opcode: u8, param1: u8, param2: u16, data: &[u8]) -> Vec<u8> {
    assert!(data.len() <= MAX_DATA, "command data too long");
    let count = 7 + data.len();
    let mut p = Vec::with_capacity(count);
    p.push(count as u8);
    p.push(opcode);
    p.push(param1);
    p.extend_from_slice(&param2.to_le_bytes());
    p.extend_from_slice(data);
    let crc = crc16_bytes(&p);
    p.extend_from_slice(&crc);
    p
}

/// Builds a reply frame around `payload` (status byte or data).
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 3);
    f.push((payload.len() + 3) as u8);
    f.extend_from_slice(payload);
    let crc = crc16_bytes(&f);
    f.extend_from_slice(&crc);
    f
}

/// What a well-formed frame carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A 4-byte frame: one status byte.
    Status(Status),
    /// A longer frame: command output.
    Data(Vec<u8>),
}

/// Why a frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The count byte is below 4 or above the buffer.
    Length,
    /// The CRC does not match.
    Crc,
}

/// Checks a frame (count, length, CRC) and returns its payload.
pub fn parse_frame(frame: &[u8]) -> Result<Reply, FrameError> {
    let count = *frame.first().ok_or(FrameError::Length)? as usize;
    if !(4..=MAX_REPLY).contains(&count) || frame.len() < count {
        return Err(FrameError::Length);
    }
    let (body, crc) = frame[..count].split_at(count - 2);
    if crc16(body).to_le_bytes() != [crc[0], crc[1]] {
        return Err(FrameError::Crc);
    }
    Ok(if count == 4 { Reply::Status(Status::from_byte(body[1])) } else { Reply::Data(body[1..].to_vec()) })
}

/// The clock divider of ChipMode (config byte 19, bits 7..3): slower
/// clocks lengthen the ECC commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockDivider {
    /// `0x00`, the default and fastest.
    #[default]
    M0,
    /// `0x05`.
    M1,
    /// `0x0D`.
    M2,
}

/// The longest execution time of a command in ms (cryptoauthlib's 608 tables).
pub fn max_execution_ms(opcode: u8, clock: ClockDivider) -> u32 {
    let col = |m0, m1, m2| match clock {
        ClockDivider::M0 => m0,
        ClockDivider::M1 => m1,
        ClockDivider::M2 => m2,
    };
    match opcode {
        opcode::INFO | opcode::READ => 5,
        opcode::RANDOM => 23,
        opcode::NONCE => 20,
        opcode::WRITE => 45,
        opcode::LOCK => 35,
        opcode::GENKEY => col(115, 215, 653),
        opcode::SIGN => col(115, 220, 665),
        _ => 250,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_packets() {
        assert_eq!(packet(opcode::INFO, 0, 0, &[]), [0x07, 0x30, 0, 0, 0, 0x03, 0x5D]);
        assert_eq!(packet(opcode::RANDOM, 0, 0, &[]), [0x07, 0x1B, 0, 0, 0, 0x24, 0xCD]);
        assert_eq!(packet(opcode::SIGN, 0xA0, 2, &[]), [0x07, 0x41, 0xA0, 0x02, 0x00, 0x7D, 0x05]);
        assert_eq!(packet(opcode::GENKEY, 0x04, 0, &[]), [0x07, 0x40, 0x04, 0, 0, 0x83, 0x87]);
        assert_eq!(packet(opcode::GENKEY, 0x00, 2, &[]), [0x07, 0x40, 0x00, 0x02, 0x00, 0x06, 0x85]);
        assert_eq!(packet(opcode::READ, 0x80, 0x18, &[]), [0x07, 0x02, 0x80, 0x18, 0x00, 0x09, 0xFD]);
        assert_eq!(packet(opcode::READ, 0x00, 0x15, &[]), [0x07, 0x02, 0x00, 0x15, 0x00, 0x17, 0x5D]);
        assert_eq!(packet(opcode::LOCK, 0x80, 0, &[]), [0x07, 0x17, 0x80, 0, 0, 0x39, 0x8D]);
        assert_eq!(packet(opcode::LOCK, 0x0A, 0, &[]), [0x07, 0x17, 0x0A, 0, 0, 0x6E, 0x09]);
        assert_eq!(
            packet(opcode::WRITE, 0x00, 0x05, &[0x83, 0x20, 0x87, 0x20]),
            [0x0B, 0x12, 0x00, 0x05, 0x00, 0x83, 0x20, 0x87, 0x20, 0x6B, 0x9D]
        );
        let digest: Vec<u8> = (0..32).collect();
        let p = packet(opcode::NONCE, 0x43, 0, &digest);
        assert_eq!((p[0], p[p.len() - 2], p[p.len() - 1]), (0x27, 0xD7, 0x6C));
        let p = packet(opcode::NONCE, 0x03, 0, &digest);
        assert_eq!((p[p.len() - 2], p[p.len() - 1]), (0x04, 0xEE));
    }

    #[test]
    fn golden_status_frames() {
        for (b, f) in [
            (0x00, [0x04, 0x00, 0x03, 0x40]),
            (0x01, [0x04, 0x01, 0x00, 0xC3]),
            (0x03, [0x04, 0x03, 0x83, 0x42]),
            (0x05, [0x04, 0x05, 0xC3, 0x43]),
            (0x07, [0x04, 0x07, 0x40, 0xC2]),
            (0x08, [0x04, 0x08, 0x60, 0xC0]),
            (0x0F, [0x04, 0x0F, 0x23, 0x42]),
            (0x11, [0x04, 0x11, 0x33, 0x43]),
            (0xFF, [0x04, 0xFF, 0x01, 0x42]),
        ] {
            assert_eq!(frame(&[b]), f);
            assert_eq!(parse_frame(&f), Ok(Reply::Status(Status::from_byte(b))));
            assert_eq!(Status::from_byte(b).byte(), b);
        }
        // cryptoauthlib's constant for the self-test wake reply has a wrong CRC.
        assert_eq!(parse_frame(&[0x04, 0x07, 0xC4, 0x40]), Err(FrameError::Crc));
    }

    #[test]
    fn info_reply_and_bad_frames() {
        assert_eq!(parse_frame(&[0x07, 0x00, 0x00, 0x60, 0x02, 0x80, 0x38]), Ok(Reply::Data(vec![0, 0, 0x60, 0x02])));
        assert_eq!(parse_frame(&[0x07, 0x00, 0x00, 0x60, 0x03, 0x83, 0xBB]), Ok(Reply::Data(vec![0, 0, 0x60, 0x03])));
        assert_eq!(parse_frame(&[0x03, 0, 0]), Err(FrameError::Length));
        assert_eq!(parse_frame(&[0xFF; 8]), Err(FrameError::Length));
        assert_eq!(parse_frame(&[0x07, 0x00, 0x00, 0x60]), Err(FrameError::Length));
    }
}
