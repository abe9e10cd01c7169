//! Nested parts: a component's core modules and components, each judged
//! by its scope's part rule on its own signatures (`docs/components.md`).
//!
//! The tree is found first by seeking, then the input is read once: the
//! outer evaluation, the SHA-256 of the whole and of every part, a second
//! walk of the tree (it must find the same tree) and the evaluation of
//! each signed part against the rule of its kind share its chunks, each on
//! a thread. A part whose signatures do not meet that rule, a
//! signed part no rule names, and an unsigned part a rule refuses each
//! reject the whole: nothing is skipped silently.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::time::SystemTime;

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use wsc_core::format::ModuleKind;
use wsc_core::{Part, TreeLimits};

use crate::eval::{Chosen, EvalError, Input, Target, choose_scope, finish, joined_digest};
use crate::fanout::{Fanout, TapReader};
use crate::model::{Coverage, PartKind, PartRule, Policy};
use crate::registry::RegistryEvidence;
use crate::verdict::{Decision, Reason, ReasonCode, Verdict};

/// How one nested part fared.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartResult {
    /// Its path in the tree (indices among each parent's nested parts).
    pub path: Vec<u32>,
    /// `module` or `component`.
    pub kind: &'static str,
    /// Offset of its preamble in the input.
    pub offset: u64,
    /// Its length.
    pub len: u64,
    /// SHA-256 of its bytes, as `sha256sum` of the part cut out shows.
    pub sha256: [u8; 32],
    /// For a signed part evaluated on its own: the SHA-256 its signatures
    /// cover (its bytes after its signature section), which stays the same
    /// when signatures are added.
    pub content_sha256: Option<[u8; 32]>,
    /// Whether it carries a signature section of its own.
    pub signed: bool,
    /// The kind of the part rule that applied (`module`, `component`,
    /// `any`), when one did.
    pub rule_kind: Option<&'static str>,
    /// The rule it was judged by, when one applied.
    pub rule: Option<String>,
    /// `verified`, `rejected`, `unsigned_allowed`, `unsigned_rejected` or
    /// `unchecked` (unsigned, and no rule names its kind).
    pub outcome: &'static str,
    /// Who signed it, among the signers that satisfied its rule.
    pub signers: Vec<String>,
    /// Why it was rejected.
    pub reasons: Vec<String>,
}

impl PartResult {
    pub(crate) fn to_json(&self) -> Json {
        json!({
            "path": self.path,
            "kind": self.kind,
            "offset": self.offset,
            "len": self.len,
            "sha256": wsc_core::keys::hex(&self.sha256),
            "content_sha256": self.content_sha256.map(|h| wsc_core::keys::hex(&h)),
            "signed": self.signed,
            "rule_kind": self.rule_kind,
            "rule": self.rule,
            "outcome": self.outcome,
            "signers": self.signers,
            "reasons": self.reasons,
        })
    }
}

fn kind_name(kind: ModuleKind) -> &'static str {
    match kind {
        ModuleKind::Component => "component",
        _ => "module",
    }
}

/// The rule for a part of `kind`: the one naming its kind, else `any`.
fn rule_for(parts: &[PartRule], kind: ModuleKind) -> Option<&PartRule> {
    let own = match kind {
        ModuleKind::Component => PartKind::Component,
        _ => PartKind::Module,
    };
    parts.iter().find(|p| p.kind == own).or_else(|| parts.iter().find(|p| p.kind == PartKind::Any))
}

/// Most nested parts evaluated during the one reading of the input, each
/// on a thread of its own; the others (the smallest) are read again after
/// it.
const IN_PASS: usize = 32;

/// SHA-256 of each of `parts`, from a tap over them all.
fn digest_parts(mut tap: TapReader, parts: &[Part]) -> io::Result<Vec<[u8; 32]>> {
    let mut hashers: Vec<Sha256> = parts.iter().map(|_| Sha256::new()).collect();
    while let Some(s) = tap.next_slice()? {
        let (at, end) = (s.at(), s.at() + s.len() as u64);
        for (p, h) in parts.iter().zip(hashers.iter_mut()) {
            let (start, stop) = (p.offset.max(at), (p.offset + p.len).min(end));
            if start < stop {
                // Both bounds are within this slice.
                h.update(&s[(start - at) as usize..(stop - at) as usize]);
            }
        }
        tap.done_with(s);
    }
    Ok(hashers.into_iter().map(|h| h.finalize().into()).collect())
}

/// The scope a part is judged in: its rule, over the whole part.
fn forced<'p>(chosen: &Chosen<'p>, r: &'p PartRule) -> Chosen<'p> {
    Chosen {
        name: format!("{}/parts/{}", chosen.name, r.kind.as_str()),
        rule: &r.rule,
        coverage: &Coverage::Whole,
        mode: chosen.mode,
        parts: &[],
    }
}

