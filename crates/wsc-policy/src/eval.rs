//! Evaluation: one module, one policy, one streaming pass, one verdict.
//!
//! The steps of `docs/policy.md` ("Evaluation"): pick the scope; build one
//! verifier per principal the scope's rule reaches; verify every record
//! with all of them in one pass; keep a record for a principal only when
//! it verified under that principal, its own set covers the scope, its
//! signer is not revoked and its time checks pass; then satisfy the rule
//! tree with distinct signers (a matching of leaf slots to signer ids over
//! the whole tree), within a search budget.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use wsc_core::Verification;
use wsc_core::format::{ModuleKind, SectionHeader};
use wsc_core::sigdata::SignatureRecord;
use wsc_core::{
    Evidence, PublicKey, RecordOutcome, RecordVerifier, Report, SignerId, StreamVerifier, TimeSource, TrustedTime,
    VerifyError, VerifyOptions,
};
use wsc_keyless::{BundleVerifier, Expectation, IdentityPolicy, KeylessError, Matcher, Mismatch};
use wsc_pki::{CertVerifier, ChainBudget, TsaTrust};

use crate::fanout::{Fanout, TapReader};
use crate::model::{
    AttestationPrincipal, Coverage, Identity, KeyPrincipal, KeylessPrincipal, Mode, PartRule, Policy, Principal, Rule,
    Selector, TrustRoot, X509Principal, X509Time,
};
use crate::registry::{
    MAX_ATTESTATION_CHECKS, ReferrerContent, ReferrerResult, RegistryEvidence, failure_code, manifest_binding,
};
use crate::verdict::{
    CoverageReport, Decision, ModuleFacts, Reason, ReasonCode, RejectedRecord, RuleKind, Satisfied, SignerSlot, Unused,
    Verdict,
};

/// Most nodes the rule tree may expand to (rules shared by several
/// parents are expanded once per parent).
pub const MAX_TREE_NODES: usize = 4096;

/// Most steps the search for a satisfying assignment may take: each
/// candidate selection built and each matching step counts one.
pub const MAX_SEARCH_STEPS: usize = 100_000;

/// Which module is evaluated: its path or its OCI repository, as the
/// scopes match them. Neither may be given (only `[default]` applies).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Target<'a> {
    /// The module's path, `/`-separated, as the scopes' `path` and
    /// `path_glob` name it.
    pub path: Option<&'a str>,
    /// The OCI repository the module comes from (no tag or digest).
    pub oci_repository: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// A module known by its path, its OCI repository, both or neither.
    pub fn new(path: Option<&'a str>, oci_repository: Option<&'a str>) -> Self {
        Target { path, oci_repository }
    }

    /// A module known by its path.
    pub fn path(path: &'a str) -> Self {
        Target { path: Some(path), oci_repository: None }
    }

    /// A module known by its OCI repository.
    pub fn oci_repository(repository: &'a str) -> Self {
        Target { path: None, oci_repository: Some(repository) }
    }

    /// A module known by neither.
    pub fn unnamed() -> Self {
        Target::default()
    }
}

