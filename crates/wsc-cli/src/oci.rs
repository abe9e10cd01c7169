//! `wsc oci push|pull|verify`: modules and components as CNCF wasm OCI
//! artifacts, their embedded signatures judged by a trust policy (or the
//! flags that make one) as `wsc verify` judges them (docs/oci.md).
//!
//! A pull streams the layer once: each chunk goes to a temporary file next
//! to the output and, over a bounded channel, to a thread evaluating the
//! policy. The output appears only when the digest, the size, the layout
//! and the policy all passed. With `--nested` the parts are read by
//! offset: the layer is downloaded to that temporary file first, then
//! evaluated from it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use wsc_oci::layout::ArtifactInfo;
use wsc_oci::registry::{Credentials, Reference, ReferrerUpdate, Registry, RegistryOptions};
use wsc_oci::sigstore::ReferrerContent as FetchedContent;
use wsc_oci::{DEFAULT_MAX_LAYER, Resolved};
use wsc_pinning::Service;
use wsc_policy::{Target, Verdict};

use crate::Outcome;
use crate::args::Output;
use crate::files::{self, Mode, NamedWriter, Outputs, Replace};
use crate::policy_verify::{self, Lines, Trust};
use crate::verify::{FlagOptions, TrustArgs};

/// Chunks queued for the evaluation before the download waits for it.
const QUEUE: usize = 4;

#[derive(Debug, Subcommand)]
pub(crate) enum OciCommand {
    /// Push a module or component as a wasm OCI artifact, if its embedded signatures
    /// meet the trust check (--policy or -K …; or --allow-unsigned). Prints REF@sha256:….
    Push(PushArgs),
    /// Pull a wasm artifact to a file, verifying its embedded signatures as it streams (and the
    /// referrers' attestations a policy asks for): the file appears only if the digest, the
    /// size, the layout and the policy all pass.
    Pull(PullArgs),
    /// Verify a wasm artifact in a registry, as `pull` does, without writing it.
    Verify(OciVerifyArgs),
    /// Sign a wasm artifact's manifest (--keyless, or a P-256 key with -k/--signer): a DSSE
    /// in-toto statement in a Sigstore bundle, pushed as a referrer in cosign v3's layout.
    Sign(OciSignArgs),
    /// Push a Sigstore bundle (an attestation about the manifest) as a referrer.
    Attach(AttachArgs),
    /// List the referrers of a manifest: Sigstore bundles, other artifacts, broken entries.
    Referrers(ReferrersArgs),
}

/// How to reach the registry.
#[derive(Debug, Args)]
struct RegistryArgs {
    #[command(flatten)]
    insecure: InsecureRegistry,
    /// Trust these CA certificates (PEM) for HTTPS instead of the Mozilla roots (a private registry).
    #[arg(long = "tls-ca", value_name = "PEM")]
    tls_ca: Option<PathBuf>,
}

/// `--insecure-registry`, alone where `--tls-ca` comes from the signing
/// services' options.
#[derive(Debug, Args)]
struct InsecureRegistry {
    /// Reach this registry over plain HTTP (only localhost, 127.0.0.0/8 and ::1 are
    /// allowed); repeatable. Refused when WSC_REQUIRE_CERT_PINNING is set.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registry: Vec<String>,
}

impl RegistryArgs {
    fn client(&self, reference: &Reference) -> Result<Registry> {
        self.insecure.client(reference, self.tls_ca.as_deref())
    }
}

impl InsecureRegistry {
    /// A client for the reference's registry, with the credentials of the
    /// docker or podman configuration.
    fn client(&self, reference: &Reference, tls_ca: Option<&Path>) -> Result<Registry> {
        let host = reference.registry();
        let insecure = self.insecure_registry.iter().any(|h| h.eq_ignore_ascii_case(host));
        for h in self.insecure_registry.iter().filter(|h| !h.eq_ignore_ascii_case(host)) {
            eprintln!("note: --insecure-registry {h} is not the registry of {reference}");
        }
        let credentials = Credentials::lookup(host)?;
        let options = RegistryOptions { credentials, insecure, ..Default::default() };
        let registry = Registry::new(host, &crate::net::builder(tls_ca)?, options)?;
        if insecure {
            eprintln!("WARNING: --insecure-registry: {host} is reached without TLS");
        } else if !registry.pinned() {
            eprintln!("note: no certificate pins for {host} ({})", Service::Registry.variable());
        }
        Ok(registry)
    }
}

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// The module or component to push.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Where: HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST].
    #[arg(value_name = "REF")]
    reference: String,
    /// A manifest annotation; repeatable.
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    /// Push without checking the embedded signatures.
    #[arg(long, conflicts_with_all = ["public_key", "keyless", "trust_anchor", "policy", "split", "ssh"])]
    allow_unsigned: bool,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    flag_options: FlagOptions,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// What: HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST].
    #[arg(value_name = "REF")]
    reference: String,
    #[command(flatten)]
    output: Output,
    #[command(flatten)]
    check: CheckArgs,
}

