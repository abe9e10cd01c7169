//! The Sigstore trust root (`trusted_root.json`) cached per trust domain,
//! and its update through a TUF repository (feature `tuf`).
//!
//! Layout under the cache base (`$XDG_CACHE_HOME/wsc/trust`, else
//! `$HOME/.cache/wsc/trust`), one directory per domain:
//!
//! - `production/`, `staging/`: the Sigstore instances, from the TUF roots
//!   embedded in sigstore-trust-root;
//! - `tuf-<sha256>/`: any other repository, named by the SHA-256 of the TUF
//!   `root.json` it is verified from.
//!
//! Each holds `trusted_root.json` (the verified target), `source.json` (the
//! repository URL and the SHA-256 of the TUF root it was verified from) and
//! `tuf/` (the TUF client's metadata and targets, re-verified on every
//! update). A cached root whose `source.json` does not name the directory's
//! own TUF root is never used.
//!
//! [`update`] verifies and returns the two files; the caller writes them
//! (the CLI does so atomically). Every HTTPS request goes through a
//! wsc-pinning client (`WSC_TUF_PINS`). Keyless verification itself never
//! calls this module: it reads a root file or the embedded roots.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use sigstore_trust_root::{SigstoreInstance, TufBootstrap, TufConfig};
use wsc_pinning::{ClientBuilder, PinningError, Service};

use crate::KeylessError;

/// The name of the cached root in a cache directory.
pub const ROOT_FILE: &str = "trusted_root.json";
/// The name of the record of where the cached root came from.
pub const SOURCE_FILE: &str = "source.json";

/// Largest `source.json` read.
const MAX_SOURCE: u64 = 64 * 1024;
/// Largest verified trust root read back.
const MAX_ROOT: u64 = 16 * 1024 * 1024;

/// Why a trust-root update failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TufError {
    /// A file or directory of the cache could not be used.
    #[error("'{}'", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No pinned client for the repository.
    #[error("TUF repository {url}")]
    Client {
        /// The repository.
        url: String,
        /// Why.
        #[source]
        source: PinningError,
    },
    /// The async runtime the TUF client needs could not start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The TUF update or the verification of its target failed.
    #[error("TUF update from {url}")]
    Update {
        /// The repository.
        url: String,
        /// Why.
        #[source]
        source: sigstore_trust_root::Error,
    },
    /// The verified target is not a usable trust root.
    #[error("the verified trust root '{}'", path.display())]
    Root {
        /// The target.
        path: PathBuf,
        /// Why.
        #[source]
        source: KeylessError,
    },
    /// The verified target is not UTF-8.
    #[error("the verified trust root '{}' is not UTF-8", path.display())]
    NotUtf8 {
        /// The target.
        path: PathBuf,
    },
    /// The verified root could not be compared with the target on disk.
    #[error("cannot compare the verified trust root with its file")]
    Compare(#[source] serde_json::Error),
    /// The verified target changed on disk while it was verified.
    #[error("'{}' changed while it was being verified", path.display())]
    Changed {
        /// The target.
        path: PathBuf,
    },
}

/// A trust domain: the TUF root its cached trust root is verified from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Domain {
    /// Sigstore production (`false`) or staging (`true`), from the TUF root
    /// embedded in sigstore-trust-root.
    Instance(bool),
    /// Another TUF repository, by the SHA-256 (hex) of its root.json.
    Tuf(String),
}

impl Domain {
    /// The domain of a TUF root.json file.
    pub fn of_tuf_root(bytes: &[u8]) -> Domain {
        Domain::Tuf(sigstore_verify::crypto::sha256(bytes).to_hex())
    }

    /// The repository URL and TUF root of Sigstore production or staging.
    pub fn instance_source(staging: bool) -> (&'static str, &'static [u8]) {
        let instance = if staging { SigstoreInstance::Staging } else { SigstoreInstance::PublicGood };
        (instance.tuf_url(), instance.tuf_root())
    }

    /// The SHA-256 (hex) of the TUF root the domain's trust root is verified from.
    pub fn tuf_root_sha256(&self) -> String {
        match self {
            Domain::Instance(staging) => sigstore_verify::crypto::sha256(Domain::instance_source(*staging).1).to_hex(),
            Domain::Tuf(hex) => hex.clone(),
        }
    }

    /// The directory name under the cache base.
    pub fn dir_name(&self) -> String {
        match self {
            Domain::Instance(staging) => instance_name(*staging).to_string(),
            Domain::Tuf(hex) => format!("tuf-{hex}"),
        }
    }
}

fn instance_name(staging: bool) -> &'static str {
    if staging { "staging" } else { "production" }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Instance(staging) => f.write_str(instance_name(*staging)),
            Domain::Tuf(hex) => write!(f, "the TUF repository whose root.json has SHA-256 {hex}"),
        }
    }
}

/// `$XDG_CACHE_HOME/wsc/trust/<domain>` (an absolute XDG_CACHE_HOME only,
/// as the XDG spec says), else `$HOME/.cache/wsc/trust/<domain>`.
pub fn default_cache_dir(domain: &Domain) -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        _ => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".cache"),
    };
    Some(base.join("wsc").join("trust").join(domain.dir_name()))
}

