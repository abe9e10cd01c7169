//! `cargo xtask bench`: wsc against `openssl dgst -sha256` and wasmsign2,
//! measured in the same run, as ratios of paired runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::util::{self, Sample, measure};

/// Options of `cargo xtask bench`.
#[derive(Debug)]
pub(crate) struct BenchOpts {
    pub(crate) corpus: PathBuf,
    pub(crate) runs: usize,
    pub(crate) files: Vec<String>,
    pub(crate) out: Option<PathBuf>,
    pub(crate) check: bool,
}

/// The large corpus files the targets are stated for.
pub(crate) const LARGE: &[&str] = &["large-fastly", "large-esbuild", "large-swc", "large-flite", "component"];

/// The output of "wsc sign" exists (from the round before); that of
/// "wsc sign new" does not (removed before each run, not timed).
const TOOLS: &[&str] = &["openssl", "wsc sign", "wsc verify", "wasmsign2 sign", "wasmsign2 verify", "wsc sign new"];

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct FileResult {
    name: String,
    size: u64,
    /// Median wall time per tool, ms.
    wall: Vec<f64>,
    /// Peak RSS per tool, KiB.
    rss: Vec<u64>,
    verify_vs_openssl: f64,
    sign_vs_openssl: f64,
    sign_new_vs_openssl: f64,
    ws2_sign_vs_wsc: f64,
    ws2_verify_vs_wsc: f64,
}