#[derive(Debug, Args)]
pub(crate) struct OciVerifyArgs {
    /// What: HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST].
    #[arg(value_name = "REF")]
    reference: String,
    #[command(flatten)]
    check: CheckArgs,
}

/// What `pull` and `verify` share.
#[derive(Debug, Args)]
#[command(mut_arg("public_key", TrustArgs::required))]
struct CheckArgs {
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    flag_options: FlagOptions,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print the verdict, with the artifact's reference and digests, as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct OciSignArgs {
    /// What: HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST] of a wasm artifact.
    #[arg(value_name = "REF")]
    reference: String,
    /// Sign keyless with Sigstore (Fulcio, Rekor, TSA).
    #[arg(long, required_unless_present_any = ["secret_key", "signer"], conflicts_with_all = ["secret_key", "signer"])]
    keyless: bool,
    /// Or sign with a managed P-256 key (logged in Rekor with the public key, as `cosign --key`).
    #[command(flatten)]
    key: crate::hardware::KeySource,
    /// The statement's predicate type (default cosign's https://sigstore.dev/cosign/sign/v1).
    #[arg(long = "type", value_name = "URI", requires = "predicate")]
    predicate_type: Option<String>,
    /// The predicate, a JSON file (default {}).
    #[arg(long, value_name = "FILE", requires = "predicate_type")]
    predicate: Option<PathBuf>,
    #[command(flatten)]
    sigstore: crate::keyless_sign::ServiceArgs,
    #[command(flatten)]
    net: crate::net::NetArgs,
    #[command(flatten)]
    insecure: InsecureRegistry,
}

