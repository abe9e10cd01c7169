//! `wsc verify` and `wsc verify_matrix`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{Value, json};
use wsc_core::keys::hex;
use wsc_core::{PublicKey, RecordVerifier, Report, Scope, SectionHeader, VerifyOptions};

use crate::Outcome;
use crate::files;
use crate::keyless::KeylessArgs;
use wsc_keyless::BundleVerifier;

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Module or component to verify.
    #[arg(short = 'i', long = "input-file", value_name = "FILE")]
    input: PathBuf,
    /// Public key (wasmsign2 raw, SPKI DER/PEM, SEC1 or OpenSSH).
    #[arg(
        short = 'K',
        long = "public-key",
        value_name = "FILE",
        required_unless_present_any = ["keyless", "trust_anchor", "policy"],
        conflicts_with_all = ["keyless", "trust_anchor"]
    )]
    public_key: Option<PathBuf>,
    /// Decide with a trust policy (wsc-policy/v1, TOML or JSON): the scope for this module,
    /// its rule, coverage, time and revocation. Exit 0 accepted (or audit), 1 rejected.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["public_key", "keyless", "trust_anchor", "split", "ssh"]
    )]
    pub(crate) policy: Option<PathBuf>,
    /// The module's path as the policy's scopes name it (default: the -i path as given,
    /// without leading `./`).
    #[arg(long, value_name = "NAME", requires = "policy")]
    pub(crate) path: Option<String>,
    /// The OCI repository the module comes from (exact, no tag or digest).
    #[arg(long = "oci-repository", value_name = "REPO", requires = "policy")]
    pub(crate) oci_repository: Option<String>,
    /// Verify keyless (Sigstore) records against an identity policy, offline.
    #[arg(long)]
    keyless: bool,
    #[command(flatten)]
    keyless_args: KeylessArgs,
    #[command(flatten)]
    cert_args: CertArgs,
    #[command(flatten)]
    common: Common,
}

/// Certificate-bound records (wsc-pki): trust anchors and revocation.
#[derive(Debug, Args)]
struct CertArgs {
    /// Trust anchor certificate file (PEM or DER) holding exactly one certificate; repeatable.
    #[arg(long = "trust-anchor", value_name = "PEM", conflicts_with = "keyless")]
    trust_anchor: Vec<PathBuf>,
    /// Every --trust-anchor file must have a valid signature of its own, each from a different
    /// signer key (vendor and integrator); the same anchor in two files is refused.
    #[arg(long, requires = "trust_anchor")]
    require_all_anchors: bool,
    /// CRL (PEM or DER) of a CA on the path; repeatable.
    #[arg(long = "crl", value_name = "FILE", requires = "trust_anchor")]
    crl: Vec<PathBuf>,
    /// Check certificates at this time (RFC 3339) instead of now.
    #[arg(long = "at-time", value_name = "TIME", requires = "trust_anchor", conflicts_with = "use_timestamp")]
    at_time: Option<String>,
    /// Check certificates at the time of the record's RFC 3161 timestamp, which must verify
    /// with a --tsa-chain (records without one fail).
    #[arg(long, requires_all = ["trust_anchor", "tsa_chain"])]
    use_timestamp: bool,
    /// A trusted timestamp authority's chain (PEM, TSA certificate first, root last); repeatable.
    #[arg(long = "tsa-chain", value_name = "PEM", requires = "use_timestamp")]
    tsa_chain: Vec<PathBuf>,
    /// Every CA on the path must have a current CRL among the --crl files.
    #[arg(long, requires = "trust_anchor")]
    require_crl: bool,
}

