//! Errors of the driver, the signer and the provisioning helpers.

use crate::protocol::Status;

/// Anything that can go wrong talking to an ATECC608.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AteccError {
    /// The I2C bus reported an error where none was expected.
    #[error("I2C bus error: {0:?}")]
    Bus(embedded_hal::i2c::ErrorKind),
    /// Opening the bus failed (Linux i2c-dev).
    #[error("cannot open the I2C bus: {0}")]
    Open(String),
    /// No valid wake reply after all retries.
    #[error("the device did not wake up (no valid 04 11 reply after {attempts} attempts)")]
    WakeFailed {
        /// How many wake pulses were sent.
        attempts: u32,
    },
    /// The wake reply said the power-on self test failed (status `0x07`).
    #[error("the device is in self-test failure mode")]
    SelfTestFailed,
    /// The device stayed busy past the command's deadline.
    #[error("no reply to command 0x{opcode:02X} within {ms} ms")]
    Timeout {
        /// The command's opcode.
        opcode: u8,
        /// The deadline that passed.
        ms: u32,
    },
    /// A reply failed its CRC check.
    #[error("reply to command 0x{opcode:02X} failed its CRC check")]
    ResponseCrc {
        /// The command's opcode.
        opcode: u8,
    },
    /// A reply had an impossible length or shape.
    #[error("malformed reply to command 0x{opcode:02X}: {reason}")]
    Malformed {
        /// The command's opcode.
        opcode: u8,
        /// What was wrong.
        reason: &'static str,
    },
    /// The device answered with an error status.
    #[error("command 0x{opcode:02X} failed: {status}")]
    Status {
        /// The command's opcode.
        opcode: u8,
        /// The status byte.
        status: Status,
    },
    /// A caller passed an argument the device cannot take.
    #[error("invalid argument: {0}")]
    Argument(String),
    /// The device is not set up to sign with this slot.
    #[error("not provisioned: {0}")]
    NotProvisioned(String),
    /// A signature from the device did not verify with its public key.
    #[error("the device returned a signature that does not verify with slot {slot}'s public key")]
    BadSignature {
        /// The slot that signed.
        slot: u8,
    },
    /// A confirmation value for an irreversible step did not match.
    #[error("confirmation mismatch: {0}")]
    Confirmation(String),
}

impl AteccError {
    /// Whether repeating the whole operation may succeed: bus noise, CRC
    /// errors, a missed wake, a timeout or an ECC fault.
    pub fn is_transient(&self) -> bool {
        match self {
            AteccError::Bus(_)
            | AteccError::WakeFailed { .. }
            | AteccError::Timeout { .. }
            | AteccError::ResponseCrc { .. } => true,
            AteccError::Malformed { .. } => true,
            AteccError::Status { status, .. } => matches!(status, Status::EccFault | Status::CommsError),
            _ => false,
        }
    }

    /// The device status, when the device answered with one.
    pub fn status(&self) -> Option<Status> {
        match self {
            AteccError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Results of this crate.
pub type Result<T, E = AteccError> = std::result::Result<T, E>;
