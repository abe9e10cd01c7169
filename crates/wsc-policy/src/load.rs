//! From a parsed document to a checked [`Policy`]: names, principals
//! (files read, keys normalized), rules, scopes, revocations, and the
//! normalized form with its hash.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use wsc_core::PublicKey;

use crate::doc::{
    AlgorithmDoc, AttestationDoc, CoverageDoc, CoverageKindDoc, Document, KeyDoc, KeylessDoc, MatchDoc, ModeDoc,
    PartDoc, PartKindDoc, PrincipalDoc, RuleDoc, RunnerDoc, TimeDoc, UnsignedDoc, X509Doc,
};
use crate::error::{ErrorCode, PolicyError};
use crate::files::{FileError, FileSource};
use crate::matchers::{PathGlob, bad_oci_repository, bad_path, weak_identity_regex};
use crate::model::{
    AttestationPrincipal, Coverage, DefaultScope, GithubClaims, Identity, KeyPrincipal, KeylessPrincipal, Material,
    Mode, PartKind, PartRule, Policy, Principal, Rule, Runner, Scope, Selector, TrustRoot, X509Principal, X509Time,
};
use crate::value::{Path, Value, to_json};
use crate::{Limits, SCHEMA};

/// Checks a document and builds the policy.
pub(crate) fn build(doc: Document, files: &dyn FileSource, limits: &Limits) -> Result<Policy, PolicyError> {
    let mut ctx = Ctx { files, limits, read_bytes: 0 };
    let counts = [
        ("principals", doc.principals.len()),
        ("rules", doc.rules.len()),
        ("scopes", doc.scopes.len()),
        ("revoked", doc.revoked.len()),
    ];
    for (what, n) in counts {
        if n > limits.max_entries {
            let msg = format!("{n} entries; at most {} are allowed", limits.max_entries);
            return Err(PolicyError::new(ErrorCode::TooLarge, what, msg));
        }
    }
    let root = Path::root();
    for name in doc.principals.keys() {
        check_name(name, &root.key("principals").key(name))?;
    }
    for name in doc.rules.keys() {
        let path = root.key("rules").key(name);
        check_name(name, &path)?;
        if doc.principals.contains_key(name) {
            let msg = format!("\"{name}\" is also a principal: a name means one thing");
            return Err(PolicyError::new(ErrorCode::DuplicateName, path, msg));
        }
    }

    let mut principals = BTreeMap::new();
    let mut signers: BTreeMap<String, String> = BTreeMap::new();
    for (name, p) in &doc.principals {
        let path = root.key("principals").key(name);
        let principal = match p {
            PrincipalDoc::Key(k) => Principal::Key(ctx.key(k, &path)?),
            PrincipalDoc::Keyless(k) => Principal::Keyless(ctx.keyless(k, &path)?),
            PrincipalDoc::X509(x) => Principal::X509(ctx.x509(x, &path)?),
            PrincipalDoc::Attestation(a) => Principal::Attestation(ctx.attestation(a, &path, &doc)?),
        };
        let signer = match &principal {
            Principal::Key(k) => Some(k.signer_id()),
            Principal::Keyless(k) => k.signer_id(),
            Principal::X509(_) | Principal::Attestation(_) => None,
        };
        if let Some(signer) = signer {
            if let Some(first) = signers.insert(signer.clone(), name.clone()) {
                let msg = format!(
                    "\"{name}\" and \"{first}\" are one signer ({signer}); one signer never counts twice, \
                     so name it once"
                );
                return Err(PolicyError::new(ErrorCode::DuplicateKey, path, msg));
            }
        }
        principals.insert(name.clone(), principal);
    }

    let mut rules = BTreeMap::new();
    for (name, r) in &doc.rules {
        let rule = check_rule(r, &root.key("rules").key(name), &doc, limits)?;
        rules.insert(name.clone(), rule);
    }
    check_cycles(&rules)?;

    let mut scopes = Vec::new();
    let mut names: BTreeSet<&str> = BTreeSet::new();
    let mut selectors: Vec<&Selector> = Vec::new();
    for (i, s) in doc.scopes.iter().enumerate() {
        let path = root.key("scopes").index(i);
        check_name(&s.name, &path.key("name"))?;
        if s.name == "default" || !names.insert(&s.name) {
            let msg = format!("another scope is named \"{}\" (`default` is the [default] scope)", s.name);
            return Err(PolicyError::new(ErrorCode::DuplicateName, path.key("name"), msg));
        }
        let selector = check_match(&s.matcher, &path.key("match"))?;
        check_reference(&s.rule, &path.key("rule"), &doc)?;
        let coverage = check_coverage(s.coverage.as_ref(), &path.key("coverage"))?;
        let mode = match s.mode {
            None | Some(ModeDoc::Enforce) => Mode::Enforce,
            Some(ModeDoc::Audit) => Mode::Audit,
        };
        let parts = check_parts(&s.parts, &path.key("parts"), &doc)?;
        scopes.push(Scope { name: s.name.clone(), selector, rule: s.rule.clone(), coverage, mode, parts });
    }
    for (i, s) in scopes.iter().enumerate() {
        if let Some(first) = selectors.iter().position(|x| **x == s.selector) {
            let msg = format!("scopes[{first}] has the same match: no module could choose between them");
            return Err(PolicyError::new(ErrorCode::AmbiguousScope, root.key("scopes").index(i).key("match"), msg));
        }
        selectors.push(&s.selector);
    }

    let default = match &doc.default {
        None => None,
        Some(d) => {
            let path = root.key("default");
            if d.mode == Some(ModeDoc::Audit) {
                let msg = "the catch-all scope is always enforced: an audit default would accept every module \
                           no other scope names";
                return Err(PolicyError::new(ErrorCode::AuditOnDefaultScope, path.key("mode"), msg));
            }
            check_reference(&d.rule, &path.key("rule"), &doc)?;
            let coverage = check_coverage(d.coverage.as_ref(), &path.key("coverage"))?;
            let parts = check_parts(&d.parts, &path.key("parts"), &doc)?;
            Some(DefaultScope { rule: d.rule.clone(), coverage, parts })
        }
    };
    if scopes.is_empty() && default.is_none() {
        let msg = "no [[scopes]] and no [default]: the policy would refuse every module";
        return Err(PolicyError::new(ErrorCode::MissingField, "default", msg));
    }

    let mut revoked = BTreeSet::new();
    for (i, r) in doc.revoked.iter().enumerate() {
        let path = root.key("revoked").index(i);
        let id = normalize_signer_id(r).map_err(|m| PolicyError::new(ErrorCode::InvalidValue, &path, m))?;
        if !revoked.insert(id) {
            return Err(PolicyError::new(ErrorCode::InvalidValue, path, "listed twice"));
        }
    }

    let mut policy =
        Policy { doc, revoked, principals, rules, scopes, default, normalized: String::new(), sha256: [0; 32] };
    policy.normalized = to_json(&normalized(&policy), false);
    policy.sha256 = Sha256::digest(policy.normalized.as_bytes()).into();
    Ok(policy)
}

