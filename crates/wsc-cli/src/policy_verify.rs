//! `wsc verify --policy`: load the policy, evaluate the module, print the
//! verdict, map its decision to an exit code. The decision is wsc-policy's.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use wsc_policy::{Decision, Policy, Satisfied, Target, Verdict};

use crate::shorthand::Flags;

use crate::Outcome;
use crate::files;

/// The module's path as scopes see it: `--path`, else the input path as
/// given, `/`-separated, without leading `./` segments.
fn default_path(input: &Path) -> Option<String> {
    let text = input.to_str()?;
    let mut rest = text;
    while let Some(r) = rest.strip_prefix("./") {
        rest = r.trim_start_matches('/');
    }
    Some(rest.to_string())
}

/// How the command line names the module for the scopes.
pub(crate) struct Named<'a> {
    pub(crate) path: Option<&'a str>,
    pub(crate) oci_repository: Option<&'a str>,
    /// `--nested`: check the nested parts against the scope's part rules.
    pub(crate) nested: bool,
}

/// Evaluates one module against a loaded policy (`nested`: its nested
/// parts too).
fn evaluate(
    input: &Path,
    signature: Option<&Path>,
    policy: &Policy,
    target: &Target<'_>,
    now: SystemTime,
    nested: bool,
) -> Result<Verdict> {
    let (f, len) = files::open_module(input)?;
    match signature {
        None if nested => policy.evaluate_nested(f, Some(len), target, now),
        None => policy.evaluate(f, Some(len), target, now),
        Some(_) if nested => {
            anyhow::bail!("--nested checks signatures embedded in the parts; it does not take a detached signature")
        }
        Some(sig) => {
            let data = files::read_small(sig, wsc_core::sigdata::MAX_SIGNATURE_DATA as u64, "signature file")?;
            policy.evaluate_detached(f, Some(len), &data, target, now)
        }
    }
    .with_context(|| format!("cannot verify '{}'", input.display()))
}

/// `verify --policy`: the verdict as text or JSON.
pub(crate) fn run(
    input: &Path,
    signature: Option<&Path>,
    policy_file: &Path,
    named: Named<'_>,
    now: SystemTime,
    json: bool,
) -> Result<Outcome> {
    report(input, signature, policy_file, named, now, json, print_text)
}

/// `verify_matrix --policy`: the verdict, then one line per principal.
pub(crate) fn run_matrix(
    input: &Path,
    signature: Option<&Path>,
    policy_file: &Path,
    named: Named<'_>,
    now: SystemTime,
    json: bool,
) -> Result<Outcome> {
    report(input, signature, policy_file, named, now, json, print_matrix)
}

/// Evaluates, prints the verdict (JSON, or `text`) and decides.
fn report(
    input: &Path,
    signature: Option<&Path>,
    policy_file: &Path,
    named: Named<'_>,
    now: SystemTime,
    json: bool,
    text: fn(&str, &Verdict),
) -> Result<Outcome> {
    let policy = wsc_policy::load_file(policy_file).with_context(|| format!("policy '{}'", policy_file.display()))?;
    let path = named.path.map(str::to_string).or_else(|| default_path(input));
    let target = Target::new(path.as_deref(), named.oci_repository);
    let request = Request { input, signature, target: &target, now, json, by: "policy", nested: named.nested };
    let name = input.display().to_string();
    let label = |p: &str| format!("policy {} principal {p}", policy_file.display());
    let verdict = evaluate_and_show(&request, &policy, &|v| text(&name, v), &label)
        .with_context(|| format!("policy '{}'", policy_file.display()))?;
    Ok(decide(&name, &verdict))
}

/// One evaluation as the command line asked for it.
struct Request<'a> {
    input: &'a Path,
    signature: Option<&'a Path>,
    target: &'a Target<'a>,
    now: SystemTime,
    json: bool,
    /// What decided, for the audit log: `policy` or `flags`.
    by: &'static str,
    /// `--nested`.
    nested: bool,
}

/// Evaluates, prints warnings and the verdict (JSON, or `text`), and
/// writes the audit events.
fn evaluate_and_show(
    r: &Request<'_>,
    policy: &Policy,
    text: &dyn Fn(&Verdict),
    label: &dyn Fn(&str) -> String,
) -> Result<Verdict> {
    let name = r.input.display().to_string();
    let verdict = match evaluate(r.input, r.signature, policy, r.target, r.now, r.nested) {
        Ok(v) => v,
        Err(e) => {
            audit_error(&name, r.by, &e);
            return Err(e);
        }
    };
    let json = r.json.then(|| verdict.to_json());
    show(&name, &verdict, json.as_ref(), text, label)?;
    Ok(verdict)
}

