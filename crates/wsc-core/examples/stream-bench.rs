//! `cargo xtask bench --stream`: the streaming verifier fed 4 KiB pieces
//! against `verify_embedded` reading the same file, in one process, in
//! paired runs. Both read the file 256 KiB at a time (the same system
//! calls); the streaming side hands each read to the verifier in 4 KiB
//! pieces, so the difference is the verifier's cost per piece. Prints one
//! line per run: `file_ms stream_ms`.
//!
//! Usage: `stream-bench MODULE RUNS`. The module is signed here with a
//! fresh Ed25519 key and written to a temporary file that both read.

use std::io::Read;
use std::time::Instant;

use wsc_core::{KeyAlgorithm, RecordVerifier, SecretKey, StreamVerifier, Verification};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(module), Some(runs)) = (args.next(), args.next()) else {
        return Err("usage: stream-bench MODULE RUNS".into());
    };
    let runs: usize = runs.parse()?;
    let key = SecretKey::generate(KeyAlgorithm::Ed25519, &mut rand_core::OsRng);
    let signed = wsc_core::sign(&std::fs::read(&module)?, &key)?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("signed.wasm");
    std::fs::write(&path, &signed)?;
    let public = key.public_key();
    let verifiers: [&dyn RecordVerifier; 1] = [&public];
    let check = Verification::new(&verifiers).total_len(Some(signed.len() as u64));
    let file = || -> Result<f64, Box<dyn std::error::Error>> {
        let t = Instant::now();
        let r = wsc_core::verify_embedded(std::fs::File::open(&path)?, &check)?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let _verified = r.single()?;
        Ok(ms)
    };
    let stream = || -> Result<f64, Box<dyn std::error::Error>> {
        let t = Instant::now();
        let mut f = std::fs::File::open(&path)?;
        let mut v = StreamVerifier::embedded(&check);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            for piece in buf[..n].chunks(4096) {
                v.update(piece)?;
            }
        }
        let r = v.finish()?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let _verified = r.single()?;
        Ok(ms)
    };
    // Two warm-up rounds, then paired runs in alternating order.
    for _ in 0..2 {
        file()?;
        stream()?;
    }
    for i in 0..runs {
        let (a, b) = if i % 2 == 0 {
            let a = file()?;
            (a, stream()?)
        } else {
            let b = stream()?;
            (file()?, b)
        };
        println!("{a:.3} {b:.3}");
    }
    Ok(())
}