/// Names of principals, rules and scopes: lower-case letters, digits, `-`
/// and `_`, starting with a letter or digit, at most 64 characters. They
/// appear in verdicts and messages, so they stay plain.
fn check_name(name: &str, path: &Path) -> Result<(), PolicyError> {
    let ok = name.len() <= 64
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        return Ok(());
    }
    let msg = format!("\"{name}\" is not a name: lower-case letters, digits, - and _, at most 64 characters");
    Err(PolicyError::new(ErrorCode::InvalidValue, path, msg))
}

struct Ctx<'a> {
    files: &'a dyn FileSource,
    limits: &'a Limits,
    read_bytes: usize,
}

impl Ctx<'_> {
    /// Reads a file the policy names, within its own budget and the
    /// budget of all files together.
    fn read(&mut self, name: &str, limit: usize, path: &Path) -> Result<Vec<u8>, PolicyError> {
        if name.is_empty() {
            return Err(PolicyError::new(ErrorCode::InvalidValue, path, "an empty file name"));
        }
        let left = self.limits.max_total_file_bytes.saturating_sub(self.read_bytes);
        let bytes = self.files.read(name, limit.min(left)).map_err(|e| match e {
            FileError::TooLarge { .. } if left < limit => PolicyError::new(
                ErrorCode::TooLarge,
                path,
                format!("the files of this policy together are larger than {} bytes", self.limits.max_total_file_bytes),
            ),
            FileError::TooLarge { limit } => {
                PolicyError::new(ErrorCode::TooLarge, path, format!("\"{name}\" is larger than {limit} bytes"))
            }
            other => {
                PolicyError::new(ErrorCode::UnreadableFile, path, format!("cannot read \"{name}\"")).with_source(other)
            }
        })?;
        self.read_bytes += bytes.len();
        Ok(bytes)
    }

    fn key(&mut self, k: &KeyDoc, path: &Path) -> Result<KeyPrincipal, PolicyError> {
        let key = match (&k.file, &k.spki) {
            (Some(_), Some(_)) => {
                let msg = "give `file` or `spki`, not both";
                return Err(PolicyError::new(ErrorCode::InvalidValue, path.key("spki"), msg));
            }
            (None, None) => {
                let msg = "a key principal needs `file` or `spki`";
                return Err(PolicyError::new(ErrorCode::MissingField, path.key("file"), msg));
            }
            (Some(file), None) => {
                let p = path.key("file");
                let bytes = self.read(file, self.limits.max_key_file_bytes, &p)?;
                parse_public_key(&bytes).map_err(|e| {
                    PolicyError::new(ErrorCode::InvalidKey, &p, format!("\"{file}\" holds no public key wsc reads"))
                        .with_source(e)
                })?
            }
            (None, Some(b64)) => {
                let p = path.key("spki");
                let der = base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|e| {
                    PolicyError::new(ErrorCode::InvalidKey, &p, "not base64 (standard alphabet, padded)").with_source(e)
                })?;
                let key = PublicKey::from_any(&der).map_err(|e| {
                    PolicyError::new(ErrorCode::InvalidKey, &p, "not a SubjectPublicKeyInfo").with_source(e)
                })?;
                // Only SPKI DER, in its one encoding: not a raw or SEC1 key.
                if key.to_der().ok().as_deref() != Some(der.as_slice()) {
                    let msg = "not a SubjectPublicKeyInfo in DER (raw and SEC1 keys go in a `file`)";
                    return Err(PolicyError::new(ErrorCode::InvalidKey, &p, msg));
                }
                key
            }
        };
        let declared = match k.algorithm {
            AlgorithmDoc::Ed25519 => wsc_core::KeyAlgorithm::Ed25519,
            AlgorithmDoc::P256 => wsc_core::KeyAlgorithm::P256,
        };
        if key.algorithm() != declared {
            let msg = format!("declared {} but the key is {}", declared.as_str(), key.algorithm().as_str());
            return Err(PolicyError::new(ErrorCode::AlgorithmMismatch, path.key("algorithm"), msg));
        }
        let spki = key.to_der().map_err(|e| {
            PolicyError::new(ErrorCode::InvalidKey, path, "the key cannot be encoded as SPKI").with_source(e)
        })?;
        let key_id = match &k.key_id {
            None => None,
            Some(h) => Some(parse_key_id(h).ok_or_else(|| {
                let msg = format!("\"{h}\" is not a key id ({} bytes as hex)", wsc_core::keys::KEY_ID_LEN);
                PolicyError::new(ErrorCode::InvalidValue, path.key("key_id"), msg)
            })?),
        };
        let fingerprint = Sha256::digest(&spki).into();
        Ok(KeyPrincipal { key, spki, fingerprint, key_id, valid_until: k.valid_until })
    }

    fn keyless(&mut self, k: &KeylessDoc, path: &Path) -> Result<KeylessPrincipal, PolicyError> {
        let ip = path.key("issuer");
        if k.issuer.is_empty() || k.issuer.trim() != k.issuer || k.issuer.contains('|') {
            let msg = "an issuer is a non-empty URL without spaces around it or `|`";
            return Err(PolicyError::new(ErrorCode::InvalidValue, ip, msg));
        }
        let identity = match (&k.identity, &k.identity_regex) {
            (Some(_), Some(_)) => {
                let msg = "give `identity` or `identity_regex`, not both";
                return Err(PolicyError::new(ErrorCode::InvalidValue, path.key("identity_regex"), msg));
            }
            (None, None) => {
                let msg = "a keyless principal needs `identity` (or `identity_regex`)";
                return Err(PolicyError::new(ErrorCode::MissingField, path.key("identity"), msg));
            }
            (Some(id), None) => {
                if id.is_empty() || id.trim() != id {
                    let msg = "an identity is non-empty, without spaces around it";
                    return Err(PolicyError::new(ErrorCode::InvalidValue, path.key("identity"), msg));
                }
                Identity::Exact(id.clone())
            }
            (None, Some(pattern)) => {
                let p = path.key("identity_regex");
                let regex = compile(pattern, &p)?;
                if let Some(why) = weak_identity_regex(pattern) {
                    return Err(PolicyError::new(ErrorCode::WeakIdentityRegex, p, why));
                }
                Identity::Regex { pattern: pattern.clone(), regex }
            }
        };
        let trust_root = self.trust_root(k.trust_root.as_deref(), path)?;
        let github = match &k.github {
            None => None,
            Some(g) => Some(github(g, &path.key("github"))?),
        };
        Ok(KeylessPrincipal { issuer: k.issuer.clone(), identity, trust_root, github })
    }

    /// An attestation principal: a predicate type that is a URI, and a
    /// signer that names a keyless principal (whose trust root is used) or a
    /// P-256 key principal (with the attestation's own `trust_root`).
    fn attestation(
        &mut self,
        a: &AttestationDoc,
        path: &Path,
        doc: &Document,
    ) -> Result<AttestationPrincipal, PolicyError> {
        let t = &a.predicate_type;
        let scheme_len = t.find(':').unwrap_or(0);
        let uri = scheme_len > 0
            && t.len() <= 1024
            && t[..scheme_len].bytes().all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
            && t.bytes().all(|b| b.is_ascii_graphic());
        if !uri {
            let msg = format!("{t:?} is not a URI (an in-toto predicate type, such as https://slsa.dev/provenance/v1)");
            return Err(PolicyError::new(ErrorCode::InvalidValue, path.key("predicate_type"), msg));
        }
        let trust_root = match doc.principals.get(&a.signer) {
            Some(PrincipalDoc::Keyless(_)) => {
                if a.trust_root.is_some() {
                    let msg = "the keyless signer's own trust_root verifies its attestations: name none here";
                    return Err(PolicyError::new(ErrorCode::InvalidValue, path.key("trust_root"), msg));
                }
                None
            }
            Some(PrincipalDoc::Key(k)) if k.algorithm == AlgorithmDoc::P256 => {
                Some(self.trust_root(a.trust_root.as_deref(), path)?)
            }
            Some(_) => {
                let msg = format!(
                    "\"{}\" is neither a keyless principal nor a P-256 key: attestations are Sigstore bundles",
                    a.signer
                );
                return Err(PolicyError::new(ErrorCode::InvalidValue, path.key("signer"), msg));
            }
            None => {
                let msg = format!("\"{}\" is not a principal", a.signer);
                return Err(PolicyError::new(ErrorCode::UnknownName, path.key("signer"), msg));
            }
        };
        Ok(AttestationPrincipal {
            predicate_type: t.clone(),
            signer: a.signer.clone(),
            allow_no_tlog: a.allow_no_tlog.unwrap_or(false),
            trust_root,
        })
    }

    /// A Sigstore trust root: embedded (production, the default, or
    /// staging) or a trusted-root file.
    fn trust_root(&mut self, given: Option<&str>, path: &Path) -> Result<TrustRoot, PolicyError> {
        Ok(match given {
            None | Some("embedded:production") => TrustRoot::Production,
            Some("embedded:staging") => TrustRoot::Staging,
            Some(other) if other.starts_with("embedded:") => {
                let msg = format!("\"{other}\": the embedded roots are embedded:production and embedded:staging");
                return Err(PolicyError::new(ErrorCode::InvalidValue, path.key("trust_root"), msg));
            }
            Some(file) => {
                let p = path.key("trust_root");
                let bytes = self.read(file, self.limits.max_material_file_bytes, &p)?;
                let json = String::from_utf8(bytes).map_err(|e| {
                    PolicyError::new(ErrorCode::InvalidTrustMaterial, &p, "the trust root is not UTF-8").with_source(e)
                })?;
                wsc_keyless::root_from_json(&json).map_err(|e| {
                    let msg = format!("\"{file}\" is not a Sigstore trusted root");
                    PolicyError::new(ErrorCode::InvalidTrustMaterial, &p, msg).with_source(e)
                })?;
                let sha256 = Sha256::digest(json.as_bytes()).into();
                TrustRoot::File { json, sha256 }
            }
        })
    }

    fn x509(&mut self, x: &X509Doc, path: &Path) -> Result<X509Principal, PolicyError> {
        let lists = [("anchors", x.anchors.len()), ("crls", x.crls.len()), ("tsa_chains", x.tsa_chains.len())];
        for (what, n) in lists {
            if n > self.limits.max_files_per_list {
                let msg = format!("{n} files; at most {} are allowed", self.limits.max_files_per_list);
                return Err(PolicyError::new(ErrorCode::TooLarge, path.key(what), msg));
            }
        }
        if x.anchors.is_empty() {
            let msg = "an x509 principal needs at least one trust anchor";
            return Err(PolicyError::new(ErrorCode::InvalidValue, path.key("anchors"), msg));
        }
        let mut anchors = Vec::new();
        let mut verifier: Option<wsc_pki::CertVerifier> = None;
        for (i, file) in x.anchors.iter().enumerate() {
            let p = path.key("anchors").index(i);
            let bytes = self.read(file, self.limits.max_material_file_bytes, &p)?;
            let der = wsc_pki::anchor_from_pem(&bytes).map_err(|e| {
                let msg = format!("\"{file}\" is not one certificate");
                PolicyError::new(ErrorCode::InvalidTrustMaterial, &p, msg).with_source(e)
            })?;
            let added = match verifier.as_mut() {
                None => wsc_pki::CertVerifier::new([&der]).map(|v| verifier = Some(v)),
                Some(v) => v.add_anchor(&der),
            };
            added.map_err(|e| {
                let msg = format!("\"{file}\" cannot be a trust anchor");
                PolicyError::new(ErrorCode::InvalidTrustMaterial, &p, msg).with_source(e)
            })?;
            push_unique(&mut anchors, material(der), &p)?;
        }
        let device_id = match &x.device_id_regex {
            None => None,
            Some(pattern) => Some((pattern.clone(), compile(pattern, &path.key("device_id_regex"))?)),
        };
        const RDNS: &[&str] = &["C", "ST", "L", "O", "OU", "CN", "serialNumber"];
        for (rdn, value) in &x.subject {
            let p = path.key("subject").key(rdn);
            if !RDNS.contains(&rdn.as_str()) {
                let msg = format!("\"{rdn}\" is not one of {}", RDNS.join(", "));
                return Err(PolicyError::new(ErrorCode::UnknownField, p, msg));
            }
            if value.is_empty() {
                return Err(PolicyError::new(ErrorCode::InvalidValue, p, "an empty value"));
            }
        }
        let mut crls = Vec::new();
        for (i, file) in x.crls.iter().enumerate() {
            let p = path.key("crls").index(i);
            let bytes = self.read(file, self.limits.max_material_file_bytes, &p)?;
            if let Some(v) = verifier.as_mut() {
                v.add_crl(&bytes).map_err(|e| {
                    let msg = format!("\"{file}\" is not a CRL");
                    PolicyError::new(ErrorCode::InvalidTrustMaterial, &p, msg).with_source(e)
                })?;
            }
            push_unique(&mut crls, material(bytes), &p)?;
        }
        let require_crl = x.require_crl.unwrap_or(false);
        if require_crl && crls.is_empty() {
            let msg = "require_crl = true needs `crls`: without one every chain would fail";
            return Err(PolicyError::new(ErrorCode::MissingField, path.key("crls"), msg));
        }
        let time = match x.time {
            None | Some(TimeDoc::Now) => X509Time::Now,
            Some(TimeDoc::Timestamp) => X509Time::Timestamp,
        };
        let mut tsa_chains = Vec::new();
        for (i, file) in x.tsa_chains.iter().enumerate() {
            let p = path.key("tsa_chains").index(i);
            if time == X509Time::Now {
                let msg = "TSA chains are used with time = \"timestamp\" only";
                return Err(PolicyError::new(ErrorCode::InvalidValue, p, msg));
            }
            let bytes = self.read(file, self.limits.max_material_file_bytes, &p)?;
            wsc_pki::TsaTrust::new().add_chain(&bytes).map_err(|e| {
                let msg = format!("\"{file}\" is not a TSA certificate chain");
                PolicyError::new(ErrorCode::InvalidTrustMaterial, &p, msg).with_source(e)
            })?;
            push_unique(&mut tsa_chains, material(bytes), &p)?;
        }
        if time == X509Time::Timestamp && tsa_chains.is_empty() {
            let msg = "time = \"timestamp\" needs `tsa_chains`: the timestamp authorities to trust";
            return Err(PolicyError::new(ErrorCode::MissingField, path.key("tsa_chains"), msg));
        }
        if x.max_age.is_some() && time != X509Time::Timestamp {
            let msg = "max_age needs a trusted signing time: set time = \"timestamp\"";
            return Err(PolicyError::new(ErrorCode::InvalidValue, path.key("max_age"), msg));
        }
        Ok(X509Principal {
            anchors,
            device_id,
            subject: x.subject.clone(),
            crls,
            require_crl,
            time,
            tsa_chains,
            max_age: x.max_age,
        })
    }
}

