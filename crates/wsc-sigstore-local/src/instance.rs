//! The running instance: start-up, files, runtime and shutdown.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::LocalError;
use crate::faults::Faults;
use crate::fulcio::{CaChain, CtLog, Fulcio};
use crate::keys::{creation_time, load_or_create_ed25519_key, load_or_create_key, read_opt, rfc3339, write_atomic};
use crate::oidc::Issuer;
use crate::rekor::RekorLog;
use crate::rekor::v2::RekorV2Log;
use crate::server::{self, State};
use crate::trust::TrustMaterial;
use crate::tsa::Tsa;

/// The identity used when none is configured: a GitHub Actions workflow URI.
pub const DEFAULT_IDENTITY: &str = "https://github.com/wsc-demo/app/.github/workflows/release.yml@refs/heads/main";

/// How to start an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Folder for keys, certificates, the log and the trust files (created if missing).
    pub dir: PathBuf,
    /// Identities the issuer may mint tokens for; empty means [`DEFAULT_IDENTITY`].
    /// One containing '@' and no "://" is an email identity, anything else a URI identity.
    pub identities: Vec<String>,
    /// Serve HTTPS with a local CA (written to `tls-ca.pem`).
    pub tls: bool,
    /// Port on 127.0.0.1; 0 reuses the previous port of this folder if free, else any.
    pub port: u16,
    /// Also run the Rekor v2 log (`POST /api/v2/log/entries`): the signing config then names
    /// it instead of Rekor v1, and the trusted root lists both logs.
    pub rekor_v2: bool,
}

impl Config {
    /// Plain HTTP on any port, with the default identity.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), identities: Vec::new(), tls: false, port: 0, rekor_v2: false }
    }
}

/// A running local Sigstore. Stops on [`Instance::shutdown`] or when dropped.
pub struct Instance {
    url: String,
    dir: PathBuf,
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
    tls_ca_pem: Option<String>,
    tls_leaf_der: Option<Vec<u8>>,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").field("url", &self.url).field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// The port a previous run of this folder used, from its `port` file.
fn previous_port(dir: &Path) -> Option<u16> {
    read_opt(dir, "port").ok()??.trim().parse().ok().filter(|p| *p != 0)
}

fn bind(dir: &Path, port: u16) -> Result<std::net::TcpListener, LocalError> {
    let again = if port == 0 { previous_port(dir) } else { None };
    if let Some(l) = again.and_then(|p| std::net::TcpListener::bind(("127.0.0.1", p)).ok()) {
        return Ok(l);
    }
    std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| LocalError::io(format!("bind 127.0.0.1:{port}"), e))
}

