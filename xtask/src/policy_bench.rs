//! `cargo xtask bench --policy`: `wsc verify --policy` (three principals,
//! 2 of 3) against `wsc verify -K` of the same module, paired runs in one
//! run; and `wsc policy check` of a 50-principal policy against
//! `wsc --version` (the process start both pay).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::bench::median;
use crate::util::{self, measure};

/// Options of `cargo xtask bench --policy`.
#[derive(Debug)]
pub(crate) struct Opts {
    /// The module: a corpus file or any other.
    pub(crate) input: PathBuf,
    pub(crate) runs: usize,
    pub(crate) out: Option<PathBuf>,
    pub(crate) check: bool,
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn wsc_ok(wsc: &Path, args: &[&std::ffi::OsStr]) -> Result<()> {
    let code = util::code(std::process::Command::new(wsc).args(args))?;
    if code != 0 {
        bail!("wsc {args:?} exited {code}");
    }
    Ok(())
}

pub(crate) fn bench(o: &Opts) -> Result<()> {
    let wsc = crate::build_release_wsc()?;
    let scratch = crate::bench::tempfile_dir()?;
    let size = std::fs::metadata(&o.input).with_context(|| format!("missing module {}", o.input.display()))?.len();
    let p = |name: &str| scratch.join(name);
    let os = |p: &Path| p.as_os_str().to_owned();
    // Three keys: two Ed25519, one P-256; the module signed by all three.
    for (k, alg) in [("a", "ed25519"), ("b", "ed25519"), ("c", "p256")] {
        let (sk, pk) = (p(&format!("{k}.sk")), p(&format!("{k}.pk")));
        wsc_ok(
            &wsc,
            &[
                "keygen".as_ref(),
                "--algorithm".as_ref(),
                alg.as_ref(),
                "-k".as_ref(),
                sk.as_os_str(),
                "-K".as_ref(),
                pk.as_os_str(),
            ],
        )?;
    }
    let signed = p("signed.wasm");
    std::fs::copy(&o.input, &signed).context("copy the module")?;
    for k in ["a", "b", "c"] {
        let sk = p(&format!("{k}.sk"));
        wsc_ok(
            &wsc,
            &[
                "sign".as_ref(),
                "-i".as_ref(),
                signed.as_os_str(),
                "-o".as_ref(),
                signed.as_os_str(),
                "-k".as_ref(),
                sk.as_os_str(),
            ],
        )?;
    }
    let policy = p("policy.toml");
    let mut text = String::from("schema = \"wsc-policy/v1\"\n");
    for (k, alg) in [("a", "ed25519"), ("b", "ed25519"), ("c", "p256")] {
        let _ = write!(text, "[principals.{k}]\nkind = \"key\"\nalgorithm = \"{alg}\"\nfile = \"{k}.pk\"\n");
    }
    text.push_str("[rules.two]\nthreshold = { k = 2, of = [\"a\", \"b\", \"c\"] }\n[default]\nrule = \"two\"\n");
    std::fs::write(&policy, text)?;
    // 50 principals: fresh Ed25519 keys.
    let big = p("policy50.toml");
    let mut text = String::from("schema = \"wsc-policy/v1\"\n");
    let mut names = Vec::new();
    for i in 0..50 {
        let (sk, pk) = (p(&format!("m{i}.sk")), p(&format!("m{i}.pk")));
        wsc_ok(&wsc, &["keygen".as_ref(), "-k".as_ref(), sk.as_os_str(), "-K".as_ref(), pk.as_os_str()])?;
        let _ = write!(text, "[principals.m{i}]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"m{i}.pk\"\n");
        names.push(format!("\"m{i}\""));
    }
    let _ =
        write!(text, "[rules.any]\nthreshold = {{ k = 2, of = [{}] }}\n[default]\nrule = \"any\"\n", names.join(", "));
    std::fs::write(&big, text)?;

    let cmds: Vec<Vec<std::ffi::OsString>> = vec![
        vec!["verify".into(), "-i".into(), os(&signed), "-K".into(), os(&p("a.pk"))],
        vec!["verify".into(), "-i".into(), os(&signed), "--policy".into(), os(&policy)],
        vec!["policy".into(), "check".into(), os(&big)],
        vec!["--version".into()],
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cmds.len()];
    for round in 0..o.runs + 2 {
        for k in 0..cmds.len() {
            let i = (k + round) % cmds.len();
            let s = measure(&wsc, &cmds[i], 0, &scratch)?;
            if round >= 2 {
                samples[i].push(ms(s.wall));
            }
        }
    }
    let ratio = median(samples[1].iter().zip(&samples[0]).map(|(a, b)| a / b).collect());
    let load = median(samples[2].iter().zip(&samples[3]).map(|(a, b)| a - b).collect());
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| module | size | verify -K (ms) | verify --policy 2 of 3 (ms) | ratio | 50-principal load (ms, over process start) |"
    );
    let _ = writeln!(table, "|---|---|---|---|---|---|");
    let _ = writeln!(
        table,
        "| {} | {size} | {:.1} | {:.1} | {ratio:.3} | {load:.2} |",
        o.input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        median(samples[0].clone()),
        median(samples[1].clone()),
    );
    let _ = writeln!(table, "\nmedians of {} paired runs", o.runs);
    println!("{table}");
    if let Some(out) = &o.out {
        std::fs::write(out, &table).with_context(|| format!("cannot write {}", out.display()))?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if o.check {
        let mut missed = Vec::new();
        if ratio > 1.05 {
            missed.push(format!("verify --policy {ratio:.3}x verify -K > 1.05"));
        }
        if load > 5.0 {
            missed.push(format!("loading 50 principals {load:.2} ms > 5"));
        }
        if !missed.is_empty() {
            bail!("targets missed:\n{}", missed.join("\n"));
        }
        eprintln!("all targets met");
    }
    Ok(())
}