pub(crate) fn bench(o: &BenchOpts) -> Result<()> {
    let wsc = crate::build_release_wsc()?;
    let wasmsign2 = crate::find_wasmsign2()?;
    let openssl = PathBuf::from("openssl");
    let scratch = tempfile_dir()?;
    let sk = scratch.join("k.sk");
    let pk = scratch.join("k.pk");
    util::run(std::process::Command::new(&wsc).args(["keygen", "-k"]).arg(&sk).arg("-K").arg(&pk))?;
    let files: Vec<String> =
        if o.files.is_empty() { LARGE.iter().map(|s| s.to_string()).collect() } else { o.files.clone() };
    let mut results = Vec::new();
    for name in &files {
        let input = o.corpus.join(format!("{name}.wasm"));
        let size = std::fs::metadata(&input)
            .with_context(|| format!("missing corpus file {} (run `cargo xtask corpus`)", input.display()))?
            .len();
        let signed = scratch.join("signed.wasm");
        let o1 = scratch.join("o1.wasm");
        let o2 = scratch.join("o2.wasm");
        let o3 = scratch.join("o3.wasm");
        util::code(
            std::process::Command::new(&wsc)
                .arg("sign")
                .arg("-i")
                .arg(&input)
                .arg("-o")
                .arg(&signed)
                .arg("-k")
                .arg(&sk)
                .arg("-K")
                .arg(&pk),
        )
        .and_then(|c| if c == 0 { Ok(()) } else { bail!("wsc sign failed on {name}") })?;
        let s = |p: &Path| p.as_os_str().to_owned();
        let cmds: Vec<(PathBuf, Vec<std::ffi::OsString>)> = vec![
            (openssl.clone(), vec!["dgst".into(), "-sha256".into(), s(&input)]),
            (
                wsc.clone(),
                vec![
                    "sign".into(),
                    "-i".into(),
                    s(&input),
                    "-o".into(),
                    s(&o1),
                    "-k".into(),
                    s(&sk),
                    "-K".into(),
                    s(&pk),
                ],
            ),
            (wsc.clone(), vec!["verify".into(), "-i".into(), s(&signed), "-K".into(), s(&pk)]),
            (
                wasmsign2.clone(),
                vec![
                    "sign".into(),
                    "-i".into(),
                    s(&input),
                    "-o".into(),
                    s(&o2),
                    "-k".into(),
                    s(&sk),
                    "-K".into(),
                    s(&pk),
                ],
            ),
            (wasmsign2.clone(), vec!["verify".into(), "-i".into(), s(&signed), "-K".into(), s(&pk)]),
            (
                wsc.clone(),
                vec![
                    "sign".into(),
                    "-i".into(),
                    s(&input),
                    "-o".into(),
                    s(&o3),
                    "-k".into(),
                    s(&sk),
                    "-K".into(),
                    s(&pk),
                ],
            ),
        ];
        let openssl_path = which("openssl")?;
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); cmds.len()];
        for round in 0..o.runs + 2 {
            // Rotate the order each round so no tool always runs first.
            for k in 0..cmds.len() {
                let i = (k + round) % cmds.len();
                let prog = if i == 0 { &openssl_path } else { &cmds[i].0 };
                if i == 5 {
                    let _ = std::fs::remove_file(&o3);
                }
                let smp = measure(prog, &cmds[i].1, 0, &scratch)?;
                if round >= 2 {
                    samples[i].push(smp);
                }
            }
        }
        let ratio = |a: usize, b: usize| {
            median(samples[a].iter().zip(&samples[b]).map(|(x, y)| ms(x.wall) / ms(y.wall)).collect())
        };
        results.push(FileResult {
            name: name.clone(),
            size,
            wall: samples.iter().map(|v| median(v.iter().map(|s| ms(s.wall)).collect())).collect(),
            rss: samples.iter().map(|v| v.iter().map(|s| s.max_rss_kib).max().unwrap_or(0)).collect(),
            verify_vs_openssl: ratio(2, 0),
            sign_vs_openssl: ratio(1, 0),
            sign_new_vs_openssl: ratio(5, 0),
            ws2_sign_vs_wsc: ratio(3, 1),
            ws2_verify_vs_wsc: ratio(4, 2),
        });
        eprintln!("measured {name}");
    }
    let table = render(&results, o.runs);
    println!("{table}");
    if let Some(out) = &o.out {
        std::fs::write(out, &table).with_context(|| format!("cannot write {}", out.display()))?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if o.check {
        let mut missed = Vec::new();
        for r in &results {
            if r.verify_vs_openssl > 1.2 {
                missed.push(format!("{}: verify {:.2}x openssl > 1.2", r.name, r.verify_vs_openssl));
            }
            if r.sign_vs_openssl > 1.3 {
                missed
                    .push(format!("{}: sign over an existing output {:.2}x openssl > 1.3", r.name, r.sign_vs_openssl));
            }
            if r.sign_new_vs_openssl > 1.3 {
                missed.push(format!("{}: sign to a new output {:.2}x openssl > 1.3", r.name, r.sign_new_vs_openssl));
            }
            if r.ws2_sign_vs_wsc < 2.0 {
                missed.push(format!("{}: wasmsign2 sign only {:.2}x wsc", r.name, r.ws2_sign_vs_wsc));
            }
            if r.ws2_verify_vs_wsc < 2.0 {
                missed.push(format!("{}: wasmsign2 verify only {:.2}x wsc", r.name, r.ws2_verify_vs_wsc));
            }
            if r.rss[1] >= 16 * 1024 || r.rss[2] >= 16 * 1024 {
                missed.push(format!("{}: peak memory {} / {} KiB", r.name, r.rss[1], r.rss[2]));
            }
        }
        if !missed.is_empty() {
            bail!("targets missed:\n{}", missed.join("\n"));
        }
        eprintln!("all targets met");
    }
    Ok(())
}

