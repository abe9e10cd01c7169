//! The verification flags as a trust policy. `-K`, `--keyless …` and
//! `--trust-anchor …` build a `wsc-policy/v1` document in memory, which
//! the policy loader reads like a file and the policy evaluation decides:
//! one decision procedure for flags and `--policy` (docs/policy.md, "Flags
//! as a policy").

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine;
use regex_syntax::hir::{Hir, Repetition};
use serde_json::{Map, Value, json};
use wsc_core::PublicKey;
use wsc_policy::{MemoryFiles, Policy, Principal};

use crate::files;
use crate::keyless::{KeylessArgs, RootSource};

/// A policy built from flags, with a label per principal for people.
pub(crate) struct Flags {
    pub(crate) policy: Policy,
    /// Principal name and how the command line named it.
    pub(crate) labels: Vec<(String, String)>,
    /// `--nested`: the nested parts are checked too.
    pub(crate) nested: bool,
}

impl Flags {
    pub(crate) fn label(&self, principal: &str) -> String {
        self.labels.iter().find(|(n, _)| n == principal).map_or_else(|| principal.to_string(), |(_, l)| l.clone())
    }
}

/// What the signatures must cover: the whole module, or (`-s REGEX`) every
/// standard section and the custom sections whose name the expression
/// finds. `-s` searches, as wasmsign2's does (docs/format.md §4); a policy
/// matches names whole, so the search is spelled whole: `.*(?:REGEX).*`,
/// built on the parsed expression so that no flag or comment in REGEX
/// changes what the wrapping means.
fn coverage(split: Option<&str>) -> Result<Value> {
    let Some(r) = split else {
        return Ok(json!({"kind": "whole"}));
    };
    let hir = regex_syntax::Parser::new().parse(r).with_context(|| format!("invalid --split regex '{r}'"))?;
    let any = || {
        Hir::repetition(Repetition {
            min: 0,
            max: None,
            greedy: true,
            sub: Box::new(Hir::dot(regex_syntax::hir::Dot::AnyChar)),
        })
    };
    let search = Hir::concat(vec![any(), hir, any()]);
    let printed = search.to_string();
    // Fail closed should the printer ever disagree with the parser.
    if regex_syntax::Parser::new().parse(&printed).ok().as_ref() != Some(&search) {
        bail!("--split regex '{r}' cannot be turned into a whole-name match");
    }
    Ok(json!({"kind": "sections", "standard": "required", "custom": printed}))
}

/// A document with these principals, one rule over them, and `[default]`;
/// with `nested` (`wsc verify --nested`), every nested part that carries
/// signatures must meet the same rule (unsigned parts are allowed).
fn document(principals: Map<String, Value>, rule: &str, split: Option<&str>, nested: bool) -> Result<Value> {
    let names: Vec<&String> = principals.keys().collect();
    let mut default = json!({"rule": "flags", "coverage": coverage(split)?});
    if nested {
        default["parts"] = json!([{"kind": "any", "rule": "flags", "unsigned": "allow"}]);
    }
    Ok(json!({
        "schema": "wsc-policy/v1",
        "principals": principals,
        "rules": {"flags": {rule: names}},
        "default": default,
    }))
}

fn load(doc: &Value, files: &MemoryFiles) -> Result<Policy> {
    let text = serde_json::to_vec(doc)?;
    wsc_policy::parse(&text, wsc_policy::Format::Json, files)
        .context("the verification flags do not make a valid policy")
}

/// `-K FILE` (with `-Z`, every key of an OpenSSH file; `verify_matrix`,
/// several files): any one key.
pub(crate) fn keys(keys: &[(PathBuf, PublicKey)], split: Option<&str>, nested: bool) -> Result<Flags> {
    let mut principals = Map::new();
    let mut labels = Vec::new();
    for (i, (file, key)) in keys.iter().enumerate() {
        let name = format!("key-{}", i + 1);
        let der = key.to_der().with_context(|| format!("public key '{}'", file.display()))?;
        principals.insert(
            name.clone(),
            json!({
                "kind": "key",
                "algorithm": key.algorithm().as_str(),
                "spki": base64::engine::general_purpose::STANDARD.encode(der),
            }),
        );
        labels.push((name, format!("{} ({}, key id {})", file.display(), key.algorithm().as_str(), key.key_id())));
    }
    let doc = document(principals, "any", split, nested)?;
    let policy = load(&doc, &MemoryFiles::new())
        .with_context(|| "each -K key must be a different key (the same key twice is one signer)")?;
    Ok(Flags { policy, labels, nested })
}

