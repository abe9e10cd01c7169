//! `wsc sign`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use wsc_core::{SignReport, Signer, WithKeyId};

use crate::Outcome;
use crate::args::{OptionalOutput, OptionalSignatureFile, TsaChains};
use crate::files::{self, Mode, Replace};
use crate::keys;

#[derive(Debug, Args)]
#[command(
    mut_arg("output", |a| a.help("Signed output (embedded mode); with -S, an optional copy of the input")),
    mut_arg("signature", |a| a.help("Write a detached signature to this file instead of embedding it")),
    mut_arg("tsa_chain", |a| a.requires("tsa_url"))
)]
pub(crate) struct SignArgs {
    /// Module or component to sign; repeat it with --out-dir to sign many in one run.
    #[arg(short = 'i', long = "input-file", value_name = "FILE", required = true)]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    output: OptionalOutput,
    /// Write each signed module to this folder, under its own file name (embedded mode).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["output", "signature"])]
    out_dir: Option<PathBuf>,
    /// Sign keylessly with Sigstore: identity token, Fulcio certificate, Rekor entry (see docs/keyless.md).
    #[arg(long, conflicts_with_all = ["secret_key", "signer", "public_key", "cert", "ssh"])]
    keyless: bool,
    #[command(flatten)]
    sigstore: crate::keyless_sign::ServiceArgs,
    #[command(flatten)]
    key: crate::hardware::KeySource,
    /// Public key of the same pair: writes its key id into the record.
    #[arg(short = 'K', long = "public-key", value_name = "FILE")]
    public_key: Option<PathBuf>,
    /// Certificate chain (PEM, leaf first) of the secret key: writes a certificate-bound record (0x11).
    #[arg(long = "cert", value_name = "PEM", conflicts_with = "public_key")]
    cert: Option<PathBuf>,
    /// RFC 3161 timestamp authority URL: the certificate-bound record carries its token, which
    /// must verify with one of the --tsa-chain authorities.
    #[arg(long = "tsa-url", value_name = "URL", requires_all = ["cert", "tsa_chain"])]
    tsa_url: Option<String>,
    #[command(flatten)]
    tsa: TsaChains,
    #[command(flatten)]
    net: crate::net::NetArgs,
    #[command(flatten)]
    signature: OptionalSignatureFile,
    /// Keys are OpenSSH files.
    #[arg(short = 'Z', long = "ssh")]
    ssh: bool,
    /// A component: first sign, with the same key, each nested module and component that
    /// has no signature of its own (inner parts first; signed parts are kept byte for
    /// byte), then the whole.
    #[arg(long, conflicts_with = "signature")]
    nested: bool,
}

pub(crate) fn run(a: &SignArgs) -> Result<Outcome> {
    let setup = jobs(a).and_then(|jobs| {
        let signer = if a.keyless {
            RunSigner::Keyless(Box::new(a.sigstore.signer(&a.net)?))
        } else {
            RunSigner::Other(signer_for(a)?)
        };
        Ok((jobs, signer))
    });
    let (jobs, signer) = match setup {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(
                target: crate::audit::TARGET,
                event = "sign",
                module = %a.inputs.first().map_or(String::new(), |p| p.display().to_string()),
                key = %a.key.name(),
                result = "error",
                reason = %format!("{e:#}"),
            );
            return Err(e);
        }
    };
    match &signer {
        RunSigner::Keyless(k) => run_jobs(a, &jobs, k.as_ref(), Some(k.as_ref()))?,
        RunSigner::Other(s) => run_jobs(a, &jobs, s.as_ref(), None)?,
    }
    Ok(Outcome::Done)
}

/// The signer of a run.
enum RunSigner {
    Keyless(Box<wsc_keyless::sign::KeylessSigner>),
    Other(Box<dyn Signer>),
}

fn run_jobs(
    a: &SignArgs,
    jobs: &[(PathBuf, Option<PathBuf>)],
    signer: &dyn Signer,
    keyless: Option<&wsc_keyless::sign::KeylessSigner>,
) -> Result<()> {
    let progress = crate::progress::bar(jobs.len(), "signing", false);
    for (input, output) in jobs {
        let done = sign_one(a, signer, input, output.as_ref());
        audit(a, input, output.as_ref(), &done);
        done?;
        if let Some(e) = keyless.and_then(|k| k.entries().pop()) {
            progress.println(&format!(
                "keyless: '{}' logged in Rekor at index {}{}",
                input.display(),
                e.log_index,
                if e.timestamped { ", timestamped" } else { "" }
            ));
        }
        progress.inc();
    }
    Ok(())
}

