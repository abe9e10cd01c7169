//! `wsc pki`: a private CA for device fleets (roots, intermediates, device
//! certificates from CSRs, CRLs), and the helpers behind `wsc sign --cert`
//! and `wsc verify --trust-anchor`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use wsc_core::keys::hex;
use wsc_pki::{Ca, CaProfile, CertInfo, CertSigner, Csr, DAY, DeviceProfile};

use crate::Outcome;
use crate::args::{Input, Output};
use crate::files::{self, Mode};
use crate::keys::{self, Algorithm, Exposure};

/// Largest certificate, CSR or CRL file read.
const MAX_PKI_FILE: u64 = 4 * 1024 * 1024;

#[derive(Debug, Subcommand)]
pub(crate) enum PkiCommand {
    /// Create or extend a CA.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Make a certificate signing request for a device key.
    Csr(CsrArgs),
    /// Issue a device certificate from a CSR (writes the chain, leaf first, without the root).
    Issue(IssueArgs),
    /// Write a CRL of a CA, listing revoked serial numbers.
    Crl(CrlArgs),
    /// Print the certificates (or the CSR) in a PEM file.
    Show(ShowArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum CaCommand {
    /// Create a root CA: DIR/ca.pem and DIR/ca.key (mode 0600).
    Init(CaInitArgs),
    /// Create an intermediate CA below the CA in --ca-dir: DIR/ca.pem (its certificate alone),
    /// DIR/chain.pem (it, then its issuers) and DIR/ca.key.
    Intermediate(CaIntermediateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CaInitArgs {
    /// Directory to write ca.pem and ca.key into (created if missing).
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
    /// Key algorithm of the CA.
    #[arg(long, value_enum, default_value = "ed25519")]
    algorithm: Algorithm,
    /// Common name of the CA.
    #[arg(long, value_name = "CN", default_value = "wsc fleet root CA")]
    name: String,
    /// Most intermediate levels allowed below the root.
    #[arg(long, value_name = "N", default_value_t = 1)]
    path_len: u8,
    /// Validity in days.
    #[arg(long, value_name = "N", default_value_t = 3650)]
    days: u32,
}

#[derive(Debug, Args)]
pub(crate) struct CaIntermediateArgs {
    /// Directory of the issuing CA (ca.pem, ca.key, and chain.pem below a root).
    #[arg(long, value_name = "DIR")]
    ca_dir: PathBuf,
    /// Directory to write the new CA's ca.pem (its certificate), chain.pem and ca.key into.
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
    /// Key algorithm of the new CA.
    #[arg(long, value_enum, default_value = "ed25519")]
    algorithm: Algorithm,
    /// Common name of the new CA.
    #[arg(long, value_name = "CN", default_value = "wsc fleet issuing CA")]
    name: String,
    /// Most CA levels allowed below the new CA (0: it issues device certificates only).
    #[arg(long, value_name = "N", default_value_t = 0)]
    path_len: u8,
    /// Validity in days (cut to the issuer's end of validity).
    #[arg(long, value_name = "N", default_value_t = 1825)]
    days: u32,
    #[command(flatten)]
    key_access: KeyAccess,
}

#[derive(Debug, Args)]
#[command(mut_arg("output", |a| a.help("CSR file to write (PEM)")))]
pub(crate) struct CsrArgs {
    /// The device's key; with --signer the CSR is signed in the hardware.
    #[command(flatten)]
    key: crate::hardware::KeySource,
    /// Device id: letters, digits, . _ ~ - (becomes urn:wsc:device:ID), or an absolute URI.
    #[arg(long, value_name = "ID")]
    device_id: String,
    #[command(flatten)]
    output: Output,
    #[command(flatten)]
    key_access: KeyAccess,
}

#[derive(Debug, Args)]
#[command(mut_arg("output", |a| {
    a.help("Certificate chain to write: the device certificate, then the CA's, without the root")
}))]
pub(crate) struct IssueArgs {
    /// Directory of the issuing CA (ca.pem, ca.key).
    #[arg(long, value_name = "DIR")]
    ca_dir: PathBuf,
    /// The CSR (PEM or DER); its signature is checked first.
    #[arg(long, value_name = "FILE")]
    csr: PathBuf,
    #[command(flatten)]
    output: Output,
    /// Validity in days (cut to the CA's end of validity).
    #[arg(long, value_name = "N", default_value_t = 1)]
    days: u32,
    /// The device id to certify; the CSR must ask for the same one, or for none.
    #[arg(long, value_name = "ID")]
    device_id: Option<String>,
    #[command(flatten)]
    key_access: KeyAccess,
}

