//! Exact bus sequences, scripted with embedded-hal-mock from the golden
//! frames of the protocol document.

use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
use embedded_hal_mock::eh1::delay::NoopDelay;
use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};
use wsc_hsm_atecc::{Atecc, AteccError, NonceTarget, Options, Status};

const NACK: ErrorKind = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);

fn wake() -> Vec<T> {
    vec![T::write(0x00, vec![0x00]).with_error(NACK), T::read(0x60, vec![0x04, 0x11, 0x33, 0x43])]
}

fn run<R>(script: Vec<T>, options: Options, f: impl FnOnce(&mut Atecc<Mock, NoopDelay>) -> R) -> R {
    let mut bus = Mock::new(&script);
    let mut dev = Atecc::with_options(bus.clone(), NoopDelay::new(), options);
    let out = f(&mut dev);
    bus.done();
    out
}

#[test]
fn info_transcript() {
    let mut script = wake();
    script.extend([
        T::write(0x60, vec![0x03, 0x07, 0x30, 0x00, 0x00, 0x00, 0x03, 0x5D]),
        // First poll: still busy.
        T::write(0x60, vec![0x00]).with_error(NACK),
        T::write(0x60, vec![0x00]),
        T::read(0x60, vec![0x07]),
        T::read(0x60, vec![0x00, 0x00, 0x60, 0x02, 0x80, 0x38]),
        T::write(0x60, vec![0x02]),
    ]);
    let rev = run(script, Options::default(), |d| d.info());
    assert_eq!(rev, Ok([0x00, 0x00, 0x60, 0x02]));
}

#[test]
fn nonce_transcript() {
    let digest: [u8; 32] = core::array::from_fn(|i| i as u8);
    let mut command = vec![0x03, 0x27, 0x16, 0x43, 0x00, 0x00];
    command.extend_from_slice(&digest);
    command.extend([0xD7, 0x6C]);
    let mut script = wake();
    script.extend([
        T::write(0x60, command),
        T::write(0x60, vec![0x00]),
        T::read(0x60, vec![0x04]),
        T::read(0x60, vec![0x00, 0x03, 0x40]),
        T::write(0x60, vec![0x02]),
    ]);
    assert_eq!(run(script, Options::default(), |d| d.nonce_load(NonceTarget::MessageDigestBuffer, &digest)), Ok(()));
}

#[test]
fn execution_error_is_typed() {
    let mut script = wake();
    script.extend([
        T::write(0x60, vec![0x03, 0x07, 0x41, 0xA0, 0x00, 0x00, 0x7B, 0x85]),
        T::write(0x60, vec![0x00]),
        T::read(0x60, vec![0x04]),
        T::read(0x60, vec![0x0F, 0x23, 0x42]),
        T::write(0x60, vec![0x02]),
    ]);
    let r = run(script, Options::default(), |d| d.sign_external(0, wsc_hsm_atecc::SignSource::MessageDigestBuffer));
    assert_eq!(r, Err(AteccError::Status { opcode: 0x41, status: Status::ExecutionError }));
}

#[test]
fn self_test_wake_reply_is_classified_by_crc() {
    // The CRC-correct frame is a self-test failure.
    let script = vec![T::write(0x00, vec![0x00]).with_error(NACK), T::read(0x60, vec![0x04, 0x07, 0x40, 0xC2])];
    assert_eq!(run(script, Options::default(), |d| d.wake()), Err(AteccError::SelfTestFailed));
    // cryptoauthlib's constant has a bad CRC: noise, so idle and pulse again.
    let script = vec![
        T::write(0x00, vec![0x00]).with_error(NACK),
        T::read(0x60, vec![0x04, 0x07, 0xC4, 0x40]),
        T::write(0x60, vec![0x02]),
    ];
    let options = Options { wake_attempts: 1, ..Options::default() };
    assert_eq!(run(script, options, |d| d.wake()), Err(AteccError::WakeFailed { attempts: 1 }));
}

#[test]
fn bad_command_crc_is_resent() {
    let info = vec![0x03, 0x07, 0x30, 0x00, 0x00, 0x00, 0x03, 0x5D];
    let mut script = wake();
    script.extend([
        T::write(0x60, info.clone()),
        T::write(0x60, vec![0x00]),
        T::read(0x60, vec![0x04]),
        T::read(0x60, vec![0xFF, 0x01, 0x42]),
        T::write(0x60, vec![0x02]),
    ]);
    script.extend(wake());
    script.extend([
        T::write(0x60, info),
        T::write(0x60, vec![0x00]),
        T::read(0x60, vec![0x07]),
        T::read(0x60, vec![0x00, 0x00, 0x60, 0x03, 0x83, 0xBB]),
        T::write(0x60, vec![0x02]),
    ]);
    assert_eq!(run(script, Options::default(), |d| d.info()), Ok([0x00, 0x00, 0x60, 0x03]));
}

#[test]
fn lock_status_transcript() {
    let mut script = wake();
    script.extend([
        T::write(0x60, vec![0x03, 0x07, 0x02, 0x00, 0x15, 0x00, 0x17, 0x5D]),
        T::write(0x60, vec![0x00]),
        T::read(0x60, vec![0x07]),
    ]);
    let word = wsc_hsm_atecc::protocol::frame(&[0x00, 0x00, 0x55, 0x00]);
    script.push(T::read(0x60, word[1..].to_vec()));
    script.push(T::write(0x60, vec![0x02]));
    script.extend(wake());
    let mut read16 = vec![0x03];
    read16.extend(wsc_hsm_atecc::protocol::packet(0x02, 0x00, 0x16, &[]));
    script.extend([T::write(0x60, read16), T::write(0x60, vec![0x00]), T::read(0x60, vec![0x07])]);
    let word = wsc_hsm_atecc::protocol::frame(&[0xFF, 0xFF, 0x0E, 0x60]);
    script.push(T::read(0x60, word[1..].to_vec()));
    script.push(T::write(0x60, vec![0x02]));
    let locks = run(script, Options::default(), |d| d.lock_status());
    let locks = locks.unwrap_or_else(|e| panic!("{e}"));
    assert!(locks.config_locked && !locks.data_locked && locks.slot_locked_bits == 0xFFFF);
}