fn material(bytes: Vec<u8>) -> Material {
    let sha256 = Sha256::digest(&bytes).into();
    Material { bytes, sha256 }
}

fn push_unique(list: &mut Vec<Material>, m: Material, path: &Path) -> Result<(), PolicyError> {
    if list.iter().any(|x| x.sha256 == m.sha256) {
        return Err(PolicyError::new(ErrorCode::InvalidValue, path, "the same content is listed twice"));
    }
    list.push(m);
    Ok(())
}

/// One public key from a file. An OpenSSH file must hold exactly one key:
/// a principal is one signer.
pub(crate) fn parse_public_key(bytes: &[u8]) -> Result<PublicKey, wsc_core::KeyError> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let t = text.trim_start();
        if t.starts_with("ssh-") || t.starts_with("ecdsa-") {
            let mut keys = PublicKey::from_openssh(t)?;
            if keys.len() != 1 {
                return Err(wsc_core::KeyError::Invalid {
                    format: "OpenSSH public",
                    reason: "the file holds several keys; a principal is one key",
                });
            }
            return Ok(keys.remove(0));
        }
    }
    PublicKey::from_any(bytes)
}

fn parse_key_id(hex: &str) -> Option<wsc_core::KeyId> {
    wsc_core::KeyId::from_hex(hex).filter(|k| k.as_bytes().len() == wsc_core::keys::KEY_ID_LEN)
}