#[derive(Debug, Args)]
pub(crate) struct AttachArgs {
    /// The subject: HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST].
    #[arg(value_name = "REF")]
    reference: String,
    /// The Sigstore bundle (JSON) of an in-toto statement naming the manifest's digest.
    #[arg(value_name = "BUNDLE")]
    bundle: PathBuf,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ReferrersArgs {
    /// The subject: HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST].
    #[arg(value_name = "REF")]
    reference: String,
    /// Print the list as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub(crate) fn run(command: &OciCommand) -> Result<Outcome> {
    match command {
        OciCommand::Push(a) => push(a),
        OciCommand::Pull(a) => pull(&a.reference, &a.check, Some(&a.output.output)),
        OciCommand::Verify(a) => pull(&a.reference, &a.check, None),
        OciCommand::Sign(a) => sign(a),
        OciCommand::Attach(a) => attach(a),
        OciCommand::Referrers(a) => referrers(a),
    }
}

/// The time as a referrer's `org.opencontainers.image.created`.
fn created_text() -> Result<String> {
    Ok(wsc_oci::layout::rfc3339(created()?)?)
}

/// Reports where a referrer went.
fn report_attached(subject: &Reference, attached: &wsc_oci::sigstore::Attached) {
    let how = match &attached.update {
        ReferrerUpdate::Api => "listed by the registry's referrers API".to_string(),
        ReferrerUpdate::FallbackTag { index, .. } => {
            format!(
                "listed in the fallback tag {} (index {index})",
                subject.digest().map_or_else(String::new, |d| d.fallback_tag())
            )
        }
        _ => "listed".to_string(),
    };
    eprintln!("referrer {} of {subject}: {how}", attached.referrer);
    match Reference::new(subject.registry(), subject.repository(), None, Some(attached.referrer)) {
        Ok(r) => println!("{r}"),
        Err(_) => println!("{}", attached.referrer),
    }
}

fn sign(a: &OciSignArgs) -> Result<Outcome> {
    let reference = parse_reference(&a.reference)?;
    let (predicate_type, predicate) = match (&a.predicate_type, &a.predicate) {
        (Some(t), Some(file)) => {
            let bytes = files::read_small(file, wsc_oci::sigstore::MAX_BUNDLE / 2, "predicate")?;
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .with_context(|| format!("predicate '{}' is not JSON", file.display()))?;
            (t.clone(), v)
        }
        _ => (wsc_oci::sigstore::COSIGN_SIGN_PREDICATE.to_string(), json!({})),
    };
    let registry = a.insecure.client(&reference, a.net.tls_ca.as_deref())?;
    // Only a wasm artifact is signed: its layout is checked first.
    let resolved = wsc_oci::resolve(&registry, &reference).with_context(|| format!("cannot sign {reference}"))?;
    let subject = resolved.reference.clone();
    let name = repository_name(&subject);
    let statement = wsc_oci::sigstore::statement(&name, &resolved.manifest.digest, &predicate_type, &predicate);
    let bundle = if a.keyless {
        let signer = a.sigstore.signer(&a.net)?;
        signer.sign_in_toto(&statement).with_context(|| format!("cannot sign {subject}"))?
    } else {
        if a.sigstore.identity_token.is_some() || a.sigstore.identity_token_file.is_some() || a.sigstore.browser {
            bail!("an identity token is for --keyless: a key signs without one");
        }
        let key = a.key.open(|p| Ok(Box::new(crate::keys::load_secret(p, false, crate::keys::Exposure::Warn)?)))?;
        let (services, root) = a.sigstore.services(&a.net)?;
        services
            .sign_in_toto_with_key(key.as_ref(), &root, &statement)
            .with_context(|| format!("cannot sign {subject} with '{}'", a.key.name()))?
    };
    let attached = wsc_oci::sigstore::attach(&registry, &subject, bundle.as_bytes(), &predicate_type, &created_text()?)
        .with_context(|| format!("cannot attach the signature to {subject}"))?;
    report_attached(&subject, &attached);
    Ok(Outcome::Done)
}

fn attach(a: &AttachArgs) -> Result<Outcome> {
    let reference = parse_reference(&a.reference)?;
    let bundle = files::read_small(&a.bundle, wsc_oci::sigstore::MAX_BUNDLE, "bundle")?;
    let text = std::str::from_utf8(&bundle).with_context(|| format!("bundle '{}' is not UTF-8", a.bundle.display()))?;
    let statement = wsc_keyless::read_statement(text).with_context(|| format!("bundle '{}'", a.bundle.display()))?;
    let registry = a.registry.client(&reference)?;
    let manifest = registry.manifest_head(&reference, &[]).with_context(|| format!("cannot read {reference}"))?;
    let subject = reference.with_digest(manifest.digest);
    if !statement.names(manifest.digest.as_bytes()) {
        bail!(
            "bundle '{}' is about another artifact: its statement does not name {subject} (manifest {})",
            a.bundle.display(),
            manifest.digest
        );
    }
    let attached = wsc_oci::sigstore::attach(&registry, &subject, &bundle, &statement.predicate_type, &created_text()?)
        .with_context(|| format!("cannot attach '{}' to {subject}", a.bundle.display()))?;
    report_attached(&subject, &attached);
    Ok(Outcome::Done)
}

fn referrers(a: &ReferrersArgs) -> Result<Outcome> {
    let reference = parse_reference(&a.reference)?;
    let registry = a.registry.client(&reference)?;
    let manifest = registry.manifest_head(&reference, &[]).with_context(|| format!("cannot read {reference}"))?;
    let subject = reference.with_digest(manifest.digest);
    let found = wsc_oci::sigstore::fetch_referrers(&registry, &subject, &manifest.digest)
        .with_context(|| format!("cannot list the referrers of {subject}"))?;
    let rows: Vec<serde_json::Value> = found
        .iter()
        .map(|r| {
            let (kind, detail) = match &r.content {
                FetchedContent::Bundle(b) => {
                    match std::str::from_utf8(b).map_err(|e| e.to_string()).and_then(|t| {
                        wsc_keyless::read_statement(t).map_err(|e| wsc_core::Chain(&e).to_string())
                    }) {
                        Ok(s) => ("sigstore-bundle", json!({"predicate_type": s.predicate_type, "names_subject": s.names(manifest.digest.as_bytes())})),
                        Err(why) => ("sigstore-bundle", json!({"unreadable": why})),
                    }
                }
                FetchedContent::Other(why) => ("other", json!({"why": why})),
                FetchedContent::Broken(why) => ("broken", json!({"why": why})),
                FetchedContent::Unreadable(e) => ("broken", json!({"why": wsc_core::Chain(e.as_ref()).to_string()})),
                _ => ("unknown", json!({})),
            };
            json!({"digest": r.digest, "artifact_type": r.artifact_type, "kind": kind, "detail": detail})
        })
        .collect();
    if a.json {
        let out = json!({"subject": subject.to_string(), "referrers": rows});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for (row, r) in rows.iter().zip(&found) {
            let detail = &row["detail"];
            let what = detail["predicate_type"]
                .as_str()
                .or_else(|| detail["why"].as_str())
                .or_else(|| detail["unreadable"].as_str())
                .unwrap_or("");
            println!(
                "{}\t{}\t{}\t{what}",
                r.digest,
                row["kind"].as_str().unwrap_or(""),
                r.artifact_type.as_deref().unwrap_or("-")
            );
        }
        eprintln!("{} referrer(s) of {subject}", found.len());
    }
    Ok(Outcome::Done)
}

fn parse_reference(text: &str) -> Result<Reference> {
    text.parse().with_context(|| format!("reference '{text}'"))
}

/// The repository as policy scopes name it: `host[:port]/path`, lower case.
fn repository_name(reference: &Reference) -> String {
    format!("{}/{}", reference.registry().to_ascii_lowercase(), reference.repository())
}

fn push(a: &PushArgs) -> Result<Outcome> {
    let reference = parse_reference(&a.reference)?;
    let annotations = annotations(&a.annotations)?;
    let created = created()?;
    let trust = if a.allow_unsigned {
        None
    } else if a.trust.given() {
        Some((a.trust.trust(&a.flag_options)?, a.trust.now()?))
    } else {
        bail!("give a trust check for the module's signatures (--policy FILE, -K KEY, …) or --allow-unsigned");
    };
    let module = files::read_small(&a.file, DEFAULT_MAX_LAYER, "module")?;
    if let Some((trust, now)) = &trust {
        let name = a.file.display().to_string();
        let repository = repository_name(&reference);
        let target = Target::oci_repository(&repository);
        let (policy, len) = (trust.policy(), Some(module.len() as u64));
        let verdict = if a.flag_options.nested {
            policy.evaluate_nested(io::Cursor::new(module.as_slice()), len, &target, *now)
        } else {
            policy.evaluate(module.as_slice(), len, &target, *now)
        };
        let verdict = match verdict {
            Ok(v) => v,
            Err(e) => {
                let e = anyhow::Error::new(e).context(format!("cannot verify '{name}'"));
                policy_verify::audit_failure(&name, trust, &e);
                return Err(e);
            }
        };
        if policy_verify::conclude(&name, trust, &verdict, None, Lines::RejectionOnly)? != Outcome::Done {
            eprintln!("error: '{name}' is not pushed: its signatures do not meet the trust check");
            return Ok(Outcome::VerificationFailed);
        }
    }
    let title = a.file.file_name().map_or_else(|| "module.wasm".into(), |n| n.to_string_lossy().into_owned());
    let info = ArtifactInfo { title: &title, author: None, created, annotations: &annotations };
    let registry = a.registry.client(&reference)?;
    let digest = wsc_oci::push(&registry, &reference, &module, &info)
        .with_context(|| format!("cannot push '{}' to {reference}", a.file.display()))?;
    println!("{}", reference.with_digest(digest));
    Ok(Outcome::Done)
}

/// `--annotation KEY=VALUE`s, each key once.
fn annotations(given: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in given {
        let Some((k, v)) = a.split_once('=') else {
            bail!("--annotation '{a}': expected KEY=VALUE");
        };
        if k.is_empty() || k.trim() != k {
            bail!("--annotation '{a}': the key must be non-empty, without spaces around it");
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            bail!("--annotation {k} is given twice");
        }
    }
    Ok(out)
}

/// The config's `created`: SOURCE_DATE_EPOCH when set (reproducible
/// builds), else now.
fn created() -> Result<SystemTime> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => {
            let secs: u64 =
                v.trim().parse().with_context(|| format!("SOURCE_DATE_EPOCH '{v}' is not a number of seconds"))?;
            Ok(UNIX_EPOCH + Duration::from_secs(secs))
        }
        Err(std::env::VarError::NotPresent) => Ok(SystemTime::now()),
        Err(e) => Err(e).context("SOURCE_DATE_EPOCH"),
    }
}

