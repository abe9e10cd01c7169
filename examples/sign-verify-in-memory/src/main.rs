//! Signs a small WebAssembly module in memory and verifies it.
//!
//! The module is signed with an Ed25519 key and a P-256 key (two records in
//! one signature set). Each key is verified and what `Verified` reports is
//! printed. A tampered copy, an unsigned module and a key that did not sign
//! are refused. Then the module is split, signed and extended with a custom
//! section, and a partial verification shows which bytes are covered.
//!
//! Nothing is written to disk. The process exits non-zero when any
//! expectation fails, so CI can run it as a check.

use anyhow::{Context, Result, bail};
use rand_core::{OsRng, RngCore};
use wsc_core::format::{SectionHeader, encode_custom_section};
use wsc_core::{
    Error, KeyAlgorithm, PublicKey, Report, Scope, SecretKey, Verification, Verified, VerifyError, WithKeyId, inspect,
    sign, split, verify, verify_embedded,
};

/// The body of `add`: `local.get 0`, `local.get 1`, `i32.add`, `end`.
const ADD_BODY: [u8; 6] = [0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b];

/// Builds a module that exports `add(i32, i32) -> i32` and ends with a
/// `note` custom section.
fn module() -> Result<Vec<u8>> {
    let mut m = vec![0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    // Type section: one type, (i32, i32) -> i32.
    m.extend_from_slice(&[0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]);
    // Function section: one function of type 0.
    m.extend_from_slice(&[0x03, 0x02, 0x01, 0x00]);
    // Export section: function 0 as "add".
    m.extend_from_slice(&[0x07, 0x07, 0x01, 0x03, b'a', b'd', b'd', 0x00, 0x00]);
    // Code section: one body with no locals.
    m.extend_from_slice(&[0x0a, 0x09, 0x01, 0x07, 0x00]);
    m.extend_from_slice(&ADD_BODY);
    m.extend_from_slice(&encode_custom_section("note", b"built in memory by the wsc example")?);
    Ok(m)
}

/// Turns `i32.add` into `i32.sub`: the module stays valid but its content changes.
fn tamper(signed: &[u8]) -> Result<Vec<u8>> {
    let at = signed
        .windows(ADD_BODY.len())
        .rposition(|w| w == ADD_BODY)
        .context("the body of `add` is not in the module")?;
    let mut copy = signed.to_vec();
    copy[at + 4] = 0x6b;
    Ok(copy)
}

/// Counts expectations and prints each one.
#[derive(Debug, Default)]
struct Expectations {
    met: usize,
    failed: Vec<String>,
}

impl Expectations {
    fn check(&mut self, ok: bool, what: &str) {
        if ok {
            self.met += 1;
            println!("  [ok]   {what}");
        } else {
            self.failed.push(what.to_owned());
            println!("  [FAIL] {what}");
        }
    }
}

/// One line about what a key verified.
fn describe(v: &Verified) -> String {
    let signatures: Vec<String> =
        v.signatures.iter().map(|s| format!("set {} record {} ({})", s.set, s.record, s.algorithm)).collect();
    let unverified = match v.unverified() {
        Some((from, to)) => format!("bytes {from}..{to}"),
        None => "none".to_owned(),
    };
    format!(
        "whole: {}; verified bytes {}..{} of {}; unverified: {}; hashes checked: {}; signatures: {}",
        v.whole,
        v.start,
        v.verified_end,
        v.end,
        unverified,
        v.hashes_checked,
        signatures.join(", ")
    )
}

/// Verifies with several keys at once and prints one line per key.
fn verify_all(module: &[u8], keys: &[(&str, &PublicKey)], scope: Scope<'_>) -> Result<Report> {
    let verifiers: Vec<&dyn wsc_core::RecordVerifier> = keys.iter().map(|(_, k)| *k as _).collect();
    let report =
        verify_embedded(module, &Verification::new(&verifiers).scope(scope).total_len(Some(module.len() as u64)))?;
    for ((name, _), result) in keys.iter().zip(&report.results) {
        match result {
            Ok(v) => println!("  {name}: verified; {}", describe(v)),
            Err(e) => println!("  {name}: refused; {}", wsc_core::Chain(e)),
        }
    }
    Ok(report)
}

/// The 16 random bytes of a new delimiter.
fn random_delimiter() -> [u8; 16] {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b
}

fn main() -> Result<()> {
    let mut expect = Expectations::default();

    let module = module()?;
    println!("module: {} bytes", module.len());
    for s in inspect(&module[..], None)?.sections {
        let name = s.name.map(|n| format!(" `{n}`")).unwrap_or_default();
        println!("  section id {}{name} at {}, {} bytes", s.id, s.offset, s.len);
    }

    let ed = SecretKey::generate(KeyAlgorithm::Ed25519, &mut OsRng);
    let p256 = SecretKey::generate(KeyAlgorithm::P256, &mut OsRng);
    let (ed_pub, p256_pub) = (ed.public_key(), p256.public_key());
    for pk in [&ed_pub, &p256_pub] {
        println!("key: {} with key id {}", pk.algorithm().as_str(), pk.key_id());
    }
    let keys = [("ed25519", &ed_pub), ("p256", &p256_pub)];

    // Each record carries its key id, so a verifier only checks its own.
    let ed_signer = WithKeyId::new(&ed).context("an Ed25519 key has a public key")?;
    let p256_signer = WithKeyId::new(&p256).context("a P-256 key has a public key")?;
    // Signing a signed module adds a record to the same set.
    let signed = sign(&sign(&module, &ed_signer)?, &p256_signer)?;
    println!("\nsigned with both keys: {} bytes", signed.len());
    let report = verify_all(&signed, &keys, Scope::Whole)?;
    for ((name, _), result) in keys.iter().zip(&report.results) {
        expect.check(
            result.as_ref().is_ok_and(|v| v.whole && v.unverified().is_none()),
            &format!("{name} verifies the whole signed module"),
        );
    }
    let both_in_one_set =
        report.results.iter().all(|r| r.as_ref().is_ok_and(|v| v.signatures.len() == 1 && v.signatures[0].set == 0));
    expect.check(both_in_one_set, "both signatures are records of the first set");

    println!("\na key that did not sign:");
    let stranger = SecretKey::generate(KeyAlgorithm::Ed25519, &mut OsRng).public_key();
    let result = verify(&signed, &stranger);
    if let Err(e) = &result {
        println!("  refused: {}", wsc_core::Chain(e));
    }
    expect.check(
        matches!(result, Err(Error::Verification(VerifyError::NoValidSignature))),
        "a key that did not sign is refused",
    );

    println!("\ntampered copy (i32.add changed to i32.sub):");
    let tampered = tamper(&signed)?;
    let report = verify_all(&tampered, &keys, Scope::Whole)?;
    expect.check(
        report.results.iter().all(|r| matches!(r, Err(VerifyError::ContentMismatch))),
        "the tampered copy is refused for both keys",
    );

    println!("\nunsigned module:");
    let result = verify(&module, &ed_pub);
    if let Err(e) = &result {
        println!("  refused: {e}");
    }
    expect.check(matches!(result, Err(Error::NoSignature)), "the unsigned module is refused");

    // Partial verification: the standard sections are selected, custom
    // sections are not. Split puts delimiters where the selection changes,
    // so a custom section appended after signing leaves the rest verifiable.
    println!("\nsplit, sign, then append a custom section:");
    let standard = |h: &SectionHeader| h.id != 0;
    let mut split_module = Vec::new();
    let added = split(&module[..], &mut split_module, Some(&standard), &mut random_delimiter)?;
    println!("  split added {} delimiters ({} in all): {} bytes", added.added, added.total, split_module.len());
    let signed_split = sign(&sign(&split_module, &ed_signer)?, &p256_signer)?;
    let appended_section = encode_custom_section("build-info", b"appended after signing")?;
    let mut appended = signed_split.clone();
    appended.extend_from_slice(&appended_section);
    let appended_range = (signed_split.len() as u64, appended.len() as u64);
    println!(
        "  signed: {} bytes; with `build-info` appended at {}..{}: {} bytes",
        signed_split.len(),
        appended_range.0,
        appended_range.1,
        appended.len()
    );

    println!("partial verification (standard sections) of the extended module:");
    let report = verify_all(&appended, &keys, Scope::Partial(&standard))?;
    for ((name, _), result) in keys.iter().zip(&report.results) {
        expect.check(
            result.as_ref().is_ok_and(|v| !v.whole && v.unverified() == Some(appended_range)),
            &format!("{name} verifies the selection; only the appended section is unverified"),
        );
    }

    println!("whole verification of the extended module:");
    let report = verify_all(&appended, &keys, Scope::Whole)?;
    expect.check(
        report.results.iter().all(|r| matches!(r, Err(VerifyError::PartsUnsigned { .. }))),
        "whole verification refuses the extended module: its signed parts are only a prefix",
    );

    println!("partial verification after tampering with a selected section:");
    let report = verify_all(&tamper(&appended)?, &keys, Scope::Partial(&standard))?;
    expect.check(
        report.results.iter().all(|r| matches!(r, Err(VerifyError::SignedPartChanged { .. }))),
        "partial verification refuses a changed code section (the signed part differs)",
    );

    println!();
    if !expect.failed.is_empty() {
        bail!(
            "{} of {} expectations failed: {}",
            expect.failed.len(),
            expect.failed.len() + expect.met,
            expect.failed.join("; ")
        );
    }
    println!("all {} expectations met", expect.met);
    Ok(())
}