/// What one reading of the input gave.
struct Pass {
    outer: Result<Verdict, EvalError>,
    walked: Result<Vec<Part>, wsc_core::Error>,
    digests: io::Result<Vec<[u8; 32]>>,
    parts: BTreeMap<usize, Result<Verdict, EvalError>>,
    read: bool,
}

fn joined<T>(h: std::thread::ScopedJoinHandle<'_, T>, what: &'static str) -> Result<T, EvalError> {
    h.join().map_err(|_| EvalError::Unreachable(what))
}

impl Policy {
    /// [`Policy::evaluate`], then the nested parts of a component against
    /// the part rules of the scope that applies (`parts` in the policy).
    ///
    /// The component tree is found first by seeking (headers only). Then
    /// the input is read once, streaming, and its chunks are shared by the
    /// outer evaluation, the SHA-256 of the whole, a second walk of the
    /// tree (which must find the same tree: an input that changes while
    /// it is read is an error), the SHA-256 of every part, and the
    /// evaluation of each signed part a rule applies to, each on its own
    /// thread. Memory stays flat in the input's size. Beyond the 32
    /// largest, signed parts are read again after that pass. With no part
    /// rules in the scope the parts are listed (digest, signed or not) and
    /// not judged.
    pub fn evaluate_nested<R: Read + Seek + Send>(
        &self,
        input: R,
        total_len: Option<u64>,
        target: &Target<'_>,
        now: SystemTime,
    ) -> Result<Verdict, EvalError> {
        self.nested_with(input, total_len, target, now, None)
    }

    /// [`Policy::evaluate_nested`] for a component pulled from an OCI
    /// registry, with the registry's evidence for `attestation` principals
    /// (as [`Policy::evaluate_pulled`]). The evidence is about the whole;
    /// the nested parts are judged on their own signatures.
    pub fn evaluate_nested_pulled<R: Read + Seek + Send>(
        &self,
        input: R,
        total_len: Option<u64>,
        target: &Target<'_>,
        now: SystemTime,
        registry: &RegistryEvidence<'_>,
    ) -> Result<Verdict, EvalError> {
        self.nested_with(input, total_len, target, now, Some(registry))
    }

