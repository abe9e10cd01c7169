//! `wsc policy`: check, convert and start trust policies (wsc-policy).
//! Loading and every check are the library's; this is files and output.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Args, Subcommand};
use wsc_policy::{DirFiles, Format, Policy, Starter};

use crate::Outcome;
use crate::files::{self, Mode, Replace};

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Load a policy strictly; print its normalized form and its SHA-256.
    Check(CheckArgs),
    /// Print a policy as JSON or as TOML (comments are not kept).
    Fmt(FmtArgs),
    /// Write a commented starter policy from keys, a keyless identity and trust anchors.
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The policy (TOML or JSON).
    #[arg(value_name = "POLICY")]
    policy: PathBuf,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("format").required(true).args(["json", "toml"])))]
pub(crate) struct FmtArgs {
    /// Print the JSON form.
    #[arg(long)]
    json: bool,
    /// Print the TOML form.
    #[arg(long)]
    toml: bool,
    /// The policy (TOML or JSON).
    #[arg(value_name = "POLICY")]
    policy: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// A public key to trust (any format wsc reads); repeatable.
    #[arg(long = "key", value_name = "FILE")]
    keys: Vec<PathBuf>,
    /// A Sigstore keyless identity to trust exactly (certificate SAN).
    #[arg(long, value_name = "ID", requires = "keyless_issuer")]
    keyless_identity: Option<String>,
    /// The OIDC issuer of --keyless-identity, matched exactly.
    #[arg(long, value_name = "URL", requires = "keyless_identity")]
    keyless_issuer: Option<String>,
    /// A trust anchor (CA certificate, PEM) for device certificates; repeatable.
    #[arg(long = "anchor", value_name = "PEM")]
    anchors: Vec<PathBuf>,
    /// Where to write the policy.
    #[arg(short, long, value_name = "FILE", default_value = "policy.toml")]
    output: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(cmd: &PolicyCommand) -> Result<Outcome> {
    match cmd {
        PolicyCommand::Check(a) => check(a),
        PolicyCommand::Fmt(a) => fmt(a),
        PolicyCommand::Init(a) => init(a),
    }
}

fn load(path: &Path) -> Result<Policy> {
    wsc_policy::load_file(path).with_context(|| format!("policy '{}'", path.display()))
}

fn check(a: &CheckArgs) -> Result<Outcome> {
    let policy = load(&a.policy)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", policy.normalized_json())?;
    writeln!(out, "sha256:{}", policy.sha256_hex())?;
    out.flush()?;
    eprintln!(
        "policy '{}' is valid: {} principal(s), {} rule(s), {} scope(s){}",
        a.policy.display(),
        policy.principals().len(),
        policy.rules().len(),
        policy.scopes().len(),
        if policy.default_scope().is_some() { " and a default" } else { ", no default" },
    );
    Ok(Outcome::Done)
}

fn fmt(a: &FmtArgs) -> Result<Outcome> {
    let policy = load(&a.policy)?;
    let format = if a.json { Format::Json } else { Format::Toml };
    let text = policy.to_format(format).with_context(|| format!("policy '{}'", a.policy.display()))?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(Outcome::Done)
}

fn init(a: &InitArgs) -> Result<Outcome> {
    let out_dir = match a.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !a.force && std::fs::symlink_metadata(&a.output).is_ok() {
        bail!("'{}' already exists: nothing written (--force replaces it)", a.output.display());
    }
    let mut starter = Starter::new();
    for key in &a.keys {
        let bytes = files::read_small(key, 64 * 1024, "public key")?;
        starter.key(&key.display().to_string(), &bytes).with_context(|| format!("--key '{}'", key.display()))?;
    }
    if let (Some(identity), Some(issuer)) = (&a.keyless_identity, &a.keyless_issuer) {
        starter.keyless(identity, issuer);
    }
    for anchor in &a.anchors {
        starter.anchor(&relative_to(anchor, &out_dir)?);
    }
    if starter.is_empty() {
        bail!("give at least one --key, --keyless-identity with --keyless-issuer, or --anchor");
    }
    let text = starter.to_toml().context("cannot write the starter policy")?;
    // The policy written is one `wsc policy check` accepts, or nothing is written.
    let policy = wsc_policy::parse(text.as_bytes(), Format::Toml, &DirFiles::new(&out_dir))
        .context("the starter policy would not pass `wsc policy check`; nothing written")?;
    let replace = if a.force { Replace::Allow } else { Replace::Refuse };
    let mut outputs = files::Outputs::default();
    outputs
        .stage(&a.output, Mode::Public, replace, |f| {
            f.write_all(text.as_bytes()).map_err(|e| files::name_write_error(&a.output, e).into())
        })
        .and_then(|()| outputs.commit())
        .map_err(|e| if a.force { e } else { e.context("nothing written (--force replaces an existing file)") })?;
    eprintln!(
        "policy written to '{}' (sha256:{}); edit it, then `wsc policy check {}`",
        a.output.display(),
        policy.sha256_hex(),
        a.output.display()
    );
    Ok(Outcome::Done)
}

/// `target` as the policy in `dir` names it: relative to `dir` when they
/// share more than the root, so the policy and its files can move together.
fn relative_to(target: &Path, dir: &Path) -> Result<String> {
    let t = std::fs::canonicalize(target).with_context(|| format!("--anchor '{}'", target.display()))?;
    let d = std::fs::canonicalize(dir).with_context(|| format!("output directory '{}'", dir.display()))?;
    let tc: Vec<Component<'_>> = t.components().collect();
    let dc: Vec<Component<'_>> = d.components().collect();
    let common = tc.iter().zip(&dc).take_while(|(x, y)| x == y).count();
    // Sharing only the root, a relative name would climb to it: keep the absolute one.
    let path: PathBuf = if common <= 1 {
        t.clone()
    } else {
        std::iter::repeat_n(Component::ParentDir, dc.len() - common).chain(tc[common..].iter().copied()).collect()
    };
    match path.to_str() {
        Some(s) => Ok(s.to_string()),
        None => bail!("--anchor '{}': the path is not UTF-8", target.display()),
    }
}
