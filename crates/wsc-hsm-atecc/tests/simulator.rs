//! The driver, the signer and provisioning against the byte-level
//! simulator, faults included.

use wsc_core::{PublicKey, Signer};
use wsc_hsm_atecc::protocol::opcode;
use wsc_hsm_atecc::sim::{Fault, Power, SimAtecc};
use wsc_hsm_atecc::{Atecc, AteccError, AteccSigner, Options, SlotProblem, Status};

type Dev = Atecc<SimAtecc, SimAtecc>;

fn device(sim: &SimAtecc) -> Dev {
    Atecc::new(sim.clone(), sim.clone())
}

fn ok<T>(r: wsc_hsm_atecc::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn status(r: wsc_hsm_atecc::Result<impl std::fmt::Debug>) -> Status {
    match r {
        Err(AteccError::Status { status, .. }) => status,
        other => panic!("expected a device status, got {other:?}"),
    }
}

/// Locks config, makes a key in slot 0, locks data: the real flow.
fn provisioned(seed: u64) -> (SimAtecc, [u8; 64]) {
    let sim = SimAtecc::with_seed(seed);
    let mut dev = device(&sim);
    let config = ok(dev.read_config());
    ok(dev.lock_config(&config));
    let xy = ok(dev.provision_key(0));
    ok(dev.lock_data(&config.serial_number()));
    (sim, xy)
}

fn sec1(xy: &[u8; 64]) -> PublicKey {
    let mut b = vec![0x04];
    b.extend_from_slice(xy);
    PublicKey::from_any(&b).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn info_wakes_and_idles() {
    let sim = SimAtecc::new();
    let mut dev = device(&sim);
    assert_eq!(ok(dev.info()), [0x00, 0x00, 0x60, 0x03]);
    assert_eq!(sim.power(), Power::Idle);
    assert_eq!(sim.stats().wakes, 1);
    assert!(sim.stats().busy_nacks >= 1, "the driver polled through busy");
    // Idle and sleep are NACKed unless the device is awake.
    assert!(matches!(dev.sleep(), Err(AteccError::Bus(_))));
    ok(dev.wake());
    ok(dev.sleep());
    assert_eq!(sim.power(), Power::Sleep);
}

#[test]
fn blank_device_refuses_keys_and_signatures() {
    let sim = SimAtecc::new();
    let mut dev = device(&sim);
    assert_eq!(ok(dev.random()).chunks(4).collect::<Vec<_>>(), vec![[0xFF, 0xFF, 0x00, 0x00]; 8]);
    assert_eq!(status(dev.generate_key(0)), Status::ExecutionError);
    assert_eq!(status(dev.sign_digest(0, &[1; 32])), Status::ExecutionError);
    let report = ok(dev.inspect(0));
    assert!(report.is_atecc608() && report.problems.is_empty());
    assert!(!report.locks.config_locked && !report.locks.data_locked);
    assert_eq!(report.serial[..2], [0x01, 0x23]);
    assert!(matches!(report.ready_to_sign(), Err(AteccError::NotProvisioned(_))));
    assert!(matches!(dev.provision_key(0), Err(AteccError::NotProvisioned(_))));
    assert!(matches!(dev.lock_data(&report.serial), Err(AteccError::Confirmation(_))));
}

#[test]
fn config_writes_follow_the_lock_rules() {
    let sim = SimAtecc::new();
    let mut dev = device(&sim);
    // Slot 3 as a signing slot: SlotConfig 0x2083 (word 6 holds bytes 24..27).
    let mut word = ok(dev.read_config_word(6));
    word[2..4].copy_from_slice(&0x2083u16.to_le_bytes());
    ok(dev.write_config_word(6, word));
    assert_eq!(ok(dev.read_config_word(6)), word);
    assert_eq!(status(dev.write_config_word(0, [0; 4])), Status::ExecutionError);
    assert_eq!(status(dev.write_config_word(0x15, [0; 4])), Status::ExecutionError);
    let mut expected = ok(dev.read_config());
    expected.0[30] ^= 1;
    assert!(matches!(dev.lock_config(&expected), Err(AteccError::Confirmation(_))));
    // The device checks the CRC itself too.
    assert_eq!(status(dev.lock_config_zone(expected.crc())), Status::ExecutionError);
    expected.0[30] ^= 1;
    ok(dev.lock_config(&expected));
    assert!(ok(dev.lock_status()).config_locked);
    assert_eq!(status(dev.write_config_word(6, word)), Status::ExecutionError);
    assert_eq!(status(dev.lock_config_zone(expected.crc())), Status::ExecutionError);
    // Slot 3 kept KeyConfig 0x001C: not a private P-256 key.
    assert_eq!(ok(dev.inspect(3)).problems, [SlotProblem::NotPrivate, SlotProblem::NotP256(7), SlotProblem::NoPubInfo]);
    assert!(matches!(dev.provision_key(3), Err(AteccError::NotProvisioned(_))));
}

#[test]
fn provisioning_then_signing_verifies_with_the_public_key_only() {
    let (sim, xy) = provisioned(7);
    let mut dev = device(&sim);
    assert_ne!(ok(dev.random()), ok(dev.random()));
    let report = ok(dev.inspect(0));
    ok(report.ready_to_sign());
    // Sign needs both zones locked; the data zone is now locked.
    let signer = ok(AteccSigner::open_provisioned(dev, 0));
    assert_eq!(signer.public(), &sec1(&xy));
    assert_eq!(signer.algorithm(), wsc_core::sigdata::AlgorithmId::ECDSA_P256_SHA256);
    assert_eq!(signer.label(), "atecc@0x60/slot0");

    let module = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x02\x01\0\x0a\x04\x01\x02\0\x0b".to_vec();
    let signed = wsc_core::sign(&module, &signer).unwrap_or_else(|e| panic!("{e}"));
    let public = sec1(&xy);
    let verified = wsc_core::verify(&signed, &public).unwrap_or_else(|e| panic!("{e}"));
    assert!(verified.whole);

    // The signer conformance kit: low S, 64 bytes, over its message only,
    // two threads at once through the device's lock.
    wsc_core::conformance::check_signer(&signer, &public).unwrap_or_else(|f| panic!("{f:?}"));
    assert!(sim.stats().signatures >= 10);
}

#[test]
fn high_s_from_the_chip_is_normalised() {
    let (sim, xy) = provisioned(17);
    sim.inject(Fault::HighS);
    let mut dev = device(&sim);
    let digest = [9u8; 32];
    let raw = ok(dev.sign_digest(0, &digest));
    let raw = p256::ecdsa::Signature::from_slice(&raw).unwrap_or_else(|e| panic!("{e}"));
    assert!(raw.normalize_s().is_some(), "the simulator returned low S");
    let signer = ok(AteccSigner::new(dev, 0));
    let sig = signer.try_sign(b"high").unwrap_or_else(|e| panic!("{e}"));
    let parsed = p256::ecdsa::Signature::from_slice(&sig).unwrap_or_else(|e| panic!("{e}"));
    assert!(parsed.normalize_s().is_none());
    assert!(sec1(&xy).verify(b"high", &sig));
}

#[test]
fn private_keys_cannot_be_read_out() {
    let (sim, _) = provisioned(3);
    let mut dev = device(&sim);
    for slot in 0..3u16 {
        // Read data zone, 32 bytes, block 0 of the slot.
        assert_eq!(status(dev.command(opcode::READ, 0x82, slot << 3, &[], true)), Status::ExecutionError);
    }
}

#[test]
fn regenerable_slot_until_locked() {
    let (sim, first) = provisioned(11);
    let mut dev = device(&sim);
    // SlotConfig 0x2083: bit 13 lets GenKey replace the key after the data lock.
    let second = ok(dev.provision_key(0));
    assert_ne!(first, second);
    assert_eq!(ok(dev.public_key(0)), second);
    ok(dev.lock_slot(0));
    assert!(ok(dev.lock_status()).slot_locked(0));
    assert!(matches!(dev.provision_key(0), Err(AteccError::NotProvisioned(_))));
    assert_eq!(status(dev.generate_key(0)), Status::ExecutionError);
    assert_eq!(status(dev.lock_slot(0)), Status::ExecutionError);
}

#[test]
fn csr_through_the_chip_is_accepted() {
    let (sim, xy) = provisioned(5);
    let signer = ok(AteccSigner::new(device(&sim), 0));
    let csr = wsc_pki::Csr::create(&signer, "device-0001").unwrap_or_else(|e| panic!("{e}"));
    let pem = csr.to_pem().unwrap_or_else(|e| panic!("{e}"));
    let parsed = wsc_pki::Csr::from_pem(pem.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.public_key(), &sec1(&xy));
    assert_eq!(parsed.uris(), ["urn:wsc:device:device-0001"]);
    let dir = std::env::temp_dir().join(format!("wsc-hsm-atecc-csr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("device.csr");
    std::fs::write(&path, &pem).unwrap_or_else(|e| panic!("{e}"));
    match std::process::Command::new("openssl").args(["req", "-verify", "-noout", "-in"]).arg(&path).output() {
        Ok(out) => {
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success() && text.contains("verify OK"), "openssl: {text}");
        }
        Err(e) => eprintln!("openssl not run ({e}); wsc-pki accepted the CSR"),
    }
    std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn reply_crc_errors_are_retried_then_reported() {
    let sim = SimAtecc::new();
    let mut dev = device(&sim);
    sim.inject(Fault::CorruptReply(1));
    assert_eq!(ok(dev.info()), [0, 0, 0x60, 3]);
    assert_eq!(sim.stats().commands, 2);
    sim.inject(Fault::CorruptReply(10));
    assert_eq!(dev.info(), Err(AteccError::ResponseCrc { opcode: opcode::INFO }));
    // Lock is not idempotent: one attempt, the error is reported.
    let crc = sim.config().crc();
    sim.inject(Fault::CorruptReply(1));
    assert_eq!(dev.lock_config_zone(crc), Err(AteccError::ResponseCrc { opcode: opcode::LOCK }));
    assert!(sim.config().lock_status().config_locked);
}

#[test]
fn command_crc_errors_seen_by_the_device_are_resent() {
    let sim = SimAtecc::new();
    let mut dev = device(&sim);
    sim.inject(Fault::CorruptCommand(2));
    assert_eq!(ok(dev.info()), [0, 0, 0x60, 3]);
    assert_eq!(sim.stats().bad_crcs, 2);
    sim.inject(Fault::CorruptCommand(3));
    assert_eq!(status(dev.info()), Status::CommsError);
}

#[test]
fn missed_wakes_and_nacks_are_retried() {
    let sim = SimAtecc::new();
    let mut dev = device(&sim);
    sim.inject(Fault::NoWake(3));
    assert_eq!(ok(dev.info()), [0, 0, 0x60, 3]);
    sim.inject(Fault::NoWake(100));
    assert_eq!(dev.info(), Err(AteccError::WakeFailed { attempts: 5 }));
    let sim = SimAtecc::new();
    let mut dev = device(&sim);
    sim.inject(Fault::Nack(2));
    assert_eq!(ok(dev.info()), [0, 0, 0x60, 3]);
}

#[test]
fn wrong_address_never_wakes() {
    let sim = SimAtecc::new();
    sim.set_address(0x35);
    assert!(matches!(device(&sim).info(), Err(AteccError::WakeFailed { .. })));
    let mut dev = Atecc::with_options(sim.clone(), sim.clone(), Options { address: 0x35, ..Options::default() });
    assert_eq!(ok(dev.info()), [0, 0, 0x60, 3]);
    assert_eq!(ok(dev.read_config()).i2c_address(), 0x35);
}

#[test]
fn busy_past_the_deadline_times_out() {
    let sim = SimAtecc::new();
    let mut dev = device(&sim);
    sim.inject(Fault::Busy(20));
    assert_eq!(dev.info(), Err(AteccError::Timeout { opcode: opcode::INFO, ms: 7 }));
    // Within the deadline, busy is just polled through.
    let sim = SimAtecc::new();
    let mut dev = device(&sim);
    sim.inject(Fault::Busy(2));
    assert_eq!(ok(dev.info()), [0, 0, 0x60, 3]);
}

#[test]
fn ecc_fault_on_sign_is_retried() {
    let (sim, xy) = provisioned(9);
    let signer = ok(AteccSigner::new(device(&sim), 0));
    sim.inject(Fault::Status { opcode: opcode::SIGN, status: 0x05 });
    let sig = signer.try_sign(b"message").unwrap_or_else(|e| panic!("{e}"));
    assert!(sec1(&xy).verify(b"message", &sig));
    assert_eq!(sim.stats().signatures, 1);
}

#[test]
fn execution_error_on_sign_is_reported() {
    let (sim, _) = provisioned(9);
    let signer = ok(AteccSigner::new(device(&sim), 0));
    sim.inject(Fault::Status { opcode: opcode::SIGN, status: 0x0F });
    let err = signer.try_sign(b"message").err().unwrap_or_else(|| panic!("signed despite 0x0F"));
    assert!(err.to_string().contains("0x0F"), "{err}");
}

#[test]
fn power_loss_between_nonce_and_sign_is_detected() {
    let (sim, _) = provisioned(13);
    let mut dev = device(&sim);
    sim.inject(Fault::SleepAfterNonce);
    // The digest is gone, so the chip refuses to sign: no garbage signature.
    assert_eq!(status(dev.sign_digest(0, &[7; 32])), Status::ExecutionError);
    assert_eq!(sim.stats().signatures, 0);
    assert_eq!(ok(dev.sign_digest(0, &[7; 32])).len(), 64);
}

#[test]
fn waking_an_awake_device_resynchronises() {
    let sim = SimAtecc::new();
    let mut dev = device(&sim);
    ok(dev.wake());
    // The pulse is ignored and the read finds no fresh reply: idle, pulse again.
    ok(dev.wake());
    assert_eq!(sim.stats().wakes, 2);
    assert_eq!(ok(dev.info()), [0, 0, 0x60, 3]);
}

#[test]
fn data_slots_follow_the_lock_rules() {
    let sim = SimAtecc::new();
    let mut dev = device(&sim);
    let word = [1u8, 2, 3, 4];
    // Slot 8, block 0, word 1: (block << 8) | (slot << 3) | word.
    let addr = (8 << 3) | 1;
    // Data writes need a locked configuration zone.
    assert_eq!(status(dev.command(opcode::WRITE, 0x02, addr, &word, true)), Status::ExecutionError);
    let config = ok(dev.read_config());
    ok(dev.lock_config(&config));
    ok(dev.command(opcode::WRITE, 0x02, addr, &word, true));
    // The data zone is unreadable until it is locked.
    assert_eq!(status(dev.command(opcode::READ, 0x02, addr, &[], true)), Status::ExecutionError);
    ok(dev.lock_data(&config.serial_number()));
    assert_eq!(ok(dev.command(opcode::READ, 0x02, addr, &[], true)), word);
    assert_eq!(status(dev.command(opcode::WRITE, 0x02, addr, &word, true)), Status::ExecutionError);
    assert_eq!(status(dev.lock_data_zone()), Status::ExecutionError);
    // Parse errors for impossible parameters.
    assert_eq!(status(dev.command(opcode::READ, 0x03, 0, &[], true)), Status::ParseError);
    assert_eq!(status(dev.command(0x7E, 0, 0, &[], true)), Status::ParseError);
}

#[test]
fn self_test_failure_is_reported() {
    let sim = SimAtecc::new();
    sim.inject(Fault::SelfTestFailure);
    assert_eq!(device(&sim).info(), Err(AteccError::SelfTestFailed));
}

#[test]
fn watchdog_sleep_is_survived() {
    let sim = SimAtecc::new();
    let mut dev = device(&sim);
    ok(dev.wake());
    embedded_hal::delay::DelayNs::delay_ms(&mut sim.clone(), 2000);
    assert_eq!(ok(dev.info()), [0, 0, 0x60, 3]);
    assert_eq!(sim.stats().watchdog_sleeps, 1);
}

#[test]
fn signer_is_object_safe_and_shareable() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let (sim, xy) = provisioned(21);
    let signer = ok(AteccSigner::new(device(&sim), 0));
    assert_send_sync(&signer);
    let dyn_signer: &dyn Signer = &signer;
    assert_eq!(dyn_signer.public_key(), Some(sec1(&xy)));
    let with_id = wsc_core::WithKeyId::new(&signer).unwrap_or_else(|| panic!("no public key"));
    assert_eq!(with_id.key_id(), Some(sec1(&xy).key_id()));
}