fn audit(a: &SignArgs, input: &Path, output: Option<&PathBuf>, done: &Result<Signed>) {
    match done {
        Ok(done) => tracing::info!(
            target: crate::audit::TARGET,
            event = "sign",
            module = %input.display(),
            key = %a.key.name(),
            output = %output.or(a.signature.signature.as_ref()).map_or(String::new(), |p| p.display().to_string()),
            mode = if a.signature.signature.is_some() { "detached" } else { "embedded" },
            algorithm = done.algorithm.as_str(),
            key_id = done.key_id.as_str(),
            content_sha256 = done.content_sha256.as_str(),
            hashes = done.hashes as u64,
            result = "signed",
        ),
        Err(e) => tracing::info!(
            target: crate::audit::TARGET,
            event = "sign",
            module = %input.display(),
            key = %a.key.name(),
            result = "error",
            reason = %format!("{e:#}"),
        ),
    }
}

/// (input, output) pairs: one -i with -o/-S, or many -i with --out-dir.
/// Refuses a run that would write an output over another output or over
/// an input (other than a module signed in place).
fn jobs(a: &SignArgs) -> Result<Vec<(PathBuf, Option<PathBuf>)>> {
    let jobs = job_list(a)?;
    for (input, output) in &jobs {
        let mut check = files::SameFileCheck::default();
        if let Some(o) = output {
            check = check.output(if a.out_dir.is_some() { "--out-dir" } else { "-o" }, o);
        }
        if let Some(sig) = &a.signature.signature {
            check = check.output("-S", sig);
        }
        check = check.rewritten_input("-i", input, output.as_deref());
        for other in a.inputs.iter().filter(|i| *i != input) {
            check = check.input("-i", other);
        }
        let key_files = [("-k", &a.key.secret_key), ("-K", &a.public_key), ("--cert", &a.cert)];
        for (flag, path) in key_files {
            if let Some(p) = path {
                check = check.input(flag, p);
            }
        }
        for p in &a.tsa.tsa_chain {
            check = check.input("--tsa-chain", p);
        }
        check.check()?;
    }
    Ok(jobs)
}

fn job_list(a: &SignArgs) -> Result<Vec<(PathBuf, Option<PathBuf>)>> {
    if let Some(dir) = &a.out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create '{}'", dir.display()))?;
        let mut seen = std::collections::BTreeSet::new();
        return a
            .inputs
            .iter()
            .map(|i| {
                let name = i.file_name().with_context(|| format!("'{}' has no file name", i.display()))?;
                if !seen.insert(name.to_os_string()) {
                    bail!("two inputs are named {name:?}: their outputs in --out-dir would collide");
                }
                Ok((i.clone(), Some(dir.join(name))))
            })
            .collect();
    }
    if a.inputs.len() != 1 {
        bail!("several -i inputs need --out-dir");
    }
    if a.signature.signature.is_none() && a.output.output.is_none() {
        bail!("nothing to write: give -o OUTPUT (embedded signature), --out-dir DIR, or -S SIGNATURE (detached)");
    }
    Ok(vec![(a.inputs[0].clone(), a.output.output.clone())])
}

/// The signer of the run: keyless (one certificate for every module), a
/// key file or hardware, optionally with a key id or a certificate chain.
fn signer_for(a: &SignArgs) -> Result<Box<dyn Signer>> {
    if a.sigstore.any_given() {
        bail!("--identity-token, --signing-config, --trusted-root and the other Sigstore options need --keyless");
    }
    if a.key.secret_key.is_none() && a.key.signer.is_none() {
        bail!("give -k SECRET_KEY, --signer URI or --keyless");
    }
    // The key: a file, or hardware behind the signer seam.
    let base = a.key.open(|p| Ok(Box::new(keys::load_secret(p, a.ssh, keys::Exposure::Warn)?)))?;
    let key_name = a.key.name();
    Ok(match (&a.cert, &a.public_key) {
        (Some(chain), _) => match &a.tsa_url {
            Some(url) => Box::new(crate::pki::cert_signer(base, chain)?.with_timestamps(
                Box::new(crate::net::HttpTimestamper::new(&a.net, url)?),
                crate::pki::tsa_trust(&a.tsa.tsa_chain)?,
            )?),
            None => Box::new(crate::pki::cert_signer(base, chain)?),
        },
        (None, Some(p)) => {
            let pks = keys::load_public(p, a.ssh)?;
            let pk = pks.first().context("no public key")?;
            Box::new(
                WithKeyId::checked(base, pk)
                    .with_context(|| format!("public key '{}' does not belong to the key '{key_name}'", p.display()))?,
            )
        }
        // A hardware key always writes its key id, so verifiers can pick the record.
        (None, None) if a.key.is_hardware() => {
            Box::new(WithKeyId::new(base).context("the signer reports no public key")?)
        }
        (None, None) => base,
    })
}