/// Why an evaluation could not decide (exit 2): the input or the policy's
/// trust material is unusable, or the rule search is over its budget.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The module could not be read or is malformed.
    #[error("the module cannot be verified")]
    Module(#[source] wsc_core::Error),
    /// A principal's trust material cannot be used.
    #[error("principal {principal}: its trust material cannot be used")]
    TrustMaterial {
        /// The principal.
        principal: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An internal invariant does not hold (a bug in wsc-policy; please
    /// report it). Evaluation refuses to decide instead of guessing.
    #[error("internal inconsistency in policy evaluation: {0}")]
    Unreachable(&'static str),
    /// The input changed while it was read: two reads of it disagree.
    #[error("the input changed while it was read: {0}")]
    InputChanged(&'static str),
    /// The rule tree or the search for distinct signers is over its budget.
    #[error("the rule search is over its budget of {limit} {what}")]
    SearchBudget {
        /// What was counted.
        what: &'static str,
        /// The budget.
        limit: usize,
    },
}

/// How a scope was chosen.
pub(crate) struct Chosen<'p> {
    pub(crate) name: String,
    pub(crate) rule: &'p str,
    pub(crate) coverage: &'p Coverage,
    pub(crate) mode: Mode,
    pub(crate) parts: &'p [PartRule],
}

/// Picks the scope: exact OCI repository, then exact path, then the most
/// specific path glob (most literal characters); then `[default]`.
pub(crate) fn choose_scope<'p>(policy: &'p Policy, target: &Target<'_>) -> Result<Option<Chosen<'p>>, Reason> {
    let pick = |s: &'p crate::model::Scope| Chosen {
        name: s.name.clone(),
        rule: &s.rule,
        coverage: &s.coverage,
        mode: s.mode,
        parts: &s.parts,
    };
    if let Some(repo) = target.oci_repository {
        if let Some(s) = policy.scopes.iter().find(|s| matches!(&s.selector, Selector::OciRepository(r) if r == repo)) {
            return Ok(Some(pick(s)));
        }
    }
    if let Some(path) = target.path {
        if let Some(s) = policy.scopes.iter().find(|s| matches!(&s.selector, Selector::Path(p) if p == path)) {
            return Ok(Some(pick(s)));
        }
        let mut best: Vec<(usize, &crate::model::Scope)> = policy
            .scopes
            .iter()
            .filter_map(|s| match &s.selector {
                Selector::PathGlob(g) if g.matches(path) => Some((g.as_str().chars().filter(|c| *c != '*').count(), s)),
                _ => None,
            })
            .collect();
        best.sort_by_key(|b| std::cmp::Reverse(b.0));
        match best.as_slice() {
            [] => {}
            [(_, s)] => return Ok(Some(pick(s))),
            [(a, s), (b, t), ..] => {
                if a == b {
                    return Err(Reason {
                        code: ReasonCode::AmbiguousScope,
                        principal: None,
                        message: format!(
                            "path {path:?} matches scopes {:?} and {:?}, equally specific",
                            s.name, t.name
                        ),
                    });
                }
                return Ok(Some(pick(s)));
            }
        }
    }
    Ok(policy.default.as_ref().map(|d| Chosen {
        name: "default".to_string(),
        rule: &d.rule,
        coverage: &d.coverage,
        mode: Mode::Enforce,
        parts: &d.parts,
    }))
}

/// The rule tree, expanded from the scope's rule.
enum Node<'p> {
    Leaf(&'p str),
    Rule { name: &'p str, rule: &'p Rule, members: Vec<Node<'p>> },
}

fn expand<'p>(policy: &'p Policy, name: &'p str, count: &mut usize) -> Result<Node<'p>, EvalError> {
    *count += 1;
    if *count > MAX_TREE_NODES {
        return Err(EvalError::SearchBudget { what: "rule tree nodes", limit: MAX_TREE_NODES });
    }
    // The loader refused cycles and unknown names, so this ends.
    match policy.rules.get(name) {
        None => Ok(Node::Leaf(name)),
        Some(rule) => {
            let members = rule.members().iter().map(|m| expand(policy, m, count)).collect::<Result<Vec<_>, _>>()?;
            Ok(Node::Rule { name, rule, members })
        }
    }
}

fn leaves<'p>(node: &Node<'p>, out: &mut BTreeSet<&'p str>) {
    match node {
        Node::Leaf(p) => {
            out.insert(p);
        }
        Node::Rule { members, .. } => members.iter().for_each(|m| leaves(m, out)),
    }
}

/// Reason codes a verifier recorded for records it refused.
type Codes = RefCell<Vec<(ReasonCode, String)>>;

/// One principal's verifier, recording why records were refused.
struct PrincipalVerifier {
    kind: VerifierKind,
    codes: Codes,
}

enum VerifierKind {
    /// An attestation principal: no embedded record is for it.
    Nothing,
    Key(PublicKey),
    Keyless(Box<BundleVerifier>),
    X509(Box<X509Check>),
}

struct X509Check {
    verifier: CertVerifier,
    device: Option<regex::Regex>,
    subject: BTreeMap<String, String>,
}

/// The most reason codes one verifier keeps (records are capped by the
/// core's signature-check budget anyway).
const MAX_CODES: usize = 64;

impl PrincipalVerifier {
    fn note(&self, code: ReasonCode, message: String) {
        let mut codes = self.codes.borrow_mut();
        if codes.len() < MAX_CODES {
            codes.push((code, message));
        }
    }
}

impl RecordVerifier for PrincipalVerifier {
    fn wants(&self, record: &SignatureRecord) -> bool {
        match &self.kind {
            VerifierKind::Nothing => false,
            VerifierKind::Key(k) => RecordVerifier::wants(k, record),
            VerifierKind::Keyless(b) => b.wants(record),
            VerifierKind::X509(x) => x.verifier.wants(record),
        }
    }

    fn verify_record(&self, message: &[u8], record: &SignatureRecord) -> RecordOutcome {
        match &self.kind {
            VerifierKind::Nothing => {
                RecordOutcome::Invalid { reason: "an attestation is not an embedded record".into() }
            }
            VerifierKind::Key(k) => k.verify_record(message, record),
            VerifierKind::Keyless(b) => {
                let Ok(json) = std::str::from_utf8(&record.signature) else {
                    return RecordOutcome::Invalid { reason: "the keyless record is not UTF-8 JSON".into() };
                };
                match b.verify_record_bundle(message, json) {
                    Ok(id) => RecordOutcome::Valid(
                        Evidence::new(id.signer.clone()).with_time(id.time.clone()).with_description(id.to_string()),
                    ),
                    Err(e) => {
                        let code = match &e {
                            KeylessError::Mismatch { what: Mismatch::Identity, .. } => {
                                Some(ReasonCode::IdentityMismatch)
                            }
                            KeylessError::Mismatch { what: Mismatch::Issuer, .. } => Some(ReasonCode::IssuerMismatch),
                            KeylessError::Mismatch { what: Mismatch::Claim, .. } => Some(ReasonCode::ClaimMismatch),
                            KeylessError::NoTrustedTime => Some(ReasonCode::NoTrustedTime),
                            _ => None,
                        };
                        let text = wsc_core::Chain(&e).to_string();
                        if let Some(code) = code {
                            self.note(code, text.clone());
                        }
                        RecordOutcome::Invalid { reason: text }
                    }
                }
            }
            VerifierKind::X509(x) => match x.verifier.check(message, &record.signature) {
                Ok(id) => {
                    if let Some(re) = &x.device {
                        let ok =
                            id.uris.iter().any(|u| u.strip_prefix("urn:wsc:device:").is_some_and(|d| re.is_match(d)));
                        if !ok {
                            let m = format!("no device id of {} matches /{}/", id.subject, re.as_str());
                            self.note(ReasonCode::IdentityMismatch, m.clone());
                            return RecordOutcome::Invalid { reason: m };
                        }
                    }
                    for (k, v) in &x.subject {
                        let values: Vec<&str> =
                            id.subject_attributes.iter().filter(|(a, _)| a == k).map(|(_, b)| b.as_str()).collect();
                        if values.is_empty() || values.iter().any(|got| got != v) {
                            let m = format!("the subject {} does not have {k}={v} (only)", id.subject);
                            self.note(ReasonCode::SubjectMismatch, m.clone());
                            return RecordOutcome::Invalid { reason: m };
                        }
                    }
                    let signer = SignerId::X509 { leaf_spki_sha256: Sha256::digest(&id.spki).into() };
                    let time = id
                        .timestamp
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .and_then(|d| i64::try_from(d.as_secs()).ok())
                        .map(|s| TrustedTime::new(TimeSource::Tsa, s));
                    RecordOutcome::Valid(Evidence::new(signer).with_time(time).with_description(id.to_string()))
                }
                Err(e) => {
                    let text = wsc_core::Chain(&e).to_string();
                    let code = match &e {
                        wsc_pki::PkiError::Revoked => Some(ReasonCode::Revoked),
                        wsc_pki::PkiError::RevocationUnknown(_) => Some(ReasonCode::CrlStale),
                        wsc_pki::PkiError::TimestampRequired => Some(ReasonCode::TimestampRequired),
                        _ => None,
                    };
                    if let Some(code) = code {
                        self.note(code, text.clone());
                    }
                    RecordOutcome::Invalid { reason: text }
                }
            },
        }
    }
}

fn material_error(principal: &str, e: impl std::error::Error + Send + Sync + 'static) -> EvalError {
    EvalError::TrustMaterial { principal: principal.to_string(), source: Box::new(e) }
}

fn key_verifier(k: &KeyPrincipal) -> VerifierKind {
    VerifierKind::Key(k.key.clone())
}

/// The Sigstore trust root a principal names.
fn sigstore_root(
    name: &str,
    root: &TrustRoot,
) -> Result<wsc_keyless::sigstore_verify::trust_root::TrustedRoot, EvalError> {
    match root {
        TrustRoot::Production => wsc_keyless::production_root(),
        TrustRoot::Staging => wsc_keyless::staging_root(),
        TrustRoot::File { json, .. } => wsc_keyless::root_from_json(json),
    }
    .map_err(|e| material_error(name, e))
}

fn keyless_verifier(name: &str, k: &KeylessPrincipal) -> Result<VerifierKind, EvalError> {
    let root = sigstore_root(name, &k.trust_root)?;
    let identity = match &k.identity {
        Identity::Exact(s) => Matcher::Exact(s.clone()),
        Identity::Regex { pattern, .. } => Matcher::regex(pattern).map_err(|e| material_error(name, e))?,
    };
    let mut policy = IdentityPolicy::new(identity, Matcher::Exact(k.issuer.clone()));
    if let Some(g) = &k.github {
        policy = policy.with_github(g.clone());
    }
    let v = BundleVerifier::new(&root, Expectation::Identity(policy)).map_err(|e| material_error(name, e))?;
    Ok(VerifierKind::Keyless(Box::new(v)))
}

fn x509_verifier(
    name: &str,
    x: &X509Principal,
    now: SystemTime,
    budget: &ChainBudget,
) -> Result<VerifierKind, EvalError> {
    let mut v = CertVerifier::new(x.anchors.iter().map(|a| a.bytes.as_slice()))
        .map_err(|e| material_error(name, e))?
        .with_chain_budget(budget.clone());
    for crl in &x.crls {
        v.add_crl(&crl.bytes).map_err(|e| material_error(name, e))?;
    }
    let mut v = v.require_crl(x.require_crl).at_time(now);
    if x.time == X509Time::Timestamp {
        let mut trust = TsaTrust::new();
        for chain in &x.tsa_chains {
            trust.add_chain(&chain.bytes).map_err(|e| material_error(name, e))?;
        }
        v = v.use_timestamps(trust);
    }
    Ok(VerifierKind::X509(Box::new(X509Check {
        verifier: v,
        device: x.device_id.as_ref().map(|(_, re)| re.clone()),
        subject: x.subject.clone(),
    })))
}

/// What an evaluation reads.
pub(crate) enum Input<'a, R> {
    /// Read here, by a reading thread, with the SHA-256 of every byte
    /// taken on a hashing thread beside the walk.
    Read(R),
    /// Chunks of a reading elsewhere. `digest`, when given, returns the
    /// SHA-256 and length of every byte once they have ended; without it
    /// the verdict has the length and no digest.
    Tap(TapReader, Option<DigestFn<'a>>),
}

/// Where the SHA-256 and length of a tapped input come from.
pub(crate) type DigestFn<'a> = Box<dyn FnOnce() -> io::Result<([u8; 32], u64)> + 'a>;

/// The SHA-256 and length a hashing thread gives, once joined.
pub(crate) fn joined_digest<'a>(
    hasher: std::thread::ScopedJoinHandle<'a, io::Result<([u8; 32], u64)>>,
) -> DigestFn<'a> {
    Box::new(move || hasher.join().map_err(|_| io::Error::other("the hashing thread failed"))?)
}

