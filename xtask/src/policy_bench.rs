//! `cargo xtask bench --policy-load`: how long `wsc policy check` takes on a
//! policy of 50 key principals (one key file each, a 2-of-50 threshold),
//! against the same command on a policy of one principal and against
//! `wsc --version`, in the same run. The 50-principal figure is a whole
//! process; the differences say what process start-up and the rest of the
//! loading contribute.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::bench::median;
use crate::util;

/// Target of the trust-policy issue: loading a 50-principal policy.
const TARGET_MS: f64 = 5.0;

pub(crate) fn bench(runs: usize, out: Option<&Path>, check: bool) -> Result<()> {
    let wsc = crate::build_release_wsc()?;
    let dir = crate::bench::tempfile_dir()?;
    for i in 1..=50 {
        let sk = dir.join(format!("s{i}"));
        let pk = dir.join(format!("k{i}.pub"));
        let code = util::code(Command::new(&wsc).arg("keygen").arg("-k").arg(&sk).arg("-K").arg(&pk))?;
        if code != 0 {
            bail!("wsc keygen failed ({code})");
        }
    }
    let policy = |n: usize| {
        let mut p = String::from("schema = \"wsc-policy/v1\"\n");
        for i in 1..=n {
            let _ = writeln!(p, "[principals.k{i}]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k{i}.pub\"");
        }
        let of: Vec<String> = (1..=n).map(|i| format!("\"k{i}\"")).collect();
        let k = n.min(2);
        let _ = writeln!(p, "[rules.r]\nthreshold = {{ k = {k}, of = [{}] }}\n[default]\nrule = \"r\"", of.join(", "));
        p
    };
    std::fs::write(dir.join("p1.toml"), policy(1)).context("cannot write p1.toml")?;
    std::fs::write(dir.join("p50.toml"), policy(50)).context("cannot write p50.toml")?;
    let cases: [(&str, Vec<String>); 3] = [
        ("wsc --version (process start-up)", vec!["--version".into()]),
        ("wsc policy check, 1 principal", vec!["policy".into(), "check".into(), "p1.toml".into()]),
        ("wsc policy check, 50 principals", vec!["policy".into(), "check".into(), "p50.toml".into()]),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for round in 0..runs + 2 {
        for (i, (_, args)) in cases.iter().enumerate() {
            let start = Instant::now();
            let st = Command::new(&wsc)
                .args(args)
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .context("cannot run wsc")?;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            if !st.success() {
                bail!("wsc {} failed: {st}", args.join(" "));
            }
            if round >= 2 {
                times[i].push(ms);
            }
        }
    }
    let med: Vec<f64> = times.into_iter().map(median).collect();
    let mut t = String::new();
    let _ = writeln!(t, "Median of {runs} runs after 2 warm-up runs, whole process, wall time:\n");
    let _ = writeln!(t, "| command | ms |");
    let _ = writeln!(t, "|---|---|");
    for ((name, _), m) in cases.iter().zip(&med) {
        let _ = writeln!(t, "| {name} | {m:.2} |");
    }
    let _ = writeln!(
        t,
        "\nLoading 49 more principals (50 key files read, parsed, fingerprinted, checked for duplicates) adds {:.2} ms; \
         the whole 50-principal process takes {:.2} ms (target {TARGET_MS} ms).",
        med[2] - med[1],
        med[2]
    );
    println!("{t}");
    if let Some(out) = out {
        std::fs::write(out, &t).with_context(|| format!("cannot write {}", out.display()))?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if check && med[2] > TARGET_MS {
        bail!("loading a 50-principal policy took {:.2} ms > {TARGET_MS} ms", med[2]);
    }
    Ok(())
}
