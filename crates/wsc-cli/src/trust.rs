//! `wsc trust update|show`: the Sigstore trust root (`trusted_root.json`),
//! refreshed through a TUF repository and cached per trust domain, so that
//! one domain's root is never read as another's.
//!
//! Layout under the cache base (`$XDG_CACHE_HOME/wsc/trust`, else
//! `$HOME/.cache/wsc/trust`), one directory per domain:
//!
//! - `production/`, `staging/`: the Sigstore instances, from the TUF roots
//!   embedded in sigstore-trust-root; plain keyless verification reads
//!   `production/` (or `staging/` with `--staging`);
//! - `tuf-<sha256>/`: any other repository (`--tuf-url` with `--tuf-root`),
//!   named by the SHA-256 of the TUF `root.json` given; read only when
//!   verification names that file with `--tuf-root`.
//!
//! Each holds `trusted_root.json` (the verified target, written
//! atomically), `source.json` (the repository URL and the SHA-256 of the
//! TUF root it was verified from) and `tuf/` (the TUF client's metadata and
//! targets, re-verified on every run). A cached root whose `source.json`
//! does not name the directory's own TUF root (an explicit `--cache-dir`
//! into another domain's directory, or a cache written by an older wsc) is
//! never used.
//!
//! Every HTTPS request goes through a wsc-pinning client (`WSC_TUF_PINS`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use sigstore_trust_root::{SigstoreInstance, TufBootstrap, TufConfig};
use wsc_pinning::{ClientBuilder, PinningConfig, Service};

use crate::Outcome;
use crate::files::{self, Mode};

/// The name of the cached root in a cache directory.
const ROOT_FILE: &str = "trusted_root.json";
/// The name of the record of where the cached root came from.
const SOURCE_FILE: &str = "source.json";

#[derive(Debug, Subcommand)]
pub(crate) enum TrustCommand {
    /// Fetch the trust root through the instance's TUF repository and cache it.
    Update(UpdateArgs),
    /// Show which trust root keyless verification uses, and its validity windows.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    /// The staging instance (default: production).
    #[arg(long, conflicts_with = "tuf_url")]
    staging: bool,
    /// Another TUF repository (a private deployment, a mirror). Its root is
    /// cached apart from production's, under the SHA-256 of --tuf-root, and
    /// used by verification only with `--tuf-root` (or `--trusted-root`).
    #[arg(long, value_name = "URL", requires = "tuf_root")]
    tuf_url: Option<String>,
    /// The TUF root.json to trust first for --tuf-url.
    #[arg(long, value_name = "ROOT.json", requires = "tuf_url")]
    tuf_root: Option<PathBuf>,
    /// Cache directory (default: $XDG_CACHE_HOME/wsc/trust/<production|staging|tuf-SHA256>).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Open no connection: re-verify and serve the cached TUF repository only.
    #[arg(long)]
    offline: bool,
    /// Allow an http:// --tuf-url (no TLS, so no pins): local test repositories only.
    /// Refused when WSC_REQUIRE_CERT_PINNING is set.
    #[arg(long)]
    insecure_allow_http: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The staging instance (default: production).
    #[arg(long, conflicts_with = "tuf_root")]
    staging: bool,
    /// The root cached for the TUF repository of this root.json (`trust update --tuf-root`).
    #[arg(long, value_name = "ROOT.json")]
    tuf_root: Option<PathBuf>,
    /// Cache directory (default: $XDG_CACHE_HOME/wsc/trust/<production|staging|tuf-SHA256>).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

pub(crate) fn run(cmd: &TrustCommand) -> Result<Outcome> {
    match cmd {
        TrustCommand::Update(a) => update(a),
        TrustCommand::Show(a) => show(a),
    }
}

fn instance_name(staging: bool) -> &'static str {
    if staging { "staging" } else { "production" }
}

/// A trust domain: the TUF root its cached trust root is verified from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Domain {
    /// Sigstore production (`false`) or staging (`true`), from the TUF root
    /// embedded in sigstore-trust-root.
    Instance(bool),
    /// Another TUF repository, by the SHA-256 (hex) of the root.json given.
    Tuf(String),
}

impl Domain {
    /// The domain of a TUF root.json file (`--tuf-root`).
    pub(crate) fn of_tuf_root(bytes: &[u8]) -> Domain {
        Domain::Tuf(wsc_keyless::sigstore_verify::crypto::sha256(bytes).to_hex())
    }

    /// The SHA-256 (hex) of the TUF root the domain's trust root is verified from.
    fn tuf_root_sha256(&self) -> String {
        match self {
            Domain::Instance(staging) => {
                let instance = if *staging { SigstoreInstance::Staging } else { SigstoreInstance::PublicGood };
                wsc_keyless::sigstore_verify::crypto::sha256(instance.tuf_root()).to_hex()
            }
            Domain::Tuf(hex) => hex.clone(),
        }
    }