/// Prints warnings and the verdict (`json`, or `text`), and writes the
/// audit events.
fn show(
    name: &str,
    verdict: &Verdict,
    json: Option<&serde_json::Value>,
    text: &dyn Fn(&Verdict),
    label: &dyn Fn(&str) -> String,
) -> Result<()> {
    print_warnings(name, verdict);
    match json {
        Some(j) => println!("{}", serde_json::to_string_pretty(j)?),
        None => text(verdict),
    }
    audit(name, verdict, label);
    Ok(())
}

/// The policy a command decides with: a --policy file, or the flags'.
pub(crate) enum Trust {
    Policy { file: PathBuf, policy: Policy },
    Flags(Flags),
}

impl Trust {
    pub(crate) fn policy(&self) -> &Policy {
        match self {
            Trust::Policy { policy, .. } => policy,
            Trust::Flags(f) => &f.policy,
        }
    }

    /// What decided, for the audit log.
    pub(crate) fn by(&self) -> &'static str {
        match self {
            Trust::Policy { .. } => "policy",
            Trust::Flags(_) => "flags",
        }
    }
}

/// Where a verdict's lines for people go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lines {
    /// As `wsc verify` prints them (an acceptance on stdout).
    Verify,
    /// Only a rejection's, on stderr: stdout is the command's own.
    RejectionOnly,
}

/// A verdict reached elsewhere (a stream from a registry) for the module
/// `name`: printed as `wsc verify` prints it (`json` replacing the text),
/// audited, and mapped to an outcome as `wsc verify` maps it.
pub(crate) fn conclude(
    name: &str,
    trust: &Trust,
    verdict: &Verdict,
    json: Option<&serde_json::Value>,
    lines: Lines,
) -> Result<Outcome> {
    let quiet = lines == Lines::RejectionOnly && verdict.decision() == Decision::Accepted;
    match trust {
        Trust::Policy { file, .. } => {
            let label = |p: &str| format!("policy {} principal {p}", file.display());
            let text = |v: &Verdict| {
                if !quiet {
                    print_text(name, v);
                }
            };
            show(name, verdict, json, &text, &label)?;
            Ok(decide(name, verdict))
        }
        Trust::Flags(flags) => {
            let text = |v: &Verdict| {
                if !quiet {
                    print_flags(name, v, flags);
                }
            };
            show(name, verdict, json, &text, &|p: &str| flags.label(p))?;
            Ok(match verdict.decision() {
                Decision::Accepted => Outcome::Done,
                _ => Outcome::VerificationFailed,
            })
        }
    }
}

/// A verification that could not decide (exit 2), in the audit log.
pub(crate) fn audit_failure(name: &str, trust: &Trust, e: &anyhow::Error) {
    audit_error(name, trust.by(), e);
}

/// How `verify` and `verify_matrix` print a verdict of the flags' policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagsOutput {
    /// `verify`: "Signature is valid." and what verified.
    Verify,
    /// `verify_matrix`: one line per key.
    Matrix,
}

/// `verify -K|--keyless|--trust-anchor` and `verify_matrix -K`: the flags'
/// policy, decided like any other.
pub(crate) fn run_flags(
    input: &Path,
    signature: Option<&Path>,
    flags: &Flags,
    now: SystemTime,
    json: bool,
    output: FlagsOutput,
) -> Result<Outcome> {
    let target = Target::unnamed();
    let request = Request { input, signature, target: &target, now, json, by: "flags", nested: flags.nested };
    let name = input.display().to_string();
    let text = |v: &Verdict| match output {
        FlagsOutput::Verify => print_flags(&name, v, flags),
        FlagsOutput::Matrix => print_flags_matrix(&name, v, flags),
    };
    let verdict = evaluate_and_show(&request, &flags.policy, &text, &|p: &str| flags.label(p))?;
    Ok(match verdict.decision() {
        Decision::Accepted => Outcome::Done,
        // The flags' policy has no audit scope; anything else rejects.
        _ => Outcome::VerificationFailed,
    })
}

/// What verified, as `wsc verify` has always said it.
fn coverage_text(v: &Verdict) -> String {
    let c = v.coverage();
    let span = |r: &[(u64, u64)]| match (r.first(), r.last()) {
        (Some((a, _)), Some((_, b))) => format!("{a}..{b}"),
        _ => "none".to_string(),
    };
    if c.unsigned_ranges.is_empty() {
        format!("whole content verified (bytes {})", span(&c.covered))
    } else {
        let unsigned: Vec<String> = c.unsigned_ranges.iter().map(|(a, b)| format!("{a}..{b}")).collect();
        format!("bytes {} verified; bytes {} NOT verified", span(&c.covered), unsigned.join(", "))
    }
}