fn render(results: &[FileResult], runs: usize) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Paired runs: {runs} rounds after 2 warm-up rounds, order rotated each round; ratios are medians of per-round ratios.\n"
    );
    let _ = writeln!(
        t,
        "| file | MiB | wsc verify ÷ openssl (≤ 1.2) | wsc sign ÷ openssl, output exists (≤ 1.3) | wsc sign ÷ openssl, new output (≤ 1.3) | wasmsign2 sign ÷ wsc sign (≥ 2) | wasmsign2 verify ÷ wsc verify (≥ 2) |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|---|");
    for r in results {
        let _ = writeln!(
            t,
            "| {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            r.name,
            r.size as f64 / 1048576.0,
            r.verify_vs_openssl,
            r.sign_vs_openssl,
            r.sign_new_vs_openssl,
            r.ws2_sign_vs_wsc,
            r.ws2_verify_vs_wsc
        );
    }
    let _ = writeln!(t, "\nMedian wall time (ms) and peak RSS (MiB), whole process:\n");
    let mut head = String::from("| file |");
    for tool in TOOLS {
        let _ = write!(head, " {tool} ms | {tool} MiB |");
    }
    let _ = writeln!(t, "{head}");
    let _ = writeln!(t, "|---|{}", "---|---|".repeat(TOOLS.len()));
    for r in results {
        let mut row = format!("| {} |", r.name);
        for i in 0..TOOLS.len() {
            let _ = write!(row, " {:.1} | {:.1} |", r.wall[i], r.rss[i] as f64 / 1024.0);
        }
        let _ = writeln!(t, "{row}");
    }
    t
}

fn which(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} not found on PATH"))
}

pub(crate) fn tempfile_dir() -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("wsc-xtask-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// `cargo xtask bench --pki-worst [--runs N] [--out FILE]`: the release
/// `wsc verify --trust-anchor` on the costliest certificate-bound input the
/// size limits allow (written by wsc-pki's `pki-worst-case` example):
/// 1024 records, each a leaf plus 7 same-subject intermediates issuing
/// each other in a loop; the same with 5, the largest loop the per-record
/// limit lets through to rustls-webpki; and 7 named like the anchor, so
/// the search also tries signatures. Target: below 1 s.
pub(crate) fn pki_worst(runs: usize, out: Option<&Path>) -> Result<()> {
    let wsc = crate::build_release_wsc()?;
    let scratch = tempfile_dir()?;
    util::run(
        crate::cargo()
            .args(["run", "--locked", "--release", "-p", "wsc-pki", "--example", "pki-worst-case", "--"])
            .arg(&scratch),
    )?;
    let anchor = scratch.join("anchor.pem");
    let mut t = String::new();
    let _ = writeln!(t, "Release `wsc verify --trust-anchor`, {runs} runs after one warm-up; exit code 1 expected.\n");
    let _ = writeln!(t, "| input | median s | slowest s | peak MiB | target |");
    let _ = writeln!(t, "|---|---|---|---|---|");
    let mut slowest_all = 0.0f64;
    for (name, what) in [
        ("loop7", "1024 records × (leaf + 7 looping intermediates)"),
        ("loop5", "1024 records × (leaf + 5 looping intermediates)"),
        ("anchored7", "1024 records × (leaf + 7 looping intermediates named like the anchor)"),
    ] {
        let input = scratch.join(format!("{name}.wasm"));
        let args = ["verify".as_ref(), "-i".as_ref(), input.as_os_str(), "--trust-anchor".as_ref(), anchor.as_os_str()];
        let args: Vec<&std::ffi::OsStr> = args.to_vec();
        measure(&wsc, &args, 1, &scratch)?;
        let samples = (0..runs.max(1)).map(|_| measure(&wsc, &args, 1, &scratch)).collect::<Result<Vec<_>>>()?;
        let secs: Vec<f64> = samples.iter().map(|s| s.wall.as_secs_f64()).collect();
        let slowest = secs.iter().copied().fold(0.0, f64::max);
        slowest_all = slowest_all.max(slowest);
        let rss = samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0);
        let _ =
            writeln!(t, "| {what} | {:.3} | {slowest:.3} | {:.1} | < 1 s |", median(secs.clone()), rss as f64 / 1024.0);
    }
    println!("{t}");
    if let Some(out) = out {
        std::fs::write(out, &t).with_context(|| format!("cannot write {}", out.display()))?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if slowest_all >= 1.0 {
        bail!("the worst certificate-bound input took {slowest_all:.3} s (target below 1 s)");
    }
    Ok(())
}
