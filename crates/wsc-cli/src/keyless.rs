//! Keyless (Sigstore) options and commands: `verify --keyless`,
//! `wsc bundle message|attach|export`, `wsc sigstore verify-bundle`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use wsc_keyless::sigstore_verify::types::{Artifact, Sha256Hash};
use wsc_keyless::{BundleRecord, BundleVerifier, Expectation, IdentityPolicy, Matcher};

use crate::Outcome;
use crate::args::{Identity, Input, Output, Staging};
use crate::files::{self, Mode};

/// Identity policy and trust root of keyless verification (cosign's flag names).
#[derive(Debug, Args, Default)]
pub(crate) struct KeylessArgs {
    #[command(flatten)]
    pub(crate) identity: Identity,
    /// Expected certificate identity, as a regular expression over the whole value.
    #[arg(long, value_name = "REGEX", conflicts_with = "certificate_identity")]
    pub(crate) certificate_identity_regexp: Option<String>,
    /// cosign's issuer pattern: refused with an explanation. A principal names its issuer
    /// exactly (docs/policy.md); give --certificate-oidc-issuer.
    #[arg(long, value_name = "REGEX", hide = true, conflicts_with = "certificate_oidc_issuer")]
    pub(crate) certificate_oidc_issuer_regexp: Option<String>,
    /// Expected GitHub workflow repository (owner/name).
    #[arg(long, value_name = "REPO")]
    pub(crate) certificate_github_workflow_repository: Option<String>,
    /// Expected GitHub workflow ref (e.g. refs/heads/main).
    #[arg(long, value_name = "REF")]
    pub(crate) certificate_github_workflow_ref: Option<String>,
    /// Expected GitHub workflow trigger (e.g. push).
    #[arg(long, value_name = "EVENT")]
    pub(crate) certificate_github_workflow_trigger: Option<String>,
    /// Expected GitHub workflow commit SHA.
    #[arg(long, value_name = "SHA")]
    pub(crate) certificate_github_workflow_sha: Option<String>,
    /// Expected GitHub workflow name.
    #[arg(long, value_name = "NAME")]
    pub(crate) certificate_github_workflow_name: Option<String>,
    #[command(flatten)]
    pub(crate) root: RootArgs,
    #[command(flatten)]
    pub(crate) tuf: TufRootArg,
}

/// Which trust root.
#[derive(Debug, Args, Default)]
pub(crate) struct RootArgs {
    /// Trust root JSON (default: the production root cached by `wsc trust
    /// update`, else the embedded Sigstore production root).
    #[arg(long, value_name = "FILE", conflicts_with = "staging")]
    pub(crate) trusted_root: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) instance: Staging,
}

/// The root cached for another TUF repository (verification only).
#[derive(Debug, Args, Default)]
pub(crate) struct TufRootArg {
    /// Use the root that `wsc trust update --tuf-url URL --tuf-root ROOT.json`
    /// cached for the TUF repository of this root.json (a private Sigstore
    /// deployment). Without it, such a root is never used.
    #[arg(long, value_name = "ROOT.json", conflicts_with_all = ["trusted_root", "staging"])]
    pub(crate) tuf_root: Option<PathBuf>,
}

impl RootArgs {
    /// `--trusted-root`; else the cached root of the instance if `wsc trust
    /// update` wrote one from the instance's own TUF root; else the
    /// embedded one. Says which on stderr.
    pub(crate) fn load(&self) -> Result<wsc_keyless::sigstore_verify::trust_root::TrustedRoot> {
        self.load_with(&TufRootArg::default())
    }

    /// As [`RootArgs::load`], or the root cached for `--tuf-root`'s repository.
    pub(crate) fn load_with(&self, tuf: &TufRootArg) -> Result<wsc_keyless::sigstore_verify::trust_root::TrustedRoot> {
        match self.resolve_with(tuf)? {
            RootSource::File(p) => root_file(&p),
            RootSource::Embedded { staging: true } => Ok(wsc_keyless::staging_root()?),
            RootSource::Embedded { staging: false } => Ok(wsc_keyless::production_root()?),
        }
    }