/// The nested parts (`--nested`), one line each, on standard error.
fn print_parts(v: &Verdict) {
    for p in v.parts() {
        let who = if p.signers.is_empty() { String::new() } else { format!(" by {}", p.signers.join(", ")) };
        eprintln!(
            "  part {:?} {} at {} ({} bytes, sha256 {}): {}{who}",
            p.path,
            p.kind,
            p.offset,
            p.len,
            wsc_core::keys::hex(&p.sha256),
            p.outcome
        );
        for r in &p.reasons {
            eprintln!("    {r}");
        }
    }
}

fn print_flags(name: &str, v: &Verdict, flags: &Flags) {
    print_parts(v);
    match v.decision() {
        Decision::Accepted => {
            println!("Signature is valid.");
            eprintln!("'{}': {}", name, coverage_text(v));
            if let Some(tree) = v.satisfied() {
                for s in tree.slots() {
                    let by = s
                        .description
                        .as_deref()
                        .map_or_else(|| s.signer.to_string(), |d| format!("{d} ({})", s.signer));
                    eprintln!("  set {} record {}: signed by {by} as {}", s.set, s.record, flags.label(&s.principal));
                }
            }
            for name in &v.coverage().unsigned_sections {
                eprintln!("  unsigned custom section: {name}");
            }
        }
        Decision::Rejected | Decision::AuditRejected => {
            for r in v.rejected() {
                eprintln!("'{}': set {} record {} rejected: {}", name, r.set, r.record, r.reason);
            }
            print_reasons(v, &|p| flags.label(p));
            let why = v.reasons().first().map_or_else(|| "no rule was met".to_string(), |r| r.message.clone());
            eprintln!("error: '{name}': verification failed: {why}");
        }
    }
}

fn print_flags_matrix(name: &str, v: &Verdict, flags: &Flags) {
    let rows = v.matrix();
    // A key verified when a record of it counted, or verified and was not
    // needed (one key is enough for the flags' `any`).
    let valid = |row: &wsc_policy::PrincipalRow<'_>| -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = row.counted.iter().map(|s| (s.set, s.record)).collect();
        out.extend(
            row.unused.iter().filter(|u| matches!(u.why, "not_needed" | "same_signer")).map(|u| (u.set, u.record)),
        );
        out
    };
    if rows.iter().any(|r| !valid(r).is_empty()) {
        println!("Valid public keys:");
    }
    for row in &rows {
        let label = flags.label(row.principal);
        let records = valid(row);
        if records.is_empty() {
            let why: Vec<String> = row.reasons.iter().map(|r| format!("{}: {}", r.code, r.message)).collect();
            let why = if why.is_empty() { "no record verifies under it".to_string() } else { why.join("; ") };
            eprintln!("  not verified: {label}: {why}");
        } else {
            let records: Vec<String> = records.iter().map(|(s, r)| format!("set {s} record {r}")).collect();
            println!("  - {label}: {} ({})", coverage_text(v), records.join(", "));
        }
    }
    if v.decision() != Decision::Accepted {
        eprintln!("error: '{name}': no public key verified the module");
    }
}

fn print_reasons(v: &Verdict, label: &dyn Fn(&str) -> String) {
    for r in v.reasons() {
        match &r.principal {
            Some(p) => eprintln!("  {}: {}: {}", r.code, label(p), r.message),
            None => eprintln!("  {}: {}", r.code, r.message),
        }
    }
}

fn print_warnings(name: &str, v: &Verdict) {
    for s in v.skipped() {
        match s.record {
            Some(i) => eprintln!(
                "warning: '{name}': skipped record {i} of set {} at signature-data offset {}: {}",
                s.set, s.offset, s.reason
            ),
            None => eprintln!(
                "warning: '{name}': skipped set {} at signature-data offset {}: {}",
                s.set, s.offset, s.reason
            ),
        }
    }
    if v.trailing_bytes() > 0 {
        eprintln!("warning: '{name}': {} byte(s) after the last signature set are ignored", v.trailing_bytes());
    }
}

