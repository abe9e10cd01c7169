//! `cargo xtask fuzz`: each cargo-fuzz target for a few seconds, seeded from
//! the test vectors (stable toolchain with RUSTC_BOOTSTRAP=1).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::util;

const TARGETS: &[(&str, &[&str])] = &[
    ("sections", &["modules", "signed", "crafted"]),
    ("signature_data", &[]),
    ("keys", &["keys"]),
    ("verify", &["modules", "signed", "crafted"]),
];

fn seed(corpus: &Path, vectors: &Path, dirs: &[&str], sigs: bool) -> Result<()> {
    std::fs::create_dir_all(corpus)?;
    for d in dirs {
        for e in std::fs::read_dir(vectors.join(d))? {
            let p = e?.path();
            if let Some(name) = p.file_name() {
                std::fs::copy(&p, corpus.join(name))?;
            }
        }
    }
    if sigs {
        for d in ["signed", "crafted"] {
            for e in std::fs::read_dir(vectors.join(d))? {
                let p = e?.path();
                if p.extension().is_some_and(|x| x == "sig") {
                    std::fs::copy(&p, corpus.join(p.file_name().context("name")?))?;
                }
            }
        }
    }
    Ok(())
}

/// Runs every target for `seconds`; a crash fails the run.
pub(crate) fn run(seconds: u32) -> Result<()> {
    let root = util::root();
    let fuzz = root.join("fuzz");
    let vectors = root.join("testdata/wasmsign2");
    for (target, dirs) in TARGETS {
        let corpus = fuzz.join("corpus").join(target);
        seed(&corpus, &vectors, dirs, *target == "signature_data")?;
        util::run(
            Command::new(env!("CARGO"))
                .current_dir(&fuzz)
                .env("RUSTC_BOOTSTRAP", "1")
                .args(["fuzz", "run", target])
                .arg(&corpus)
                .arg("--")
                .arg(format!("-max_total_time={seconds}"))
                .arg("-print_final_stats=1"),
        )
        .with_context(|| format!("fuzz target {target} failed (see fuzz/artifacts/{target}/)"))?;
    }
    Ok(())
}
