//! `wsc trust update|show`: the Sigstore trust root (`trusted_root.json`),
//! refreshed through the instance's TUF repository and cached per instance.
//!
//! Layout of a cache directory (default `$XDG_CACHE_HOME/wsc/trust/<instance>`,
//! else `$HOME/.cache/wsc/trust/<instance>`):
//!
//! - `trusted_root.json`: the verified target, written atomically; keyless
//!   verification uses it when no `--trusted-root` is given;
//! - `tuf/`: the TUF client's metadata and targets, re-verified on every run.
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
    #[arg(long)]
    staging: bool,
    /// Another TUF repository for the instance (a mirror, a private deployment).
    #[arg(long, value_name = "URL", requires = "tuf_root")]
    tuf_url: Option<String>,
    /// The TUF root.json to trust first for --tuf-url.
    #[arg(long, value_name = "ROOT.json", requires = "tuf_url")]
    tuf_root: Option<PathBuf>,
    /// Cache directory (default: $XDG_CACHE_HOME/wsc/trust/<instance>).
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
    #[arg(long)]
    staging: bool,
    /// Cache directory (default: $XDG_CACHE_HOME/wsc/trust/<instance>).
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

/// `$XDG_CACHE_HOME/wsc/trust/<instance>` (an absolute XDG_CACHE_HOME only,
/// as the XDG spec says), else `$HOME/.cache/wsc/trust/<instance>`.
pub(crate) fn default_cache_dir(staging: bool) -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        _ => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".cache"),
    };
    Some(base.join("wsc").join("trust").join(instance_name(staging)))
}

/// The cached root of the instance, if `wsc trust update` wrote one.
pub(crate) fn cached_root(staging: bool) -> Option<PathBuf> {
    default_cache_dir(staging).map(|d| d.join(ROOT_FILE)).filter(|p| p.is_file())
}

fn cache_dir(given: Option<&PathBuf>, staging: bool) -> Result<PathBuf> {
    match given {
        Some(d) => Ok(d.clone()),
        None => {
            default_cache_dir(staging).context("no cache directory: set XDG_CACHE_HOME or HOME, or give --cache-dir")
        }
    }
}

fn update(a: &UpdateArgs) -> Result<Outcome> {
    let instance = if a.staging { SigstoreInstance::Staging } else { SigstoreInstance::PublicGood };
    let dir = cache_dir(a.cache_dir.as_ref(), a.staging)?;
    let (url, tuf_root) = match (&a.tuf_url, &a.tuf_root) {
        (Some(u), Some(r)) => (u.clone(), files::read_small(r, 1024 * 1024, "TUF root")?),
        _ => (instance.tuf_url().to_string(), instance.tuf_root().to_vec()),
    };
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
    let out = dir.join(ROOT_FILE);
    files::write_bytes(&out, Mode::Public, text.as_bytes())?;
    eprintln!(
        "trust root for {} {} through TUF ({url}); written to '{}'",
        instance_name(a.staging),
        if a.offline { "re-verified from the cache" } else { "updated" },
        out.display()
    );
    Ok(Outcome::Done)
}

fn show(a: &ShowArgs) -> Result<Outcome> {
    let dir = cache_dir(a.cache_dir.as_ref(), a.staging)?;
    let path = dir.join(ROOT_FILE);
    let mut out = String::new();
    writeln!(out, "instance: {}", instance_name(a.staging))?;
    let value: serde_json::Value = if path.is_file() {
        writeln!(out, "trust root: cached, '{}'", path.display())?;
        if let Some(exp) = tuf_expiry(&dir.join("tuf")) {
            writeln!(out, "TUF metadata expires: {exp} (run `wsc trust update` before then)")?;
        }
        let bytes = files::read_small(&path, 16 * 1024 * 1024, "trust root")?;
        let text = String::from_utf8(bytes).with_context(|| format!("'{}' is not UTF-8", path.display()))?;
        wsc_keyless::root_from_json(&text).with_context(|| format!("trust root '{}'", path.display()))?;
        serde_json::from_str(&text)?
    } else {
        writeln!(out, "trust root: embedded (sigstore-trust-root 0.15.1); no cached root at '{}'", path.display())?;
        let root = if a.staging { wsc_keyless::staging_root()? } else { wsc_keyless::production_root()? };
        serde_json::to_value(&root)?
    };
    print_windows(&mut out, &value)?;
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(Outcome::Done)
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
