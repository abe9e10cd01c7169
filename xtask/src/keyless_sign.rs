//! `cargo xtask bench --keyless-sign`: keyless signing against the local
//! Sigstore instance (`wsc-sigstore-local`, release build, plain HTTP on
//! 127.0.0.1, its folder on the repository's disk under `target/`).
//!
//! Two measures:
//!
//! * the per-module overhead of keyless signing: one `wsc sign --keyless`
//!   process over N modules (Fulcio certificate once, one Rekor entry and
//!   optionally one RFC 3161 timestamp per module) against one keyed
//!   `wsc sign -k` process over the same N modules, paired in rounds with the
//!   order rotated; every round signs new bytes (the round number is in a
//!   custom section), and every output is verified before a round counts;
//! * Rekor v1 throughput: valid `hashedrekord` requests (ECDSA P-256 over
//!   random digests), prepared before timing, posted over several keep-alive
//!   connections (one blocking thread each) to a fresh instance; every
//!   answer must be 201 and the tree must grow by exactly the number sent.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use rand_core::{OsRng, RngCore as _};

use crate::util;

/// The identity the instance serves and the tokens carry (the instance's default, given explicitly).
const IDENTITY: &str = "https://github.com/wsc-demo/app/.github/workflows/release.yml@refs/heads/main";

/// Warm-up rounds before the measured ones.
const WARMUP: usize = 1;

/// Options of `cargo xtask bench --keyless-sign`.
#[derive(Debug)]
pub(crate) struct Opts {
    /// Measured rounds of the signing comparison.
    pub(crate) runs: usize,
    /// Modules signed per process.
    pub(crate) modules: usize,
    /// Rekor entries created in the throughput measure.
    pub(crate) requests: usize,
    /// Concurrent keep-alive connections of the load generator.
    pub(crate) connections: usize,
    /// Fail when a target is missed.
    pub(crate) check: bool,
}

/// The three signing modes of a round.
const MODES: &[&str] = &["keyed", "keyless", "keyless --no-tsa"];

/// Runs both measures and returns the Markdown table.
pub(crate) fn bench(o: &Opts) -> Result<String> {
    let wsc = crate::build_release_wsc()?;
    let local = build_release_local()?;
    let scratch = util::root().join("target").join(format!("xtask-keyless-sign-{}", std::process::id()));
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    std::fs::create_dir_all(&scratch)?;
    let result = bench_in(o, &wsc, &local, &scratch);
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&scratch);
    } else {
        eprintln!("keyless-sign: files kept in {}", scratch.display());
    }
    let (sign, rate) = result?;
    let table = render(o, &sign, &rate);
    if o.check {
        let mut missed = Vec::new();
        if sign.overhead_tsa_ms > 15.0 {
            missed.push(format!("keyless (TSA) adds {:.1} ms per module > 15", sign.overhead_tsa_ms));
        }
        if sign.overhead_no_tsa_ms > 15.0 {
            missed.push(format!("keyless (no TSA) adds {:.1} ms per module > 15", sign.overhead_no_tsa_ms));
        }
        if rate.per_second < 500.0 {
            missed.push(format!("Rekor answers {:.0} entries/s < 500", rate.per_second));
        }
        if !missed.is_empty() {
            println!("{table}");
            bail!("targets missed:\n{}", missed.join("\n"));
        }
        eprintln!("all targets met");
    }
    Ok(table)
}

fn bench_in(o: &Opts, wsc: &Path, local: &Path, scratch: &Path) -> Result<(SignResult, RateResult)> {
    let sign = {
        let instance = Local::start(local, &scratch.join("sign-instance"))?;
        let r = sign_rounds(o, wsc, local, &instance, scratch)?;
        instance.check_log()?;
        r
    };
    let rate = {
        let instance = Local::start(local, &scratch.join("rekor-instance"))?;
        let r = rekor_rate(&instance, o.requests, o.connections)?;
        instance.check_log()?;
        r
    };
    Ok((sign, rate))
}

/// Builds the release `wsc-sigstore-local` and returns its path.
fn build_release_local() -> Result<PathBuf> {
    util::run(crate::cargo().args(["build", "--locked", "--release", "-p", "wsc-sigstore-local"]))?;
    Ok(util::root().join("target/release/wsc-sigstore-local"))
}

/// A running `wsc-sigstore-local serve`; killed when dropped.
struct Local {
    child: Child,
    dir: PathBuf,
    log: PathBuf,
    url: String,
}