#[derive(Debug, Args)]
#[command(mut_arg("output", |a| a.help("CRL file to write (PEM)")))]
pub(crate) struct CrlArgs {
    /// Directory of the CA whose CRL this is.
    #[arg(long, value_name = "DIR")]
    ca_dir: PathBuf,
    /// Serial number to revoke, in hex as `wsc pki show` prints it (repeatable).
    #[arg(long = "revoke", value_name = "SERIAL")]
    revoke: Vec<String>,
    #[command(flatten)]
    output: Output,
    /// Days until the next CRL is due (verifiers refuse it after that).
    #[arg(long, value_name = "N", default_value_t = 7)]
    days: u32,
    #[command(flatten)]
    key_access: KeyAccess,
}

#[derive(Debug, Args)]
#[command(mut_arg("input", |a| a.help("PEM file of certificates, or a CSR")))]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    input: Input,
}

/// Whether a secret key file that group or others may read is used anyway.
#[derive(Debug, Args)]
pub(crate) struct KeyAccess {
    /// Use a secret key file even when group or others may access it.
    #[arg(long)]
    allow_readable_key: bool,
}

impl KeyAccess {
    /// The exposure rule of `wsc pki` keys: refused unless allowed.
    fn exposure(&self) -> Exposure {
        Exposure::Refuse { allow_readable: self.allow_readable_key }
    }
}

pub(crate) fn run(cmd: &PkiCommand) -> Result<Outcome> {
    match cmd {
        PkiCommand::Ca(CaCommand::Init(a)) => ca_init(a),
        PkiCommand::Ca(CaCommand::Intermediate(a)) => ca_intermediate(a),
        PkiCommand::Csr(a) => csr(a),
        PkiCommand::Issue(a) => issue(a),
        PkiCommand::Crl(a) => crl(a),
        PkiCommand::Show(a) => show(a),
    }
}

fn days(n: u32) -> Duration {
    DAY * n
}

fn ca_init(a: &CaInitArgs) -> Result<Outcome> {
    let mut profile = CaProfile::root(&a.name, a.algorithm.into());
    profile.path_len = Some(a.path_len);
    profile.validity = days(a.days);
    let ca = Ca::new_root(&profile).context("cannot create the root CA")?;
    write_ca(&ca, &a.out_dir)?;
    eprintln!(
        "root CA '{}' written to '{}' (ca.pem, ca.key); SHA-256 {}",
        ca.certificate().subject,
        a.out_dir.display(),
        ca.certificate().fingerprint()
    );
    Ok(Outcome::Done)
}

fn ca_intermediate(a: &CaIntermediateArgs) -> Result<Outcome> {
    let parent = load_ca(&a.ca_dir, &a.key_access)?;
    let mut profile = CaProfile::intermediate(&a.name, a.algorithm.into());
    profile.path_len = Some(a.path_len);
    profile.validity = days(a.days);
    let ca = parent.new_intermediate(&profile).context("cannot create the intermediate CA")?;
    write_ca(&ca, &a.out_dir)?;
    eprintln!(
        "intermediate CA '{}' (issued by '{}') written to '{}' (ca.pem, chain.pem, ca.key)",
        ca.certificate().subject,
        parent.certificate().subject,
        a.out_dir.display()
    );
    Ok(Outcome::Done)
}

fn csr(a: &CsrArgs) -> Result<Outcome> {
    // The CSR never replaces the key it is made from.
    let mut same = files::SameFileCheck::default().output("-o", &a.output.output);
    if let Some(k) = &a.key.secret_key {
        same = same.input("-k", k);
    }
    same.check()?;
    let exposure = a.key_access.exposure();
    let signer = a.key.open(|p| Ok(Box::new(keys::load_secret(p, false, exposure)?)))?;
    let csr = Csr::create(signer.as_ref(), &a.device_id).context("cannot make the CSR")?;
    files::write_bytes(&a.output.output, Mode::Public, csr.to_pem()?.as_bytes())?;
    eprintln!(
        "CSR for {} ({}, key id {}) written to '{}'",
        csr.uris().join(", "),
        csr.public_key().algorithm().as_str(),
        csr.public_key().key_id(),
        a.output.output.display()
    );
    Ok(Outcome::Done)
}