    /// Which root [`RootArgs::load_with`] uses, said on stderr.
    pub(crate) fn resolve_with(&self, tuf: &TufRootArg) -> Result<RootSource> {
        use wsc_keyless::tuf::{Cached, Domain, cached_root};
        if let Some(p) = &self.trusted_root {
            eprintln!("trust root: '{}' (--trusted-root)", p.display());
            return Ok(RootSource::File(p.clone()));
        }
        if let Some(r) = &tuf.tuf_root {
            let domain = Domain::of_tuf_root(&files::read_small(r, 1024 * 1024, "TUF root")?);
            return match cached_root(&domain) {
                Some(Cached::Usable(p)) => {
                    eprintln!("trust root: {domain}, cached by `wsc trust update` ('{}')", p.display());
                    Ok(RootSource::File(p))
                }
                Some(Cached::Foreign(p, why)) => bail!("the trust root at '{}' is not usable: {why}", p.display()),
                Some(Cached::Missing(p)) => bail!(
                    "no trust root cached for {domain} (--tuf-root '{}') at '{}': run `wsc trust update --tuf-url URL --tuf-root '{}'` first",
                    r.display(),
                    p.display(),
                    r.display()
                ),
                None => bail!("no cache directory for --tuf-root: set XDG_CACHE_HOME or HOME, or give --trusted-root"),
            };
        }
        let domain = Domain::Instance(self.instance.staging);
        let flag = if self.instance.staging { " --staging" } else { "" };
        match cached_root(&domain) {
            Some(Cached::Usable(p)) => {
                eprintln!("trust root: {domain}, cached by `wsc trust update` ('{}')", p.display());
                return Ok(RootSource::File(p));
            }
            Some(Cached::Foreign(p, why)) => {
                eprintln!(
                    "warning: ignoring the cached trust root '{}': {why}; run `wsc trust update{flag}`",
                    p.display()
                );
            }
            Some(Cached::Missing(_)) | None => {}
        }
        eprintln!(
            "trust root: {domain}, embedded (sigstore-trust-root 0.15.1; run `wsc trust update{flag}` to refresh it)"
        );
        Ok(RootSource::Embedded { staging: self.instance.staging })
    }
}

/// Where a Sigstore trust root comes from.
pub(crate) enum RootSource {
    /// The root embedded in wsc.
    Embedded { staging: bool },
    /// A trusted-root JSON file.
    File(PathBuf),
}

fn root_file(p: &Path) -> Result<wsc_keyless::sigstore_verify::trust_root::TrustedRoot> {
    let bytes = files::read_small(p, 16 * 1024 * 1024, "trust root")?;
    let text = String::from_utf8(bytes).with_context(|| format!("trust root '{}' is not UTF-8", p.display()))?;
    wsc_keyless::root_from_json(&text).with_context(|| format!("trust root '{}'", p.display()))
}

#[derive(Debug, Subcommand)]
pub(crate) enum BundleCommand {
    /// Write the message a keyless record of this module must sign.
    Message(MessageArgs),
    /// Embed a Sigstore bundle over the module's message as a keyless record.
    Attach(AttachArgs),
    /// Write each keyless record's bundle and message to a folder.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
#[command(mut_arg("output", |a| a.help("Where to write the message")))]
pub(crate) struct MessageArgs {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Args)]
#[command(mut_arg("output", |a| a.help("Output module")))]
pub(crate) struct AttachArgs {
    #[command(flatten)]
    input: Input,
    /// Sigstore bundle (JSON) whose artifact is the module's message.
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Args)]
#[command(mut_arg("input", |a| a.help("Signed module")))]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    input: Input,
    /// Folder for `set<S>-record<R>.sigstore.json` and `set<S>-record<R>.msg`.
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
}