impl Local {
    fn start(bin: &Path, dir: &Path) -> Result<Self> {
        let started = Instant::now();
        std::fs::create_dir_all(dir)?;
        let log = dir.with_extension("log");
        let err = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .args(["serve", "--identity", IDENTITY, "--dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut local = Local { child, dir: dir.to_path_buf(), log, url: String::new() };
        // `url` is written last, after the trust files.
        loop {
            if let Some(text) = std::fs::read_to_string(dir.join("url")).ok().filter(|t| t.ends_with('\n')) {
                local.url = text.trim().to_string();
                eprintln!("keyless-sign: instance at {} ({} ms)", local.url, started.elapsed().as_millis());
                return Ok(local);
            }
            if let Some(st) = local.child.try_wait()? {
                bail!("wsc-sigstore-local exited with {st} before writing its url\n{}", local.server_log());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("wsc-sigstore-local wrote no url in 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails when the instance answered any request with other than 2xx
    /// (a 409 would mean a duplicate Rekor entry was measured).
    fn check_log(&self) -> Result<()> {
        let log = self.server_log();
        let bad: Vec<&str> = log
            .lines()
            .filter(|l| {
                let parts: Vec<&str> = l.split(' ').collect();
                parts.len() == 3
                    && parts[0].bytes().all(|b| b.is_ascii_uppercase())
                    && parts[1].starts_with('/')
                    && !parts[2].starts_with('2')
            })
            .collect();
        if !bad.is_empty() {
            bail!("the instance answered {} request(s) with an error:\n{}", bad.len(), bad.join("\n"));
        }
        Ok(())
    }

    /// An ID token for [`IDENTITY`], minted offline from the instance's key.
    fn token(&self, bin: &Path) -> Result<String> {
        let out = Command::new(bin)
            .args(["token", "--identity", IDENTITY, "--ttl", "3600", "--dir"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output()
            .context("cannot run wsc-sigstore-local token")?;
        if !out.status.success() {
            bail!("wsc-sigstore-local token failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let token = String::from_utf8(out.stdout).context("token is not UTF-8")?.trim().to_string();
        if token.is_empty() {
            bail!("wsc-sigstore-local token printed nothing");
        }
        Ok(token)
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// `base` with a custom section `wsc-bench` holding `tag` and `pad` filler bytes appended.
fn with_custom_section(base: &[u8], tag: &str, pad: usize) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(tag.len() + pad);
    data.extend_from_slice(tag.as_bytes());
    data.extend(std::iter::repeat_n(0xa5u8, pad));
    let mut m = base.to_vec();
    m.extend(wsc_core::format::encode_custom_section("wsc-bench", &data)?);
    Ok(m)
}

/// Writes the `n` modules of round `round` to `dir`: the wasmsign2 test
/// modules `big.wasm` (70 KiB) and `add.wasm` in turn, each with a custom
/// section naming the round and the module and 0–112 KiB of filler.
fn write_modules(dir: &Path, round: usize, n: usize) -> Result<(Vec<PathBuf>, u64)> {
    let src = util::root().join("testdata/wasmsign2/modules");
    let big = std::fs::read(src.join("big.wasm")).context("testdata/wasmsign2/modules/big.wasm")?;
    let add = std::fs::read(src.join("add.wasm")).context("testdata/wasmsign2/modules/add.wasm")?;
    std::fs::create_dir_all(dir)?;
    let mut paths = Vec::with_capacity(n);
    let mut total = 0u64;
    for i in 0..n {
        let base = if i % 2 == 0 { &big } else { &add };
        let m = with_custom_section(
            base,
            &format!("round {round} module {i} pid {}", std::process::id()),
            (i % 8) * 16384,
        )?;
        let p = dir.join(format!("m{i}.wasm"));
        std::fs::write(&p, &m)?;
        total += m.len() as u64;
        paths.push(p);
    }
    Ok((paths, total))
}

struct SignResult {
    modules: usize,
    mean_module_kib: f64,
    /// Median wall time per mode, ms.
    wall: Vec<f64>,
    /// Median over rounds of (keyless − keyed) / modules, ms.
    overhead_tsa_ms: f64,
    overhead_no_tsa_ms: f64,
    ratio_tsa: f64,
    ratio_no_tsa: f64,
}

fn sign_rounds(o: &Opts, wsc: &Path, local: &Path, instance: &Local, scratch: &Path) -> Result<SignResult> {
    let sk = scratch.join("k.sk");
    let pk = scratch.join("k.pk");
    util::run(Command::new(wsc).args(["keygen", "-k"]).arg(&sk).arg("-K").arg(&pk))?;
    let root = instance.dir.join("trusted_root.json");
    let config = instance.dir.join("signing_config.json");
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); MODES.len()];
    let mut sizes = 0u64;
    for round in 0..o.runs + WARMUP {
        let rdir = scratch.join(format!("round{round}"));
        let (inputs, total) = write_modules(&rdir.join("in"), round, o.modules)?;
        sizes = total;
        let token = instance.token(local)?;
        let mut walls = [0f64; 3];
        for k in 0..MODES.len() {
            // Rotate the order each round so no mode always runs first.
            let mode = (k + round) % MODES.len();
            let out = rdir.join(format!("out{mode}"));
            let mut cmd = Command::new(wsc);
            cmd.arg("sign");
            for p in &inputs {
                cmd.arg("-i").arg(p);
            }
            cmd.arg("--out-dir").arg(&out);
            if mode == 0 {
                cmd.arg("-k").arg(&sk);
            } else {
                cmd.args(["--keyless", "--identity-token", &token, "--insecure-allow-http"])
                    .arg("--trusted-root")
                    .arg(&root)
                    .arg("--signing-config")
                    .arg(&config);
                if mode == 2 {
                    cmd.arg("--no-tsa");
                }
            }
            let start = Instant::now();
            let res = cmd.stdin(Stdio::null()).output().context("cannot start wsc sign")?;
            let wall = start.elapsed();
            let err = String::from_utf8_lossy(&res.stderr);
            if !res.status.success() {
                bail!("round {round}: wsc sign ({}) failed with {}\n{err}", MODES[mode], res.status);
            }
            if mode != 0 {
                let logged = err.lines().filter(|l| l.contains("logged in Rekor at index")).count();
                let stamped = err.lines().filter(|l| l.ends_with(", timestamped")).count();
                let want_stamped = if mode == 1 { o.modules } else { 0 };
                if logged != o.modules || stamped != want_stamped {
                    bail!(
                        "round {round}: wsc sign ({}): {logged} Rekor entries and {stamped} timestamps for {} modules\n{err}",
                        MODES[mode],
                        o.modules
                    );
                }
            }
            walls[mode] = wall.as_secs_f64() * 1000.0;
            verify_outputs(wsc, mode, &inputs, &out, &pk, &root, &instance.url)?;
        }
        eprintln!(
            "keyless-sign: round {round}{}: keyed {:.0} ms, keyless {:.0} ms, keyless --no-tsa {:.0} ms",
            if round < WARMUP { " (warm-up)" } else { "" },
            walls[0],
            walls[1],
            walls[2]
        );
        if round >= WARMUP {
            for (s, w) in samples.iter_mut().zip(walls) {
                s.push(w);
            }
        }
        std::fs::remove_dir_all(&rdir)?;
    }
    let n = o.modules as f64;
    let per_module =
        |mode: usize| crate::bench::median(samples[mode].iter().zip(&samples[0]).map(|(kl, k)| (kl - k) / n).collect());
    let ratio =
        |mode: usize| crate::bench::median(samples[mode].iter().zip(&samples[0]).map(|(kl, k)| kl / k).collect());
    Ok(SignResult {
        modules: o.modules,
        mean_module_kib: sizes as f64 / n / 1024.0,
        wall: samples.iter().map(|v| crate::bench::median(v.clone())).collect(),
        overhead_tsa_ms: per_module(1),
        overhead_no_tsa_ms: per_module(2),
        ratio_tsa: ratio(1),
        ratio_no_tsa: ratio(2),
    })
}

/// Every output of a round verifies: keyed ones with the public key, keyless
/// ones against the instance's trusted root and identity.
fn verify_outputs(
    wsc: &Path,
    mode: usize,
    inputs: &[PathBuf],
    out: &Path,
    pk: &Path,
    root: &Path,
    issuer: &str,
) -> Result<()> {
    for input in inputs {
        let name = input.file_name().context("module without a file name")?;
        let signed = out.join(name);
        let mut cmd = Command::new(wsc);
        cmd.arg("verify").arg("-i").arg(&signed);
        if mode == 0 {
            cmd.arg("-K").arg(pk);
        } else {
            cmd.args(["--keyless", "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", issuer])
                .arg("--trusted-root")
                .arg(root);
        }
        let (code, err) = util::code_stderr(&mut cmd)?;
        if code != 0 {
            bail!("{} output {} does not verify (exit {code}):\n{err}", MODES[mode], signed.display());
        }
    }
    Ok(())
}

struct RateResult {
    requests: usize,
    connections: usize,
    seconds: f64,
    per_second: f64,
}

/// A `hashedrekord` 0.0.1 request: an ECDSA P-256 signature over a random digest.
fn hashedrekord(sk: &SigningKey, pem_b64: &str) -> Result<Vec<u8>> {
    let mut digest = [0u8; 32];
    OsRng.fill_bytes(&mut digest);
    let sig: Signature = sk.sign_prehash(&digest).context("signing a digest")?;
    Ok(serde_json::to_vec(&serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(digest)}},
            "signature": {
                "content": STANDARD.encode(sig.to_der().as_bytes()),
                "publicKey": {"content": pem_b64}
            }
        }
    }))?)
}

/// One keep-alive HTTP/1.1 connection to the instance. The load generator
/// speaks just enough HTTP for the instance's answers (always with
/// Content-Length), so its own cost stays small next to the server's.
struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    fn open(url: &str) -> Result<Self> {
        let host = url.strip_prefix("http://").context("the load generator speaks plain HTTP only")?;
        let host = host.trim_end_matches('/').to_string();
        let s = TcpStream::connect(&host).with_context(|| format!("cannot connect to {host}"))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Conn { stream: BufReader::new(s), host })
    }

    /// Sends one request and reads the whole answer: status and body.
    fn request(&mut self, method: &str, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n", self.host, body.len());
        if !body.is_empty() {
            req.push_str("Content-Type: application/json\r\n");
        }
        req.push_str("\r\n");
        let mut buf = req.into_bytes();
        buf.extend_from_slice(body);
        self.stream.get_mut().write_all(&buf)?;
        let mut line = String::new();
        self.stream.read_line(&mut line)?;
        let status: u16 =
            line.split(' ').nth(1).and_then(|s| s.parse().ok()).with_context(|| format!("bad status line {line:?}"))?;
        let mut len = None;
        loop {
            let mut h = String::new();
            if self.stream.read_line(&mut h)? == 0 {
                bail!("connection closed in the answer's headers");
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let v = v.trim();
                if k.eq_ignore_ascii_case("content-length") {
                    len = Some(v.parse::<usize>().context("bad Content-Length")?);
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    bail!("unexpected Transfer-Encoding {v}");
                } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                    bail!("the server closed the keep-alive connection");
                }
            }
        }
        let mut answer = vec![0u8; len.context("answer without Content-Length")?];
        self.stream.read_exact(&mut answer)?;
        Ok((status, answer))
    }

    /// The log's tree size from `GET /api/v1/log`.
    fn tree_size(&mut self) -> Result<u64> {
        let (status, body) = self.request("GET", "/api/v1/log", b"")?;
        if status != 200 {
            bail!("GET /api/v1/log: status {status}");
        }
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        v["treeSize"].as_u64().context("GET /api/v1/log: no treeSize")
    }
}

fn rekor_rate(instance: &Local, requests: usize, connections: usize) -> Result<RateResult> {
    // Prepared before timing, on every core (the signatures are the slow part).
    let started = Instant::now();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = requests.div_ceil(workers);
    let bodies: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let n = per.min(requests.saturating_sub(w * per));
                s.spawn(move || -> Result<Vec<Vec<u8>>> {
                    let sk = SigningKey::random(&mut OsRng);
                    let pem = sk.verifying_key().to_public_key_pem(LineEnding::LF).context("public key PEM")?;
                    let pem_b64 = STANDARD.encode(pem.as_bytes());
                    (0..n).map(|_| hashedrekord(&sk, &pem_b64)).collect()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(requests);
        for h in handles {
            all.extend(h.join().map_err(|_| anyhow::anyhow!("a request-preparing thread panicked"))??);
        }
        Ok::<_, anyhow::Error>(all)
    })?;
    eprintln!("keyless-sign: {} requests prepared in {} ms", bodies.len(), started.elapsed().as_millis());

    let url = instance.url.clone();
    let before = Conn::open(&url)?.tree_size()?;
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(connections + 1));
    let handles: Vec<_> = (0..connections)
        .map(|_| {
            let (bodies, next, barrier, url) = (bodies.clone(), next.clone(), barrier.clone(), url.clone());
            std::thread::spawn(move || -> Result<(usize, Vec<String>)> {
                // The connection is opened, and used once, before timing.
                let conn = Conn::open(&url).and_then(|mut c| c.tree_size().map(|_| c));
                barrier.wait();
                let mut conn = conn?;
                let (mut ok, mut failures) = (0usize, Vec::new());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    match conn.request("POST", "/api/v1/log/entries", body) {
                        Ok((201, _)) => ok += 1,
                        Ok((s, b)) => {
                            failures.push(format!("request {i}: status {s}: {}", String::from_utf8_lossy(&b)))
                        }
                        Err(e) => {
                            // The connection's state is unknown: this thread stops.
                            failures.push(format!("request {i}: {e:#}"));
                            break;
                        }
                    }
                }
                Ok((ok, failures))
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let mut ok = 0;
    let mut failures = Vec::new();
    for h in handles {
        let (o, f) = h.join().map_err(|_| anyhow::anyhow!("a load thread panicked"))??;
        ok += o;
        failures.extend(f);
    }
    let seconds = start.elapsed().as_secs_f64();
    if !failures.is_empty() {
        failures.truncate(10);
        bail!("Rekor load: {} of {requests} requests not answered 201; first:\n{}", requests - ok, failures.join("\n"));
    }
    let after = Conn::open(&url)?.tree_size()?;
    if ok != requests || after != before + requests as u64 {
        bail!("Rekor load: {ok} answers 201 and the tree grew from {before} to {after}, expected {requests} entries");
    }
    let per_second = requests as f64 / seconds;
    eprintln!(
        "keyless-sign: {requests} Rekor entries over {connections} connections in {seconds:.2} s: {per_second:.0}/s"
    );
    Ok(RateResult { requests, connections, seconds, per_second })
}

fn render(o: &Opts, s: &SignResult, r: &RateResult) -> String {
    let verdict = |ok: bool| if ok { "met" } else { "missed" };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{} modules (mean {:.0} KiB) signed in one process per mode, {} paired rounds after {WARMUP} warm-up, order rotated each round, new module bytes every round; medians:\n",
        s.modules, s.mean_module_kib, o.runs
    );
    let _ = writeln!(t, "| measure | value | target |\n|---|---|---|");
    for (i, mode) in MODES.iter().enumerate() {
        let _ = writeln!(t, "| `wsc sign` {mode}, {} modules, wall | {:.0} ms | — |", s.modules, s.wall[i]);
    }
    let _ = writeln!(
        t,
        "| keyless (with TSA) − keyed, per module | {:.2} ms | ≤ 15 ms ({}) |",
        s.overhead_tsa_ms,
        verdict(s.overhead_tsa_ms <= 15.0)
    );
    let _ = writeln!(
        t,
        "| keyless `--no-tsa` − keyed, per module | {:.2} ms | ≤ 15 ms ({}) |",
        s.overhead_no_tsa_ms,
        verdict(s.overhead_no_tsa_ms <= 15.0)
    );
    let _ = writeln!(t, "| keyless (with TSA) ÷ keyed | {:.1}× | — |", s.ratio_tsa);
    let _ = writeln!(t, "| keyless `--no-tsa` ÷ keyed | {:.1}× | — |", s.ratio_no_tsa);
    let _ = writeln!(
        t,
        "| Rekor entry creations per second ({} entries, {} keep-alive connections, {:.2} s, every answer 201) | {:.0}/s | ≥ 500/s ({}) |",
        r.requests,
        r.connections,
        r.seconds,
        r.per_second,
        verdict(r.per_second >= 500.0)
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_section_is_appended_with_leb128_lengths() {
        let m = with_custom_section(b"base", "t", 2).expect("section");
        let mut want = b"base".to_vec();
        want.extend_from_slice(&[0, 13, 9]);
        want.extend_from_slice(b"wsc-bencht");
        want.extend_from_slice(&[0xa5, 0xa5]);
        assert_eq!(m, want);
        let m = with_custom_section(b"", "", 200).expect("section");
        assert_eq!(m[..4], [0, 210, 1, 9], "a two-byte length");
        assert_eq!(m.len(), 3 + 1 + 9 + 200);
    }
}
