//! `wsc sign`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use wsc_core::{SignReport, Signer, WithKeyId};

use crate::Outcome;
use crate::files::{self, Mode};
use crate::keys;

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// Module or component to sign.
    #[arg(short = 'i', long = "input-file", value_name = "FILE")]
    input: PathBuf,
    /// Signed output (embedded mode); with -S, an optional copy of the input.
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    key: crate::hardware::KeySource,
    /// Public key of the same pair: writes its key id into the record.
    #[arg(short = 'K', long = "public-key", value_name = "FILE")]
    public_key: Option<PathBuf>,
    /// Certificate chain (PEM, leaf first) of the secret key: writes a certificate-bound record (0x11).
    #[arg(long = "cert", value_name = "PEM", conflicts_with = "public_key")]
    cert: Option<PathBuf>,
    /// RFC 3161 timestamp authority URL: the certificate-bound record carries its token.
    #[arg(long = "tsa-url", value_name = "URL", requires_all = ["cert", "tsa_chain"])]
    tsa_url: Option<String>,
    /// The TSA's certificate chain (PEM, TSA certificate first, root last); the token must verify with it.
    #[arg(long = "tsa-chain", value_name = "PEM", requires = "tsa_url")]
    tsa_chain: Option<PathBuf>,
    #[command(flatten)]
    net: crate::net::NetArgs,
    /// Write a detached signature to this file instead of embedding it.
    #[arg(short = 'S', long = "signature-file", value_name = "FILE")]
    signature: Option<PathBuf>,
    /// Keys are OpenSSH files.
    #[arg(short = 'Z', long = "ssh")]
    ssh: bool,
}

pub(crate) fn run(a: &SignArgs) -> Result<Outcome> {
    let result = run_inner(a);
    match &result {
        Ok(done) => tracing::info!(
            target: crate::audit::TARGET,
            event = "sign",
            module = %a.input.display(),
            output = %a.output.as_ref().or(a.signature.as_ref()).map_or(String::new(), |p| p.display().to_string()),
            mode = if a.signature.is_some() { "detached" } else { "embedded" },
            algorithm = done.algorithm.as_str(),
            key_id = done.key_id.as_str(),
            content_sha256 = done.content_sha256.as_str(),
            hashes = done.hashes as u64,
            result = "signed",
        ),
        Err(e) => tracing::info!(
            target: crate::audit::TARGET,
            event = "sign",
            module = %a.input.display(),
            result = "error",
            reason = %format!("{e:#}"),
        ),
    }
    result.map(|_| Outcome::Done)
}

/// What a signing run reports to the audit log.
struct Signed {
    algorithm: String,
    key_id: String,
    content_sha256: String,
    hashes: usize,
}

fn run_inner(a: &SignArgs) -> Result<Signed> {
    if a.signature.is_none() && a.output.is_none() {
        bail!("nothing to write: give -o OUTPUT (embedded signature) or -S SIGNATURE (detached)");
    }
    // The key: a file, or hardware behind the signer seam.
    let base = a.key.open(|p| Ok(Box::new(keys::load_secret(p, a.ssh)?)))?;
    let base: &dyn Signer = base.as_ref();
    let key_name = a.key.name();
    let with_id;
    let with_cert;
    let signer: &dyn Signer = match (&a.cert, &a.public_key) {
        (Some(chain), _) => {
            with_cert = match (&a.tsa_url, &a.tsa_chain) {
                (Some(url), Some(tsa_chain)) => crate::pki::cert_signer(base, chain)?.with_timestamps(
                    Box::new(crate::net::HttpTimestamper::new(&a.net, url)?),
                    crate::pki::tsa_trust(std::slice::from_ref(tsa_chain))?,
                )?,
                _ => crate::pki::cert_signer(base, chain)?,
            };
            &with_cert
        }
        (None, Some(p)) => {
            let pks = keys::load_public(p, a.ssh)?;
            let pk = pks.first().context("no public key")?;
            with_id = WithKeyId::checked(base, pk)
                .with_context(|| format!("public key '{}' does not belong to the key '{key_name}'", p.display()))?;
            &with_id
        }
        // A hardware key always writes its key id, so verifiers can pick the record.
        (None, None) if a.key.is_hardware() => {
            with_id = WithKeyId::new(base).context("the signer reports no public key")?;
            &with_id
        }
        (None, None) => base,
    };
    let ctx = || format!("cannot sign '{}'", a.input.display());
    let report = match &a.signature {
        Some(sig_path) => {
            let (f, _) = files::open_module(&a.input)?;
            let (sig, report) = wsc_core::sign_detached(f, None, signer).with_context(ctx)?;
            files::write_bytes(sig_path, Mode::Public, &sig)?;
            if let Some(out) = &a.output {
                let (f, _) = files::open_module(&a.input)?;
                files::write_atomic(out, Mode::Public, |o| {
                    std::io::copy(&mut std::io::BufReader::new(f), o).map_err(anyhow::Error::from)
                })?;
            }
            eprintln!("detached signature written to '{}'", sig_path.display());
            report
        }
        None => {
            let out = a.output.as_ref().context("no output")?;
            let (f, _) = files::open_module(&a.input)?;
            // Hashing on this thread, writing on another: the content is written
            // in the same pass as it is hashed.
            let report: SignReport = files::write_atomic(out, Mode::Public, |o| {
                let mut writer = files::ThreadedWriter::new(o.try_clone()?);
                let signed = wsc_core::sign_embedded_seekable(f, &mut writer, signer);
                let written = writer.finish();
                let signed = signed.with_context(ctx)?;
                written.with_context(|| format!("cannot write '{}'", out.display()))?;
                o.set_len(signed.output_len)?;
                Ok(signed.report)
            })?;
            if report.reencoded {
                eprintln!(
                    "note: '{}' uses non-minimal size encodings; the signed output re-encodes them (as wasmsign2 does). \
                     Use -S for a detached signature that leaves the file unchanged.",
                    a.input.display()
                );
            }
            eprintln!("signed module written to '{}'", out.display());
            report
        }
    };
    eprintln!("{} hash(es) signed; the signature data now holds {} set(s)", report.hashes.len(), report.sets);
    Ok(Signed {
        algorithm: signer.algorithm().to_string(),
        key_id: signer.key_id().map(|k| wsc_core::keys::hex(&k)).unwrap_or_default(),
        content_sha256: report.hashes.last().map(|h| wsc_core::keys::hex(h)).unwrap_or_default(),
        hashes: report.hashes.len(),
    })
}