/// Signs a regular file into `o`: this thread hashes the input while
/// another lays the content out in the output, the kernel copying the
/// unchanged runs (`copy_file_range`), so they never pass through this
/// process. If the head's length was mispredicted, the content is written
/// again after it. An input that changed while it was signed is refused.
#[cfg(unix)]
fn sign_copying(
    f: &std::fs::File,
    len: u64,
    input: &Path,
    o: &mut std::fs::File,
    out: &Path,
    signer: &dyn Signer,
) -> Result<SignReport> {
    use std::os::unix::fs::FileExt;
    let ctx = || format!("cannot sign '{}'", input.display());
    let stamp = |f: &std::fs::File| f.metadata().and_then(|m| m.modified()).ok();
    let before = stamp(f);
    let dst: &std::fs::File = o;
    let (signed, copied) = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<CopyJob>(16);
        // Returns where the content was laid out from, and its length.
        let copier = scope.spawn(move || -> std::io::Result<Option<(u64, u64)>> {
            let (mut start, mut at) = (None, 0u64);
            for job in rx {
                match job {
                    CopyJob::Start(p) => (start, at) = (Some(p), p),
                    CopyJob::Copy(r) => {
                        files::copy_range(f, r.start, dst, at, r.end - r.start)?;
                        at += r.end - r.start;
                    }
                    CopyJob::Bytes(b) => {
                        dst.write_all_at(&b, at)?;
                        at += b.len() as u64;
                    }
                }
            }
            Ok(start.map(|s| (s, at - s)))
        });
        let signed = wsc_core::sign_embedded_head(f, signer, &mut CopySender(tx));
        (signed, copier.join())
    });
    let laid_out = match copied {
        Ok(Ok(l)) => l,
        // A failed copy (a full disk) is why signing stopped: its error
        // comes first, and names the output.
        Ok(Err(e)) => return Err(files::name_write_error(out, e).into()),
        Err(_) => anyhow::bail!("the copying thread panicked"),
    };
    let head = signed.with_context(ctx)?;
    if head.content.end != len || stamp(f) != before {
        anyhow::bail!("'{}' changed while it was signed; nothing written", input.display());
    }
    let head_len = head.head.len() as u64;
    let written = if let Some((_, n)) = laid_out.filter(|(start, _)| *start == head_len) {
        n
    } else if head.reencode {
        use std::io::{Seek, SeekFrom};
        o.seek(SeekFrom::Start(head_len)).map_err(|e| files::name_write_error(out, e))?;
        let mut w = files::NamedWriter::new(&mut *o, out);
        wsc_core::write_content(f, &mut w, &head).with_context(ctx)?
    } else {
        let content_len = head.content.end - head.content.start;
        files::copy_range(f, head.content.start, o, head_len, content_len)
            .map_err(|e| files::name_write_error(out, e))?;
        content_len
    };
    o.write_all_at(&head.head, 0).map_err(|e| files::name_write_error(out, e))?;
    o.set_len(head_len + written).map_err(|e| files::name_write_error(out, e))?;
    Ok(head.report)
}

/// What the hashing thread hands the copying thread.
#[cfg(unix)]
enum CopyJob {
    Start(u64),
    Copy(std::ops::Range<u64>),
    Bytes(Vec<u8>),
}

/// The hashing thread's side of the copy.
#[cfg(unix)]
struct CopySender(std::sync::mpsc::SyncSender<CopyJob>);

#[cfg(unix)]
impl wsc_core::ContentCopier for CopySender {
    fn start(&mut self, l: wsc_core::Layout) -> wsc_core::Result<()> {
        self.send(CopyJob::Start(l.predicted_head_len))
    }

    fn piece(&mut self, p: wsc_core::Piece<'_>) -> wsc_core::Result<()> {
        match p {
            wsc_core::Piece::Copy(r) => self.send(CopyJob::Copy(r)),
            wsc_core::Piece::Bytes(b) => self.send(CopyJob::Bytes(b.to_vec())),
            _ => Err(std::io::Error::other("an unknown piece of content").into()),
        }
    }
}