impl<R: Read> Input<'_, R> {
    /// SHA-256 and length of every byte.
    fn digest(self) -> io::Result<([u8; 32], u64)> {
        match self {
            Input::Read(mut r) => {
                // sha2's hashers are `io::Write`.
                let mut h = Sha256::new();
                let len = io::copy(&mut r, &mut h)?;
                Ok((h.finalize().into(), len))
            }
            Input::Tap(mut tap, None) => tap.digest(),
            Input::Tap(mut tap, Some(digest)) => {
                while let Some(s) = tap.next_slice()? {
                    tap.done_with(s);
                }
                digest()
            }
        }
    }
}

/// What [`tapped`] gives: the report, the input's SHA-256 when known, and
/// its length.
type Tapped = (Option<Report>, Option<[u8; 32]>, u64);

/// Feeds a tap to a verification: the report (`None` for a module with no
/// signature), and the SHA-256 (from `digest`, when given) and length of
/// the input.
fn tapped(
    mut tap: TapReader,
    digest: Option<DigestFn<'_>>,
    mut verify: StreamVerifier<'_>,
) -> Result<Tapped, EvalError> {
    let module_error = |e: io::Error| EvalError::Module(e.into());
    let mut len = 0u64;
    while let Some(slice) = tap.next_slice().map_err(module_error)? {
        let fed = verify.update(&slice);
        len += slice.len() as u64;
        tap.done_with(slice);
        fed.map_err(EvalError::Module)?;
    }
    let report = match verify.finish() {
        Ok(r) => Some(r),
        Err(wsc_core::Error::NoSignature) => None,
        Err(e) => return Err(EvalError::Module(e)),
    };
    match digest {
        Some(d) => {
            let (sha256, size) = d().map_err(module_error)?;
            Ok((report, Some(sha256), size))
        }
        None => Ok((report, None, len)),
    }
}

/// One usable piece of evidence for a principal.
#[derive(Debug, Clone)]
struct Usable {
    signer: usize,
    set: usize,
    record: usize,
    /// Parts of the module covered; `usize::MAX` for an attestation,
    /// which binds the whole module through the manifest.
    parts: usize,
    time: Option<TrustedTime>,
    description: Option<String>,
    /// The referrer's digest, for an attestation.
    referrer: Option<String>,
}

/// A way the rule tree can be satisfied: the chosen members, principals
/// at the leaves.
#[derive(Clone)]
enum Sel<'p> {
    Leaf(&'p str),
    /// `size` counts the nodes below and this one: what a clone costs.
    Rule {
        name: &'p str,
        kind: RuleKind,
        members: Vec<Sel<'p>>,
        size: usize,
    },
}