#[derive(Debug, Args)]
pub(crate) struct MatrixArgs {
    /// Module or component to verify.
    #[arg(short = 'i', long = "input-file", value_name = "FILE")]
    input: PathBuf,
    /// Public keys; each is reported on its own.
    #[arg(short = 'K', long = "public-keys", value_name = "FILE", num_args = 1.., required_unless_present = "policy")]
    public_keys: Vec<PathBuf>,
    /// Evaluate a trust policy and report each principal its scope reaches.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["public_keys", "split", "ssh"])]
    policy: Option<PathBuf>,
    /// The module's path as the policy's scopes name it (default: the -i path).
    #[arg(long, value_name = "NAME", requires = "policy")]
    path: Option<String>,
    /// The OCI repository the module comes from.
    #[arg(long = "oci-repository", value_name = "REPO", requires = "policy")]
    oci_repository: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct Common {
    /// Detached signature file (instead of the embedded section).
    #[arg(short = 'S', long = "signature-file", value_name = "FILE")]
    signature: Option<PathBuf>,
    /// Partial verification: all standard sections plus the custom sections
    /// whose name matches REGEX must be signed; other parts may be unsigned.
    #[arg(short = 's', long = "split", value_name = "REGEX")]
    split: Option<String>,
    /// Keys are OpenSSH public-key files (every key line is used).
    #[arg(short = 'Z', long = "ssh")]
    ssh: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

enum Who {
    Key { file: PathBuf, key: PublicKey },
    Keyless(BundleVerifier),
    Cert { anchors: String, verifier: wsc_pki::CertVerifier },
}

impl Who {
    fn verifier(&self) -> &dyn RecordVerifier {
        match self {
            Who::Key { key, .. } => key,
            Who::Keyless(v) => v,
            Who::Cert { verifier, .. } => verifier,
        }
    }

    fn label(&self) -> String {
        match self {
            Who::Key { file, key } => {
                format!("{} ({}, key id {})", file.display(), key.algorithm().as_str(), hex(&key.key_id()))
            }
            Who::Keyless(_) => "keyless policy".to_string(),
            Who::Cert { anchors, .. } => format!("trust anchor(s) {anchors}"),
        }
    }

    fn json(&self) -> Value {
        match self {
            Who::Key { file, key } => json!({
                "key_file": file.display().to_string(),
                "algorithm": key.algorithm().as_str(),
                "key_id": hex(&key.key_id()),
            }),
            Who::Keyless(_) => json!({"keyless": true}),
            Who::Cert { anchors, .. } => json!({"trust_anchors": anchors}),
        }
    }
}

pub(crate) fn run(a: &VerifyArgs) -> Result<Outcome> {
    // Checked here too: clap's `requires` does not hold beside -K.
    if a.policy.is_none() && (a.path.is_some() || a.oci_repository.is_some()) {
        anyhow::bail!("--path and --oci-repository name a module for --policy, and --policy is not given");
    }
    if let Some(policy) = &a.policy {
        let named =
            crate::policy_verify::Named { path: a.path.as_deref(), oci_repository: a.oci_repository.as_deref() };
        return crate::policy_verify::run(&a.input, a.common.signature.as_deref(), policy, named, a.common.json);
    }
    let keys = match &a.public_key {
        Some(p) => load_keys(std::slice::from_ref(p), a.common.ssh)?,
        None if !a.cert_args.trust_anchor.is_empty() => cert_verifiers(&a.cert_args)?,
        None => vec![Who::Keyless(a.keyless_args.verifier()?)],
    };
    let report = verify(&a.input, &keys, &a.common)?;
    // One valid record from a distinct signer per required anchor.
    let policy = a.cert_args.require_all_anchors.then(|| {
        let verifiers: Vec<&wsc_pki::CertVerifier> = keys
            .iter()
            .filter_map(|k| match k {
                Who::Cert { verifier, .. } => Some(verifier),
                _ => None,
            })
            .collect();
        wsc_pki::require_all(&report, &verifiers)
    });
    let ok = match &policy {
        Some(p) => p.is_ok(),
        None => report.any_verified(),
    };
    if a.common.json {
        let mut out = to_json(&a.input, &keys, &report);
        if let Some(p) = &policy {
            out["verified"] = json!(p.is_ok());
            out["require_all_anchors"] = json!({"met": p.is_ok(), "error": p.as_ref().err().map(ToString::to_string)});
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_warnings(&a.input, &report);
        // With every anchor required, report the first failure; else the first success.
        let shown = if a.cert_args.require_all_anchors {
            report.results.iter().position(|r| r.is_err()).or(Some(0))
        } else {
            report.results.iter().position(|r| r.is_ok()).or(Some(0))
        };
        let shown_result = shown.and_then(|i| report.results.get(i).map(|r| (i, r)));
        let policy_error = policy.as_ref().and_then(|p| p.as_ref().err());
        match (shown_result.map(|(_, r)| r), policy_error) {
            // Every anchor verified, but not each with a signer of its own.
            (Some(Ok(_)), Some(e)) => eprintln!("error: '{}': verification failed: {e}", a.input.display()),
            (Some(Ok(v)), None) => {
                println!("Signature is valid.");
                describe(&a.input, v);
            }
            (Some(Err(e)), _) => {
                print_rejections(&a.input, &report, shown.unwrap_or(0));
                eprintln!("error: '{}': verification failed: {e}", a.input.display());
            }
            (None, _) => {}
        }
    }
    Ok(if ok { Outcome::Done } else { Outcome::VerificationFailed })
}

pub(crate) fn run_matrix(a: &MatrixArgs) -> Result<Outcome> {
    if a.policy.is_none() && (a.path.is_some() || a.oci_repository.is_some()) {
        anyhow::bail!("--path and --oci-repository name a module for --policy, and --policy is not given");
    }
    if let Some(policy) = &a.policy {
        let named =
            crate::policy_verify::Named { path: a.path.as_deref(), oci_repository: a.oci_repository.as_deref() };
        return crate::policy_verify::run_matrix(&a.input, a.common.signature.as_deref(), policy, named, a.common.json);
    }
    let keys = load_keys(&a.public_keys, a.common.ssh)?;
    let report = verify(&a.input, &keys, &a.common)?;
    let ok = report.any_verified();
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&a.input, &keys, &report))?);
    } else {
        print_warnings(&a.input, &report);
        if ok {
            println!("Valid public keys:");
        }
        for (k, r) in keys.iter().zip(&report.results) {
            match r {
                Ok(v) => println!("  - {}: {}", k.label(), coverage(v)),
                Err(e) => eprintln!("  not verified: {}: {e}", k.label()),
            }
        }
        if !ok {
            eprintln!("error: '{}': no public key verified the module", a.input.display());
        }
    }
    Ok(if ok { Outcome::Done } else { Outcome::VerificationFailed })
}

