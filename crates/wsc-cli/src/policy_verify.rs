//! `wsc verify --policy`: load the policy, evaluate the module, print the
//! verdict, map its decision to an exit code. The decision is wsc-policy's.

use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};
use wsc_policy::{Decision, Satisfied, Target, Verdict};

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
}

fn evaluate(input: &Path, signature: Option<&Path>, policy_file: &Path, named: Named<'_>) -> Result<(Verdict, String)> {
    let policy = wsc_policy::load_file(policy_file).with_context(|| format!("policy '{}'", policy_file.display()))?;
    let path = named.path.map(str::to_string).or_else(|| default_path(input));
    let target = Target::new(path.as_deref(), named.oci_repository);
    let (f, len) = files::open_module(input)?;
    let now = SystemTime::now();
    let verdict = match signature {
        None => policy.evaluate(f, Some(len), &target, now),
        Some(sig) => {
            let data = files::read_small(sig, wsc_core::sigdata::MAX_SIGNATURE_DATA as u64, "signature file")?;
            policy.evaluate_detached(f, Some(len), &data, &target, now)
        }
    }
    .with_context(|| format!("cannot verify '{}' against policy '{}'", input.display(), policy_file.display()))?;
    Ok((verdict, policy.sha256_hex()))
}

/// `verify --policy`: the verdict as text or JSON.
pub(crate) fn run(
    input: &Path,
    signature: Option<&Path>,
    policy_file: &Path,
    named: Named<'_>,
    json: bool,
) -> Result<Outcome> {
    report(input, signature, policy_file, named, json, print_text)
}

/// `verify_matrix --policy`: the verdict, then one line per principal.
pub(crate) fn run_matrix(
    input: &Path,
    signature: Option<&Path>,
    policy_file: &Path,
    named: Named<'_>,
    json: bool,
) -> Result<Outcome> {
    report(input, signature, policy_file, named, json, print_matrix)
}

/// Evaluates, prints the verdict (JSON, or `text`) and decides.
fn report(
    input: &Path,
    signature: Option<&Path>,
    policy_file: &Path,
    named: Named<'_>,
    json: bool,
    text: fn(&Path, &Verdict),
) -> Result<Outcome> {
    let (verdict, policy_sha256) = evaluate(input, signature, policy_file, named)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&verdict.to_json())?);
    } else {
        text(input, &verdict);
    }
    Ok(decide(input, &verdict, &policy_sha256))
}

fn print_matrix(_input: &Path, verdict: &Verdict) {
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

/// Logs the decision, prints the audit banner or the rejection, and maps
/// the decision to an exit code.
fn decide(input: &Path, verdict: &Verdict, policy_sha256: &str) -> Outcome {
    tracing::info!(
        event = "verify_policy",
        module = %input.display(),
        policy_sha256 = %policy_sha256,
        scope = verdict.scope().unwrap_or(""),
        decision = verdict.decision().as_str(),
        "policy verification"
    );
    let scope = verdict.scope().unwrap_or("(none)").to_string();
    let reason = verdict.primary_reason().map_or("unknown", |r| r.as_str());
    match verdict.decision() {
        Decision::Accepted => Outcome::Done,
        Decision::AuditRejected => {
            // Every run, JSON or not: an audit pass must never look like success.
            eprintln!("wsc: POLICY AUDIT: {} WOULD BE REJECTED by scope {scope}: {reason}", input.display());
            Outcome::Done
        }
        Decision::Rejected => {
            eprintln!("error: '{}': rejected by policy scope {scope}: {reason}", input.display());
            Outcome::VerificationFailed
        }
    }
}

fn print_text(input: &Path, v: &Verdict) {
    match v.decision() {
        Decision::Accepted => {
            println!("Policy accepted '{}' (scope {}).", input.display(), v.scope().unwrap_or("(none)"));
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