    fn nested_with<R: Read + Seek + Send>(
        &self,
        mut input: R,
        total_len: Option<u64>,
        target: &Target<'_>,
        now: SystemTime,
        registry: Option<&RegistryEvidence<'_>>,
    ) -> Result<Verdict, EvalError> {
        let module = |e: io::Error| EvalError::Module(e.into());
        input.rewind().map_err(module)?;
        let Ok(Some(chosen)) = choose_scope(self, target) else {
            return self.evaluate_with(Input::Read(input), total_len, None, target, now, registry, None);
        };
        let limits = TreeLimits::default();
        let tree = wsc_core::component_tree_seekable(&mut input, &limits).map_err(EvalError::Module)?;
        input.rewind().map_err(module)?;
        let nested = tree.get(1..).unwrap_or_default();
        let rule_of = |p: &Part| if p.signed { rule_for(chosen.parts, p.kind) } else { None };
        let mut largest: Vec<usize> = (0..nested.len()).filter(|&i| rule_of(&nested[i]).is_some()).collect();
        largest.sort_by_key(|&i| std::cmp::Reverse(nested[i].len));
        largest.truncate(IN_PASS);
        largest.sort_unstable();

        let pass = std::thread::scope(|s| -> Result<Pass, EvalError> {
            let spawn_error = |e: io::Error| EvalError::Module(e.into());
            let mut fan = Fanout::new();
            let outer = fan.essential_tap();
            let mut whole = fan.tap(0, None);
            let walk = fan.tap(0, None);
            let from = nested.iter().map(|p| p.offset).min().unwrap_or(0);
            let to = nested.iter().map(|p| p.offset + p.len).max().unwrap_or(0);
            let digest = fan.tap(from, Some(to));
            let thread = |name: &str| std::thread::Builder::new().name(format!("wsc-policy-{name}"));
            let hasher = thread("sha256").spawn_scoped(s, move || whole.digest()).map_err(spawn_error)?;
            let walker = thread("tree")
                .spawn_scoped(s, move || wsc_core::component_tree_buffered(walk, &limits))
                .map_err(spawn_error)?;
            let digester =
                thread("parts").spawn_scoped(s, move || digest_parts(digest, nested)).map_err(spawn_error)?;
            let mut workers = Vec::with_capacity(largest.len());
            for &i in &largest {
                let part = &nested[i];
                let Some(rule) = rule_of(part) else { continue };
                let tap = fan.tap(part.offset, Some(part.offset + part.len));
                let forced = forced(&chosen, rule);
                let run = move || {
                    self.evaluate_with(
                        Input::<io::Empty>::Tap(tap, None),
                        Some(part.len),
                        None,
                        &Target::unnamed(),
                        now,
                        None,
                        Some(forced),
                    )
                };
                workers.push((i, thread("part").spawn_scoped(s, run).map_err(spawn_error)?));
            }
            let input = &mut input;
            let reader = thread("read").spawn_scoped(s, move || fan.run(input)).map_err(spawn_error)?;
            let outer = self.evaluate_with(
                Input::<io::Empty>::Tap(outer, Some(joined_digest(hasher))),
                total_len,
                None,
                target,
                now,
                registry,
                None,
            );
            let walked = joined(walker, "the tree walk failed")?;
            let digests = joined(digester, "the part hashing failed")?;
            let mut parts = BTreeMap::new();
            for (i, w) in workers {
                parts.insert(i, joined(w, "a part evaluation failed")?);
            }
            let read = reader.join().is_ok();
            Ok(Pass { outer, walked, digests, parts, read })
        })?;
        let mut verdict = pass.outer?;
        if !pass.read {
            return Err(EvalError::Unreachable("the reading thread failed"));
        }
        // The tree found by seeking is the one in the bytes evaluated.
        if pass.walked.map_err(EvalError::Module)? != tree {
            return Err(EvalError::InputChanged("its component tree differs between two reads"));
        }
        // Equal trees end where the input ends: every part was hashed whole.
        let digests = pass.digests.map_err(module)?;
        let mut parts = pass.parts;

        let mut reasons: Vec<Reason> = Vec::new();
        for (i, part) in nested.iter().enumerate() {
            let rule = rule_for(chosen.parts, part.kind);
            let mut result = PartResult {
                path: part.path.clone(),
                kind: kind_name(part.kind),
                offset: part.offset,
                len: part.len,
                sha256: digests[i],
                content_sha256: None,
                signed: part.signed,
                rule_kind: rule.map(|r| r.kind.as_str()),
                rule: rule.map(|r| r.rule.clone()),
                outcome: "unchecked",
                signers: Vec::new(),
                reasons: Vec::new(),
            };
            let at = format!("{} at offset {} (path {:?})", result.kind, part.offset, part.path);
            match (rule, part.signed) {
                _ if chosen.parts.is_empty() => {}
                (None, false) => {}
                (None, true) => {
                    let m =
                        format!("the nested {at} is signed, and no part rule of scope {} names its kind", chosen.name);
                    result.outcome = "rejected";
                    result.reasons.push(m.clone());
                    reasons.push(Reason { code: ReasonCode::NestedPartRejected, principal: None, message: m });
                }
                (Some(r), false) => {
                    if r.allow_unsigned {
                        result.outcome = "unsigned_allowed";
                    } else {
                        let m = format!("the nested {at} has no signature of its own");
                        result.outcome = "unsigned_rejected";
                        result.reasons.push(m.clone());
                        reasons.push(Reason { code: ReasonCode::NestedPartUnsigned, principal: None, message: m });
                    }
                }
                (Some(r), true) => {
                    let sub = match parts.remove(&i) {
                        Some(sub) => sub?,
                        None => {
                            // Beyond the parts evaluated in the pass: read
                            // again, and it must be the part the pass hashed.
                            input.seek(SeekFrom::Start(part.offset)).map_err(module)?;
                            let sub = self.evaluate_with(
                                Input::Read((&mut input).take(part.len)),
                                Some(part.len),
                                None,
                                &Target::unnamed(),
                                now,
                                None,
                                Some(forced(&chosen, r)),
                            )?;
                            if sub.module_sha256() != Some(digests[i]) {
                                return Err(EvalError::InputChanged("a nested part read again differs from the pass"));
                            }
                            sub
                        }
                    };
                    result.content_sha256 = sub.module.content_sha256;
                    if sub.decision() == Decision::Accepted {
                        result.outcome = "verified";
                        if let Some(s) = sub.satisfied() {
                            result.signers = s.slots().iter().map(|slot| slot.signer.to_string()).collect();
                        }
                    } else {
                        result.outcome = "rejected";
                        result.reasons = sub.reasons().iter().map(|r| format!("{}: {}", r.code, r.message)).collect();
                        let m = format!("the nested {at} does not meet rule {}", r.rule);
                        reasons.push(Reason { code: ReasonCode::NestedPartRejected, principal: None, message: m });
                    }
                }
            }
            verdict.parts.push(result);
        }
        if !reasons.is_empty() {
            if verdict.decision == Decision::Accepted {
                verdict.decision = Decision::Rejected;
                verdict.satisfied = None;
                verdict = finish(verdict, chosen.mode);
            }
            verdict.reasons.extend(reasons);
        }
        Ok(verdict)
    }
}
