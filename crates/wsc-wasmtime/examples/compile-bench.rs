//! `cargo xtask bench --wasmtime` runs this: wasmtime compiling a signed
//! component, against `Loader::component` verifying the same bytes against
//! a one-key policy and then compiling them, in one process.
//!
//! Usage: compile-bench FILE RUNS. Prints one line per run: the
//! milliseconds of `Component::new` (or `Module::new` for a core module),
//! of `Loader::component` (or `module`), and of the verification alone
//! (`Policy::evaluate` of the same bytes). The order of the first two
//! alternates from run to run.

use std::time::{Instant, SystemTime};

use rand_core::OsRng;
use wsc_core::{KeyAlgorithm, SecretKey};
use wsc_policy::{Format, MemoryFiles};
use wsc_wasmtime::Loader;
use wsc_wasmtime::wasmtime::component::Component;
use wsc_wasmtime::wasmtime::{Engine, Module};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, runs] = args.as_slice() else {
        return Err("usage: compile-bench FILE RUNS".into());
    };
    let runs: usize = runs.parse()?;
    let key = SecretKey::generate(KeyAlgorithm::Ed25519, &mut OsRng);
    let signed = wsc_core::sign(&std::fs::read(file)?, &key)?;
    let mut files = MemoryFiles::new();
    files.insert("k.pub", key.public_key().to_pem()?.as_bytes());
    let text = "schema = \"wsc-policy/v1\"\n[principals.k]\nkind = \"key\"\nalgorithm = \"ed25519\"\n\
                file = \"k.pub\"\n[default]\nrule = \"k\"\n";
    let policy = wsc_policy::parse(text.as_bytes(), Format::Toml, &files)?;
    let engine = Engine::default();
    let component = wsc_wasmtime::Kind::of(&signed) == Some(wsc_wasmtime::Kind::Component);
    let loader = Loader::new(&engine, &policy);

    let plain = || -> Result<f64, Box<dyn std::error::Error>> {
        let t = Instant::now();
        if component {
            drop(Component::new(&engine, &signed).map_err(|e| e.to_string())?);
        } else {
            drop(Module::new(&engine, &signed).map_err(|e| e.to_string())?);
        }
        Ok(t.elapsed().as_secs_f64() * 1e3)
    };
    let verified = || -> Result<f64, Box<dyn std::error::Error>> {
        let t = Instant::now();
        if component {
            drop(loader.component(&signed)?.into_inner());
        } else {
            drop(loader.module(&signed)?.into_inner());
        }
        Ok(t.elapsed().as_secs_f64() * 1e3)
    };
    let verify_only = || -> Result<f64, Box<dyn std::error::Error>> {
        let t = Instant::now();
        let verdict = policy.evaluate(
            &signed[..],
            Some(signed.len() as u64),
            &wsc_policy::Target::unnamed(),
            SystemTime::now(),
        )?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if verdict.decision() != wsc_policy::Decision::Accepted {
            return Err("the signed input is not accepted".into());
        }
        Ok(ms)
    };
    for run in 0..runs {
        let (a, b) = if run % 2 == 0 {
            let a = plain()?;
            (a, verified()?)
        } else {
            let b = verified()?;
            (plain()?, b)
        };
        let c = verify_only()?;
        println!("{a:.3} {b:.3} {c:.3}");
    }
    Ok(())
}