pub(crate) fn bundle(cmd: &BundleCommand) -> Result<Outcome> {
    match cmd {
        BundleCommand::Message(a) => {
            files::SameFileCheck::default().output("-o", &a.output.output).input("-i", &a.input.input).check()?;
            let (f, _) = files::open_module(&a.input.input)?;
            let msg =
                wsc_keyless::module_message(f).with_context(|| format!("cannot read '{}'", a.input.input.display()))?;
            files::write_bytes(&a.output.output, Mode::Public, &msg)?;
            eprintln!(
                "message ({} bytes) written to '{}'; sign it as a blob with any Sigstore client",
                msg.len(),
                a.output.output.display()
            );
        }
        BundleCommand::Attach(a) => {
            files::SameFileCheck::default()
                .output("-o", &a.output.output)
                .input("--bundle", &a.bundle)
                .rewritten_input("-i", &a.input.input, Some(&a.output.output))
                .check()?;
            let bytes = files::read_small(&a.bundle, wsc_keyless::MAX_BUNDLE_LEN as u64, "bundle")?;
            let record = BundleRecord::new(&bytes).with_context(|| format!("bundle '{}'", a.bundle.display()))?;
            let (f, _) = files::open_module(&a.input.input)?;
            let _report = files::write_atomic(&a.output.output, Mode::Public, |o| {
                wsc_core::sign_embedded(f, o, &record)
                    .with_context(|| format!("cannot attach '{}' to '{}'", a.bundle.display(), a.input.input.display()))
            })?;
            eprintln!("keyless record embedded; written to '{}'", a.output.output.display());
        }
        BundleCommand::Export(a) => {
            let (f, _) = files::open_module(&a.input.input)?;
            let records =
                wsc_keyless::export_records(f).with_context(|| format!("cannot read '{}'", a.input.input.display()))?;
            if records.is_empty() {
                bail!("'{}' has no keyless record", a.input.input.display());
            }
            std::fs::create_dir_all(&a.out_dir).with_context(|| format!("cannot create '{}'", a.out_dir.display()))?;
            // Every file lands, or none; none replaces the module.
            let paths: Vec<(PathBuf, PathBuf, PathBuf)> = records
                .iter()
                .map(|r| {
                    let stem = a.out_dir.join(format!("set{}-record{}", r.set, r.record));
                    (stem.with_extension("sigstore.json"), stem.with_extension("msg"), stem)
                })
                .collect();
            let mut same = files::SameFileCheck::default().input("-i", &a.input.input);
            for (b, m, _) in &paths {
                same = same.output("--out-dir", b).output("--out-dir", m);
            }
            same.check()?;
            let mut outputs = files::Outputs::default();
            for (r, (b, m, _)) in records.iter().zip(&paths) {
                for (path, bytes) in [(b, &r.bundle), (m, &r.message)] {
                    outputs.stage(path, Mode::Public, files::Replace::Allow, |f| {
                        std::io::Write::write_all(f, bytes).map_err(|e| files::name_write_error(path, e).into())
                    })?;
                }
            }
            outputs.commit()?;
            for (_, _, stem) in &paths {
                println!("{}", stem.display());
            }
            eprintln!("{} keyless record(s) exported", records.len());
        }
    }
    Ok(Outcome::Done)
}