fn compile(pattern: &str, path: &Path) -> Result<regex::Regex, PolicyError> {
    wsc_keyless::anchored_regex(pattern).map_err(|e| {
        PolicyError::new(ErrorCode::InvalidRegex, path, format!("\"{pattern}\" is not a regular expression"))
            .with_source(e)
    })
}

fn github(g: &crate::doc::GithubDoc, path: &Path) -> Result<GithubClaims, PolicyError> {
    let empty = g.repository.is_none()
        && g.git_ref.is_none()
        && g.trigger.is_none()
        && g.sha.is_none()
        && g.name.is_none()
        && g.runner.is_none();
    if empty {
        return Err(PolicyError::new(ErrorCode::InvalidValue, path, "an empty `github` table checks nothing"));
    }
    let bad = |field: &str, msg: &str| Err(PolicyError::new(ErrorCode::InvalidValue, path.key(field), msg));
    if let Some(r) = &g.repository {
        let ok = r.split_once('/').is_some_and(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'));
        if !ok {
            return bad("repository", "a repository is owner/name");
        }
    }
    if let Some(r) = &g.git_ref {
        if !r.starts_with("refs/") || r.len() == 5 {
            return bad("ref", "a ref is refs/heads/<branch> or refs/tags/<tag>");
        }
    }
    if let Some(s) = &g.sha {
        if s.len() != 40 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return bad("sha", "a commit SHA is 40 lower-case hex digits");
        }
    }
    for (field, v) in [("trigger", &g.trigger), ("name", &g.name)] {
        if v.as_deref().is_some_and(str::is_empty) {
            return bad(field, "an empty value");
        }
    }
    let mut claims = GithubClaims::default();
    claims.repository = g.repository.clone();
    claims.git_ref = g.git_ref.clone();
    claims.trigger = g.trigger.clone();
    claims.sha = g.sha.clone();
    claims.name = g.name.clone();
    claims.runner = g.runner.map(|r| match r {
        RunnerDoc::GithubHosted => Runner::GithubHosted,
        RunnerDoc::SelfHosted => Runner::SelfHosted,
    });
    Ok(claims)
}