    /// The directory name under the cache base.
    fn dir_name(&self) -> String {
        match self {
            Domain::Instance(staging) => instance_name(*staging).to_string(),
            Domain::Tuf(hex) => format!("tuf-{hex}"),
        }
    }
}

impl std::fmt::Display for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Domain::Instance(staging) => f.write_str(instance_name(*staging)),
            Domain::Tuf(hex) => write!(f, "the TUF repository whose root.json has SHA-256 {hex}"),
        }
    }
}

/// `$XDG_CACHE_HOME/wsc/trust/<domain>` (an absolute XDG_CACHE_HOME only,
/// as the XDG spec says), else `$HOME/.cache/wsc/trust/<domain>`.
pub(crate) fn default_cache_dir(domain: &Domain) -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        _ => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".cache"),
    };
    Some(base.join("wsc").join("trust").join(domain.dir_name()))
}

/// What a cache directory holds for a domain.
#[derive(Debug)]
pub(crate) enum Cached {
    /// A root verified from the domain's TUF root.
    Usable(PathBuf),
    /// No cached root at this path.
    Missing(PathBuf),
    /// A root at this path that must not be used for the domain, and why.
    Foreign(PathBuf, String),
}

/// The root cached in `dir` for `domain`: usable only when `source.json`
/// says it was verified from the domain's own TUF root.
pub(crate) fn cached_in(dir: &Path, domain: &Domain) -> Cached {
    let path = dir.join(ROOT_FILE);
    if !path.is_file() {
        return Cached::Missing(path);
    }
    let source = files::read_small(&dir.join(SOURCE_FILE), 64 * 1024, "trust root source")
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
pub(crate) fn cached_root(domain: &Domain) -> Option<Cached> {
    default_cache_dir(domain).map(|d| cached_in(&d, domain))
}

fn cache_dir(given: Option<&PathBuf>, domain: &Domain) -> Result<PathBuf> {
    match given {
        Some(d) => Ok(d.clone()),
        None => {
            default_cache_dir(domain).context("no cache directory: set XDG_CACHE_HOME or HOME, or give --cache-dir")
        }
    }
}

fn update(a: &UpdateArgs) -> Result<Outcome> {
    let instance = if a.staging { SigstoreInstance::Staging } else { SigstoreInstance::PublicGood };
    let (url, tuf_root, domain) = match (&a.tuf_url, &a.tuf_root) {
        (Some(u), Some(r)) => {
            let bytes = files::read_small(r, 1024 * 1024, "TUF root")?;
            let domain = Domain::of_tuf_root(&bytes);
            (u.clone(), bytes, domain)
        }
        _ => (instance.tuf_url().to_string(), instance.tuf_root().to_vec(), Domain::Instance(a.staging)),
    };
    let dir = cache_dir(a.cache_dir.as_ref(), &domain)?;
    let store = dir.join("tuf");
    std::fs::create_dir_all(&store).with_context(|| format!("cannot create '{}'", store.display()))?;
    let mut config = TufConfig::custom(url.clone(), TufBootstrap::trusted(tuf_root)).with_cache_dir(store.clone());
    if a.offline {
        // No HTTP client is even built: the updater reads the cache only.
        config = config.offline();
    } else {
        let pins = PinningConfig::load().context("certificate pinning configuration")?;
        let mut builder = ClientBuilder::new(pins.clone());
        if a.insecure_allow_http {
            if pins.required() {
                bail!("--insecure-allow-http is refused: certificate pinning is required (WSC_REQUIRE_CERT_PINNING)");
            }
            if url.starts_with("http://") {
                eprintln!(
                    "WARNING: --insecure-allow-http: fetching {url} without TLS; only for a local test repository"
                );
            }
            builder = builder.danger_allow_http();
        }
        let client = builder.build_async(Service::Tuf, &url).with_context(|| format!("TUF repository {url}"))?;
        if !client.pinned && url.starts_with("https://") {
            eprintln!("note: no certificate pins for {} ({})", client.host, Service::Tuf.variable());
        }
        config = config.with_http_client(client.client);
        // sigstore-tuf builds a default client before taking ours, and with
        // no TLS backend compiled into reqwest that needs a process-wide
        // provider: the same aws-lc-rs one. That client is never used.
        let _ = std::sync::Arc::unwrap_or_clone(wsc_pinning::crypto_provider()).install_default();
    }
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    let verified = runtime
        .block_on(sigstore_trust_root::TrustedRoot::from_tuf(config))
        .with_context(|| format!("TUF update from {url}"))?;
    // The updater wrote the verified target through to its store; take those
    // exact bytes, and only if they are the root it just verified.
    let target = store.join("targets").join(ROOT_FILE);
    let bytes = files::read_small(&target, 16 * 1024 * 1024, "verified trust root")?;
    let text = String::from_utf8(bytes).context("the verified trust root is not UTF-8")?;
    let reread = wsc_keyless::root_from_json(&text).context("the verified trust root")?;
    if serde_json::to_value(&reread)? != serde_json::to_value(&verified)? {
        bail!("'{}' changed while it was being verified", target.display());
    }
    // Where the root came from first, then the root: a root is used only
    // when this record names the domain's TUF root.
    let source = serde_json::json!({"tuf_url": url, "tuf_root_sha256": domain.tuf_root_sha256()});
    files::write_bytes(&dir.join(SOURCE_FILE), Mode::Public, format!("{source:#}\n").as_bytes())?;
    let out = dir.join(ROOT_FILE);
    files::write_bytes(&out, Mode::Public, text.as_bytes())?;
    eprintln!(
        "trust root for {domain} {} through TUF ({url}); written to '{}'",
        if a.offline { "re-verified from the cache" } else { "updated" },
        out.display()
    );
    match (&a.tuf_root, &a.cache_dir) {
        (Some(r), None) => eprintln!(
            "verify with it: wsc verify --keyless --tuf-root '{}' … (plain verification keeps the production root)",
            r.display()
        ),
        (_, Some(_)) => eprintln!("verify with it: --trusted-root '{}'", out.display()),
        (None, None) => {}
    }
    Ok(Outcome::Done)
}

fn show(a: &ShowArgs) -> Result<Outcome> {
    let domain = match &a.tuf_root {
        Some(r) => Domain::of_tuf_root(&files::read_small(r, 1024 * 1024, "TUF root")?),
        None => Domain::Instance(a.staging),
    };
    let dir = cache_dir(a.cache_dir.as_ref(), &domain)?;
    let mut out = String::new();
    writeln!(out, "trust domain: {domain}")?;
    let value: serde_json::Value = match cached_in(&dir, &domain) {
        Cached::Usable(path) => {
            writeln!(out, "trust root: cached, '{}'", path.display())?;
            if let Some(exp) = tuf_expiry(&dir.join("tuf")) {
                writeln!(out, "TUF metadata expires: {exp} (run `wsc trust update` before then)")?;
            }
            let bytes = files::read_small(&path, 16 * 1024 * 1024, "trust root")?;
            let text = String::from_utf8(bytes).with_context(|| format!("'{}' is not UTF-8", path.display()))?;
            wsc_keyless::root_from_json(&text).with_context(|| format!("trust root '{}'", path.display()))?;
            serde_json::from_str(&text)?
        }
        Cached::Foreign(path, why) if matches!(domain, Domain::Instance(_)) => {
            writeln!(out, "trust root: embedded (sigstore-trust-root 0.15.1); '{}' is ignored: {why}", path.display())?;
            serde_json::to_value(embedded(a.staging)?)?
        }
        Cached::Missing(path) if matches!(domain, Domain::Instance(_)) => {
            writeln!(out, "trust root: embedded (sigstore-trust-root 0.15.1); no cached root at '{}'", path.display())?;
            serde_json::to_value(embedded(a.staging)?)?
        }
        Cached::Foreign(path, why) => bail!("the root at '{}' is not usable: {why}", path.display()),
        Cached::Missing(path) => {
            bail!("no root cached at '{}': run `wsc trust update --tuf-url URL --tuf-root ROOT.json`", path.display())
        }
    };
    print_windows(&mut out, &value)?;
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(Outcome::Done)
}

fn embedded(staging: bool) -> Result<wsc_keyless::sigstore_verify::trust_root::TrustedRoot> {
    Ok(if staging { wsc_keyless::staging_root()? } else { wsc_keyless::production_root()? })
}

/// The earliest `expires` of the cached timestamp, snapshot and targets
/// metadata (informational: `update` re-verifies them all).
fn tuf_expiry(store: &Path) -> Option<String> {
    ["timestamp.json", "snapshot.json", "targets.json"]
        .iter()
        .filter_map(|f| {
            let bytes = std::fs::read(store.join(f)).ok()?;
            let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            v["signed"]["expires"].as_str().map(str::to_string)
        })
        .min()
}

/// One line per key or CA of the root, with its validity window.
fn print_windows(out: &mut String, root: &serde_json::Value) -> std::fmt::Result {
    let window = |v: &serde_json::Value| {
        let start = v["start"].as_str().unwrap_or("?");
        match v["end"].as_str() {
            Some(end) => format!("{start} .. {end}"),
            None => format!("{start} .. (open)"),
        }
    };
    let list = |key: &str| root[key].as_array().cloned().unwrap_or_default();
    for (key, label) in [("certificateAuthorities", "CA"), ("timestampAuthorities", "TSA")] {
        for ca in list(key) {
            let name = ca["uri"].as_str().unwrap_or("");
            writeln!(out, "{label:5} {name:40} valid {}", window(&ca["validFor"]))?;
        }
    }
    for (key, label) in [("tlogs", "tlog"), ("ctlogs", "ctlog")] {
        for log in list(key) {
            let name = log["baseUrl"].as_str().unwrap_or("");
            writeln!(out, "{label:5} {name:40} valid {}", window(&log["publicKey"]["validFor"]))?;
        }
    }
    Ok(())
}