#[derive(Debug, Subcommand)]
pub(crate) enum SigstoreCommand {
    /// Verify a plain Sigstore bundle (the sigstore-conformance protocol).
    VerifyBundle(VerifyBundleArgs),
    /// Sign a file (or an in-toto statement) into a plain Sigstore bundle (the conformance protocol).
    SignBundle(SignBundleArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SignBundleArgs {
    /// The file is an in-toto statement: sign it as a DSSE envelope.
    #[arg(long)]
    in_toto: bool,
    /// Where to write the bundle.
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    #[command(flatten)]
    sigstore: crate::keyless_sign::ServiceArgs,
    #[command(flatten)]
    net: crate::net::NetArgs,
    /// The file to sign.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

fn sign_bundle(a: &SignBundleArgs) -> Result<Outcome> {
    files::SameFileCheck::default().output("--bundle", &a.bundle).input("FILE", &a.file).check()?;
    let data = files::read_small(&a.file, 256 * 1024 * 1024, "file to sign")?;
    let signer = a.sigstore.signer(&a.net)?;
    let json = if a.in_toto { signer.sign_in_toto(&data)? } else { signer.sign_message(&data)? };
    files::write_bytes(&a.bundle, Mode::Public, json.as_bytes())?;
    let entry = signer.entries().pop();
    eprintln!(
        "bundle written to '{}' (Rekor log index {})",
        a.bundle.display(),
        entry.map_or("?".to_string(), |e| e.log_index.to_string())
    );
    Ok(Outcome::Done)
}

#[derive(Debug, Args)]
#[command(
    mut_arg("certificate_identity", |a| a.requires("certificate_oidc_issuer")),
    mut_arg("certificate_oidc_issuer", |a| a.requires("certificate_identity"))
)]
pub(crate) struct VerifyBundleArgs {
    /// The bundle.
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    #[command(flatten)]
    identity: Identity,
    /// Managed key (PEM) instead of an identity.
    #[arg(long, value_name = "PEM", conflicts_with = "certificate_identity")]
    key: Option<PathBuf>,
    #[command(flatten)]
    root: RootArgs,
    #[command(flatten)]
    tuf: TufRootArg,
    /// The artifact, or `sha256:<64 hex>`.
    #[arg(value_name = "FILE_OR_DIGEST")]
    artifact: String,
}

pub(crate) fn sigstore(cmd: &SigstoreCommand) -> Result<Outcome> {
    let a = match cmd {
        SigstoreCommand::VerifyBundle(a) => a,
        SigstoreCommand::SignBundle(a) => return sign_bundle(a),
    };
    let expectation = match (&a.key, a.identity.identity()?, a.identity.issuer()?) {
        (Some(k), _, _) => {
            let pem = files::read_small(k, 64 * 1024, "public key")?;
            let pem = String::from_utf8(pem).with_context(|| format!("key '{}' is not PEM text", k.display()))?;
            Expectation::key_from_pem(&pem).with_context(|| format!("key '{}'", k.display()))?
        }
        (None, Some(id), Some(iss)) => {
            Expectation::Identity(IdentityPolicy::new(Matcher::Exact(id.into()), Matcher::Exact(iss.into())))
        }
        _ => bail!("give --certificate-identity and --certificate-oidc-issuer, or --key"),
    };
    let root = a.root.load_with(&a.tuf)?;
    let verifier = BundleVerifier::new(&root, expectation)?;
    let bundle = files::read_small(&a.bundle, wsc_keyless::MAX_BUNDLE_LEN as u64, "bundle")?;
    let bundle = String::from_utf8(bundle).with_context(|| format!("bundle '{}' is not UTF-8", a.bundle.display()))?;
    let path = Path::new(&a.artifact);
    let result = if path.exists() {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read '{}'", path.display()))?;
        verifier.verify(Artifact::Blob(&bytes), &bundle)
    } else if let Some(hex) = a.artifact.strip_prefix("sha256:") {
        let digest = Sha256Hash::from_hex(hex).map_err(|e| anyhow::anyhow!("invalid digest {:?}: {e}", a.artifact))?;
        verifier.verify(Artifact::from(digest), &bundle)
    } else {
        bail!("'{}' is neither a file nor sha256:<64 hex>", a.artifact);
    };
    let verdict = match &result {
        Ok(id) => format!("verified: {id}"),
        Err(e) => format!("failed: {}", wsc_core::Chain(e)),
    };
    tracing::info!(
        target: crate::audit::TARGET,
        event = "verify-bundle",
        bundle = %a.bundle.display(),
        artifact = a.artifact.as_str(),
        result = verdict.as_str(),
    );
    match result {
        Ok(id) => {
            println!("OK: {id}");
            Ok(Outcome::Done)
        }
        Err(e) => {
            eprintln!("error: bundle '{}': verification failed: {}", a.bundle.display(), wsc_core::Chain(&e));
            Ok(Outcome::VerificationFailed)
        }
    }
}