fn cert_verifiers(c: &CertArgs) -> Result<Vec<Who>> {
    let checks = crate::pki::CertChecks {
        crls: &c.crl,
        at_time: c.at_time.as_deref(),
        require_crl: c.require_crl,
        tsa_chains: &c.tsa_chain,
    };
    if c.require_all_anchors {
        let verifiers = crate::pki::cert_verifier_per_anchor(&c.trust_anchor, checks)?;
        Ok(c.trust_anchor
            .iter()
            .zip(verifiers)
            .map(|(p, verifier)| Who::Cert { anchors: p.display().to_string(), verifier })
            .collect())
    } else {
        let anchors = c.trust_anchor.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        Ok(vec![Who::Cert { anchors, verifier: crate::pki::cert_verifier(&c.trust_anchor, checks)? }])
    }
}

fn load_keys(paths: &[PathBuf], ssh: bool) -> Result<Vec<Who>> {
    let mut keys = Vec::new();
    for p in paths {
        let loaded = crate::keys::load_public(p, ssh)?;
        let take = if ssh { loaded.len() } else { 1 };
        keys.extend(loaded.into_iter().take(take).map(|key| Who::Key { file: p.clone(), key }));
    }
    Ok(keys)
}

/// One audit event per verifier.
fn audit(input: &Path, keys: &[Who], c: &Common, report: &Result<Report>) {
    let mode = if c.signature.is_some() { "detached" } else { "embedded" };
    let scope = if c.split.is_some() { "partial" } else { "whole" };
    match report {
        Ok(r) => {
            let digest = r.checkpoints.last().map(|cp| wsc_core::keys::hex(&cp.hash)).unwrap_or_default();
            for (k, res) in keys.iter().zip(&r.results) {
                let (result, signers, range) = match res {
                    Ok(v) => (
                        "verified".to_string(),
                        v.signatures
                            .iter()
                            .filter_map(|s| s.evidence.description.clone())
                            .collect::<Vec<_>>()
                            .join("; "),
                        format!("{}..{}", v.start, v.verified_end),
                    ),
                    Err(e) => (format!("failed: {e}"), String::new(), String::new()),
                };
                tracing::info!(
                    target: crate::audit::TARGET,
                    event = "verify",
                    module = %input.display(),
                    mode,
                    scope,
                    verifier = %k.label(),
                    content_sha256 = digest.as_str(),
                    signer = signers.as_str(),
                    verified_range = range.as_str(),
                    result = result.as_str(),
                );
            }
        }
        Err(e) => {
            // "No signature" is a verification that ran and failed; the rest are input errors.
            let failed = e
                .chain()
                .any(|c| c.downcast_ref::<wsc_core::Error>().is_some_and(wsc_core::Error::is_verification_failure));
            let result = if failed { format!("failed: {e:#}") } else { format!("error: {e:#}") };
            tracing::info!(
                target: crate::audit::TARGET,
                event = "verify",
                module = %input.display(),
                mode,
                scope,
                result = result.as_str(),
            );
        }
    }
}

