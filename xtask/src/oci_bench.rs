//! `cargo xtask bench --oci`: the release `wsc oci pull --policy` against
//! `wkg oci pull` of the same reference from a local `docker-registry`,
//! alternating process pairs in one run, with the peak memory of both.
//! Target (OCI issue): at most 1.3x on a 20 MB component, memory flat in
//! the layer size.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bench::median;
use crate::util::{self, Sample, measure};

/// Bytes of the custom section that makes the hello component ~20 MB.
const PAD: usize = 20 << 20;

/// A `docker-registry` on a free port of 127.0.0.1, killed when dropped.
struct Registry {
    child: Child,
    host: String,
}

impl Registry {
    fn start(dir: &Path) -> Result<Registry> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let config = dir.join("registry.yml");
        let storage = dir.join("storage");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start docker-registry (Debian package docker-registry; xtask/setup.sh installs it)")?;
        let registry = Registry { child, host: format!("127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("docker-registry did not listen on {} within 20 s", registry.host);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Ok(registry)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// wkg: $WKG, then PATH, then ~/.cargo/bin.
fn find_wkg() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("WKG") {
        return Ok(PathBuf::from(p));
    }
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
    dirs.extend(std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin")));
    dirs.into_iter()
        .map(|d| d.join("wkg"))
        .find(|p| p.is_file())
        .context("wkg not found: cargo install --locked wkg --version 0.16.1 (xtask/setup.sh does it)")
}

/// Paired samples of one input: wkg's and wsc's.
struct Pairs {
    wkg: Vec<Sample>,
    wsc: Vec<Sample>,
}

impl Pairs {
    fn ms(samples: &[Sample]) -> f64 {
        median(samples.iter().map(|s| s.wall.as_secs_f64() * 1000.0).collect())
    }

    fn rss(samples: &[Sample]) -> u64 {
        samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0)
    }

    /// The median of the per-round ratios wsc/wkg.
    fn ratio(&self) -> f64 {
        median(self.wsc.iter().zip(&self.wkg).map(|(s, k)| s.wall.as_secs_f64() / k.wall.as_secs_f64()).collect())
    }
}

/// Alternating pulls of `reference` by wkg and by wsc into a fresh file;
/// each output is compared with `expected`.
fn pull_rounds(
    wkg: &Path,
    wsc: &Path,
    host: &str,
    reference: &str,
    expected: &[u8],
    rounds: usize,
    dir: &Path,
) -> Result<Pairs> {
    let out = dir.join("pulled.wasm");
    let args = |words: &[&str], tail: &[&Path]| -> Vec<OsString> {
        words.iter().map(OsString::from).chain(tail.iter().map(|p| p.as_os_str().to_owned())).collect()
    };
    let wkg_args = args(&["oci", "pull", "--insecure", host, reference, "-o"], &[&out]);
    let policy = dir.join("policy.toml");
    let wsc_args = args(&["oci", "pull", reference, "--insecure-registry", host, "--quiet", "--policy"], &[&policy])
        .into_iter()
        .chain(args(&["-o"], &[&out]))
        .collect::<Vec<_>>();
    alternate((wkg, &wkg_args), (wsc, &wsc_args), rounds, dir, |program| {
        if std::fs::read(&out)? != expected {
            bail!("{} wrote other bytes than were pushed", program.display());
        }
        std::fs::remove_file(&out)?;
        Ok(())
    })
}

/// `rounds` alternating runs of the two commands (the order swaps each
/// round) after one unmeasured run of each; `after` checks each run.
fn alternate(
    wkg: (&Path, &[OsString]),
    wsc: (&Path, &[OsString]),
    rounds: usize,
    dir: &Path,
    after: impl Fn(&Path) -> Result<()>,
) -> Result<Pairs> {
    let one = |(program, args): (&Path, &[OsString])| -> Result<Sample> {
        let sample = measure(program, args, 0, dir)?;
        after(program)?;
        Ok(sample)
    };
    one(wkg)?;
    one(wsc)?;
    let mut pairs = Pairs { wkg: Vec::new(), wsc: Vec::new() };
    for round in 0..rounds {
        if round % 2 == 0 {
            pairs.wkg.push(one(wkg)?);
            pairs.wsc.push(one(wsc)?);
        } else {
            pairs.wsc.push(one(wsc)?);
            pairs.wkg.push(one(wkg)?);
        }
    }
    Ok(pairs)
}

/// `cargo xtask bench --oci [--input FILE] [--runs N] [--out FILE] [--check]`.
/// The input (default: the hello component with a 20 MiB custom section)
/// is signed with k1 by the release wsc and pushed once; the signed hello
/// component is pushed too, to show what process start-up costs.
pub(crate) fn oci(input: Option<&Path>, runs: usize, out: Option<&Path>, check: bool) -> Result<()> {
    let wsc = crate::build_release_wsc()?;
    let wkg = find_wkg()?;
    let root = util::root();
    let dir = crate::bench::tempfile_dir()?;
    let keys = root.join("testdata/wasmsign2/keys");
    std::fs::copy(keys.join("k1.pk"), dir.join("k1.pk"))?;
    std::fs::write(
        dir.join("policy.toml"),
        "schema = \"wsc-policy/v1\"\n[principals.k1]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\n\
         [default]\nrule = \"k1\"\n",
    )?;
    let hello = root.join("testdata/components/hello.wasm");
    let big = match input {
        Some(input) => input.to_path_buf(),
        None => {
            let mut component = std::fs::read(&hello)?;
            component.extend(wsc_core::format::encode_custom_section("wsc-bench", &vec![0x5a; PAD])?);
            let path = dir.join("big.wasm");
            std::fs::write(&path, component)?;
            path
        }
    };
    let registry = Registry::start(&dir)?;
    let host = registry.host.clone();
    let mut rows = Vec::new();
    for (name, unsigned) in [("big", big.as_path()), ("tiny", hello.as_path())] {
        let signed = dir.join(format!("{name}.wasm.signed"));
        util::run(
            Command::new(&wsc)
                .args(["sign", "-k"])
                .arg(keys.join("k1.sk"))
                .arg("-i")
                .arg(unsigned)
                .arg("-o")
                .arg(&signed),
        )?;
        let reference = format!("{host}/bench/{name}:v1");
        util::run(
            Command::new(&wsc)
                .args(["oci", "push", "--insecure-registry", &host, "-K"])
                .arg(dir.join("k1.pk"))
                .arg(&signed)
                .arg(&reference)
                .stdout(Stdio::null()),
        )?;
        let bytes = std::fs::read(&signed)?;
        let pairs = pull_rounds(&wkg, &wsc, &host, &reference, &bytes, runs, &dir)?;
        rows.push((name, bytes.len(), pairs));
    }
    // Process start-up alone: `--version` of each.
    let version = [OsString::from("--version")];
    let start = alternate((&wkg, &version), (&wsc, &version), runs, &dir, |_| Ok(()))?;
    rows.push(("--version (start-up)", 0, start));
    drop(registry);
    let _ = std::fs::remove_dir_all(&dir);

    let mut table = String::new();
    let _ = writeln!(
        table,
        "| input | size | wkg oci pull (ms) | wsc oci pull --policy (ms) | ratio | wkg peak RSS (KiB) | wsc peak RSS (KiB) |"
    );
    let _ = writeln!(table, "|---|---|---|---|---|---|---|");
    for (name, size, p) in &rows {
        let _ = writeln!(
            table,
            "| {name} | {size} | {:.1} | {:.1} | {:.3} | {} | {} |",
            Pairs::ms(&p.wkg),
            Pairs::ms(&p.wsc),
            p.ratio(),
            Pairs::rss(&p.wkg),
            Pairs::rss(&p.wsc)
        );
    }
    let _ = writeln!(
        table,
        "\nmedians of {runs} alternating rounds of one process each (wall time around GNU time, which also gives \
         the peak RSS); `tiny` is the signed hello component, so its times are what a pull costs whatever the layer's size; \
         `--version` is process start-up alone"
    );
    println!("{table}");
    if let Some(out) = out {
        std::fs::write(out, &table).with_context(|| format!("cannot write {}", out.display()))?;
    }
    let (_, _, big) = &rows[0];
    if check && big.ratio() > 1.3 {
        bail!("target missed: wsc oci pull --policy vs wkg oci pull {:.3}x > 1.3", big.ratio());
    }
    Ok(())
}