fn issue(a: &IssueArgs) -> Result<Outcome> {
    let ca_files = ca_files(&a.ca_dir);
    let mut same = files::SameFileCheck::default().output("-o", &a.output.output).input("--csr", &a.csr);
    for (flag, p) in &ca_files {
        same = same.input(flag, p);
    }
    same.check()?;
    let ca = load_ca(&a.ca_dir, &a.key_access)?;
    let bytes = files::read_small(&a.csr, MAX_PKI_FILE, "CSR")?;
    let csr = Csr::from_pem_or_der(&bytes).with_context(|| format!("CSR '{}'", a.csr.display()))?;
    let mut profile = DeviceProfile::default().valid_for(days(a.days));
    profile.device_id = a.device_id.clone();
    let chain = ca.issue(&csr, &profile).with_context(|| format!("cannot issue for CSR '{}'", a.csr.display()))?;
    let pem = wsc_pki::chain_to_pem(chain.iter().map(Vec::as_slice))?;
    files::write_bytes(&a.output.output, Mode::Public, pem.as_bytes())?;
    let leaf = CertInfo::parse(&chain[0])?;
    eprintln!(
        "certificate for {} (serial {}, valid until {}) and {} CA certificate(s) written to '{}'",
        leaf.uris.join(", "),
        hex(&leaf.serial),
        wsc_pki::format_rfc3339(leaf.not_after),
        chain.len() - 1,
        a.output.output.display()
    );
    Ok(Outcome::Done)
}

fn crl(a: &CrlArgs) -> Result<Outcome> {
    let ca_files = ca_files(&a.ca_dir);
    let mut same = files::SameFileCheck::default().output("-o", &a.output.output);
    for (flag, p) in &ca_files {
        same = same.input(flag, p);
    }
    same.check()?;
    let ca = load_ca(&a.ca_dir, &a.key_access)?;
    let serials = a
        .revoke
        .iter()
        .map(|s| wsc_pki::parse_serial(s).with_context(|| format!("--revoke {s}")))
        .collect::<Result<Vec<_>>>()?;
    let now = SystemTime::now();
    let der = ca.crl(&serials, now, now + days(a.days)).context("cannot make the CRL")?;
    files::write_bytes(&a.output.output, Mode::Public, wsc_pki::crl_to_pem(&der)?.as_bytes())?;
    eprintln!(
        "CRL of '{}' revoking {} serial(s), next update due {}, written to '{}'",
        ca.certificate().subject,
        serials.len(),
        wsc_pki::format_rfc3339(now + days(a.days)),
        a.output.output.display()
    );
    Ok(Outcome::Done)
}

fn show(a: &ShowArgs) -> Result<Outcome> {
    let bytes = files::read_small(&a.input.input, MAX_PKI_FILE, "certificate file")?;
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("CERTIFICATE REQUEST-----") {
        let csr = Csr::from_pem(&bytes).with_context(|| format!("CSR '{}'", a.input.input.display()))?;
        println!("certificate signing request (signature verified)");
        println!("  subject:  {}", csr.subject());
        println!("  key:      {} (key id {})", csr.public_key().algorithm().as_str(), csr.public_key().key_id());
        println!("  URIs:     {}", csr.uris().join(", "));
        return Ok(Outcome::Done);
    }
    let ders =
        wsc_pki::certificates_from_pem_or_der(&bytes).with_context(|| format!("'{}'", a.input.input.display()))?;
    for (i, der) in ders.iter().enumerate() {
        let c = CertInfo::parse(der).with_context(|| format!("certificate #{i} of '{}'", a.input.input.display()))?;
        println!("[{i}] subject:  {}", c.subject);
        println!("    issuer:   {}", c.issuer);
        println!("    serial:   {}", hex(&c.serial));
        println!("    valid:    {} to {}", wsc_pki::format_rfc3339(c.not_before), wsc_pki::format_rfc3339(c.not_after));
        match &c.public_key {
            Some(k) => println!("    key:      {} (key id {})", k.algorithm().as_str(), k.key_id()),
            None => println!("    key:      not Ed25519 or P-256"),
        }
        if !c.uris.is_empty() || !c.dns_names.is_empty() {
            let names: Vec<&str> = c.uris.iter().chain(&c.dns_names).map(String::as_str).collect();
            println!("    names:    {}", names.join(", "));
        }
        match c.basic_constraints {
            Some((true, Some(n))) => println!("    CA:       yes, path length {n}"),
            Some((true, None)) => println!("    CA:       yes, no path length limit"),
            _ => println!("    CA:       no"),
        }
        if let Some(ku) = c.key_usage {
            let mut uses = Vec::new();
            if ku.digital_signature {
                uses.push("digitalSignature");
            }
            if ku.key_cert_sign {
                uses.push("keyCertSign");
            }
            if ku.crl_sign {
                uses.push("cRLSign");
            }
            println!("    usage:    {}", uses.join(", "));
        }
        if let Some(eku) = &c.extended_key_usage {
            let code_signing = wsc_pki::OID_CODE_SIGNING.to_string();
            let named: Vec<&str> =
                eku.iter().map(|o| if *o == code_signing { "codeSigning" } else { o.as_str() }).collect();
            println!("    extended: {}", named.join(", "));
        }
        println!("    SHA-256:  {}", c.fingerprint());
    }
    Ok(Outcome::Done)
}