fn verify(input: &Path, keys: &[Who], c: &Common) -> Result<Report> {
    let report = verify_inner(input, keys, c);
    audit(input, keys, c, &report);
    report
}

fn verify_inner(input: &Path, keys: &[Who], c: &Common) -> Result<Report> {
    let regex = crate::ops::SplitRegex::parse(c.split.as_deref())?;
    let select = |h: &SectionHeader| regex.selects(h);
    let scope = if regex.is_set() { Scope::Partial(&select) } else { Scope::Whole };
    let verifiers: Vec<&dyn RecordVerifier> = keys.iter().map(Who::verifier).collect();
    let (f, len) = files::open_module(input)?;
    let opts = VerifyOptions::default();
    let ctx = || format!("cannot verify '{}'", input.display());
    match &c.signature {
        Some(sig) => {
            let data = files::read_small(sig, wsc_core::sigdata::MAX_SIGNATURE_DATA as u64, "signature file")?;
            wsc_core::verify_detached(f, Some(len), &data, &verifiers, scope, &opts)
                .with_context(|| format!("signature file '{}'", sig.display()))
                .with_context(ctx)
        }
        None => wsc_core::verify_embedded(f, Some(len), &verifiers, scope, &opts).with_context(ctx),
    }
}

fn coverage(v: &wsc_core::Verified) -> String {
    match v.unverified() {
        None => format!("whole content verified (bytes {}..{})", v.start, v.end),
        Some((a, b)) => format!("bytes {}..{} verified; bytes {a}..{b} NOT verified", v.start, v.verified_end),
    }
}

fn describe(input: &Path, v: &wsc_core::Verified) {
    eprintln!("'{}': {}; {} hash(es) checked", input.display(), coverage(v), v.hashes_checked);
    for s in &v.signatures {
        if let Some(who) = &s.evidence.description {
            eprintln!("  set {} record {}: signed by {who}", s.set, s.record);
        }
    }
}

fn print_rejections(input: &Path, r: &Report, verifier: usize) {
    for x in r.rejected.iter().filter(|x| x.verifier == verifier) {
        eprintln!("'{}': set {} record {} rejected: {}", input.display(), x.set, x.record, x.reason);
    }
}

fn print_warnings(input: &Path, r: &Report) {
    for s in &r.skipped {
        match s.record {
            Some(i) => eprintln!(
                "warning: '{}': skipped record {i} of set {} at signature-data offset {}: {}",
                input.display(),
                s.set,
                s.offset,
                s.reason
            ),
            None => eprintln!(
                "warning: '{}': skipped set {} at signature-data offset {}: {}",
                input.display(),
                s.set,
                s.offset,
                s.reason
            ),
        }
    }
    if r.trailing_bytes > 0 {
        eprintln!(
            "warning: '{}': {} byte(s) after the last signature set are ignored",
            input.display(),
            r.trailing_bytes
        );
    }
}

fn to_json(input: &Path, keys: &[Who], r: &Report) -> Value {
    let results: Vec<Value> = keys
        .iter()
        .zip(&r.results)
        .enumerate()
        .map(|(i, (k, res))| {
            let mut o = k.json();
            o["verified"] = json!(res.is_ok());
            o["rejected"] = r
                .rejected
                .iter()
                .filter(|x| x.verifier == i)
                .map(|x| json!({"set": x.set, "record": x.record, "reason": x.reason}))
                .collect();
            match res {
                Ok(v) => {
                    o["whole"] = json!(v.whole);
                    o["verified_range"] = json!([v.start, v.verified_end]);
                    o["unverified_range"] = json!(v.unverified().map(|(a, b)| [a, b]));
                    o["hashes_checked"] = json!(v.hashes_checked);
                    o["signatures"] = v
                        .signatures
                        .iter()
                        .map(|s| json!({"set": s.set, "record": s.record, "algorithm": s.algorithm.name(), "signer": s.evidence.description, "signer_id": s.evidence.signer.to_string()}))
                        .collect();
                }
                Err(e) => o["error"] = json!(e.to_string()),
            }
            o
        })
        .collect();
    json!({
        "file": input.display().to_string(),
        "kind": r.kind.as_str(),
        "verified": r.any_verified(),
        "signature_offset": r.signature_offset,
        "results": results,
        "skipped": r.skipped.iter().map(|s| json!({"set": s.set, "record": s.record, "offset": s.offset, "reason": s.reason})).collect::<Vec<_>>(),
        "trailing_bytes": r.trailing_bytes,
    })
}
