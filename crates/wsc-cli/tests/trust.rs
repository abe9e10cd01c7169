//! `wsc trust update|show` against a real TUF repository (written by
//! python-tuf, testdata/tuf/make_repo.py) served over http on 127.0.0.1:
//! the cached root is the target, kept apart per TUF root (a private
//! repository never lands where the production root is read), `--offline`
//! needs no server, a tampered target and an expired timestamp are refused,
//! and keyless verification says which root it used.
//!
//! Needs python3 with python-tuf (`xtask/setup.sh` installs it); without it
//! the tests fail.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const ID: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISS: &str = "https://token.actions.githubusercontent.com";

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn staging_root() -> PathBuf {
    testdata().join("sigstore/trusted_root.staging.json")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails the test loudly when python3 with python-tuf is missing.
fn require_python_tuf() {
    let ok = Command::new("python3")
        .args(["-c", "import tuf.api.metadata, securesystemslib.signer"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "these tests need python3 with python-tuf: pip install tuf==7.0.1 (xtask/setup.sh does)");
}

/// The cache directory `wsc trust update --tuf-root root` uses by default:
/// named by the SHA-256 of that root.json.
fn tuf_cache(xdg: &Path, root: &Path) -> PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(std::fs::read(root).expect("TUF root"));
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    xdg.join("wsc/trust").join(format!("tuf-{hex}"))
}

/// A TUF repository in `dir` whose `trusted_root.json` is the staging root.
fn make_repo(dir: &Path, extra: &[&str]) {
    make_repo_of(dir, &staging_root(), extra);
}

/// A TUF repository in `dir` whose `trusted_root.json` is `target`.
fn make_repo_of(dir: &Path, target: &Path, extra: &[&str]) {
    require_python_tuf();
    let o = Command::new("python3")
        .arg(testdata().join("tuf/make_repo.py"))
        .arg(dir)
        .arg(target)
        .args(extra)
        .output()
        .expect("python3 runs");
    assert!(o.status.success(), "make_repo.py: {}", stderr(&o));
}

/// `python3 -m http.server` serving a folder on 127.0.0.1; killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server starts");
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the http server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// wsc with a private cache home and no pinning settings from the environment.
fn wsc(xdg: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsc"))
        .args(args)
        .env("XDG_CACHE_HOME", xdg)
        .env_remove("WSC_PINNING_CONFIG")
        .env_remove("WSC_REQUIRE_CERT_PINNING")
        .env_remove("WSC_TUF_PINS")
        .output()
        .expect("wsc runs")
}

/// `wsc trust update` from the repository at `url` (TUF root `root`), into `cache`.
fn update(xdg: &Path, url: &str, root: &Path, cache: &Path, extra: &[&str]) -> Output {
    let cache = s(cache);
    let mut args = vec!["--cache-dir", &cache];
    args.extend_from_slice(extra);
    update_default(xdg, url, root, &args)
}

/// `wsc trust update` from the repository at `url`, into its default cache directory.
fn update_default(xdg: &Path, url: &str, root: &Path, extra: &[&str]) -> Output {
    let root = s(root);
    let mut args = vec!["trust", "update", "--tuf-url", url, "--tuf-root", &root];
    args.extend_from_slice(extra);
    wsc(xdg, &args)
}

/// A staging bundle (it verifies against the staging root only), with `extra` root options.
fn verify_staging_bundle(xdg: &Path, extra: &[&str]) -> Output {
    let cases = testdata().join("sigstore/bundle-verify-dev");
    let b = s(&cases.join("bundle-from-wrong-instance_fail/bundle.sigstore.json"));
    let a = s(&cases.join("a.txt"));
    let mut args = vec![
        "sigstore",
        "verify-bundle",
        "--bundle",
        &b,
        "--certificate-identity",
        ID,
        "--certificate-oidc-issuer",
        ISS,
    ];
    args.extend_from_slice(extra);
    args.push(&a);
    wsc(xdg, &args)
}

#[test]
fn update_caches_the_target_offline_reuses_it_and_verification_uses_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (repo, xdg) = (tmp.path().join("repo"), tmp.path().join("xdg"));
    make_repo(&repo, &[]);
    let root = repo.join("root.json");
    // Keyed by the TUF root given, never the production instance's place.
    let cache = tuf_cache(&xdg, &root);
    let cached = cache.join("trusted_root.json");
    let root_arg = s(&root);
    let tuf_root = ["--tuf-root", root_arg.as_str()];

    // The production root (embedded) refuses the staging bundle.
    let o = verify_staging_bundle(&xdg, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("trust root: production, embedded"), "{}", stderr(&o));
    // Nothing cached for this repository yet: --tuf-root says so (an input error).
    let o = verify_staging_bundle(&xdg, &tuf_root);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no trust root cached") && stderr(&o).contains("wsc trust update"), "{}", stderr(&o));

    let server = Server::start(&repo);
    let url = server.url();
    // http:// only with the loudly named flag, and never when pinning is required.
    let o = update_default(&xdg, &url, &root, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("only https://"), "{}", stderr(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_wsc"))
        .args(["trust", "update", "--tuf-url", &url, "--tuf-root", &s(&root)])
        .arg("--insecure-allow-http")
        .env("XDG_CACHE_HOME", &xdg)
        .env("WSC_REQUIRE_CERT_PINNING", "1")
        .output()
        .expect("wsc runs");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("pinning is required"), "{}", stderr(&o));
    assert!(!cached.exists());

    let o = update_default(&xdg, &url, &root, &["--insecure-allow-http"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("WARNING"), "{}", stderr(&o));
    assert!(stderr(&o).contains(&s(&cached)) && stderr(&o).contains("--tuf-root"), "{}", stderr(&o));
    let target = std::fs::read(staging_root()).expect("staging root");
    assert_eq!(std::fs::read(&cached).expect("the cached root"), target);
    assert!(!xdg.join("wsc/trust/production").exists(), "the production cache was touched");

    // Server gone: an online update fails, --offline re-verifies the cache.
    drop(server);
    std::fs::remove_file(&cached).expect("remove");
    let o = update_default(&xdg, &url, &root, &["--insecure-allow-http"]);
    assert_ne!(o.status.code(), Some(0), "no server, yet: {}", stderr(&o));
    assert!(!cached.exists());
    let o = update_default(&xdg, &url, &root, &["--offline"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(&cached).expect("the cached root"), target);
    // --offline trusts the cache only after TUF verification: a changed cached target is refused.
    let store_target = cache.join("tuf/targets/trusted_root.json");
    let mut bad = target.clone();
    bad[10] ^= 1;
    std::fs::write(&store_target, &bad).expect("write");
    let o = update_default(&xdg, &url, &root, &["--offline"]);
    assert_ne!(o.status.code(), Some(0), "a tampered cache was accepted: {}", stderr(&o));
    std::fs::write(&store_target, &target).expect("write");

    // `trust show` names the production root (embedded), and with --tuf-root the cached one.
    let o = wsc(&xdg, &["trust", "show"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("embedded") && !out.contains("sigstage.dev"), "{out}");
    let o = wsc(&xdg, &["trust", "show", tuf_root[0], tuf_root[1]]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&s(&cached)) && out.contains("sigstage.dev"), "{out}");

    // Plain verification keeps the production root; --tuf-root uses the cached (staging) root...
    let o = verify_staging_bundle(&xdg, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("trust root: production, embedded"), "{}", stderr(&o));
    let o = verify_staging_bundle(&xdg, &tuf_root);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("cached by `wsc trust update`") && stderr(&o).contains(&s(&cached)), "{}", stderr(&o));
    // ...and fails again once the cached root is gone.
    std::fs::remove_file(&cached).expect("remove");
    let o = verify_staging_bundle(&xdg, &tuf_root);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A module signed keylessly under a private Sigstore deployment (the local
/// instance), whose trust root is published through the deployment's own
/// TUF repository.
struct Private {
    inst: wsc_sigstore_local::Instance,
    signed: PathBuf,
    repo: PathBuf,
}

fn private_deployment(dir: &Path) -> Private {
    let inst = wsc_sigstore_local::Instance::start(wsc_sigstore_local::Config {
        dir: dir.join("sigstore"),
        identities: vec![PRIVATE_ID.into()],
        tls: false,
        port: 0,
        rekor_v2: false,
    })
    .expect("local instance");
    let mut module = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo.wasm")).expect("module");
    module.extend_from_slice(&[0, 4, 3, b'w', b's', b'p']);
    let (plain, signed) = (dir.join("m.wasm"), dir.join("m.signed.wasm"));
    std::fs::write(&plain, module).expect("write");
    let token = inst.mint_token(PRIVATE_ID).expect("token");
    let o = Command::new(env!("CARGO_BIN_EXE_wsc"))
        .args(["sign", "--keyless", "--identity-token", &token, "--insecure-allow-http"])
        .arg("--trusted-root")
        .arg(inst.dir().join("trusted_root.json"))
        .arg("--signing-config")
        .arg(inst.dir().join("signing_config.json"))
        .args(["-i", &s(&plain), "-o", &s(&signed)])
        .env_remove("SIGSTORE_ID_TOKEN")
        .output()
        .expect("wsc runs");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let repo = dir.join("repo");
    make_repo_of(&repo, &inst.dir().join("trusted_root.json"), &[]);
    Private { inst, signed, repo }
}

const PRIVATE_ID: &str = "https://github.com/private/app/.github/workflows/release.yml@refs/heads/main";

impl Private {
    /// `wsc verify --keyless` of the signed module with `extra` root options.
    fn verify(&self, xdg: &Path, extra: &[&str]) -> Output {
        let signed = s(&self.signed);
        let mut args = vec![
            "verify",
            "-i",
            &signed,
            "--keyless",
            "--certificate-identity",
            PRIVATE_ID,
            "--certificate-oidc-issuer",
            self.inst.url(),
        ];
        args.extend_from_slice(extra);
        wsc(xdg, &args)
    }
}

/// Defect class: `wsc trust update --tuf-url X --tuf-root R` wrote the
/// private repository's root where plain verification reads production's.
/// Now it lands in its own directory: plain verification keeps the
/// production root (and says so) and refuses the privately signed module;
/// `--tuf-root R` or `--trusted-root` names the private root and verifies.
#[test]
fn a_private_repository_never_replaces_the_production_root() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let xdg = tmp.path().join("xdg");
    let p = private_deployment(tmp.path());
    let root = p.repo.join("root.json");
    let cached = tuf_cache(&xdg, &root).join("trusted_root.json");
    let server = Server::start(&p.repo);
    let o = update_default(&xdg, &server.url(), &root, &["--insecure-allow-http"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    drop(server);
    assert_eq!(
        std::fs::read(&cached).expect("cached apart"),
        std::fs::read(p.inst.dir().join("trusted_root.json")).expect("the private root")
    );
    assert!(!xdg.join("wsc/trust/production/trusted_root.json").exists());

    // Plain verification: the production root, named on stderr; the module does not verify.
    let o = p.verify(&xdg, &[]);
    assert_eq!(o.status.code(), Some(1), "the private root was used: {}", stderr(&o));
    assert!(stderr(&o).contains("trust root: production, embedded"), "{}", stderr(&o));
    // Naming the private repository's TUF root: its cached root, named on stderr; verified.
    let o = p.verify(&xdg, &["--tuf-root", &s(&root)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains(&s(&cached)), "{}", stderr(&o));
    let o = p.verify(&xdg, &["--trusted-root", &s(&cached)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("trust root: '{}' (--trusted-root)", s(&cached))), "{}", stderr(&o));
    // --tuf-root with another TUF root finds nothing cached for it.
    let other = tmp.path().join("other-root.json");
    std::fs::write(&other, b"{}").expect("write");
    let o = p.verify(&xdg, &["--tuf-root", &s(&other)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // Forced into the production directory with --cache-dir, the private root
    // is still not read as production's: its source record names another TUF root.
    let production = xdg.join("wsc/trust/production");
    let server = Server::start(&p.repo);
    let o = update(&xdg, &server.url(), &root, &production, &["--insecure-allow-http"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    drop(server);
    assert!(production.join("trusted_root.json").is_file());
    let o = p.verify(&xdg, &[]);
    assert_eq!(o.status.code(), Some(1), "the private root was used: {}", stderr(&o));
    assert!(
        stderr(&o).contains("ignoring the cached trust root") && stderr(&o).contains("another TUF root"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("trust root: production, embedded"), "{}", stderr(&o));
    let o = wsc(&xdg, &["trust", "show"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("is ignored"), "{}", String::from_utf8_lossy(&o.stdout));
    // A production cache without a source record (an older wsc, the old bug): ignored too.
    std::fs::remove_file(production.join("source.json")).expect("remove");
    let o = p.verify(&xdg, &[]);
    assert_eq!(o.status.code(), Some(1), "the private root was used: {}", stderr(&o));
    assert!(stderr(&o).contains("source.json"), "{}", stderr(&o));
}

#[test]
fn a_tampered_target_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (repo, xdg, cache) = (tmp.path().join("repo"), tmp.path().join("xdg"), tmp.path().join("cache"));
    make_repo(&repo, &[]);
    let served = std::fs::read_dir(repo.join("targets")).expect("targets").next().expect("one target").expect("entry");
    let mut bytes = std::fs::read(served.path()).expect("target");
    // Same length, one byte changed: only the hash can tell.
    let i = bytes.iter().position(|&b| b == b'/').expect("a slash");
    bytes[i] = b'_';
    std::fs::write(served.path(), &bytes).expect("write");
    let server = Server::start(&repo);
    let o = update(&xdg, &server.url(), &repo.join("root.json"), &cache, &["--insecure-allow-http"]);
    assert_ne!(o.status.code(), Some(0), "a tampered target was accepted: {}", stderr(&o));
    assert!(stderr(&o).contains("sha256 mismatch"), "{}", stderr(&o));
    assert!(!cache.join("trusted_root.json").exists());
    assert!(!cache.join("tuf/targets/trusted_root.json").exists());
}

#[test]
fn an_expired_timestamp_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (repo, xdg, cache) = (tmp.path().join("repo"), tmp.path().join("xdg"), tmp.path().join("cache"));
    make_repo(&repo, &["--timestamp-expires-days", "-1"]);
    let server = Server::start(&repo);
    let o = update(&xdg, &server.url(), &repo.join("root.json"), &cache, &["--insecure-allow-http"]);
    assert_ne!(o.status.code(), Some(0), "an expired timestamp was accepted: {}", stderr(&o));
    assert!(stderr(&o).contains("expired"), "{}", stderr(&o));
    assert!(!cache.join("trusted_root.json").exists());
}

#[test]
fn offline_without_a_cache_fails_and_opens_no_connection() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let xdg = tmp.path().join("xdg");
    // The production instance's repository with its embedded TUF root:
    // offline, the error is about the (empty) cache, not a connection.
    let cache = s(&tmp.path().join("cache"));
    let o = wsc(&xdg, &["trust", "update", "--offline", "--cache-dir", &cache]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("offline verification"), "{}", stderr(&o));
}
