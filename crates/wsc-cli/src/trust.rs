//! `wsc trust update|show`: the Sigstore trust root (`trusted_root.json`),
//! refreshed through a TUF repository and cached per trust domain, so that
//! one domain's root is never read as another's. The cache layout, its
//! reading and the TUF update are wsc-keyless's (`wsc_keyless::tuf`); this
//! module parses the options, writes the verified files atomically and
//! prints.
//!
//! Plain keyless verification reads `production/` (or `staging/` with
//! `--staging`); a `tuf-<sha256>/` root is read only when verification names
//! its TUF root with `--tuf-root`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use wsc_keyless::tuf::{Cached, Domain, ROOT_FILE, SOURCE_FILE, Update, cached_in, tuf_expiry};
use wsc_pinning::Service;

use crate::Outcome;
use crate::args::{CacheDir, Staging};
use crate::files::{self, Mode};
use crate::net::NetArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum TrustCommand {
    /// Fetch the trust root through the instance's TUF repository and cache it.
    Update(UpdateArgs),
    /// Show which trust root keyless verification uses, and its validity windows.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    #[command(flatten)]
    instance: Staging,
    /// Another TUF repository (a private deployment, a mirror). Its root is
    /// cached apart from production's, under the SHA-256 of --tuf-root, and
    /// used by verification only with `--tuf-root` (or `--trusted-root`).
    #[arg(long, value_name = "URL", requires = "tuf_root", conflicts_with = "staging")]
    tuf_url: Option<String>,
    /// The TUF root.json to trust first for --tuf-url.
    #[arg(long, value_name = "ROOT.json", requires = "tuf_url")]
    tuf_root: Option<PathBuf>,
    #[command(flatten)]
    cache: CacheDir,
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
    #[command(flatten)]
    instance: Staging,
    /// The root cached for the TUF repository of this root.json (`trust update --tuf-root`).
    #[arg(long, value_name = "ROOT.json", conflicts_with = "staging")]
    tuf_root: Option<PathBuf>,
    #[command(flatten)]
    cache: CacheDir,
}

pub(crate) fn run(cmd: &TrustCommand) -> Result<Outcome> {
    match cmd {
        TrustCommand::Update(a) => update(a),
        TrustCommand::Show(a) => show(a),
    }
}

fn update(a: &UpdateArgs) -> Result<Outcome> {
    let (url, tuf_root, domain) = match (&a.tuf_url, &a.tuf_root) {
        (Some(u), Some(r)) => {
            let bytes = files::read_small(r, 1024 * 1024, "TUF root")?;
            let domain = Domain::of_tuf_root(&bytes);
            (u.clone(), bytes, domain)
        }
        _ => {
            let (url, root) = Domain::instance_source(a.instance.staging);
            (url.to_string(), root.to_vec(), Domain::Instance(a.instance.staging))
        }
    };
    let dir = a.cache.for_domain(&domain)?;
    let builder = if a.offline {
        None
    } else {
        let net = NetArgs { tls_ca: None, insecure_allow_http: a.insecure_allow_http };
        net.check_scheme("the TUF repository", &url)?;
        let builder = net.builder()?;
        if url.starts_with("http://") {
            eprintln!("WARNING: --insecure-allow-http: fetching {url} without TLS; only for a local test repository");
        }
        Some(builder)
    };
    let progress = crate::progress::spinner("updating the trust root through TUF", false);
    let updated = wsc_keyless::tuf::update(&Update {
        url: &url,
        tuf_root: &tuf_root,
        domain: &domain,
        dir: &dir,
        network: builder.as_ref(),
    })?;
    drop(progress);
    if let Some(host) = &updated.unpinned_host {
        eprintln!("note: no certificate pins for {host} ({})", Service::Tuf.variable());
    }
    // Where the root came from first, then the root: a root is used only
    // when this record names the domain's TUF root.
    files::write_bytes(&dir.join(SOURCE_FILE), Mode::Public, updated.source_json.as_bytes())?;
    let out = dir.join(ROOT_FILE);
    files::write_bytes(&out, Mode::Public, updated.root_json.as_bytes())?;
    eprintln!(
        "trust root for {domain} {} through TUF ({url}); written to '{}'",
        if a.offline { "re-verified from the cache" } else { "updated" },
        out.display()
    );
    match (&a.tuf_root, &a.cache.cache_dir) {
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
        None => Domain::Instance(a.instance.staging),
    };
    let dir = a.cache.for_domain(&domain)?;
    let mut out = String::new();
    writeln!(out, "trust domain: {domain}")?;
    let value: serde_json::Value = match cached_in(&dir, &domain) {
        Cached::Usable(path) => {
            writeln!(out, "trust root: cached, '{}'", path.display())?;
            if let Some(exp) = tuf_expiry(&dir) {
                writeln!(out, "TUF metadata expires: {exp} (run `wsc trust update` before then)")?;
            }
            let bytes = files::read_small(&path, 16 * 1024 * 1024, "trust root")?;
            let text = String::from_utf8(bytes).with_context(|| format!("'{}' is not UTF-8", path.display()))?;
            wsc_keyless::root_from_json(&text).with_context(|| format!("trust root '{}'", path.display()))?;
            serde_json::from_str(&text)?
        }
        Cached::Foreign(path, why) if matches!(domain, Domain::Instance(_)) => {
            writeln!(out, "trust root: embedded (sigstore-trust-root 0.15.1); '{}' is ignored: {why}", path.display())?;
            serde_json::to_value(embedded(a.instance.staging)?)?
        }
        Cached::Missing(path) if matches!(domain, Domain::Instance(_)) => {
            writeln!(out, "trust root: embedded (sigstore-trust-root 0.15.1); no cached root at '{}'", path.display())?;
            serde_json::to_value(embedded(a.instance.staging)?)?
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