impl Instance {
    /// Starts the instance: creates or loads keys, binds, writes the trust
    /// files and, last, `url`; returns when it is listening.
    pub fn start(config: Config) -> Result<Instance, LocalError> {
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| LocalError::io(format!("create {}", dir.display()), e))?;
        // A stale url file would tell a waiting script the old address.
        match std::fs::remove_file(dir.join("url")) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LocalError::io("remove old url file", e)),
        }
        let listener = bind(&dir, config.port)?;
        let port = listener.local_addr().map_err(|e| LocalError::io("local address", e))?.port();
        write_atomic(&dir, "port", format!("{port}\n").as_bytes(), 0o644)?;
        let scheme = if config.tls { "https" } else { "http" };
        let url = format!("{scheme}://127.0.0.1:{port}");
        let identities =
            if config.identities.is_empty() { vec![DEFAULT_IDENTITY.to_string()] } else { config.identities.clone() };

        let created = creation_time(&dir)?;
        let start = rfc3339(created - 3600)?;
        let issuer = Issuer::new(load_or_create_key(&dir, "oidc.key")?, url.clone(), identities)?;
        let ca = CaChain::load_or_create(&dir, created - 3600)?;
        let ct = CtLog::new(load_or_create_key(&dir, "ctlog.key")?)?;
        let rekor = RekorLog::open(&dir, load_or_create_key(&dir, "rekor.key")?)
            .map_err(|e| LocalError::io("open the Rekor log", e))?;
        let rekor_v2 = if config.rekor_v2 {
            let key = load_or_create_ed25519_key(&dir, "rekor2.key")?;
            Some(RekorV2Log::open(&dir, key).map_err(|e| LocalError::io("open the Rekor v2 log", e))?)
        } else {
            None
        };
        let tsa =
            Tsa::open(&dir, load_or_create_key(&dir, "tsa.key")?).map_err(|e| LocalError::io("open the TSA", e))?;
        let tls = if config.tls { Some(crate::tls::load_or_create(&dir)?) } else { None };

        let tsa_chain = tsa.chain_der();
        let rekor_spki = rekor.public_key_spki_der();
        let rekor_v2_spki = rekor_v2.as_ref().map(|l| (l.public_key_spki_der(), l.log_id()));
        TrustMaterial {
            base_url: &url,
            start: &start,
            rekor_spki: &rekor_spki,
            rekor_log_id: rekor.log_id(),
            ca_chain: [&ca.intermediate_der, &ca.root_der],
            ct_spki: &ct.spki_der,
            ct_log_id: ct.log_id,
            tsa_chain: &tsa_chain,
            rekor_v2: rekor_v2_spki.as_ref().map(|(spki, id)| (spki.as_slice(), *id)),
        }
        .write(&dir)?;

        let state = Arc::new(State {
            issuer,
            fulcio: Fulcio::new(ca, ct)?,
            rekor,
            rekor_v2,
            tsa,
            faults: Faults::default(),
            counts: Mutex::new(HashMap::new()),
            log_requests: AtomicBool::new(false),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("wsc-sigstore-local")
            .enable_all()
            .build()
            .map_err(|e| LocalError::io("start the tokio runtime", e))?;
        listener.set_nonblocking(true).map_err(|e| LocalError::io("set_nonblocking", e))?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(|e| LocalError::io("register the listener", e))?
        };
        let acceptor = tls.as_ref().map(|t| tokio_rustls::TlsAcceptor::from(t.config.clone()));
        runtime.spawn(server::serve(listener, state.clone(), acceptor));
        if let Some(t) = &tls {
            write_atomic(&dir, "tls-ca.pem", t.ca_pem.as_bytes(), 0o644)?;
        }
        write_atomic(&dir, "url", format!("{url}\n").as_bytes(), 0o644)?;
        Ok(Instance {
            url,
            dir,
            state,
            runtime: Some(runtime),
            tls_ca_pem: tls.as_ref().map(|t| t.ca_pem.clone()),
            tls_leaf_der: tls.map(|t| t.leaf_der),
        })
    }

    /// The base URL, `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`; also the OIDC issuer.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The instance's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An ID token (audience "sigstore", valid 10 minutes) for a configured identity.
    pub fn mint_token(&self, identity: &str) -> Result<String, LocalError> {
        self.mint_token_with(identity, "sigstore", 600)
    }

    /// An ID token with any audience and lifetime (a negative `ttl_seconds` gives an expired token).
    pub fn mint_token_with(&self, identity: &str, audience: &str, ttl_seconds: i64) -> Result<String, LocalError> {
        if !self.state.issuer.identities().iter().any(|i| i == identity) {
            return Err(LocalError::Invalid(format!("{identity} is not a configured identity")));
        }
        self.state.issuer.mint(identity, audience, ttl_seconds, None)
    }

    /// The runtime fault switches.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// How many requests arrived for `path` (for example "/api/v2/signingCert"), faults included.
    pub fn requests(&self, path: &str) -> u64 {
        self.state.count(path)
    }

    /// Logs one line per request (method, path, status) to stderr.
    pub fn set_request_log(&self, on: bool) {
        self.state.log_requests.store(on, Ordering::Relaxed);
    }

    /// PEM of the local TLS CA (with `tls: true`).
    pub fn tls_ca_pem(&self) -> Option<String> {
        self.tls_ca_pem.clone()
    }

    /// DER of the HTTPS server certificate (with `tls: true`), for pinning tests.
    pub fn tls_leaf_der(&self) -> Option<Vec<u8>> {
        self.tls_leaf_der.clone()
    }

    /// Stops serving and waits (up to 5 s) for running log writes; inside an
    /// async runtime it does not wait.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // Waiting is not allowed inside another runtime (an async test): stop in the background there.
            if tokio::runtime::Handle::try_current().is_ok() {
                rt.shutdown_background();
            } else {
                rt.shutdown_timeout(Duration::from_secs(5));
            }
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Mints a token offline from the issuer key in `dir`, for the issuer URL in `dir/url`
/// (the instance need not run, but must have run once).
pub fn mint_token_offline(dir: &Path, identity: &str, audience: &str, ttl_seconds: i64) -> Result<String, LocalError> {
    let url = read_opt(dir, "url")?
        .ok_or_else(|| LocalError::Invalid(format!("{}: no url file; start the instance once", dir.display())))?;
    let key = read_opt(dir, "oidc.key")?
        .ok_or_else(|| LocalError::Invalid(format!("{}: no oidc.key; start the instance once", dir.display())))?;
    let key = <p256::ecdsa::SigningKey as p256::pkcs8::DecodePrivateKey>::from_pkcs8_pem(&key)
        .map_err(|e| LocalError::Invalid(format!("oidc.key: {e}")))?;
    Issuer::new(key, url.trim().to_string(), vec![identity.to_string()])?.mint(identity, audience, ttl_seconds, None)
}
