//! `wsc trust update|show` against a real TUF repository (written by
//! python-tuf, testdata/tuf/make_repo.py) served over http on 127.0.0.1:
//! the cached root is the target, `--offline` needs no server, a tampered
//! target and an expired timestamp are refused, and keyless verification
//! uses the cached root.
//!
//! Needs python3 with python-tuf; without it the tests are skipped, except
//! under CI, where they fail.

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

/// Whether python-tuf can be used; panics under CI when it cannot.
fn have_python_tuf() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import tuf.api.metadata, securesystemslib.signer"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "CI must have python3 with python-tuf (pip install tuf==7.0.1)");
        eprintln!("skipped: python3 with python-tuf is not installed");
    }
    ok
}

/// A TUF repository in `dir` whose `trusted_root.json` is the staging root.
fn make_repo(dir: &Path, extra: &[&str]) {
    let o = Command::new("python3")
        .arg(testdata().join("tuf/make_repo.py"))
        .arg(dir)
        .arg(staging_root())
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

/// `wsc trust update` of the production instance from `url`, into `cache`.
fn update(xdg: &Path, url: &str, root: &Path, cache: &Path, extra: &[&str]) -> Output {
    let (root, cache) = (s(root), s(cache));
    let mut args = vec!["trust", "update", "--tuf-url", url, "--tuf-root", &root, "--cache-dir", &cache];
    args.extend_from_slice(extra);
    wsc(xdg, &args)
}

/// A staging bundle: it verifies against the staging root only.
fn verify_staging_bundle(xdg: &Path) -> Output {
    let cases = testdata().join("sigstore/bundle-verify-dev");
    let b = s(&cases.join("bundle-from-wrong-instance_fail/bundle.sigstore.json"));
    let a = s(&cases.join("a.txt"));
    wsc(
        xdg,
        &[
            "sigstore",
            "verify-bundle",
            "--bundle",
            &b,
            "--certificate-identity",
            ID,
            "--certificate-oidc-issuer",
            ISS,
            &a,
        ],
    )
}

#[test]
fn update_caches_the_target_offline_reuses_it_and_verification_uses_it() {
    if !have_python_tuf() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (repo, xdg) = (tmp.path().join("repo"), tmp.path().join("xdg"));
    make_repo(&repo, &[]);
    // The default place of the production instance, so that verification finds it.
    let cache = xdg.join("wsc/trust/production");
    let cached = cache.join("trusted_root.json");
    let root = repo.join("root.json");

    // The production root (embedded) refuses the staging bundle.
    let o = verify_staging_bundle(&xdg);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("embedded"), "{}", stderr(&o));

    let server = Server::start(&repo);
    let url = server.url();
    // http:// only with the loudly named flag, and never when pinning is required.
    let o = update(&xdg, &url, &root, &cache, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("only https://"), "{}", stderr(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_wsc"))
        .args(["trust", "update", "--tuf-url", &url, "--tuf-root", &s(&root), "--cache-dir", &s(&cache)])
        .arg("--insecure-allow-http")
        .env("XDG_CACHE_HOME", &xdg)
        .env("WSC_REQUIRE_CERT_PINNING", "1")
        .output()
        .expect("wsc runs");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("pinning is required"), "{}", stderr(&o));
    assert!(!cached.exists());

    let o = update(&xdg, &url, &root, &cache, &["--insecure-allow-http"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("WARNING"), "{}", stderr(&o));
    let target = std::fs::read(staging_root()).expect("staging root");
    assert_eq!(std::fs::read(&cached).expect("the cached root"), target);

    // Server gone: an online update fails, --offline re-verifies the cache.
    drop(server);
    std::fs::remove_file(&cached).expect("remove");
    let o = update(&xdg, &url, &root, &cache, &["--insecure-allow-http"]);
    assert_ne!(o.status.code(), Some(0), "no server, yet: {}", stderr(&o));
    assert!(!cached.exists());
    let o = update(&xdg, &url, &root, &cache, &["--offline"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(&cached).expect("the cached root"), target);
    // --offline trusts the cache only after TUF verification: a changed cached target is refused.
    let store_target = cache.join("tuf/targets/trusted_root.json");
    let mut bad = target.clone();
    bad[10] ^= 1;
    std::fs::write(&store_target, &bad).expect("write");
    let o = update(&xdg, &url, &root, &cache, &["--offline"]);
    assert_ne!(o.status.code(), Some(0), "a tampered cache was accepted: {}", stderr(&o));
    std::fs::write(&store_target, &target).expect("write");

    // `trust show` names the cached root.
    let o = wsc(&xdg, &["trust", "show"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&s(&cached)) && out.contains("sigstage.dev"), "{out}");

    // Verification uses the cached (staging) root: the staging bundle now verifies...
    let o = verify_staging_bundle(&xdg);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("cached by `wsc trust update`"), "{}", stderr(&o));
    // ...and fails again once the cached root is gone.
    std::fs::remove_file(&cached).expect("remove");
    let o = verify_staging_bundle(&xdg);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let o = wsc(&xdg, &["trust", "show"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("embedded"));
}

#[test]
fn a_tampered_target_is_refused() {
    if !have_python_tuf() {
        return;
    }
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
    if !have_python_tuf() {
        return;
    }
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