fn check_reference(name: &str, path: &Path, doc: &Document) -> Result<(), PolicyError> {
    if doc.principals.contains_key(name) || doc.rules.contains_key(name) {
        return Ok(());
    }
    let msg = format!("\"{name}\" is neither a principal nor a rule");
    Err(PolicyError::new(ErrorCode::UnknownName, path, msg))
}

fn check_rule(r: &RuleDoc, path: &Path, doc: &Document, limits: &Limits) -> Result<Rule, PolicyError> {
    let given = [r.all.is_some(), r.any.is_some(), r.threshold.is_some()].iter().filter(|x| **x).count();
    if given != 1 {
        let msg = format!("a rule is exactly one of `all`, `any` or `threshold`; this one has {given}");
        return Err(PolicyError::new(ErrorCode::InvalidRule, path, msg));
    }
    let (members, members_path) = match (&r.all, &r.any, &r.threshold) {
        (Some(m), _, _) => (m, path.key("all")),
        (_, Some(m), _) => (m, path.key("any")),
        (_, _, Some(t)) => (&t.of, path.key("threshold").key("of")),
        _ => return Err(PolicyError::new(ErrorCode::InvalidRule, path, "no members")),
    };
    if members.len() > limits.max_entries {
        let msg = format!("{} members; at most {} are allowed", members.len(), limits.max_entries);
        return Err(PolicyError::new(ErrorCode::TooLarge, members_path, msg));
    }
    if members.is_empty() {
        let msg = "an empty list: an empty `all` would accept anything, an empty `any` nothing";
        return Err(PolicyError::new(ErrorCode::InvalidRule, members_path, msg));
    }
    let mut seen = BTreeSet::new();
    for (i, m) in members.iter().enumerate() {
        let p = members_path.index(i);
        if !seen.insert(m.as_str()) {
            let msg = format!("\"{m}\" is listed twice: one member never counts twice");
            return Err(PolicyError::new(ErrorCode::InvalidRule, p, msg));
        }
        check_reference(m, &p, doc)?;
    }
    Ok(match (&r.all, &r.any, &r.threshold) {
        (Some(m), _, _) => Rule::All(m.clone()),
        (_, Some(m), _) => Rule::Any(m.clone()),
        (_, _, Some(t)) => {
            let n = t.of.len();
            let k = usize::try_from(t.k).ok().filter(|k| (1..=n).contains(k)).ok_or_else(|| {
                let msg = format!("k = {} of {n}: a threshold needs 1 <= k <= {n}", t.k);
                PolicyError::new(ErrorCode::InvalidRule, path.key("threshold").key("k"), msg)
            })?;
            Rule::Threshold { k, of: t.of.clone() }
        }
        _ => return Err(PolicyError::new(ErrorCode::InvalidRule, path, "no members")),
    })
}