impl<'p> Sel<'p> {
    fn size(&self) -> usize {
        match self {
            Sel::Leaf(_) => 1,
            Sel::Rule { size, .. } => *size,
        }
    }

    fn flatten(&self, out: &mut Vec<&'p str>) {
        match self {
            Sel::Leaf(p) => out.push(p),
            Sel::Rule { members, .. } => members.iter().for_each(|m| m.flatten(out)),
        }
    }
}

struct Search {
    steps: usize,
}

impl Search {
    fn step(&mut self, n: usize) -> Result<(), EvalError> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > MAX_SEARCH_STEPS {
            return Err(EvalError::SearchBudget { what: "search steps", limit: MAX_SEARCH_STEPS });
        }
        Ok(())
    }
}

/// Every minimal way to satisfy `node` with principals that have evidence:
/// `all` takes every member, `any` one, `threshold` exactly `k`.
fn selections<'p>(node: &Node<'p>, has: &dyn Fn(&str) -> bool, search: &mut Search) -> Result<Vec<Sel<'p>>, EvalError> {
    search.step(1)?;
    match node {
        Node::Leaf(p) => Ok(if has(p) { vec![Sel::Leaf(p)] } else { Vec::new() }),
        Node::Rule { name, rule, members } => {
            let mut per_member = Vec::with_capacity(members.len());
            for m in members {
                per_member.push(selections(m, has, search)?);
            }
            let (k, kind) = match rule {
                Rule::All(m) => (m.len(), RuleKind::All),
                Rule::Any(_) => (1, RuleKind::Any),
                Rule::Threshold { k, of } => (*k, RuleKind::Threshold { k: *k, n: of.len() }),
            };
            let live: Vec<&Vec<Sel<'p>>> = per_member.iter().filter(|s| !s.is_empty()).collect();
            if live.len() < k || (matches!(rule, Rule::All(_)) && live.len() < members.len()) {
                return Ok(Vec::new());
            }
            let mut out = Vec::new();
            // Each k-combination of live members, then their product.
            let mut combo: Vec<usize> = (0..k).collect();
            loop {
                let mut partial: Vec<Vec<Sel<'p>>> = vec![Vec::new()];
                for &i in &combo {
                    let mut next = Vec::new();
                    for p in &partial {
                        for s in live[i] {
                            // A clone costs as many steps as it has nodes.
                            search.step(p.iter().map(Sel::size).sum::<usize>() + s.size())?;
                            let mut q = p.clone();
                            q.push(s.clone());
                            next.push(q);
                        }
                    }
                    partial = next;
                }
                for members in partial {
                    let size = 1 + members.iter().map(Sel::size).sum::<usize>();
                    out.push(Sel::Rule { name, kind, members, size });
                }
                // The next combination, in lexicographic order.
                let n = live.len();
                let Some(i) = (0..k).rev().find(|&i| combo[i] != i + n - k) else { break };
                combo[i] += 1;
                for j in i + 1..k {
                    combo[j] = combo[j - 1] + 1;
                }
            }
            Ok(out)
        }
    }
}

/// Gives each slot a distinct signer among its principal's candidates
/// (augmenting paths); `None` when some slot cannot have one.
fn matching(
    slots: &[&str],
    candidates: &BTreeMap<&str, Vec<usize>>,
    search: &mut Search,
) -> Result<Option<Vec<usize>>, EvalError> {
    let signers = candidates.values().flatten().copied().max().map_or(0, |m| m + 1);
    let mut owner: Vec<Option<usize>> = vec![None; signers];
    for slot in 0..slots.len() {
        let mut seen = vec![false; signers];
        if !augment(slot, slots, candidates, &mut owner, &mut seen, search)? {
            return Ok(None);
        }
    }
    let mut assigned = vec![usize::MAX; slots.len()];
    for (signer, o) in owner.iter().enumerate() {
        if let Some(slot) = o {
            assigned[*slot] = signer;
        }
    }
    Ok(Some(assigned))
}

fn augment(
    slot: usize,
    slots: &[&str],
    candidates: &BTreeMap<&str, Vec<usize>>,
    owner: &mut [Option<usize>],
    seen: &mut [bool],
    search: &mut Search,
) -> Result<bool, EvalError> {
    for &s in candidates.get(slots[slot]).map(Vec::as_slice).unwrap_or(&[]) {
        search.step(1)?;
        if seen[s] {
            continue;
        }
        seen[s] = true;
        let free = match owner[s] {
            None => true,
            Some(other) => augment(other, slots, candidates, owner, seen, search)?,
        };
        if free {
            owner[s] = Some(slot);
            return Ok(true);
        }
    }
    Ok(false)
}

/// The satisfied tree, each leaf with its signer. `None` if the slots do
/// not fit the selection (they come from one flatten, so that is a bug):
/// the caller then refuses to decide rather than report a made-up signer.
fn render(sel: &Sel<'_>, next: &mut impl Iterator<Item = SignerSlot>) -> Option<Satisfied> {
    Some(match sel {
        Sel::Leaf(_) => Satisfied::Signer(next.next()?),
        Sel::Rule { name, kind, members, .. } => Satisfied::Rule {
            rule: name.to_string(),
            kind: *kind,
            members: members.iter().map(|m| render(m, next)).collect::<Option<_>>()?,
        },
    })
}

impl Policy {
    /// Evaluates a module that carries its signatures (embedded) against
    /// this policy, in one streaming pass, at time `now`.
    ///
    /// `total_len`, when known, lets oversized length fields fail at once.
    /// A module that does not parse is an [`EvalError`]; one that parses
    /// and does not satisfy the policy is a [`Verdict`] that says why.
    pub fn evaluate<R: Read + Send>(
        &self,
        module: R,
        total_len: Option<u64>,
        target: &Target<'_>,
        now: SystemTime,
    ) -> Result<Verdict, EvalError> {
        self.evaluate_with(Input::Read(module), total_len, None, target, now, None, None)
    }

    /// [`Policy::evaluate`] for a module pulled from an OCI registry, with
    /// the registry's evidence: the manifest it was pulled by and its
    /// referrers, which `attestation` principals need (without it they are
    /// never satisfied). The verdict lists how each referrer fared.
    pub fn evaluate_pulled<R: Read + Send>(
        &self,
        module: R,
        total_len: Option<u64>,
        target: &Target<'_>,
        now: SystemTime,
        registry: &RegistryEvidence<'_>,
    ) -> Result<Verdict, EvalError> {
        self.evaluate_with(Input::Read(module), total_len, None, target, now, Some(registry), None)
    }