#[cfg(unix)]
impl CopySender {
    fn send(&self, job: CopyJob) -> wsc_core::Result<()> {
        // The copier stopped on an error, which it reports when joined.
        self.0.send(job).map_err(|_| std::io::Error::other("the copy into the output stopped").into())
    }
}

#[cfg(not(unix))]
fn sign_copying(
    f: &std::fs::File,
    _len: u64,
    input: &Path,
    o: &mut std::fs::File,
    out: &Path,
    signer: &dyn Signer,
) -> Result<SignReport> {
    let mut w = files::NamedWriter::new(o, out);
    wsc_core::sign_embedded(f, &mut w, signer).with_context(|| format!("cannot sign '{}'", input.display()))
}

/// The largest component `sign --nested` reads (it rebuilds it in memory).
const MAX_NESTED_INPUT: u64 = 1 << 30;

/// What a signing run reports to the audit log.
struct Signed {
    algorithm: String,
    key_id: String,
    content_sha256: String,
    hashes: usize,
}

fn sign_one(a: &SignArgs, signer: &dyn Signer, input: &Path, output: Option<&PathBuf>) -> Result<Signed> {
    let ctx = || format!("cannot sign '{}'", input.display());
    let report = match &a.signature.signature {
        Some(sig_path) => {
            let (f, _) = files::open_module(input)?;
            let (sig, report) = wsc_core::sign_detached(f, None, signer).with_context(ctx)?;
            // The signature and the copy land together or not at all.
            let mut outputs = files::Outputs::default();
            outputs.stage(sig_path, Mode::Public, Replace::Allow, |o| {
                o.write_all(&sig).map_err(|e| files::name_write_error(sig_path, e).into())
            })?;
            if let Some(out) = output {
                let (f, _) = files::open_module(input)?;
                // Re-encoded with minimal headers, byte for byte as wasmsign2's copy.
                outputs.stage(out, Mode::Public, Replace::Allow, |o| {
                    let mut o = files::NamedWriter::new(o, out);
                    wsc_core::canonical_copy(f, &mut o).with_context(|| format!("cannot copy '{}'", input.display()))
                })?;
            }
            outputs.commit()?;
            eprintln!("detached signature written to '{}'", sig_path.display());
            report
        }
        None if a.nested => {
            let out = output.context("no output")?;
            let bytes = files::read_small(input, MAX_NESTED_INPUT, "component")?;
            let parts = wsc_core::sign_nested(&bytes, signer, &wsc_core::TreeLimits::default()).with_context(ctx)?;
            let report = files::write_atomic(out, Mode::Public, |o| {
                let mut o = files::NamedWriter::new(o, out);
                wsc_core::sign_embedded(std::io::Cursor::new(&parts.component), &mut o, signer).with_context(ctx)
            })?;
            eprintln!(
                "{} nested part(s) signed, {} kept with their own signatures; signed component written to '{}'",
                parts.signed.len(),
                parts.kept.len(),
                out.display()
            );
            report
        }
        None => {
            let out = output.context("no output")?;
            let (f, len) = files::open_module(input)?;
            let regular = f.metadata().is_ok_and(|m| m.is_file());
            let report: SignReport = files::write_atomic(out, Mode::Public, |o| {
                if regular {
                    return sign_copying(&f, len, input, o, out, signer);
                }
                // A pipe: hashing on this thread, writing on another, in the
                // same pass.
                let mut writer = files::ThreadedWriter::new(o.try_clone()?, out);
                let signed = wsc_core::sign_embedded_seekable(&f, &mut writer, signer);
                // A writer that failed (a full disk) is why signing stopped:
                // its error comes first, and names the output.
                writer.finish()?;
                let signed = signed.with_context(ctx)?;
                o.set_len(signed.output_len).map_err(|e| files::name_write_error(out, e))?;
                Ok(signed.report)
            })?;
            if report.reencoded {
                eprintln!(
                    "note: '{}' uses non-minimal size encodings; the signed output re-encodes them (as wasmsign2 does). \
                     Use -S for a detached signature that leaves the file unchanged.",
                    input.display()
                );
            }
            eprintln!("signed module written to '{}'", out.display());
            report
        }
    };
    eprintln!("{} hash(es) signed; the signature data now holds {} set(s)", report.hashes.len(), report.sets);
    Ok(Signed {
        algorithm: signer.algorithm().to_string(),
        key_id: signer.key_id().map(|k| k.to_string()).unwrap_or_default(),
        content_sha256: report.hashes.last().map(|h| wsc_core::keys::hex(h)).unwrap_or_default(),
        hashes: report.hashes.len(),
    })
}