/// Refuses rules that reach themselves. Depth-first without recursion, so
/// a long chain of rules cannot exhaust the stack.
fn check_cycles(rules: &BTreeMap<String, Rule>) -> Result<(), PolicyError> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Color {
        White,
        Gray,
        Black,
    }
    let mut color: BTreeMap<&str, Color> = rules.keys().map(|k| (k.as_str(), Color::White)).collect();
    for start in rules.keys() {
        if color.get(start.as_str()) != Some(&Color::White) {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        color.insert(start, Color::Gray);
        while let Some(&mut (name, ref mut next)) = stack.last_mut() {
            let members = rules.get(name).map(Rule::members).unwrap_or(&[]);
            let Some(member) = members.get(*next) else {
                color.insert(name, Color::Black);
                stack.pop();
                continue;
            };
            let index = *next;
            *next += 1;
            match color.get(member.as_str()) {
                Some(Color::White) => {
                    color.insert(member, Color::Gray);
                    stack.push((member, 0));
                }
                Some(Color::Gray) => {
                    let from = stack.iter().position(|(n, _)| *n == member.as_str()).unwrap_or(0);
                    let mut chain: Vec<&str> = stack[from..].iter().map(|(n, _)| *n).collect();
                    chain.push(member);
                    let field = match rules.get(name) {
                        Some(Rule::All(_)) => Path::root().key("rules").key(name).key("all"),
                        Some(Rule::Any(_)) => Path::root().key("rules").key(name).key("any"),
                        _ => Path::root().key("rules").key(name).key("threshold").key("of"),
                    };
                    let msg = format!("the rules form a cycle: {}", chain.join(" -> "));
                    return Err(PolicyError::new(ErrorCode::Cycle, field.index(index), msg));
                }
                // A principal, or a rule already known to be acyclic.
                _ => {}
            }
        }
    }
    Ok(())
}

fn check_match(m: &MatchDoc, path: &Path) -> Result<Selector, PolicyError> {
    let selector = match (&m.oci_repository, &m.path, &m.path_glob) {
        (Some(repo), None, None) => {
            if let Some(why) = bad_oci_repository(repo) {
                return Err(PolicyError::new(ErrorCode::InvalidValue, path.key("oci_repository"), why));
            }
            Selector::OciRepository(repo.clone())
        }
        (None, Some(p), None) => {
            if let Some(why) = bad_path(p) {
                return Err(PolicyError::new(ErrorCode::InvalidValue, path.key("path"), why));
            }
            Selector::Path(p.clone())
        }
        (None, None, Some(g)) => Selector::PathGlob(
            PathGlob::new(g).map_err(|why| PolicyError::new(ErrorCode::InvalidValue, path.key("path_glob"), why))?,
        ),
        _ => {
            let msg = "a match is exactly one of `oci_repository`, `path` or `path_glob`";
            return Err(PolicyError::new(ErrorCode::InvalidValue, path, msg));
        }
    };
    Ok(selector)
}