    /// [`Policy::evaluate`] for a module whose signature data is detached
    /// (`signature`, as `wsc sign -S` writes it). The module's SHA-256 in
    /// the verdict is that of the module bytes alone.
    pub fn evaluate_detached<R: Read + Send>(
        &self,
        module: R,
        total_len: Option<u64>,
        signature: &[u8],
        target: &Target<'_>,
        now: SystemTime,
    ) -> Result<Verdict, EvalError> {
        self.evaluate_with(Input::Read(module), total_len, Some(signature), target, now, None, None)
    }

    /// The evaluation of every entry point; `forced` decides for a scope
    /// given by the caller (a nested part's rule) instead of choosing one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn evaluate_with<R: Read + Send>(
        &self,
        module: Input<'_, R>,
        total_len: Option<u64>,
        signature: Option<&[u8]>,
        target: &Target<'_>,
        now: SystemTime,
        registry: Option<&RegistryEvidence<'_>>,
        forced: Option<Chosen<'_>>,
    ) -> Result<Verdict, EvalError> {
        let facts = ModuleFacts {
            path: target.path.map(str::to_string),
            oci_repository: target.oci_repository.map(str::to_string),
            kind: None,
            sha256: None,
            content_sha256: None,
            size: None,
        };
        let base = |scope: Option<String>, mode: Mode, coverage_kind: &'static str, facts: ModuleFacts| Verdict {
            decision: Decision::Rejected,
            scope,
            mode,
            coverage_kind,
            reasons: Vec::new(),
            satisfied: None,
            coverage: CoverageReport::default(),
            module: facts,
            policy_sha256: self.sha256,
            unused: Vec::new(),
            principals: Vec::new(),
            rejected: Vec::new(),
            skipped: Vec::new(),
            trailing_bytes: 0,
            manifest_digest: None,
            referrers: Vec::new(),
            parts: Vec::new(),
        };
        // With no scope the module is still hashed, for the verdict.
        let hashed = |module: Input<'_, R>, facts: ModuleFacts| -> Result<ModuleFacts, EvalError> {
            let (sha256, size) = module.digest().map_err(|e| EvalError::Module(e.into()))?;
            Ok(ModuleFacts { sha256: Some(sha256), size: Some(size), ..facts })
        };
        let chosen = match forced.map(|c| Ok(Some(c))).unwrap_or_else(|| choose_scope(self, target)) {
            Err(reason) => {
                let mut v = base(None, Mode::Enforce, "whole", hashed(module, facts)?);
                v.reasons.push(reason);
                return Ok(v);
            }
            Ok(None) => {
                let mut v = base(None, Mode::Enforce, "whole", hashed(module, facts)?);
                v.reasons.push(Reason {
                    code: ReasonCode::NoScope,
                    principal: None,
                    message: "no scope matches the module and the policy has no [default]".into(),
                });
                return Ok(v);
            }
            Ok(Some(c)) => c,
        };
        let coverage_kind = match chosen.coverage {
            Coverage::Whole => "whole",
            Coverage::Sections { .. } => "sections",
        };
        let mut nodes = 0;
        let tree = expand(self, chosen.rule, &mut nodes)?;
        let mut names = BTreeSet::new();
        leaves(&tree, &mut names);
        let names: Vec<&str> = names.into_iter().collect();
        // Every x509 principal of one evaluation spends one path-building budget.
        let chain_budget = ChainBudget::default();
        let mut verifiers = Vec::with_capacity(names.len());
        let mut attestations: Vec<(&str, &AttestationPrincipal, Box<BundleVerifier>)> = Vec::new();
        for name in &names {
            let kind = match self.principals.get(*name) {
                Some(Principal::Attestation(a)) => {
                    let v = match (self.principals.get(&a.signer), &a.trust_root) {
                        (Some(Principal::Keyless(k)), None) => match keyless_verifier(&a.signer, k)? {
                            VerifierKind::Keyless(v) => v,
                            _ => return Err(EvalError::Unreachable("a keyless principal without a bundle verifier")),
                        },
                        (Some(Principal::Key(k)), Some(root)) => {
                            let root = sigstore_root(name, root)?;
                            let key = Expectation::Key(wsc_keyless::sigstore_verify::types::DerPublicKey::new(
                                k.spki.clone(),
                            ));
                            Box::new(BundleVerifier::new(&root, key).map_err(|e| material_error(name, e))?)
                        }
                        _ => {
                            return Err(EvalError::TrustMaterial {
                                principal: name.to_string(),
                                source: "the signer is neither a keyless principal nor a key with a trust root".into(),
                            });
                        }
                    };
                    attestations.push((name, a, v));
                    VerifierKind::Nothing
                }
                Some(Principal::Key(k)) => key_verifier(k),
                Some(Principal::Keyless(k)) => keyless_verifier(name, k)?,
                Some(Principal::X509(x)) => x509_verifier(name, x, now, &chain_budget)?,
                None => {
                    return Err(EvalError::TrustMaterial {
                        principal: name.to_string(),
                        source: "no such principal".into(),
                    });
                }
            };
            verifiers.push(PrincipalVerifier { kind, codes: RefCell::new(Vec::new()) });
        }
        let dyns: Vec<&dyn RecordVerifier> = verifiers.iter().map(|v| v as &dyn RecordVerifier).collect();

        // Custom sections the coverage leaves out, for the report.
        let unselected: RefCell<Vec<(u64, String)>> = RefCell::new(Vec::new());
        let select = |h: &SectionHeader| -> bool {
            if h.id != 0 {
                return true;
            }
            let name = h.name.as_deref().unwrap_or("");
            let wanted = match chosen.coverage {
                Coverage::Sections { custom: Some((_, re)) } => re.is_match(name),
                _ => false,
            };
            if !wanted {
                let mut u = unselected.borrow_mut();
                // Bounded like the section count the walk allows.
                if u.len() < 65_536 {
                    u.push((h.offset, name.to_string()));
                }
            }
            wanted
        };
        let scope = match chosen.coverage {
            Coverage::Whole => wsc_core::Scope::Whole,
            Coverage::Sections { .. } => wsc_core::Scope::Partial(&select),
        };
        let options = VerifyOptions::default();
        let check = Verification::new(&dyns).scope(scope).options(options).total_len(total_len);
        let verify = match signature {
            None => StreamVerifier::embedded(&check),
            Some(sig) => StreamVerifier::detached(sig, &check).map_err(EvalError::Module)?,
        };
        let module_error = |e: io::Error| EvalError::Module(e.into());
        let (report, sha256, size) = match module {
            Input::Read(module) => {
                // The walk and the hashing thread share the reading thread's chunks: no copy.
                let mut fan = Fanout::new();
                let walk = fan.essential_tap();
                let mut hash = fan.tap(0, None);
                std::thread::scope(|s| {
                    let hasher = std::thread::Builder::new()
                        .name("wsc-policy-sha256".into())
                        .spawn_scoped(s, move || hash.digest())
                        .map_err(module_error)?;
                    std::thread::Builder::new()
                        .name("wsc-policy-read".into())
                        .spawn_scoped(s, move || fan.run(module))
                        .map_err(module_error)?;
                    // `walk` is moved in: dropped on every return, so the reading thread never blocks on it.
                    tapped(walk, Some(joined_digest(hasher)), verify)
                })?
            }
            Input::Tap(tap, digest) => tapped(tap, digest, verify)?,
        };
        let facts = ModuleFacts {
            kind: report.as_ref().map(|r| match r.kind {
                ModuleKind::Component => "component",
                _ => "module",
            }),
            sha256,
            content_sha256: report.as_ref().and_then(|r| r.checkpoints.last().map(|c| c.hash)),
            size: Some(size),
            ..facts
        };
        let mut verdict = base(Some(chosen.name.clone()), chosen.mode, coverage_kind, facts);
        verdict.principals = names.iter().map(|n| n.to_string()).collect();
        if let Some(r) = &report {
            // Bounded by the signature data's own limits on sets and records.
            verdict.skipped = r.skipped.clone();
            verdict.trailing_bytes = r.trailing_bytes as u64;
            verdict.rejected = r
                .rejected
                .iter()
                .map(|x| RejectedRecord {
                    principal: names[x.verifier].to_string(),
                    set: x.set,
                    record: x.record,
                    reason: x.reason.clone(),
                })
                .collect();
        }
        if report.is_none() && attestations.is_empty() {
            verdict.reasons.push(Reason {
                code: ReasonCode::NoSignature,
                principal: None,
                message: wsc_core::Error::NoSignature.to_string(),
            });
            return Ok(finish(verdict, chosen.mode));
        }
        let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));

        // Per principal, the evidence that counts.
        let mut signers: Vec<SignerId> = Vec::new();
        let mut usable: BTreeMap<&str, Vec<Usable>> = BTreeMap::new();
        let mut reasons: Vec<Reason> = Vec::new();
        let mut unused: Vec<Unused> = Vec::new();
        let mut note = |code: ReasonCode, principal: &str, message: String| {
            if !reasons.iter().any(|r| r.code == code && r.principal.as_deref() == Some(principal)) {
                reasons.push(Reason { code, principal: Some(principal.to_string()), message });
            }
        };
        for (i, name) in names.iter().enumerate() {
            for (code, message) in verifiers[i].codes.borrow().iter() {
                note(*code, name, message.clone());
            }
            // Attestations are judged below; without embedded signatures
            // only they can count.
            let Some(report) = &report else { continue };
            if attestations.iter().any(|(n, ..)| n == name) {
                continue;
            }
            let verified = match &report.results[i] {
                Ok(v) => v,
                Err(e) => {
                    let code = match e {
                        VerifyError::ContentMismatch
                        | VerifyError::SignedPartChanged { .. }
                        | VerifyError::SignedPartsMissing { .. } => Some(ReasonCode::HashMismatch),
                        VerifyError::SelectionNotCovered { .. }
                        | VerifyError::PartsUnsigned { .. }
                        | VerifyError::PredicateNotAligned { .. }
                        | VerifyError::NothingChecked => Some(ReasonCode::CoverageInsufficient),
                        _ => None,
                    };
                    // Otherwise no record verified under this principal at all.
                    note(code.unwrap_or(ReasonCode::RuleUnsatisfied), name, e.to_string());
                    continue;
                }
            };
            let principal = self.principals.get(*name);
            for sig in &verified.signatures {
                let ev = &sig.evidence;
                let mut unused_as = |why: &'static str| {
                    if unused.len() < MAX_UNUSED {
                        unused.push(Unused {
                            set: sig.set,
                            record: sig.record,
                            principal: name.to_string(),
                            signer: ev.signer.clone(),
                            why,
                            referrer: None,
                        });
                    }
                };
                let checked = self.check_evidence(principal, ev, report.set_covers_scope(sig.set), now_secs);
                let parts = match checked {
                    Ok(parts) => parts,
                    Err(refusal) => {
                        let (code, message) = match refusal {
                            Refusal::Coverage => (
                                ReasonCode::CoverageInsufficient,
                                format!("set {} alone does not cover what scope {} requires", sig.set, chosen.name),
                            ),
                            Refusal::Code(code, message) => (code, message),
                            Refusal::NotThisKey => {
                                unused_as("not_this_key");
                                continue;
                            }
                        };
                        unused_as(code.as_str());
                        note(code, name, message);
                        continue;
                    }
                };
                // One key is one signer, in a plain record or as a leaf.
                let signer = match signers.iter().position(|s| same_signer(s, &ev.signer)) {
                    Some(p) => p,
                    None => {
                        signers.push(ev.signer.clone());
                        signers.len() - 1
                    }
                };
                let list = usable.entry(name).or_default();
                if list.iter().any(|u| u.signer == signer) {
                    unused_as("same_signer");
                } else {
                    list.push(Usable {
                        signer,
                        set: sig.set,
                        record: sig.record,
                        parts,
                        time: ev.time.clone(),
                        description: ev.description.clone(),
                        referrer: None,
                    });
                }
            }
        }

        // Registry evidence, for the attestation principals.
        let mut results: Vec<ReferrerResult> = Vec::new();
        let row =
            |digest: &str, principal: Option<&str>, predicate: Option<String>, outcome, reason: Option<String>| {
                ReferrerResult {
                    digest: digest.to_string(),
                    principal: principal.map(str::to_string),
                    predicate_type: predicate,
                    signer: None,
                    outcome,
                    reason,
                }
            };
        match registry {
            _ if attestations.is_empty() => {}
            None => {
                for (name, ..) in &attestations {
                    let m = "the module was not pulled from a registry: there are no referrers to check".to_string();
                    note(ReasonCode::AttestationMissing, name, m);
                }
            }
            Some(ev) => {
                let module_sha256 = verdict.module.sha256.unwrap_or_default();
                let (digest, bound) = manifest_binding(ev.manifest, &module_sha256);
                verdict.manifest_digest = Some(digest);
                if let Err(why) = bound {
                    for (name, ..) in &attestations {
                        note(ReasonCode::AttestationInvalid, name, why.clone());
                    }
                } else {
                    let mut checks = 0;
                    for r in ev.referrers {
                        let bundle = match &r.content {
                            ReferrerContent::Bundle(b) => b,
                            ReferrerContent::Other(why) => {
                                results.push(row(&r.digest, None, None, "ignored", Some(why.clone())));
                                continue;
                            }
                            ReferrerContent::Broken(why) => {
                                results.push(row(&r.digest, None, None, "failed", Some(why.clone())));
                                continue;
                            }
                        };
                        // The statement is read once; each principal then
                        // verifies only a statement of its predicate type.
                        let statement = match wsc_keyless::read_statement(bundle) {
                            Ok(s) => s,
                            Err(e) => {
                                let text = wsc_core::Chain(&e).to_string();
                                for (name, ..) in &attestations {
                                    let m = format!("referrer {}: {text}", r.digest);
                                    note(ReasonCode::AttestationInvalid, name, m);
                                }
                                results.push(row(&r.digest, None, None, "failed", Some(text)));
                                continue;
                            }
                        };
                        for (name, a, v) in &attestations {
                            if statement.predicate_type != a.predicate_type {
                                let why = format!(
                                    "predicate type {:?}, not {:?}",
                                    statement.predicate_type, a.predicate_type
                                );
                                let found = Some(statement.predicate_type.clone());
                                results.push(row(&r.digest, Some(name), found, "ignored", Some(why)));
                                continue;
                            }
                            if checks >= MAX_ATTESTATION_CHECKS {
                                let why = format!("past the budget of {MAX_ATTESTATION_CHECKS} attestation checks");
                                results.push(row(&r.digest, Some(name), None, "ignored", Some(why)));
                                continue;
                            }
                            checks += 1;
                            let predicate = Some(a.predicate_type.clone());
                            let verified = match v.verify_attestation(&digest, bundle, a.allow_no_tlog) {
                                Ok(v) => v,
                                Err(e) => {
                                    let text = wsc_core::Chain(&e).to_string();
                                    note(failure_code(&e), name, format!("referrer {}: {text}", r.digest));
                                    results.push(row(&r.digest, Some(name), predicate, "failed", Some(text)));
                                    continue;
                                }
                            };
                            let id = verified.signer.signer.to_string();
                            if self.revoked.contains(&id) {
                                let text = format!("{id} is revoked by the policy");
                                note(ReasonCode::Revoked, name, text.clone());
                                results.push(row(&r.digest, Some(name), predicate, "failed", Some(text)));
                                continue;
                            }
                            // Each referrer is its own piece of evidence, never
                            // one signer with an embedded record.
                            signers.push(verified.signer.signer.clone());
                            usable.entry(name).or_default().push(Usable {
                                signer: signers.len() - 1,
                                set: 0,
                                record: 0,
                                parts: usize::MAX,
                                time: verified.signer.time.clone(),
                                description: Some(format!(
                                    "{} attestation {} by {}",
                                    a.predicate_type, r.digest, verified.signer
                                )),
                                referrer: Some(r.digest.clone()),
                            });
                            let mut done = row(&r.digest, Some(name), predicate, "verified", None);
                            done.signer = Some(id);
                            results.push(done);
                        }
                    }
                }
                for (name, a, _) in &attestations {
                    if !usable.contains_key(name) {
                        let m = format!(
                            "no referrer of the manifest holds a verifying {} attestation signed by {}",
                            a.predicate_type, a.signer
                        );
                        note(ReasonCode::AttestationMissing, name, m);
                    }
                }
            }
        }
        verdict.referrers = results;

        // The rule tree, satisfied by distinct signers.
        let candidates: BTreeMap<&str, Vec<usize>> =
            usable.iter().map(|(p, l)| (*p, l.iter().map(|u| u.signer).collect())).collect();
        let has = |p: &str| candidates.get(p).is_some_and(|c| !c.is_empty());
        let mut search = Search { steps: 0 };
        let sels = selections(&tree, &has, &mut search)?;
        let mut found = None;
        for sel in &sels {
            let mut slots = Vec::new();
            sel.flatten(&mut slots);
            if let Some(assigned) = matching(&slots, &candidates, &mut search)? {
                found = Some((sel, slots, assigned));
                break;
            }
        }
        let Some((sel, slots, assigned)) = found else {
            let code = match &tree {
                Node::Rule { rule: Rule::Threshold { .. }, .. } => ReasonCode::ThresholdNotMet,
                _ => ReasonCode::RuleUnsatisfied,
            };
            let message = if sels.is_empty() {
                format!("rule {} of scope {} is not satisfied by the valid signatures", chosen.rule, chosen.name)
            } else {
                format!("rule {} of scope {} needs more distinct signers than signed", chosen.rule, chosen.name)
            };
            verdict.reasons.push(Reason { code, principal: None, message });
            verdict.reasons.extend(reasons);
            for (p, list) in &usable {
                for u in list {
                    unused.push(Unused {
                        set: u.set,
                        record: u.record,
                        principal: p.to_string(),
                        signer: signers[u.signer].clone(),
                        why: "rule_unsatisfied",
                        referrer: u.referrer.clone(),
                    });
                }
            }
            unused.truncate(MAX_UNUSED);
            verdict.unused = unused;
            return Ok(finish(verdict, chosen.mode));
        };
        let mut filled = Vec::with_capacity(slots.len());
        let mut parts = 0;
        for (slot, signer) in slots.iter().zip(&assigned) {
            let u = usable.get(slot).and_then(|l| l.iter().find(|u| u.signer == *signer));
            let Some(u) = u else {
                // Fail closed: every slot was assigned from its own candidates.
                verdict.reasons.push(Reason {
                    code: ReasonCode::RuleUnsatisfied,
                    principal: Some(slot.to_string()),
                    message: "internal: a slot without evidence".into(),
                });
                return Ok(finish(verdict, chosen.mode));
            };
            parts = parts.max(u.parts);
            filled.push(SignerSlot {
                principal: slot.to_string(),
                signer: signers[*signer].clone(),
                set: u.set,
                record: u.record,
                time: u.time.clone(),
                description: u.description.clone(),
                referrer: u.referrer.clone(),
            });
        }
        for (p, list) in &usable {
            for u in list {
                let used = filled
                    .iter()
                    .any(|f| f.principal == *p && f.set == u.set && f.record == u.record && f.referrer == u.referrer);
                if !used {
                    unused.push(Unused {
                        set: u.set,
                        record: u.record,
                        principal: p.to_string(),
                        signer: signers[u.signer].clone(),
                        why: "not_needed",
                        referrer: u.referrer.clone(),
                    });
                }
            }
        }
        unused.truncate(MAX_UNUSED);
        verdict.unused = unused;
        let mut it = filled.into_iter();
        let misfit = || EvalError::Unreachable("the matched signers do not fit the rule tree");
        let satisfied = render(sel, &mut it).ok_or_else(misfit)?;
        if it.next().is_some() {
            return Err(misfit());
        }
        verdict.satisfied = Some(satisfied);
        verdict.decision = Decision::Accepted;
        verdict.coverage = match &report {
            Some(report) => coverage_report(report, parts, &unselected.into_inner()),
            // Only attestations counted: they bind the whole module.
            None => CoverageReport { covered: vec![(0, size)], ..CoverageReport::default() },
        };
        Ok(verdict)
    }
}