/// `pull` (with `output`) and `verify` (without).
fn pull(reference: &str, a: &CheckArgs, output: Option<&Path>) -> Result<Outcome> {
    let reference = parse_reference(reference)?;
    let trust = a.trust.trust(&a.flag_options)?;
    let now = a.trust.now()?;
    let registry = a.registry.client(&reference)?;
    let resolved = wsc_oci::resolve(&registry, &reference).with_context(|| format!("cannot pull {reference}"))?;
    let name = resolved.reference.to_string();
    let repository = repository_name(&reference);
    let target = Target::oci_repository(&repository);
    // Referrers are read only when the policy names an attestation.
    let referrers = if trust.policy().principals().values().any(|p| matches!(p, wsc_policy::Principal::Attestation(_)))
    {
        let found = wsc_oci::sigstore::fetch_referrers(&registry, &resolved.reference, &resolved.manifest.digest)
            .with_context(|| format!("cannot read the referrers of {}", resolved.reference))?;
        Some(found.into_iter().map(evidence).collect::<Vec<_>>())
    } else {
        None
    };
    let check = Check {
        registry: &registry,
        resolved: &resolved,
        trust: &trust,
        target: &target,
        now,
        json: a.json,
        referrers: referrers.as_deref(),
    };
    let mut outputs = Outputs::default();
    let verdict = match (output, a.flag_options.nested) {
        (Some(path), false) => {
            outputs.stage(path, Mode::Public, Replace::Allow, |f| check.run(&mut NamedWriter::new(f, path)))
        }
        (None, false) => check.run(&mut io::sink()),
        (Some(path), true) => outputs.stage(path, Mode::Public, Replace::Allow, |f| check.run_nested(f, path)),
        (None, true) => {
            let mut f = tempfile::tempfile().context("cannot create a temporary file for the layer")?;
            check.run_nested(&mut f, Path::new("the temporary copy of the layer"))
        }
    };
    let verdict = match verdict {
        Ok(v) => v,
        Err(e) => {
            policy_verify::audit_failure(&name, &trust, &e);
            return Err(e);
        }
    };
    let json = a.json.then(|| {
        let mut j = verdict.to_json();
        j["oci"] = json!({
            "reference": name,
            "repository": repository,
            "manifest_digest": resolved.manifest.digest.to_string(),
            "layer_digest": resolved.layout.layer_digest.to_string(),
            "layer_size": resolved.layout.layer_size,
            "os": resolved.config.kind.os(),
        });
        j
    });
    let outcome = policy_verify::conclude(&name, &trust, &verdict, json.as_ref(), Lines::Verify)?;
    if let (Outcome::Done, Some(path)) = (outcome, output) {
        outputs.commit()?;
        eprintln!("'{}' written from {name}", path.display());
    }
    Ok(outcome)
}