/// One audit event per principal.
fn audit(name: &str, v: &Verdict, label: &dyn Fn(&str) -> String) {
    let hex = wsc_core::keys::hex;
    let content = v.content_sha256().map(|h| hex(&h)).unwrap_or_default();
    let module = v.module_sha256().map(|h| hex(&h)).unwrap_or_default();
    let rows = v.matrix();
    for row in &rows {
        let result = if !row.counted.is_empty() {
            "verified".to_string()
        } else {
            match row.reasons.first().copied().or(v.reasons().first()) {
                Some(r) => format!("failed: {}: {}", r.code, r.message),
                None => "failed: no record verifies under it".to_string(),
            }
        };
        let signers: Vec<String> = row.counted.iter().map(|s| s.signer.to_string()).collect();
        let covered: Vec<String> = v.coverage().covered.iter().map(|(a, b)| format!("{a}..{b}")).collect();
        tracing::info!(
            target: crate::audit::TARGET,
            event = "verify",
            module = name,
            scope = v.scope().unwrap_or(""),
            decision = v.decision().as_str(),
            policy_sha256 = hex(&v.policy_sha256()).as_str(),
            verifier = label(row.principal).as_str(),
            content_sha256 = content.as_str(),
            module_sha256 = module.as_str(),
            signer = signers.join("; ").as_str(),
            verified_range = if row.counted.is_empty() { String::new() } else { covered.join(", ") }.as_str(),
            result = result.as_str(),
        );
    }
    if rows.is_empty() {
        let result = match v.reasons().first() {
            Some(r) => format!("failed: {}: {}", r.code, r.message),
            None => "failed".to_string(),
        };
        tracing::info!(
            target: crate::audit::TARGET,
            event = "verify",
            module = name,
            decision = v.decision().as_str(),
            policy_sha256 = hex(&v.policy_sha256()).as_str(),
            module_sha256 = module.as_str(),
            result = result.as_str(),
        );
    }
}

/// A verification that could not decide (exit 2).
fn audit_error(name: &str, by: &str, e: &anyhow::Error) {
    let result = format!("error: {e:#}");
    tracing::info!(target: crate::audit::TARGET, event = "verify", module = name, by, result = result.as_str());
}

fn print_matrix(_name: &str, verdict: &Verdict) {
    println!("Scope {}: {}", verdict.scope().unwrap_or("(none)"), verdict.decision().as_str());
    for row in verdict.matrix() {
        let counted: Vec<String> =
            row.counted.iter().map(|s| format!("{} (set {}, record {})", s.signer, s.set, s.record)).collect();
        let unused: Vec<String> =
            row.unused.iter().map(|u| format!("set {} record {}: {}", u.set, u.record, u.why)).collect();
        let reasons: Vec<&str> = row.reasons.iter().map(|r| r.code.as_str()).collect();
        let mut line = format!("  - {}: ", row.principal);
        if counted.is_empty() {
            line.push_str("not counted");
        } else {
            line.push_str(&format!("counted {}", counted.join(", ")));
        }
        if !unused.is_empty() {
            line.push_str(&format!("; unused {}", unused.join(", ")));
        }
        if !reasons.is_empty() {
            line.push_str(&format!("; {}", reasons.join(", ")));
        }
        println!("{line}");
    }
}

/// Prints the audit banner or the rejection, and maps the decision to an
/// exit code.
fn decide(name: &str, verdict: &Verdict) -> Outcome {
    let scope = verdict.scope().unwrap_or("(none)").to_string();
    let reason = verdict.primary_reason().map_or("unknown", |r| r.as_str());
    match verdict.decision() {
        Decision::Accepted => Outcome::Done,
        Decision::AuditRejected => {
            // Every run, JSON or not: an audit pass must never look like success.
            eprintln!("wsc: POLICY AUDIT: {name} WOULD BE REJECTED by scope {scope}: {reason}");
            Outcome::Done
        }
        Decision::Rejected => {
            eprintln!("error: '{name}': rejected by policy scope {scope}: {reason}");
            Outcome::VerificationFailed
        }
    }
}

fn print_text(name: &str, v: &Verdict) {
    print_parts(v);
    match v.decision() {
        Decision::Accepted => {
            println!("Policy accepted '{}' (scope {}).", name, v.scope().unwrap_or("(none)"));
            if let Some(tree) = v.satisfied() {
                print_tree(tree, 1);
            }
            for (a, b) in &v.coverage().unsigned_ranges {
                println!("  unsigned: bytes {a}..{b}");
            }
            for name in &v.coverage().unsigned_sections {
                println!("  unsigned custom section: {name}");
            }
        }
        Decision::Rejected | Decision::AuditRejected => {
            for r in v.reasons() {
                match &r.principal {
                    Some(p) => eprintln!("  {}: principal {p}: {}", r.code, r.message),
                    None => eprintln!("  {}: {}", r.code, r.message),
                }
            }
        }
    }
}

fn print_tree(node: &Satisfied, depth: usize) {
    let pad = "  ".repeat(depth);
    match node {
        Satisfied::Signer(s) => println!("{pad}{}: {} (set {}, record {})", s.principal, s.signer, s.set, s.record),
        Satisfied::Rule { rule, members, .. } => {
            println!("{pad}rule {rule}:");
            for m in members {
                print_tree(m, depth + 1);
            }
        }
        // Satisfied is non-exhaustive.
        _ => {}
    }
}