/// A scope's part rules: each names a rule or principal, and no kind is
/// given twice.
fn check_parts(list: &[PartDoc], path: &Path, doc: &Document) -> Result<Vec<PartRule>, PolicyError> {
    let mut out: Vec<PartRule> = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let at = path.index(i);
        check_reference(&p.rule, &at.key("rule"), doc)?;
        let kind = match p.kind {
            PartKindDoc::Module => PartKind::Module,
            PartKindDoc::Component => PartKind::Component,
            PartKindDoc::Any => PartKind::Any,
        };
        if out.iter().any(|o| o.kind == kind) {
            let msg = format!("parts of kind \"{}\" are named twice: one rule per kind", kind.as_str());
            return Err(PolicyError::new(ErrorCode::InvalidValue, at.key("kind"), msg));
        }
        let allow_unsigned = !matches!(p.unsigned, Some(UnsignedDoc::Reject));
        out.push(PartRule { kind, rule: p.rule.clone(), allow_unsigned });
    }
    Ok(out)
}

/// Part rules in the normalized form, by kind.
fn parts_value(parts: &[PartRule]) -> Value {
    let mut sorted: Vec<&PartRule> = parts.iter().collect();
    sorted.sort_by_key(|p| p.kind.as_str());
    Value::Array(
        sorted
            .into_iter()
            .map(|p| {
                let unsigned = if p.allow_unsigned { "allow" } else { "reject" };
                Value::Table(table([("kind", s(p.kind.as_str())), ("rule", s(&p.rule)), ("unsigned", s(unsigned))]))
            })
            .collect(),
    )
}

fn check_coverage(c: Option<&CoverageDoc>, path: &Path) -> Result<Coverage, PolicyError> {
    let Some(c) = c else { return Ok(Coverage::Whole) };
    match c.kind {
        CoverageKindDoc::Whole => {
            for (field, given) in [("standard", c.standard.is_some()), ("custom", c.custom.is_some())] {
                if given {
                    let msg = format!("`{field}` is for kind = \"sections\"; kind = \"whole\" covers everything");
                    return Err(PolicyError::new(ErrorCode::InvalidValue, path.key(field), msg));
                }
            }
            Ok(Coverage::Whole)
        }
        CoverageKindDoc::Sections => {
            if c.standard.is_none() {
                let msg = "kind = \"sections\" needs standard = \"required\": every standard section is signed";
                return Err(PolicyError::new(ErrorCode::MissingField, path.key("standard"), msg));
            }
            let custom = match &c.custom {
                None => None,
                Some(p) => Some((p.clone(), compile(p, &path.key("custom"))?)),
            };
            Ok(Coverage::Sections { custom })
        }
    }
}

