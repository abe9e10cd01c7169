//! `wsc demo`: the whole workflow on a bundled module, offline.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use wsc_core::keys::hex;
use wsc_core::{KeyAlgorithm, RecordVerifier, Scope, SecretKey, VerifyOptions, WithKeyId};

use crate::Outcome;
use crate::files::{self, Mode};
use crate::keys::{Format, write_key_pair};

/// The bundled module: `add.wat` from the interop vectors (11 sections).
const DEMO_MODULE: &[u8] = include_bytes!("../assets/demo.wasm");

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Folder for the files the demo writes (default: a new temporary folder).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub(crate) fn run(a: &DemoArgs) -> Result<Outcome> {
    let dir = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create '{}'", d.display()))?;
            d.clone()
        }
        None => tempfile::Builder::new().prefix("wsc-demo-").tempdir()?.keep(),
    };
    let p = |n: &str| dir.join(n);
    println!("wsc demo: every file is in {}", dir.display());

    files::write_bytes(&p("demo.wasm"), Mode::Public, DEMO_MODULE)?;
    println!("1. bundled module written: demo.wasm ({} bytes)", DEMO_MODULE.len());

    let ed = SecretKey::generate(KeyAlgorithm::Ed25519, &mut rand_core::OsRng);
    write_key_pair(&ed, Format::Raw, &p("ed25519.sk"), &p("ed25519.pk"))?;
    let ec = SecretKey::generate(KeyAlgorithm::P256, &mut rand_core::OsRng);
    write_key_pair(&ec, Format::Pem, &p("p256.sk.pem"), &p("p256.pk.pem"))?;
    println!(
        "2. keys made: ed25519.sk/.pk (key id {}), p256.sk.pem/.pk.pem (key id {})",
        hex(&ed.public_key().key_id()),
        hex(&ec.public_key().key_id())
    );

    let once = wsc_core::sign(DEMO_MODULE, &WithKeyId::checked(&ed, &ed.public_key())?)?;
    let twice = wsc_core::sign(&once, &WithKeyId::checked(&ec, &ec.public_key())?)?;
    files::write_bytes(&p("demo.signed.wasm"), Mode::Public, &twice)?;
    println!("3. signed with both keys (one hash set, two signatures): demo.signed.wasm ({} bytes)", twice.len());

    let (edp, ecp) = (ed.public_key(), ec.public_key());
    let keys: [&dyn RecordVerifier; 2] = [&edp, &ecp];
    let report = wsc_core::verify_embedded(
        &twice[..],
        Some(twice.len() as u64),
        &keys,
        Scope::Whole,
        &VerifyOptions::default(),
    )?;
    for (name, r) in ["ed25519.pk", "p256.pk.pem"].iter().zip(&report.results) {
        match r {
            Ok(v) if v.whole => println!("4. verified with {name}: whole module, bytes {}..{}", v.start, v.end),
            Ok(_) => bail!("demo: {name} verified only part of the module"),
            Err(e) => bail!("demo: verification with {name} failed: {e}"),
        }
    }

    let mut tampered = twice.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 0x01;
    files::write_bytes(&p("demo.tampered.wasm"), Mode::Public, &tampered)?;
    match wsc_core::verify(&tampered, &edp) {
        Ok(_) => bail!("demo: the tampered module verified, which must never happen"),
        Err(e) => println!("5. demo.tampered.wasm (one data byte flipped at offset {last}) is rejected: {e}"),
    }

    let unsigned_attempt = wsc_core::verify(DEMO_MODULE, &edp);
    match unsigned_attempt {
        Ok(_) => bail!("demo: an unsigned module verified"),
        Err(e) => println!("6. the unsigned demo.wasm is rejected: {e}"),
    }
    println!("Try it yourself:");
    println!("  wsc verify -i {} -K {}", p("demo.signed.wasm").display(), p("ed25519.pk").display());
    println!("  wsc verify -i {} -K {}", p("demo.tampered.wasm").display(), p("ed25519.pk").display());
    println!("  wsc show -i {}", p("demo.signed.wasm").display());
    Ok(Outcome::Done)
}