/// `--keyless --certificate-identity[-regexp] --certificate-oidc-issuer …`.
pub(crate) fn keyless(k: &KeylessArgs, split: Option<&str>, nested: bool) -> Result<Flags> {
    if k.certificate_oidc_issuer_regexp.is_some() {
        bail!(
            "--certificate-oidc-issuer-regexp is not accepted by `wsc verify`: the issuer is matched exactly \
             (give --certificate-oidc-issuer); a trust policy names one issuer per principal"
        );
    }
    let Some(issuer) = k.identity.issuer()? else {
        bail!("keyless verification needs --certificate-oidc-issuer");
    };
    let mut p = json!({"kind": "keyless", "issuer": issuer});
    let identity = k.identity.identity()?;
    match (identity, &k.certificate_identity_regexp) {
        (Some(id), _) => p["identity"] = json!(id),
        (None, Some(r)) => p["identity_regex"] = json!(r),
        (None, None) => bail!("keyless verification needs --certificate-identity or --certificate-identity-regexp"),
    }
    let mut files = MemoryFiles::new();
    p["trust_root"] = match k.root.resolve_with(&k.tuf)? {
        RootSource::Embedded { staging: false } => json!("embedded:production"),
        RootSource::Embedded { staging: true } => json!("embedded:staging"),
        RootSource::File(path) => json!(material(&mut files, &path, "trust root")?),
    };
    let mut gh = Map::new();
    for (field, value) in [
        ("repository", &k.certificate_github_workflow_repository),
        ("ref", &k.certificate_github_workflow_ref),
        ("trigger", &k.certificate_github_workflow_trigger),
        ("sha", &k.certificate_github_workflow_sha),
        ("name", &k.certificate_github_workflow_name),
    ] {
        if let Some(v) = value {
            gh.insert(field.to_string(), json!(v));
        }
    }
    if !gh.is_empty() {
        p["github"] = Value::Object(gh);
    }
    let mut principals = Map::new();
    principals.insert("keyless".to_string(), p);
    let doc = document(principals, "any", split, nested)?;
    let policy = load(&doc, &files)?;
    let label = match (identity, &k.certificate_identity_regexp) {
        (Some(id), _) => format!("keyless {id} ({issuer})"),
        (_, Some(r)) => format!("keyless /{r}/ ({issuer})"),
        _ => "keyless".to_string(),
    };
    Ok(Flags { policy, labels: vec![("keyless".to_string(), label)], nested })
}

/// Certificate-bound records under private trust anchors.
pub(crate) struct CertFlags<'a> {
    pub(crate) anchors: &'a [PathBuf],
    pub(crate) require_all: bool,
    pub(crate) crls: &'a [PathBuf],
    pub(crate) require_crl: bool,
    pub(crate) tsa_chains: &'a [PathBuf],
    pub(crate) use_timestamp: bool,
}

/// `--trust-anchor A [--trust-anchor B …]`: one principal holding every
/// anchor; with `--require-all-anchors`, one principal per anchor and a
/// rule that needs them all, each filled by a signer of its own.
pub(crate) fn x509(c: &CertFlags<'_>, split: Option<&str>, nested: bool) -> Result<Flags> {
    let mut files = MemoryFiles::new();
    let mut list = |paths: &[PathBuf], what: &str| -> Result<Vec<String>> {
        paths.iter().map(|p| material(&mut files, p, what)).collect()
    };
    let crls = list(c.crls, "CRL")?;
    let tsa_chains = list(c.tsa_chains, "TSA chain")?;
    let anchors = list(c.anchors, "trust anchor")?;
    let principal = |anchors: &[String]| {
        let mut p = json!({"kind": "x509", "anchors": anchors, "crls": crls, "require_crl": c.require_crl});
        if c.use_timestamp {
            p["time"] = json!("timestamp");
            p["tsa_chains"] = json!(tsa_chains);
        }
        p
    };
    let mut principals = Map::new();
    let mut labels = Vec::new();
    if c.require_all {
        for (i, a) in anchors.iter().enumerate() {
            let name = format!("anchor-{}", i + 1);
            principals.insert(name.clone(), principal(std::slice::from_ref(a)));
            labels.push((name, format!("trust anchor {a}")));
        }
    } else {
        principals.insert("anchors".to_string(), principal(&anchors));
        labels.push(("anchors".to_string(), format!("trust anchor(s) {}", anchors.join(", "))));
    }
    let rule = if c.require_all { "all" } else { "any" };
    let doc = document(principals, rule, split, nested)?;
    let policy = load(&doc, &files)?;
    if c.require_all {
        same_anchor_twice(&policy, &labels)?;
    }
    Ok(Flags { policy, labels, nested })
}

/// Two required anchors that are one certificate name one party.
fn same_anchor_twice(policy: &Policy, labels: &[(String, String)]) -> Result<()> {
    let mut seen: Vec<(&str, [u8; 32])> = Vec::new();
    for (name, p) in policy.principals() {
        let Principal::X509(x) = p else { continue };
        for a in &x.anchors {
            if let Some((other, _)) = seen.iter().find(|(_, h)| *h == a.sha256) {
                let label = |n: &str| labels.iter().find(|(l, _)| l == n).map_or(n.to_string(), |(_, t)| t.clone());
                bail!(
                    "{} and {} hold the same anchor: --require-all-anchors needs a different anchor per file",
                    label(other),
                    label(name)
                );
            }
            seen.push((name, a.sha256));
        }
    }
    Ok(())
}

/// Reads a file of trust material into `files` under its path as given.
fn material(files: &mut MemoryFiles, path: &Path, what: &str) -> Result<String> {
    let name = path.display().to_string();
    let bytes = files::read_small(path, 16 * 1024 * 1024, what)?;
    files.insert(&name, bytes);
    Ok(name)
}
