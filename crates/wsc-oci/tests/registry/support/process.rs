//! A `docker-registry` process on a free port of 127.0.0.1, with its own
//! configuration and filesystem storage in a temporary directory. It is
//! killed (by its own handle) when dropped.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use wsc_oci::registry::Digest;

/// How long a registry may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The path of `tool`, or a panic that says how to install it.
pub(crate) fn tool(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{tool}` is not installed, and these tests need it: install the Debian package {package} \
         (`apt-get install -y {package}`; xtask/setup.sh does it)"
    );
}

/// A free TCP port on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// Authentication of a registry.
#[derive(Debug, Clone)]
pub(crate) enum Auth {
    /// None.
    Anonymous,
    /// htpasswd with one bcrypt user.
    Htpasswd {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// Bearer tokens from a token service.
    Token {
        /// The realm URL.
        realm: String,
        /// The service name (the tokens' audience).
        service: String,
        /// The issuer the tokens name.
        issuer: String,
        /// PEM of the certificate that signs tokens.
        root_pem: String,
    },
}

/// A registry's setup.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    /// Authentication.
    pub(crate) auth: Auth,
    /// PEM certificate and key for TLS, if any.
    pub(crate) tls: Option<(String, String)>,
}

/// A running `docker-registry`.
#[derive(Debug)]
pub(crate) struct RegistryProcess {
    child: Child,
    dir: TempDir,
    port: u16,
}

impl RegistryProcess {
    /// An anonymous registry on plain HTTP.
    pub(crate) fn anonymous() -> RegistryProcess {
        RegistryProcess::start(&Setup { auth: Auth::Anonymous, tls: None })
    }

    /// Starts a registry and waits until it listens.
    pub(crate) fn start(setup: &Setup) -> RegistryProcess {
        let binary = tool("docker-registry", "docker-registry");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let root = dir.path();
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: wsc-test-secret\n",
            storage = root.join("storage").display(),
        );
        if let Some((cert, key)) = &setup.tls {
            write(root, "tls.crt", cert);
            write(root, "tls.key", key);
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                root.join("tls.crt").display(),
                root.join("tls.key").display()
            );
        }
        match &setup.auth {
            Auth::Anonymous => {}
            Auth::Htpasswd { user, password } => {
                write(root, "htpasswd", &htpasswd(user, password));
                config += &format!(
                    "auth:\n  htpasswd:\n    realm: wsc-test\n    path: {}\n",
                    root.join("htpasswd").display()
                );
            }
            Auth::Token { realm, service, issuer, root_pem } => {
                write(root, "token-root.pem", root_pem);
                config += &format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    \
                     rootcertbundle: {}\n",
                    root.join("token-root.pem").display()
                );
            }
        }
        write(root, "config.yml", &config);
        let log = std::fs::File::create(root.join("registry.log")).expect("the log file");
        let child = Command::new(binary)
            .arg("serve")
            .arg(root.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        let mut process = RegistryProcess { child, dir, port };
        process.wait_until_listening();
        process
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited ({status}) before listening; its log:\n{}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "docker-registry did not listen on 127.0.0.1:{} within {START_TIMEOUT:?}; its log:\n{}",
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `127.0.0.1:PORT`.
    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's log so far.
    pub(crate) fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("registry.log")) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// The file holding a blob (manifests are blobs too) in the storage.
    pub(crate) fn blob_file(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.dir.path().join("storage/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(&hex).join("data")
    }
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("writing {name}: {e}"));
}

/// An htpasswd line for `user` with a bcrypt hash, from `htpasswd -Bbn`.
fn htpasswd(user: &str, password: &str) -> String {
    let binary = tool("htpasswd", "apache2-utils");
    let out = Command::new(binary).args(["-Bbn", user, password]).output().expect("running htpasswd");
    assert!(out.status.success(), "htpasswd -Bbn failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("htpasswd writes text");
    assert!(text.starts_with(&format!("{user}:$2y$")), "htpasswd -B makes a bcrypt hash: {text}");
    text
}