/// Why a valid record does not count for a principal.
enum Refusal {
    /// Its set alone does not cover the scope.
    Coverage,
    /// A check of the policy refused it.
    Code(ReasonCode, String),
    /// The evidence names another key than the principal's (never for
    /// a key's own verifier; kept so that it fails closed).
    NotThisKey,
}

/// Most entries of the verdict's `unused` list.
const MAX_UNUSED: usize = 1024;

impl Policy {
    /// The checks a valid record must pass to count for `principal`:
    /// its set alone covers the scope (`parts`), its signer is not
    /// revoked, and its time checks pass. Returns the parts it covers.
    fn check_evidence(
        &self,
        principal: Option<&Principal>,
        ev: &Evidence,
        parts: Option<usize>,
        now_secs: i64,
    ) -> Result<usize, Refusal> {
        let parts = parts.ok_or(Refusal::Coverage)?;
        let id_text = ev.signer.to_string();
        // A key is one signer in a plain record and as a leaf: revoking
        // either id revokes both.
        let other = match &ev.signer {
            SignerId::Key { spki_sha256 } => Some(SignerId::X509 { leaf_spki_sha256: *spki_sha256 }),
            SignerId::X509 { leaf_spki_sha256 } => Some(SignerId::Key { spki_sha256: *leaf_spki_sha256 }),
            _ => None,
        };
        let revoked = self.revoked.contains(&id_text) || other.is_some_and(|o| self.revoked.contains(&o.to_string()));
        if revoked {
            return Err(Refusal::Code(ReasonCode::Revoked, format!("{id_text} is revoked by the policy")));
        }
        match principal {
            Some(Principal::Key(k)) => {
                if ev.signer != (SignerId::Key { spki_sha256: k.fingerprint }) {
                    return Err(Refusal::NotThisKey);
                }
                if let Some(until) = k.valid_until {
                    let at = ev.time.as_ref().map_or(now_secs, |t| t.unix_secs);
                    if at > until.unix_seconds() {
                        return Err(Refusal::Code(ReasonCode::KeyExpired, format!("{id_text} is valid until {until}")));
                    }
                }
            }
            Some(Principal::X509(x)) => {
                if let Some(age) = x.max_age {
                    let Some(t) = &ev.time else {
                        return Err(Refusal::Code(ReasonCode::NoTrustedTime, "max_age needs a trusted time".into()));
                    };
                    let max = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
                    if now_secs.saturating_sub(t.unix_secs) > max {
                        return Err(Refusal::Code(ReasonCode::MaxAgeExceeded, format!("signed more than {age} ago")));
                    }
                }
            }
            _ => {}
        }
        Ok(parts)
    }
}

