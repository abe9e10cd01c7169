//! Nested parts: a component's core modules and components, each judged
//! by its scope's part rule on its own signatures (`docs/components.md`).
//!
//! The outer module is evaluated first, as [`Policy::evaluate`] does. Then
//! the component tree is walked, every part that carries a signature
//! section of its own is evaluated on its own bytes against the rule of
//! its kind (which gives its SHA-256), and the other parts are hashed in
//! one more pass (their SHA-256, for provenance). A part whose signatures do not meet that rule, a
//! signed part no rule names, and an unsigned part a rule refuses each
//! reject the whole: nothing is skipped silently.

use std::io::{self, Read, Seek, SeekFrom};
use std::time::SystemTime;

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use wsc_core::format::ModuleKind;
use wsc_core::{Part, TreeLimits};

use crate::eval::{Chosen, EvalError, Target, choose_scope, finish};
use crate::model::{Coverage, PartKind, PartRule, Policy};
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
    /// SHA-256 of its bytes.
    pub sha256: [u8; 32],
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

/// SHA-256 of each of `parts`, in one sequential pass.
fn hash_parts<R: Read>(mut input: R, parts: &[Part]) -> io::Result<Vec<[u8; 32]>> {
    let mut hashers: Vec<Sha256> = parts.iter().map(|_| Sha256::new()).collect();
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let end = at + n as u64;
        for (p, h) in parts.iter().zip(hashers.iter_mut()) {
            let (start, stop) = (p.offset.max(at), (p.offset + p.len).min(end));
            if start < stop {
                // Both bounds are within this chunk.
                h.update(&buf[(start - at) as usize..(stop - at) as usize]);
            }
        }
        at = end;
    }
    Ok(hashers.into_iter().map(|h| h.finalize().into()).collect())
}

impl Policy {
    /// [`Policy::evaluate`], then the nested parts of a component against
    /// the part rules of the scope that applies (`parts` in the policy).
    /// The input is read, streaming, for the evaluation, for the tree walk,
    /// for each signed part, and once more for the digests of the parts not
    /// evaluated on their own (when there are any), so memory stays flat
    /// in its size. With no part rules in the scope the
    /// parts are listed (digest, signed or not) and not judged.
    pub fn evaluate_nested<R: Read + Seek + Send>(
        &self,
        mut input: R,
        total_len: Option<u64>,
        target: &Target<'_>,
        now: SystemTime,
    ) -> Result<Verdict, EvalError> {
        let module = |e: io::Error| EvalError::Module(e.into());
        input.rewind().map_err(module)?;
        let mut verdict = self.evaluate_with(&mut input, total_len, None, target, now, None, None)?;
        let Ok(Some(chosen)) = choose_scope(self, target) else {
            return Ok(verdict);
        };
        input.rewind().map_err(module)?;
        let tree = wsc_core::component_tree(&mut input, &TreeLimits::default()).map_err(EvalError::Module)?;
        let nested = tree.get(1..).unwrap_or_default();
        // A part evaluated on its own gets its digest from that evaluation;
        // the others are hashed here, in one pass.
        let evaluated = |p: &Part| p.signed && rule_for(chosen.parts, p.kind).is_some();
        let unevaluated: Vec<Part> = nested.iter().filter(|p| !evaluated(p)).cloned().collect();
        let mut digests = if unevaluated.is_empty() {
            Vec::new().into_iter()
        } else {
            input.rewind().map_err(module)?;
            hash_parts(&mut input, &unevaluated).map_err(module)?.into_iter()
        };
        let mut reasons: Vec<Reason> = Vec::new();
        for part in nested {
            let sha256 = if evaluated(part) { [0; 32] } else { digests.next().unwrap_or_default() };
            let rule = rule_for(chosen.parts, part.kind);
            let mut result = PartResult {
                path: part.path.clone(),
                kind: kind_name(part.kind),
                offset: part.offset,
                len: part.len,
                sha256,
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
                    input.seek(SeekFrom::Start(part.offset)).map_err(module)?;
                    let forced = Chosen {
                        name: format!("{}/parts/{}", chosen.name, r.kind.as_str()),
                        rule: &r.rule,
                        coverage: &Coverage::Whole,
                        mode: chosen.mode,
                        parts: &[],
                    };
                    let sub = self.evaluate_with(
                        (&mut input).take(part.len),
                        Some(part.len),
                        None,
                        &Target::unnamed(),
                        now,
                        None,
                        Some(forced),
                    )?;
                    result.sha256 = sub.module_sha256().unwrap_or_default();
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
