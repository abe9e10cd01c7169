//! `cargo xtask interop`: keyless records made and checked by an independent
//! Sigstore client. sigstore-python 4.5.1 signs against a local Fulcio, Rekor
//! and TSA (`testdata/sigstore-mock`, @sigstore/mock on 127.0.0.1), wsc
//! embeds and verifies its bundles, and sigstore-python verifies wsc's exports.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::util;

/// The OIDC issuer written into the test token; the mock copies it into the certificate.
const ISSUER: &str = "https://oidc.wsc.test";
/// The token's `sub`; the mock makes it the certificate's URI SAN.
const IDENTITY: &str = "https://github.com/wsc-test/interop/.github/workflows/release.yml@refs/heads/main";
/// The pinned sigstore-python version.
const SIGSTORE_PYTHON: &str = "4.5.1";
/// The mock server exits on its own after this many seconds.
const SERVER_TIMEOUT_S: u64 = 300;

/// Runs every interop check; fails naming the first step that went wrong.
pub(crate) fn run() -> Result<()> {
    let started = Instant::now();
    let wsc = crate::build_release_wsc()?;
    check_sigstore_python()?;
    let mock_dir = util::root().join("testdata/sigstore-mock");
    ensure_mock_installed(&mock_dir)?;

    let tmp = std::env::temp_dir().join(format!("wsc-interop-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    let server = Server::start(&mock_dir, &tmp.join("mock"))?;
    let result = checks(&wsc, &server, &tmp);
    drop(server);
    eprintln!("interop: mock server stopped");
    match result {
        Ok(()) => {
            std::fs::remove_dir_all(&tmp).ok();
            eprintln!("interop: all checks passed in {:.1} s", started.elapsed().as_secs_f64());
            Ok(())
        }
        Err(e) => Err(e.context(format!("interop failed; files kept in {}", tmp.display()))),
    }
}

fn checks(wsc: &Path, server: &Server, tmp: &Path) -> Result<()> {
    let t = |n: &str| tmp.join(n);
    let tr = server.dir.join("trusted_root.json");
    let tc = server.dir.join("trust_config.json");
    let tc_no_tsa = server.dir.join("trust_config.no-tsa.json");
    let token = test_token()?;
    let module = util::root().join("testdata/wasmsign2/modules/add.wasm");
    let wscc = || Command::new(wsc);
    let policy = |c: &mut Command, id: &str, iss: &str| {
        c.args(["--certificate-identity", id, "--certificate-oidc-issuer", iss]).arg("--trusted-root").arg(&tr);
    };

    // wsc message -> sigstore-python sign (with a TSA timestamp) -> attach -> verify.
    step("message", 0, "", wscc().args(["bundle", "message", "-i"]).arg(&module).arg("-o").arg(t("m.msg")))?;
    step(
        "sigstore-python signs the message (Fulcio, Rekor v1, TSA)",
        0,
        "",
        sigstore(&tc, &token).args(["sign", "--bundle"]).arg(t("m.sigstore.json")).arg(t("m.msg")),
    )?;
    // sigstore-python only warns when the TSA fails: the bundle must carry its token.
    if !std::fs::read_to_string(t("m.sigstore.json"))?.contains("\"signedTimestamp\"") {
        bail!("sigstore-python's bundle has no RFC 3161 timestamp: the mock TSA failed");
    }
    step(
        "attach",
        0,
        "",
        wscc()
            .args(["bundle", "attach", "-i"])
            .arg(&module)
            .arg("--bundle")
            .arg(t("m.sigstore.json"))
            .arg("-o")
            .arg(t("k.wasm")),
    )?;
    let mut c = wscc();
    policy(c.args(["verify", "--keyless", "--json", "-i"]).arg(t("k.wasm")), IDENTITY, ISSUER);
    let out = step("verify --keyless, exact identity and issuer", 0, "\"decision\": \"accepted\"", &mut c)?;
    let signer = format!("{IDENTITY} (issuer {ISSUER})");
    if !out.contains(&signer) {
        bail!("verify --keyless --json: no signer \"{signer}\" in the output\n{out}");
    }
    step(
        "verify --keyless, identity regexp and GitHub workflow claims",
        0,
        "",
        wscc()
            .args(["verify", "--keyless", "-i"])
            .arg(t("k.wasm"))
            .args(["--certificate-identity-regexp", r"https://github\.com/wsc-test/.*@refs/heads/main"])
            .args(["--certificate-oidc-issuer", ISSUER])
            .args(["--certificate-github-workflow-repository", "wsc-test/interop"])
            .args(["--certificate-github-workflow-trigger", "push"])
            .args(["--certificate-github-workflow-ref", "refs/heads/main"])
            .arg("--trusted-root")
            .arg(&tr),
    )?;
    let mut c = wscc();
    policy(c.args(["verify", "--keyless", "-i"]).arg(t("k.wasm")), &format!("{IDENTITY}x"), ISSUER);
    step("verify --keyless, wrong identity fails", 1, "identity policy not met: certificate identity", &mut c)?;
    let mut c = wscc();
    policy(c.args(["verify", "--keyless", "-i"]).arg(t("k.wasm")), IDENTITY, "https://oidc.other.test");
    step("verify --keyless, wrong issuer fails", 1, "identity policy not met: certificate OIDC issuer", &mut c)?;
    step(
        "verify --keyless, embedded production root fails",
        1,
        "rejected",
        wscc().args(["verify", "--keyless", "-i"]).arg(t("k.wasm")).args([
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
        ]),
    )?;
    let mut bytes = std::fs::read(t("k.wasm"))?;
    flip_code_byte(&mut bytes)?;
    std::fs::write(t("k.flipped.wasm"), &bytes)?;
    let mut c = wscc();
    policy(c.args(["verify", "--keyless", "-i"]).arg(t("k.flipped.wasm")), IDENTITY, ISSUER);
    step("verify --keyless, one code byte flipped fails", 1, "does not match any validly signed hash set", &mut c)?;

    // An Ed25519 signature first, then a keyless record (Rekor time only, no TSA).
    step("keygen", 0, "", wscc().args(["keygen", "-k"]).arg(t("ed.sk")).arg("-K").arg(t("ed.pk")))?;
    step(
        "sign Ed25519",
        0,
        "",
        wscc()
            .arg("sign")
            .arg("-i")
            .arg(&module)
            .arg("-o")
            .arg(t("e.wasm"))
            .arg("-k")
            .arg(t("ed.sk"))
            .arg("-K")
            .arg(t("ed.pk")),
    )?;
    step(
        "message of the Ed25519-signed module",
        0,
        "",
        wscc().args(["bundle", "message", "-i"]).arg(t("e.wasm")).arg("-o").arg(t("e.msg")),
    )?;
    step(
        "sigstore-python signs it (Fulcio, Rekor v1, no TSA)",
        0,
        "",
        sigstore(&tc_no_tsa, &token).args(["sign", "--bundle"]).arg(t("e.sigstore.json")).arg(t("e.msg")),
    )?;
    step(
        "attach next to the Ed25519 signature",
        0,
        "",
        wscc()
            .args(["bundle", "attach", "-i"])
            .arg(t("e.wasm"))
            .arg("--bundle")
            .arg(t("e.sigstore.json"))
            .arg("-o")
            .arg(t("ek.wasm")),
    )?;
    step(
        "verify -K ed.pk on the module with both",
        0,
        "whole content verified",
        wscc().args(["verify", "-i"]).arg(t("ek.wasm")).arg("-K").arg(t("ed.pk")),
    )?;
    let mut c = wscc();
    policy(c.args(["verify", "--keyless", "-i"]).arg(t("ek.wasm")), IDENTITY, ISSUER);
    step("verify --keyless on the module with both", 0, "logged in Rekor", &mut c)?;

    // wsc export -> sigstore-python verify.
    let out = step(
        "export",
        0,
        "",
        wscc().args(["bundle", "export", "-i"]).arg(t("ek.wasm")).arg("--out-dir").arg(t("export")),
    )?;
    let with_ext = |stem: &str, ext: &str| PathBuf::from(format!("{}{ext}", stem.trim()));
    let stems: Vec<&str> = out.lines().filter(|l| with_ext(l, ".sigstore.json").is_file()).collect();
    let [stem] = stems[..] else {
        bail!("export: expected one exported record, got {}\n{out}", stems.len());
    };
    let verify_py = |id: &str| {
        let mut c = sigstore(&tc, "");
        c.args(["verify", "identity", "--bundle"])
            .arg(with_ext(stem, ".sigstore.json"))
            .args(["--cert-identity", id, "--cert-oidc-issuer", ISSUER])
            .arg(with_ext(stem, ".msg"));
        c
    };
    step("sigstore-python verifies the exported record", 0, "OK: ", &mut verify_py(IDENTITY))?;
    step("sigstore-python, wrong identity fails", 1, "SANs do not match", &mut verify_py(&format!("{IDENTITY}x")))?;

    // wsc on sigstore-python's plain bundle, over the file and over its digest.
    let digest = sha256_hex(&t("m.msg"))?;
    let verify_bundle = |id: &str, artifact: &str| {
        let mut c = wscc();
        c.args(["sigstore", "verify-bundle", "--bundle"])
            .arg(t("m.sigstore.json"))
            .args(["--certificate-identity", id, "--certificate-oidc-issuer", ISSUER])
            .arg("--trusted-root")
            .arg(&tr)
            .arg(artifact);
        c
    };
    let msg = t("m.msg").to_string_lossy().into_owned();
    step("verify-bundle over the message file", 0, "OK: ", &mut verify_bundle(IDENTITY, &msg))?;
    step("verify-bundle over sha256:<hex>", 0, "OK: ", &mut verify_bundle(IDENTITY, &format!("sha256:{digest}")))?;
    step(
        "verify-bundle, wrong identity fails",
        1,
        "identity policy not met",
        &mut verify_bundle(&format!("{IDENTITY}x"), &msg),
    )?;
    let other = t("e.sigstore.json").to_string_lossy().into_owned();
    step("verify-bundle, another artifact fails", 1, "artifact mismatch", &mut verify_bundle(IDENTITY, &other))?;
    Ok(())
}

/// Runs one check, printing one line; returns stdout and stderr together.
/// The exit code must be `want` and the output must contain `needle`.
fn step(name: &str, want: i32, needle: &str, cmd: &mut Command) -> Result<String> {
    let started = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("{name}: cannot start {}", util::show(cmd)))?;
    let ms = started.elapsed().as_millis();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let code = out.status.code().unwrap_or(-1);
    if code != want {
        bail!("{name}: exit {code}, expected {want}\n$ {}\n{text}", util::show(cmd));
    }
    if !text.contains(needle) {
        bail!("{name}: exit {code} as expected, but the output lacks \"{needle}\"\n$ {}\n{text}", util::show(cmd));
    }
    eprintln!("interop: ok {name} (exit {code}, {ms} ms)");
    Ok(text)
}

/// `python3 -m sigstore --trust-config FILE`, with the token in the environment.
fn sigstore(trust_config: &Path, token: &str) -> Command {
    let mut c = Command::new("python3");
    c.args(["-m", "sigstore", "--trust-config"]).arg(trust_config);
    if !token.is_empty() {
        c.env("SIGSTORE_IDENTITY_TOKEN", token);
    }
    // Wide lines: its error messages are wrapped to the terminal width otherwise.
    c.env("COLUMNS", "400");
    // The services are on loopback: never through a proxy.
    for var in ["NO_PROXY", "no_proxy"] {
        let old = std::env::var(var).unwrap_or_default();
        c.env(var, if old.is_empty() { "127.0.0.1".to_string() } else { format!("{old},127.0.0.1") });
    }
    c
}

fn check_sigstore_python() -> Result<()> {
    let out = Command::new("python3")
        .args(["-m", "sigstore", "--version"])
        .output()
        .context("python3 not found (sigstore-python runs on it)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.trim().strip_prefix("sigstore ").unwrap_or("not installed");
    if !out.status.success() || version != SIGSTORE_PYTHON {
        bail!(
            "sigstore-python {SIGSTORE_PYTHON} is needed, found {version}: \
             python3 -m pip install sigstore=={SIGSTORE_PYTHON} (.ci/run does it)"
        );
    }
    eprintln!("interop: sigstore-python {version}");
    Ok(())
}

/// Installs @sigstore/mock from the lock file when node_modules is missing.
fn ensure_mock_installed(dir: &Path) -> Result<()> {
    if dir.join("node_modules/@sigstore/mock/package.json").is_file() {
        return Ok(());
    }
    util::run(Command::new("npm").current_dir(dir).args(["ci", "--no-audit", "--no-fund", "--silent"]))
        .context("npm ci in testdata/sigstore-mock")
}

/// The mock server, killed when dropped (on every exit path).
struct Server {
    child: Child,
    dir: PathBuf,
}

impl Server {
    fn start(mock_dir: &Path, out: &Path) -> Result<Self> {
        let started = Instant::now();
        std::fs::create_dir_all(out)?;
        let log = std::fs::File::create(out.join("server.log"))?;
        let child = Command::new("node")
            .current_dir(mock_dir)
            .arg("server.mjs")
            .arg(out)
            .arg(SERVER_TIMEOUT_S.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start node (Node.js 20.17 or later runs the mock)")?;
        let mut server = Self { child, dir: out.to_path_buf() };
        let port_file = out.join("port");
        loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                let port: u16 = text.trim().parse().context("mock server: bad port file")?;
                eprintln!("interop: ok mock server on 127.0.0.1:{port} ({} ms)", started.elapsed().as_millis());
                return Ok(server);
            }
            if let Some(st) = server.child.try_wait()? {
                let log = std::fs::read_to_string(out.join("server.log")).unwrap_or_default();
                bail!("mock server exited with {st} before writing its port\n{log}");
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("mock server wrote no port file in 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// An unsigned (`alg: none`) OIDC token; the mock does not verify it.
fn test_token() -> Result<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let header = r#"{"alg":"none","typ":"JWT"}"#;
    let claims = format!(
        r#"{{"iss":"{ISSUER}","sub":"{IDENTITY}","email":"ci@wsc.test","aud":"sigstore","iat":{now},"nbf":{now},"exp":{},"repository":"wsc-test/interop","event_name":"push","ref":"refs/heads/main"}}"#,
        now + 600
    );
    Ok(format!("{}.{}.", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims)))
}

/// Flips one byte inside the code section (id 10) of a module.
fn flip_code_byte(m: &mut [u8]) -> Result<()> {
    let mut sections = wsc_core::format::SectionReader::new(std::io::Cursor::new(&*m)).context("not a module")?;
    while let Some(h) = sections.next_header().context("bad section header")? {
        if h.id == 10 && h.size > 1 {
            let at = usize::try_from(h.payload_offset + u64::from(h.size / 2))?;
            m[at] ^= 0x01;
            return Ok(());
        }
    }
    bail!("no code section to change")
}

fn sha256_hex(file: &Path) -> Result<String> {
    let out = Command::new("sha256sum").arg(file).output().context("sha256sum not found")?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.get(..64) {
        Some(hex) if out.status.success() => Ok(hex.to_string()),
        _ => bail!("sha256sum {} failed", file.display()),
    }
}

/// `cargo xtask bench --keyless`: a 1 MiB module with one keyless record,
/// verified offline by `wsc verify --keyless` and, after export, by
/// sigstore-python, measured in the same run. Returns a Markdown table.
pub(crate) fn keyless_bench(runs: usize) -> Result<String> {
    let wsc = crate::build_release_wsc()?;
    check_sigstore_python()?;
    let mock_dir = util::root().join("testdata/sigstore-mock");
    ensure_mock_installed(&mock_dir)?;
    let tmp = std::env::temp_dir().join(format!("wsc-keyless-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let server = Server::start(&mock_dir, &tmp.join("mock"))?;
    let result = keyless_bench_with(&wsc, &server, &tmp, runs);
    drop(server);
    std::fs::remove_dir_all(&tmp).ok();
    result
}

fn keyless_bench_with(wsc: &Path, server: &Server, tmp: &Path, runs: usize) -> Result<String> {
    let t = |n: &str| tmp.join(n);
    let tr = server.dir.join("trusted_root.json");
    let tc = server.dir.join("trust_config.json");
    let token = test_token()?;
    // A valid 1 MiB module: the preamble and one custom section.
    let pad = vec![0x5au8; 1024 * 1024];
    let mut module = wsc_core::format::MODULE_PREAMBLE.to_vec();
    module.extend(wsc_core::format::encode_custom_section("pad", &pad)?);
    std::fs::write(t("big.wasm"), &module)?;
    let wscc = || Command::new(wsc);
    step("message", 0, "", wscc().args(["bundle", "message", "-i"]).arg(t("big.wasm")).arg("-o").arg(t("big.msg")))?;
    step(
        "sign",
        0,
        "",
        sigstore(&tc, &token).args(["sign", "--bundle"]).arg(t("big.sigstore.json")).arg(t("big.msg")),
    )?;
    step(
        "attach",
        0,
        "",
        wscc()
            .args(["bundle", "attach", "-i"])
            .arg(t("big.wasm"))
            .arg("--bundle")
            .arg(t("big.sigstore.json"))
            .arg("-o")
            .arg(t("big.signed.wasm")),
    )?;
    let s = |p: PathBuf| p.into_os_string();
    let wsc_args: Vec<std::ffi::OsString> = vec![
        "verify".into(),
        "--keyless".into(),
        "-i".into(),
        s(t("big.signed.wasm")),
        "--certificate-identity".into(),
        IDENTITY.into(),
        "--certificate-oidc-issuer".into(),
        ISSUER.into(),
        "--trusted-root".into(),
        s(tr.clone()),
    ];
    let python = which_python()?;
    let py_args: Vec<std::ffi::OsString> = vec![
        "-m".into(),
        "sigstore".into(),
        "--trust-config".into(),
        s(tc.clone()),
        "verify".into(),
        "identity".into(),
        "--bundle".into(),
        s(t("big.sigstore.json")),
        "--cert-identity".into(),
        IDENTITY.into(),
        "--cert-oidc-issuer".into(),
        ISSUER.into(),
        s(t("big.msg")),
    ];
    let mut wsc_ms = Vec::new();
    let mut py_ms = Vec::new();
    let mut ratios = Vec::new();
    for round in 0..runs + 1 {
        let a = util::measure(wsc, &wsc_args, 0, tmp)?;
        let b = util::measure(&python, &py_args, 0, tmp)?;
        if round > 0 {
            let (a, b) = (a.wall.as_secs_f64() * 1000.0, b.wall.as_secs_f64() * 1000.0);
            wsc_ms.push(a);
            py_ms.push(b);
            ratios.push(b / a);
        }
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok(format!(
        "1 MiB module, one keyless record (Rekor v1 entry and RFC 3161 timestamp from the local mock), {runs} paired rounds after one warm-up:\n\n\
         | measure | value | target |\n|---|---|---|\n\
         | `wsc verify --keyless` wall, median | {:.1} ms | < 20 ms |\n\
         | sigstore-python `verify identity` of the exported bundle, median | {:.0} ms | — |\n\
         | sigstore-python ÷ wsc, median of per-round ratios | {:.0}× | ≥ 20× |\n",
        med(wsc_ms),
        med(py_ms),
        med(ratios)
    ))
}

fn which_python() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join("python3")).find(|p| p.is_file()).context("python3 not found on PATH")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_one_byte_in_the_middle_of_the_code_section() {
        let m = std::fs::read(util::root().join("testdata/wasmsign2/modules/add.wasm")).expect("add.wasm");
        let mut changed = m.clone();
        flip_code_byte(&mut changed).expect("add.wasm has code");
        let diff: Vec<usize> = (0..m.len()).filter(|&i| m[i] != changed[i]).collect();
        assert_eq!(diff.len(), 1);
        let mut r = wsc_core::format::SectionReader::new(std::io::Cursor::new(&m)).expect("module");
        let code = std::iter::from_fn(|| r.next_header().expect("header")).find(|h| h.id == 10).expect("code");
        assert_eq!(diff[0] as u64, code.payload_offset + u64::from(code.size / 2));
        assert!(flip_code_byte(&mut wsc_core::format::MODULE_PREAMBLE.to_vec()).is_err());
    }

    #[test]
    fn test_tokens_are_unpadded_base64url() {
        let token = test_token().expect("token");
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!((parts.len(), parts[2]), (3, ""));
        assert_eq!(parts[0], "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0", "{{\"alg\":\"none\",\"typ\":\"JWT\"}}");
        let claims = URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url");
        assert!(String::from_utf8_lossy(&claims).contains(IDENTITY));
        assert_eq!(URL_SAFE_NO_PAD.encode([0xfb, 0xff]), "-_8", "the URL alphabet, no padding");
    }
}