/// Whether two ids name one signer: a key and a leaf with the same SPKI
/// are one.
fn same_signer(a: &SignerId, b: &SignerId) -> bool {
    let spki = |s: &SignerId| match s {
        SignerId::Key { spki_sha256 } => Some(*spki_sha256),
        SignerId::X509 { leaf_spki_sha256 } => Some(*leaf_spki_sha256),
        _ => None,
    };
    match (spki(a), spki(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Covered and unsigned ranges when the counted sets cover `parts` parts.
fn coverage_report(report: &Report, parts: usize, unselected: &[(u64, String)]) -> CoverageReport {
    let cps = &report.checkpoints;
    let (Some(first), Some(last)) = (cps.first(), cps.last()) else { return CoverageReport::default() };
    let covered_end =
        if parts == usize::MAX { last.end } else { cps.get(parts.saturating_sub(1)).map_or(first.start, |c| c.end) };
    let mut out = CoverageReport { covered: vec![(first.start, covered_end)], ..CoverageReport::default() };
    if covered_end < last.end {
        out.unsigned_ranges.push((covered_end, last.end));
        out.unsigned_sections = unselected.iter().filter(|(o, _)| *o >= covered_end).map(|(_, n)| n.clone()).collect();
    }
    out
}

/// Audit mode turns a rejection into an audit rejection.
pub(crate) fn finish(mut v: Verdict, mode: Mode) -> Verdict {
    if v.decision == Decision::Rejected && mode == Mode::Audit {
        v.decision = Decision::AuditRejected;
    }
    v
}