/// A signer for `wsc sign --cert CHAIN.pem`: the secret key bound to its
/// certificate chain (leaf first; the root may be left out).
pub(crate) fn cert_signer<S: wsc_core::Signer>(secret: S, chain_pem_path: &Path) -> Result<CertSigner<S>> {
    let bytes = files::read_small(chain_pem_path, MAX_PKI_FILE, "certificate chain")?;
    CertSigner::from_pem(secret, &bytes)
        .with_context(|| format!("cannot use certificate chain '{}'", chain_pem_path.display()))
}

/// The timestamp authorities in these chain files (PEM, TSA certificate first).
pub(crate) fn tsa_trust(chain_paths: &[PathBuf]) -> Result<wsc_pki::TsaTrust> {
    let mut t = wsc_pki::TsaTrust::new();
    for p in chain_paths {
        let bytes = files::read_small(p, MAX_PKI_FILE, "TSA chain")?;
        t.add_chain(&bytes).with_context(|| format!("TSA chain '{}'", p.display()))?;
    }
    Ok(t)
}

/// Loads the CA in `dir`: its certificate from ca.pem, the issuers above
/// it from chain.pem when there is one (it must start with ca.pem's
/// certificate), and its key.
fn load_ca(dir: &Path, access: &KeyAccess) -> Result<Ca> {
    let cert_path = dir.join("ca.pem");
    let chain_path = dir.join("chain.pem");
    let mut pem = files::read_small(&cert_path, MAX_PKI_FILE, "CA certificate")?;
    if chain_path.exists() {
        let chain = files::read_small(&chain_path, MAX_PKI_FILE, "CA chain")?;
        let own = wsc_pki::certificates_from_pem_or_der(&pem).with_context(|| format!("'{}'", cert_path.display()))?;
        let above =
            wsc_pki::certificates_from_pem_or_der(&chain).with_context(|| format!("'{}'", chain_path.display()))?;
        if own.first() != above.first() {
            bail!("'{}' does not start with the certificate in '{}'", chain_path.display(), cert_path.display());
        }
        pem = chain;
    }
    let key = keys::load_secret(&dir.join("ca.key"), false, access.exposure())?;
    // Ca takes its key by value and keeps it in memory wsc does not lock:
    // it gets a copy, and the locked key is wiped when dropped here.
    Ca::from_pem(&pem, key.to_owned_key()?).with_context(|| format!("cannot use the CA in '{}'", dir.display()))
}

/// Writes DIR/ca.key (0600), DIR/ca.pem (the CA's certificate alone, fit
/// to be a trust anchor) and, below a root, DIR/chain.pem (the CA's
/// certificate, then its issuers); refuses to replace a CA key.
fn write_ca(ca: &Ca, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create '{}'", dir.display()))?;
    let key_path = dir.join("ca.key");
    if key_path.exists() {
        bail!("'{}' exists; a CA key is never overwritten", key_path.display());
    }
    // The key and the certificates land together or not at all.
    let mut outputs = files::Outputs::default();
    let stage = |outputs: &mut files::Outputs, path: &Path, mode, replace, text: &str| {
        outputs.stage(path, mode, replace, |f| {
            std::io::Write::write_all(f, text.as_bytes()).map_err(|e| files::name_write_error(path, e).into())
        })
    };
    // The key text is wiped when dropped (Zeroizing).
    stage(&mut outputs, &key_path, Mode::Secret, files::Replace::Refuse, &ca.key_pem()?)?;
    stage(&mut outputs, &dir.join("ca.pem"), Mode::Public, files::Replace::Allow, &ca.certificate_pem()?)?;
    if ca.chain().len() > 1 {
        stage(&mut outputs, &dir.join("chain.pem"), Mode::Public, files::Replace::Allow, &ca.chain_pem()?)?;
    }
    outputs.commit()
}

/// A CA folder's files, as inputs no output may replace.
fn ca_files(dir: &Path) -> [(&'static str, PathBuf); 3] {
    [
        ("--ca-dir (ca.key)", dir.join("ca.key")),
        ("--ca-dir (ca.pem)", dir.join("ca.pem")),
        ("--ca-dir (chain.pem)", dir.join("chain.pem")),
    ]
}
