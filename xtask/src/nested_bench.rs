//! `cargo xtask bench --nested`: the release `wsc verify --nested` against
//! `wsc verify` of the same component (the outer signature alone),
//! alternating process pairs in one run, with the peak memory of both; on
//! every core, then both pinned to one core (`taskset -c 0`), where the
//! wall-time ratio is the ratio of the work done. Target (components
//! issue): at most 1.2x on a 20 MB component, memory flat in its size.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::bench::median;
use crate::util::{self, Sample, measure};

/// `rounds` alternating runs of `a` and `b` (the order swaps each round)
/// after one unmeasured run of each.
fn alternate(
    program: &Path,
    a: &[OsString],
    b: &[OsString],
    rounds: usize,
    dir: &Path,
) -> Result<(Vec<Sample>, Vec<Sample>)> {
    if !program.is_file() {
        bail!("{} is missing (Debian package util-linux for taskset)", program.display());
    }
    measure(program, a, 0, dir)?;
    measure(program, b, 0, dir)?;
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round % 2 == 0 {
            xs.push(measure(program, a, 0, dir)?);
            ys.push(measure(program, b, 0, dir)?);
        } else {
            ys.push(measure(program, b, 0, dir)?);
            xs.push(measure(program, a, 0, dir)?);
        }
    }
    Ok((xs, ys))
}

fn ms(samples: &[Sample]) -> f64 {
    median(samples.iter().map(|s| s.wall.as_secs_f64() * 1000.0).collect())
}

fn rss(samples: &[Sample]) -> u64 {
    samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0)
}

fn ratio(outer: &[Sample], nested: &[Sample]) -> f64 {
    median(nested.iter().zip(outer).map(|(n, o)| n.wall.as_secs_f64() / o.wall.as_secs_f64()).collect())
}

/// `cargo xtask bench --nested [--input FILE] [--runs N] [--out FILE] [--check]`.
/// The input (default: the corpus component.wasm, a real 21 MB component)
/// is signed with `wsc sign --nested` (every nested part, then the whole);
/// the hello component, signed the same way, shows what start-up costs.
pub(crate) fn nested(input: &Path, runs: usize, out: Option<&Path>, check: bool) -> Result<()> {
    let wsc = crate::build_release_wsc()?;
    let root = util::root();
    let dir = crate::bench::tempfile_dir()?;
    let keys = root.join("testdata/wasmsign2/keys");
    let mut rows = Vec::new();
    for (name, unsigned) in [("input", input.to_path_buf()), ("hello", root.join("testdata/components/hello.wasm"))] {
        let signed = dir.join(format!("{name}.signed.wasm"));
        util::run(
            Command::new(&wsc)
                .args(["sign", "--nested", "-k"])
                .arg(keys.join("k1.sk"))
                .arg("-i")
                .arg(&unsigned)
                .arg("-o")
                .arg(&signed),
        )
        .with_context(|| format!("cannot sign {} with --nested", unsigned.display()))?;
        let size = std::fs::metadata(&signed)?.len();
        let args = |nested: bool| -> Vec<OsString> {
            let mut v: Vec<OsString> = vec!["verify".into(), "-i".into(), signed.clone().into(), "-K".into()];
            v.push(keys.join("k1.pk").into());
            if nested {
                v.push("--nested".into());
            }
            v
        };
        let (outer, nested) = alternate(&wsc, &args(false), &args(true), runs, &dir)?;
        rows.push((name.to_string(), size, outer, nested));
        if name == "input" {
            // The same on one core: each side's wall time is then its CPU time.
            let pinned = |nested: bool| -> Vec<OsString> {
                let mut v: Vec<OsString> = vec!["-c".into(), "0".into(), wsc.clone().into()];
                v.extend(args(nested));
                v
            };
            let taskset = Path::new("/usr/bin/taskset");
            let (outer, nested) = alternate(taskset, &pinned(false), &pinned(true), runs, &dir)?;
            rows.push(("input, one core".to_string(), size, outer, nested));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);

    let mut table = String::new();
    let _ = writeln!(
        table,
        "| input | size | verify (ms) | verify --nested (ms) | ratio | verify peak RSS (KiB) | --nested peak RSS (KiB) |"
    );
    let _ = writeln!(table, "|---|---|---|---|---|---|---|");
    for (name, size, outer, nested) in &rows {
        let _ = writeln!(
            table,
            "| {name} | {size} | {:.1} | {:.1} | {:.3} | {} | {} |",
            ms(outer),
            ms(nested),
            ratio(outer, nested),
            rss(outer),
            rss(nested)
        );
    }
    let _ = writeln!(
        table,
        "\nmedians of {runs} alternating rounds of one process each (wall time around GNU time, which gives the \
         peak RSS); every nested part and the whole signed by `wsc sign --nested`; `one core`: both pinned to \
         CPU 0 with taskset, so the ratio is that of the work done; `hello` is the small signed hello \
         component: its times are mostly process start-up"
    );
    println!("{table}");
    if let Some(out) = out {
        std::fs::write(out, &table).with_context(|| format!("cannot write {}", out.display()))?;
    }
    let (_, _, outer, nested) = &rows[0];
    if check && ratio(outer, nested) > 1.2 {
        bail!("target missed: wsc verify --nested vs wsc verify {:.3}x > 1.2", ratio(outer, nested));
    }
    Ok(())
}