/// A fetched referrer as the policy takes it.
fn evidence(r: wsc_oci::sigstore::FetchedReferrer) -> wsc_policy::Referrer {
    let content = match r.content {
        FetchedContent::Bundle(b) => match String::from_utf8(b) {
            Ok(text) => wsc_policy::ReferrerContent::Bundle(text),
            Err(_) => wsc_policy::ReferrerContent::Broken("the bundle is not UTF-8".into()),
        },
        FetchedContent::Other(why) => wsc_policy::ReferrerContent::Other(why),
        FetchedContent::Broken(why) => wsc_policy::ReferrerContent::Broken(why),
        FetchedContent::Unreadable(e) => wsc_policy::ReferrerContent::Broken(wsc_core::Chain(e.as_ref()).to_string()),
        _ => wsc_policy::ReferrerContent::Other("an unknown kind of referrer".into()),
    };
    wsc_policy::Referrer { digest: r.digest, artifact_type: r.artifact_type, content }
}

/// One streamed check of a resolved artifact.
struct Check<'a> {
    registry: &'a Registry,
    resolved: &'a Resolved,
    trust: &'a Trust,
    target: &'a Target<'a>,
    now: SystemTime,
    /// `--json`: no progress bar.
    json: bool,
    /// The manifest's referrers, when the policy needs them.
    referrers: Option<&'a [wsc_policy::Referrer]>,
}