/// Normalizes a revoked signer id: `key:sha256:<hex>`,
/// `x509:sha256:<hex>` (hex in lower case), `keyless:<issuer>|<identity>`.
fn normalize_signer_id(s: &str) -> Result<String, String> {
    for prefix in ["key:sha256:", "x509:sha256:"] {
        if let Some(hex) = s.strip_prefix(prefix) {
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("\"{s}\": {prefix} takes 64 hex digits (a SHA-256)"));
            }
            return Ok(format!("{prefix}{}", hex.to_ascii_lowercase()));
        }
    }
    if let Some(rest) = s.strip_prefix("keyless:") {
        return match rest.split_once('|') {
            Some((iss, id)) if !iss.is_empty() && !id.is_empty() => Ok(s.to_string()),
            _ => Err(format!("\"{s}\": keyless: takes <issuer>|<identity>")),
        };
    }
    Err(format!("\"{s}\" is not a signer id (key:sha256:<hex>, keyless:<issuer>|<identity>, x509:sha256:<hex>)"))
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn table<const N: usize>(entries: [(&str, Value); N]) -> BTreeMap<String, Value> {
    entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn sha(h: &[u8; 32]) -> Value {
    s(&format!("sha256:{}", wsc_core::keys::hex(h)))
}

fn sorted(list: &[String]) -> Value {
    let set: BTreeSet<&String> = list.iter().collect();
    Value::Array(set.into_iter().map(|m| s(m)).collect())
}

fn materials(list: &[Material]) -> Value {
    let set: BTreeSet<[u8; 32]> = list.iter().map(|m| m.sha256).collect();
    Value::Array(set.iter().map(sha).collect())
}

fn coverage_value(c: &Coverage) -> Value {
    match c {
        Coverage::Whole => Value::Table(table([("kind", s("whole"))])),
        Coverage::Sections { custom } => {
            let mut t = table([("kind", s("sections")), ("standard", s("required"))]);
            if let Some((p, _)) = custom {
                t.insert("custom".into(), s(p));
            }
            Value::Table(t)
        }
    }
}

/// A trust root in the normalized form: its name, or its file's SHA-256.
fn trust_root_value(root: &TrustRoot) -> Value {
    match root {
        TrustRoot::Production => s("embedded:production"),
        TrustRoot::Staging => s("embedded:staging"),
        TrustRoot::File { sha256, .. } => sha(sha256),
    }
}

/// The normalized form: every default written out, lists that are sets
/// sorted, scopes sorted by name, keys as signer ids and files as the
/// SHA-256 of their content.
fn normalized(p: &Policy) -> Value {
    let mut root = table([("schema", s(SCHEMA))]);
    root.insert("revoked".into(), Value::Array(p.revoked.iter().map(|r| s(r)).collect()));
    let mut principals = BTreeMap::new();
    for (name, principal) in &p.principals {
        let t = match principal {
            Principal::Key(k) => {
                let mut t = table([
                    ("kind", s("key")),
                    ("algorithm", s(k.key.algorithm().as_str())),
                    ("signer", s(&k.signer_id())),
                ]);
                if let Some(id) = &k.key_id {
                    t.insert("key_id".into(), s(&id.to_string()));
                }
                if let Some(v) = &k.valid_until {
                    t.insert("valid_until".into(), s(&v.to_string()));
                }
                t
            }
            Principal::Keyless(k) => {
                let root = trust_root_value(&k.trust_root);
                let mut t = table([("kind", s("keyless")), ("issuer", s(&k.issuer)), ("trust_root", root)]);
                match &k.identity {
                    Identity::Exact(id) => t.insert("identity".into(), s(id)),
                    Identity::Regex { pattern, .. } => t.insert("identity_regex".into(), s(pattern)),
                };
                if let Some(g) = &k.github {
                    let mut gt = BTreeMap::new();
                    let fields =
                        [("repository", &g.repository), ("ref", &g.git_ref), ("trigger", &g.trigger), ("sha", &g.sha)];
                    for (f, v) in fields.into_iter().chain([("name", &g.name)]) {
                        if let Some(v) = v {
                            gt.insert(f.to_string(), s(v));
                        }
                    }
                    if let Some(r) = g.runner {
                        gt.insert("runner".into(), s(r.as_str()));
                    }
                    t.insert("github".into(), Value::Table(gt));
                }
                t
            }
            Principal::X509(x) => {
                let time = match x.time {
                    X509Time::Now => "now",
                    X509Time::Timestamp => "timestamp",
                };
                let mut t = table([
                    ("kind", s("x509")),
                    ("anchors", materials(&x.anchors)),
                    ("crls", materials(&x.crls)),
                    ("require_crl", Value::Bool(x.require_crl)),
                    ("time", s(time)),
                    ("tsa_chains", materials(&x.tsa_chains)),
                ]);
                if let Some((pattern, _)) = &x.device_id {
                    t.insert("device_id_regex".into(), s(pattern));
                }
                if !x.subject.is_empty() {
                    t.insert(
                        "subject".into(),
                        Value::Table(x.subject.iter().map(|(k, v)| (k.clone(), s(v))).collect()),
                    );
                }
                if let Some(a) = x.max_age {
                    t.insert("max_age".into(), s(&a.to_string()));
                }
                t
            }
            Principal::Attestation(a) => {
                let mut t = table([
                    ("kind", s("attestation")),
                    ("predicate_type", s(&a.predicate_type)),
                    ("signer", s(&a.signer)),
                    ("allow_no_tlog", Value::Bool(a.allow_no_tlog)),
                ]);
                if let Some(root) = &a.trust_root {
                    t.insert("trust_root".into(), trust_root_value(root));
                }
                t
            }
        };
        principals.insert(name.clone(), Value::Table(t));
    }
    root.insert("principals".into(), Value::Table(principals));
    let mut rules = BTreeMap::new();
    for (name, r) in &p.rules {
        let t = match r {
            Rule::All(m) => table([("all", sorted(m))]),
            Rule::Any(m) => table([("any", sorted(m))]),
            Rule::Threshold { k, of } => {
                let k = Value::Integer(i64::try_from(*k).unwrap_or(i64::MAX));
                table([("threshold", Value::Table(table([("k", k), ("of", sorted(of))])))])
            }
        };
        rules.insert(name.clone(), Value::Table(t));
    }
    root.insert("rules".into(), Value::Table(rules));
    let mut scopes: Vec<&Scope> = p.scopes.iter().collect();
    scopes.sort_by(|a, b| a.name.cmp(&b.name));
    let scopes = scopes
        .into_iter()
        .map(|sc| {
            let m = match &sc.selector {
                Selector::OciRepository(r) => table([("oci_repository", s(r))]),
                Selector::Path(x) => table([("path", s(x))]),
                Selector::PathGlob(g) => table([("path_glob", s(g.as_str()))]),
            };
            let mode = match sc.mode {
                Mode::Enforce => "enforce",
                Mode::Audit => "audit",
            };
            let mut t = table([
                ("name", s(&sc.name)),
                ("match", Value::Table(m)),
                ("rule", s(&sc.rule)),
                ("coverage", coverage_value(&sc.coverage)),
                ("mode", s(mode)),
            ]);
            // Written only when given: policies without part rules keep
            // the hash they had before part rules existed.
            if !sc.parts.is_empty() {
                t.insert("parts".into(), parts_value(&sc.parts));
            }
            Value::Table(t)
        })
        .collect();
    root.insert("scopes".into(), Value::Array(scopes));
    if let Some(d) = &p.default {
        let mut t = table([("rule", s(&d.rule)), ("coverage", coverage_value(&d.coverage)), ("mode", s("enforce"))]);
        if !d.parts.is_empty() {
            t.insert("parts".into(), parts_value(&d.parts));
        }
        root.insert("default".into(), Value::Table(t));
    }
    Value::Table(root)
}