/// What a cache directory holds for a domain.
#[derive(Debug)]
pub enum Cached {
    /// A root verified from the domain's TUF root.
    Usable(PathBuf),
    /// No cached root at this path.
    Missing(PathBuf),
    /// A root at this path that must not be used for the domain, and why.
    Foreign(PathBuf, String),
}

/// Reads a file of at most `limit` bytes.
fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, TufError> {
    let io = |source| TufError::Io { path: path.to_path_buf(), source };
    wsc_pinning::read_capped(File::open(path).map_err(io)?, limit).map_err(io)
}

/// The root cached in `dir` for `domain`: usable only when `source.json`
/// says it was verified from the domain's own TUF root.
pub fn cached_in(dir: &Path, domain: &Domain) -> Cached {
    let path = dir.join(ROOT_FILE);
    if !path.is_file() {
        return Cached::Missing(path);
    }
    let source = read_file(&dir.join(SOURCE_FILE), MAX_SOURCE)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["tuf_root_sha256"].as_str().map(str::to_string));
    let want = domain.tuf_root_sha256();
    match source {
        Some(found) if found == want => Cached::Usable(path),
        Some(found) => Cached::Foreign(
            path,
            format!("it was verified from another TUF root (SHA-256 {found}), not the one of {domain}"),
        ),
        None => Cached::Foreign(
            path,
            format!("no valid {SOURCE_FILE} says which TUF repository it came from (an older wsc wrote it?)"),
        ),
    }
}

/// The root cached for `domain` in its default directory; `None` without
/// a cache base (no XDG_CACHE_HOME or HOME).
pub fn cached_root(domain: &Domain) -> Option<Cached> {
    default_cache_dir(domain).map(|d| cached_in(&d, domain))
}

/// The earliest `expires` of the cached timestamp, snapshot and targets
/// metadata under `dir` (informational: an update re-verifies them all).
pub fn tuf_expiry(dir: &Path) -> Option<String> {
    ["timestamp.json", "snapshot.json", "targets.json"]
        .iter()
        .filter_map(|f| {
            let bytes = read_file(&dir.join("tuf").join(f), MAX_ROOT).ok()?;
            let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            v["signed"]["expires"].as_str().map(str::to_string)
        })
        .min()
}

/// What to update.
#[derive(Debug)]
pub struct Update<'a> {
    /// The TUF repository.
    pub url: &'a str,
    /// The TUF root.json trusted first.
    pub tuf_root: &'a [u8],
    /// The domain the root is cached for.
    pub domain: &'a Domain,
    /// The cache directory (the TUF store goes into its `tuf/`).
    pub dir: &'a Path,
    /// The pinned clients to use, or `None` to open no connection and
    /// re-verify the cached repository only.
    pub network: Option<&'a ClientBuilder>,
}

/// A verified trust root, with the files to write into the cache directory.
#[derive(Debug)]
#[non_exhaustive]
pub struct Updated {
    /// The contents of [`SOURCE_FILE`]; write it before the root.
    pub source_json: String,
    /// The contents of [`ROOT_FILE`]: the exact bytes TUF verified.
    pub root_json: String,
    /// The repository's host when no pin applied to it.
    pub unpinned_host: Option<String>,
}

/// Runs the TUF client against the repository (or its cache only) and
/// returns the verified trust root.
pub fn update(u: &Update<'_>) -> Result<Updated, TufError> {
    let store = u.dir.join("tuf");
    std::fs::create_dir_all(&store).map_err(|source| TufError::Io { path: store.clone(), source })?;
    let mut config =
        TufConfig::custom(u.url.to_string(), TufBootstrap::trusted(u.tuf_root)).with_cache_dir(store.clone());
    let mut unpinned_host = None;
    match u.network {
        // No HTTP client is even built: the updater reads the cache only.
        None => config = config.offline(),
        Some(builder) => {
            let client = builder
                .build_async(Service::Tuf, u.url)
                .map_err(|source| TufError::Client { url: u.url.to_string(), source })?;
            if !client.pinned && u.url.starts_with("https://") {
                unpinned_host = Some(client.host);
            }
            config = config.with_http_client(client.client);
            // sigstore-tuf builds a default client before taking ours, and
            // with no TLS backend compiled into reqwest that needs a
            // process-wide provider: the same aws-lc-rs one. That client is
            // never used.
            let _ = std::sync::Arc::unwrap_or_clone(wsc_pinning::crypto_provider()).install_default();
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(TufError::Runtime)?;
    let verified = runtime
        .block_on(sigstore_trust_root::TrustedRoot::from_tuf(config))
        .map_err(|source| TufError::Update { url: u.url.to_string(), source })?;
    // The updater wrote the verified target through to its store; take those
    // exact bytes, and only if they are the root it just verified.
    let target = store.join("targets").join(ROOT_FILE);
    let bytes = read_file(&target, MAX_ROOT)?;
    let root_json = String::from_utf8(bytes).map_err(|_| TufError::NotUtf8 { path: target.clone() })?;
    let reread = crate::root_from_json(&root_json).map_err(|source| TufError::Root { path: target.clone(), source })?;
    let value = |r| serde_json::to_value(r).map_err(TufError::Compare);
    if value(&reread)? != value(&verified)? {
        return Err(TufError::Changed { path: target });
    }
    let source = serde_json::json!({"tuf_url": u.url, "tuf_root_sha256": u.domain.tuf_root_sha256()});
    Ok(Updated { source_json: format!("{source:#}\n"), root_json, unpinned_host })
}