impl Check<'_> {
    /// Streams the layer into `out` and through the policy evaluation at
    /// once. Errors of the registry (digest, size, layout) come first; the
    /// verdict is about exactly the layer's bytes.
    fn run(&self, out: &mut dyn Write) -> Result<Verdict> {
        let layout = &self.resolved.layout;
        let name = &self.resolved.reference;
        let policy = self.trust.policy();
        let (fetched, evaluated) = std::thread::scope(|s| {
            let (tx, rx) = sync_channel(QUEUE);
            let (target, now, size) = (self.target, self.now, layout.layer_size);
            let (manifest, referrers) = (&self.resolved.manifest.bytes, self.referrers);
            let evaluation = s.spawn(move || {
                let input = wsc_policy::ChunkReader::new(rx);
                match referrers {
                    Some(referrers) => {
                        let registry = wsc_policy::RegistryEvidence { manifest, referrers };
                        policy.evaluate_pulled(input, Some(size), target, now, &registry)
                    }
                    None => policy.evaluate(input, Some(size), target, now),
                }
            });
            let progress = crate::progress::bytes(size, "pulling", self.json);
            let mut tee = Tee { out: Progressing { out, progress }, tx: Some(tx) };
            let fetched = wsc_oci::fetch_layer(self.registry, self.resolved, DEFAULT_MAX_LAYER, &mut tee);
            // The end of the input: the evaluation finishes.
            drop(tee);
            (fetched, evaluation.join())
        });
        fetched.with_context(|| format!("cannot pull {name}"))?;
        match evaluated {
            Ok(v) => self.of_the_layer(v.with_context(|| format!("cannot verify {name}"))?),
            Err(_) => bail!("cannot verify {name}: the evaluation thread panicked"),
        }
    }

    /// `--nested`: the parts are read by offset, so the layer is downloaded
    /// into `file` first (its digest and size checked), then evaluated from
    /// there.
    fn run_nested(&self, file: &mut File, path: &Path) -> Result<Verdict> {
        let layout = &self.resolved.layout;
        let name = &self.resolved.reference;
        let mut progress = Progressing {
            out: NamedWriter::new(&mut *file, path),
            progress: crate::progress::bytes(layout.layer_size, "pulling", self.json),
        };
        wsc_oci::fetch_layer(self.registry, self.resolved, DEFAULT_MAX_LAYER, &mut progress)
            .with_context(|| format!("cannot pull {name}"))?;
        drop(progress);
        file.flush().and_then(|()| file.rewind()).with_context(|| format!("cannot read '{}'", path.display()))?;
        let (policy, size) = (self.trust.policy(), Some(layout.layer_size));
        let verdict = match self.referrers {
            Some(referrers) => {
                let registry = wsc_policy::RegistryEvidence { manifest: &self.resolved.manifest.bytes, referrers };
                policy.evaluate_nested_pulled(&mut *file, size, self.target, self.now, &registry)
            }
            None => policy.evaluate_nested(&mut *file, size, self.target, self.now),
        }
        .with_context(|| format!("cannot verify {name}"))?;
        self.of_the_layer(verdict)
    }

    /// `verdict`, if it is about exactly the layer's bytes.
    fn of_the_layer(&self, verdict: Verdict) -> Result<Verdict> {
        let layer = &self.resolved.layout.layer_digest;
        if verdict.module_sha256() != Some(*layer.as_bytes()) {
            bail!("cannot verify {}: the bytes evaluated are not the layer {layer}", self.resolved.reference);
        }
        Ok(verdict)
    }
}

/// Writes to `out`, counting on a progress bar.
struct Progressing<W> {
    out: W,
    progress: crate::progress::Progress,
}

impl<W: Write> Write for Progressing<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.out.write(data)?;
        self.progress.inc_by(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes to `out` and sends a copy to the evaluation, until it stops
/// taking them (it ended early; the download still completes for its
/// digest check).
struct Tee<'a> {
    out: Progressing<&'a mut dyn Write>,
    tx: Option<SyncSender<Vec<u8>>>,
}

impl Write for Tee<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.out.write(data)?;
        if let Some(tx) = &self.tx {
            if n > 0 && tx.send(data[..n].to_vec()).is_err() {
                self.tx = None;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn annotations_are_key_value_pairs_each_key_once() {
        let given = |a: &[&str]| super::annotations(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let ok = given(&["a=1", "b=x=y", "c="]).expect("fine");
        assert_eq!(ok.get("b").map(String::as_str), Some("x=y"));
        assert_eq!(ok.get("c").map(String::as_str), Some(""));
        for bad in [&["a"][..], &["=1"], &[" a=1"], &["a=1", "a=2"]] {
            assert!(given(bad).is_err(), "{bad:?}");
        }
    }
}
