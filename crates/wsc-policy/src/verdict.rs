//! The verdict of evaluating a module against a policy: built only here.

use std::fmt;

use serde_json::{Value as Json, json};
use wsc_core::{SignerId, TrustedTime};

use crate::model::Mode;
use crate::time::Timestamp;

/// The media type of [`Verdict::to_json`].
pub const VERDICT_MEDIA_TYPE: &str = "application/vnd.wsc.policy-result+json;version=1";

/// What the policy decided. There is no `is_ok()`: an audit rejection is
/// not an acceptance, and a caller must say what it does with each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The scope's rule was satisfied.
    Accepted,
    /// The scope's rule was not satisfied (or no scope applies).
    Rejected,
    /// The scope is in audit mode and would have rejected the module.
    AuditRejected,
}

impl Decision {
    /// `accepted`, `rejected` or `audit_rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::Rejected => "rejected",
            Decision::AuditRejected => "audit_rejected",
        }
    }
}

/// Stable reason codes (`docs/policy.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ReasonCode {
    /// The module carries no signature section.
    NoSignature,
    /// No scope matches the module and there is no `[default]`.
    NoScope,
    /// Two path globs of equal specificity match the module.
    AmbiguousScope,
    /// The scope's rule is not satisfied by distinct signers.
    RuleUnsatisfied,
    /// The scope's rule is a threshold and fewer than `k` distinct signers count.
    ThresholdNotMet,
    /// A record verified, but its set alone does not cover what the scope requires.
    CoverageInsufficient,
    /// A record verified, but the module's content is not what its set signed.
    HashMismatch,
    /// A keyless certificate or device id names another identity.
    IdentityMismatch,
    /// A keyless certificate names another OIDC issuer.
    IssuerMismatch,
    /// A GitHub workflow claim differs.
    ClaimMismatch,
    /// A certificate's subject lacks a required attribute value.
    SubjectMismatch,
    /// A check needs a trusted time (log entry or timestamp) and there is none.
    NoTrustedTime,
    /// An RFC 3161 timestamp is required and the record has none.
    TimestampRequired,
    /// A key signed after its `valid_until`.
    KeyExpired,
    /// A trusted time older than the principal's `max_age`.
    MaxAgeExceeded,
    /// The signer is on the policy's `revoked` list, or its certificate is revoked.
    Revoked,
    /// A CRL is past its nextUpdate, or a required CRL is missing.
    CrlStale,
    /// An attestation principal found no verifying attestation of its
    /// predicate type and signer among the manifest's referrers (or the
    /// module was not pulled from a registry).
    AttestationMissing,
    /// An attestation bundle of the right predicate type did not verify,
    /// or the manifest does not bind the module evaluated.
    AttestationInvalid,
    /// A nested part carries a signature section that does not meet its
    /// part rule (or no part rule names its kind).
    NestedPartRejected,
    /// A nested part has no signature section of its own, and its part
    /// rule rejects unsigned parts.
    NestedPartUnsigned,
}

impl ReasonCode {
    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::NoSignature => "no_signature",
            ReasonCode::NoScope => "no_scope",
            ReasonCode::AmbiguousScope => "ambiguous_scope",
            ReasonCode::RuleUnsatisfied => "rule_unsatisfied",
            ReasonCode::ThresholdNotMet => "threshold_not_met",
            ReasonCode::CoverageInsufficient => "coverage_insufficient",
            ReasonCode::HashMismatch => "hash_mismatch",
            ReasonCode::IdentityMismatch => "identity_mismatch",
            ReasonCode::IssuerMismatch => "issuer_mismatch",
            ReasonCode::ClaimMismatch => "claim_mismatch",
            ReasonCode::SubjectMismatch => "subject_mismatch",
            ReasonCode::NoTrustedTime => "no_trusted_time",
            ReasonCode::TimestampRequired => "timestamp_required",
            ReasonCode::KeyExpired => "key_expired",
            ReasonCode::MaxAgeExceeded => "max_age_exceeded",
            ReasonCode::Revoked => "revoked",
            ReasonCode::CrlStale => "crl_stale",
            ReasonCode::AttestationMissing => "attestation_missing",
            ReasonCode::AttestationInvalid => "attestation_invalid",
            ReasonCode::NestedPartRejected => "nested_part_rejected",
            ReasonCode::NestedPartUnsigned => "nested_part_unsigned",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason, with the principal it concerns when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reason {
    /// The stable code.
    pub code: ReasonCode,
    /// The principal, when the reason is about one.
    pub principal: Option<String>,
    /// For people.
    pub message: String,
}

/// A leaf of the satisfied rule tree: a principal and the signer that
/// filled its slot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignerSlot {
    /// The principal.
    pub principal: String,
    /// Who signed.
    pub signer: SignerId,
    /// Set index.
    pub set: usize,
    /// Record index in the set.
    pub record: usize,
    /// The trusted time, when the evidence has one.
    pub time: Option<TrustedTime>,
    /// The evidence described for people (a certificate subject, an
    /// identity), when the verifier gives one.
    pub description: Option<String>,
    /// For an attestation principal: the referrer (its manifest digest)
    /// whose bundle filled the slot; `set` and `record` are then 0 and
    /// mean nothing.
    pub referrer: Option<String>,
}

/// The kind of a satisfied rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleKind {
    /// `all`.
    All,
    /// `any`.
    Any,
    /// `threshold { k, of }` with `n` members.
    Threshold {
        /// Required.
        k: usize,
        /// Members.
        n: usize,
    },
}

/// The part of the rule tree that satisfied the scope.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Satisfied {
    /// A principal's slot.
    Signer(SignerSlot),
    /// A rule and the members that satisfied it.
    Rule {
        /// The rule's name.
        rule: String,
        /// Its kind.
        kind: RuleKind,
        /// The members that satisfied it.
        members: Vec<Satisfied>,
    },
}

impl Satisfied {
    /// Every slot, in tree order.
    pub fn slots(&self) -> Vec<&SignerSlot> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            match node {
                Satisfied::Signer(s) => out.push(s),
                Satisfied::Rule { members, .. } => stack.extend(members.iter().rev()),
            }
        }
        out
    }

    fn to_json(&self) -> Json {
        match self {
            Satisfied::Signer(s) => {
                let mut o = match &s.referrer {
                    Some(r) => json!({"principal": s.principal, "signer": s.signer.to_string(), "referrer": r}),
                    None => json!({
                        "principal": s.principal, "signer": s.signer.to_string(), "set": s.set, "record": s.record,
                    }),
                };
                if let Some(t) = &s.time {
                    o["time"] = time_json(t);
                }
                if let Some(d) = &s.description {
                    o["description"] = json!(d);
                }
                o
            }
            Satisfied::Rule { rule, kind, members } => {
                let members: Vec<Json> = members.iter().map(Satisfied::to_json).collect();
                match kind {
                    RuleKind::All => json!({"rule": rule, "all": members}),
                    RuleKind::Any => json!({"rule": rule, "any": members}),
                    RuleKind::Threshold { k, n } => {
                        json!({"rule": rule, "threshold": {"k": k, "n": n}, "signers": members})
                    }
                }
            }
        }
    }
}

fn time_json(t: &TrustedTime) -> Json {
    json!({"source": t.source.as_str(), "at": Timestamp::from_unix_seconds(t.unix_secs).to_string()})
}

/// What the signatures that counted cover.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CoverageReport {
    /// Byte ranges covered by a set that counted, `[start, end)`.
    pub covered: Vec<(u64, u64)>,
    /// Content byte ranges no counted set covers.
    pub unsigned_ranges: Vec<(u64, u64)>,
    /// Custom sections in those ranges, by name.
    pub unsigned_sections: Vec<String>,
}

/// A valid record that did not count, and why: a reason code
/// (`coverage_insufficient`, `revoked`, `key_expired`, ...), `same_signer`
/// (another record of the same signer counted), `not_needed` (the rule was
/// met without it) or `rule_unsatisfied` (the rule failed anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unused {
    /// Set index.
    pub set: usize,
    /// Record index in the set.
    pub record: usize,
    /// The principal it verified under.
    pub principal: String,
    /// Who signed.
    pub signer: SignerId,
    /// Why it did not count.
    pub why: &'static str,
    /// For an attestation: the referrer's digest (`set` and `record` are
    /// then 0 and mean nothing).
    pub referrer: Option<String>,
}

/// One principal's row of [`Verdict::matrix`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PrincipalRow<'a> {
    /// The principal.
    pub principal: &'a str,
    /// The slots it filled in the satisfied tree.
    pub counted: Vec<&'a SignerSlot>,
    /// Its valid records that did not count.
    pub unused: Vec<&'a Unused>,
    /// Reasons about it.
    pub reasons: Vec<&'a Reason>,
}

/// A record addressed to a principal that did not verify under it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RejectedRecord {
    /// The principal.
    pub principal: String,
    /// Set index.
    pub set: usize,
    /// Record index in the set.
    pub record: usize,
    /// Why.
    pub reason: String,
}

/// The module as evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModuleFacts {
    pub(crate) path: Option<String>,
    pub(crate) oci_repository: Option<String>,
    pub(crate) kind: Option<&'static str>,
    pub(crate) sha256: Option<[u8; 32]>,
    /// The rolling hash over the whole content: what a signature over
    /// the whole module signs (no signature section).
    pub(crate) content_sha256: Option<[u8; 32]>,
    pub(crate) size: Option<u64>,
}

/// The result of evaluating one module against a policy. Only wsc-policy
/// builds one; every field is read through a getter.
#[must_use = "a verdict must be acted on: check its decision"]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verdict {
    pub(crate) decision: Decision,
    pub(crate) scope: Option<String>,
    pub(crate) mode: Mode,
    pub(crate) coverage_kind: &'static str,
    pub(crate) reasons: Vec<Reason>,
    pub(crate) satisfied: Option<Satisfied>,
    pub(crate) coverage: CoverageReport,
    pub(crate) module: ModuleFacts,
    pub(crate) policy_sha256: [u8; 32],
    pub(crate) unused: Vec<Unused>,
    pub(crate) principals: Vec<String>,
    pub(crate) rejected: Vec<RejectedRecord>,
    pub(crate) skipped: Vec<wsc_core::Skipped>,
    pub(crate) trailing_bytes: u64,
    pub(crate) manifest_digest: Option<[u8; 32]>,
    pub(crate) referrers: Vec<crate::registry::ReferrerResult>,
    pub(crate) parts: Vec<crate::nested::PartResult>,
}

impl Verdict {
    /// The decision.
    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// The scope that applied (`default` for `[default]`), if any.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The scope's mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Why the module was (or would be) rejected; empty when accepted.
    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }

    /// Whether `code` is among the reasons.
    pub fn has_reason(&self, code: ReasonCode) -> bool {
        self.reasons.iter().any(|r| r.code == code)
    }

    /// The satisfied rule tree, when the rule was satisfied.
    pub fn satisfied(&self) -> Option<&Satisfied> {
        self.satisfied.as_ref()
    }

    /// What the counted signatures cover.
    pub fn coverage(&self) -> &CoverageReport {
        &self.coverage
    }

    /// SHA-256 of the module's bytes, when it was read.
    pub fn module_sha256(&self) -> Option<[u8; 32]> {
        self.module.sha256
    }

    /// The module's size in bytes, when it was read.
    pub fn module_size(&self) -> Option<u64> {
        self.module.size
    }

    /// The principals the scope's rule reaches, by name (empty when no
    /// scope applied).
    pub fn principals(&self) -> &[String] {
        &self.principals
    }

    /// Per principal the scope's rule reaches: the records that filled its
    /// slots, the valid records that did not count (and why), and the
    /// reasons seen for it.
    pub fn matrix(&self) -> Vec<PrincipalRow<'_>> {
        let slots = self.satisfied.as_ref().map(Satisfied::slots).unwrap_or_default();
        self.principals
            .iter()
            .map(|name| PrincipalRow {
                principal: name,
                counted: slots.iter().copied().filter(|s| s.principal == *name).collect(),
                unused: self.unused.iter().filter(|u| u.principal == *name).collect(),
                reasons: self.reasons.iter().filter(|r| r.principal.as_deref() == Some(name.as_str())).collect(),
            })
            .collect()
    }

    /// Valid records that did not count, and why.
    pub fn unused(&self) -> &[Unused] {
        &self.unused
    }

    /// SHA-256 of the module's content without its signature section
    /// (the bytes a whole-module signature covers, `docs/format.md` §3).
    pub fn content_sha256(&self) -> Option<[u8; 32]> {
        self.module.content_sha256
    }

    /// Records addressed to a principal that did not verify under it.
    pub fn rejected(&self) -> &[RejectedRecord] {
        &self.rejected
    }

    /// Records and sets that could not be read (an unknown algorithm, a
    /// malformed record): they count for no principal.
    pub fn skipped(&self) -> &[wsc_core::Skipped] {
        &self.skipped
    }

    /// Bytes after the last signature set, ignored.
    pub fn trailing_bytes(&self) -> u64 {
        self.trailing_bytes
    }

    /// The SHA-256 of the OCI manifest the module was pulled by, when the
    /// evaluation had registry evidence and an attestation principal.
    pub fn manifest_digest(&self) -> Option<[u8; 32]> {
        self.manifest_digest
    }

    /// How each referrer of the manifest fared for the attestation
    /// principals: verified, failed or ignored, and why.
    pub fn referrers(&self) -> &[crate::registry::ReferrerResult] {
        &self.referrers
    }

    /// A component's nested parts and how each fared, when they were
    /// checked ([`Policy::evaluate_nested`](crate::Policy::evaluate_nested)).
    pub fn parts(&self) -> &[crate::nested::PartResult] {
        &self.parts
    }

    /// SHA-256 of the policy's normalized form.
    pub fn policy_sha256(&self) -> [u8; 32] {
        self.policy_sha256
    }

    /// The first reason's code, for one-line messages.
    pub fn primary_reason(&self) -> Option<ReasonCode> {
        self.reasons.first().map(|r| r.code)
    }

    /// The verdict as JSON, media type [`VERDICT_MEDIA_TYPE`].
    pub fn to_json(&self) -> Json {
        let hex = wsc_core::keys::hex;
        let mut module = json!({});
        if let Some(p) = &self.module.path {
            module["path"] = json!(p);
        }
        if let Some(r) = &self.module.oci_repository {
            module["oci_repository"] = json!(r);
        }
        if let Some(k) = self.module.kind {
            module["kind"] = json!(k);
        }
        if let Some(h) = &self.module.sha256 {
            module["sha256"] = json!(hex(h));
        }
        if let Some(h) = &self.module.content_sha256 {
            module["content_sha256"] = json!(hex(h));
        }
        if let Some(n) = self.module.size {
            module["size"] = json!(n);
        }
        let ranges = |r: &[(u64, u64)]| r.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>();
        json!({
            "media_type": VERDICT_MEDIA_TYPE,
            "policy": {"schema": crate::SCHEMA, "sha256": hex(&self.policy_sha256)},
            "module": module,
            "scope": self.scope,
            "mode": match self.mode { Mode::Enforce => "enforce", Mode::Audit => "audit" },
            "decision": self.decision.as_str(),
            "reasons": self.reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
            "details": self.reasons.iter().map(|r| json!({"code": r.code.as_str(), "principal": r.principal, "message": r.message})).collect::<Vec<_>>(),
            "satisfied": self.satisfied.as_ref().map(Satisfied::to_json),
            "coverage": {
                "kind": self.coverage_kind,
                "covered": ranges(&self.coverage.covered),
                "unsigned_ranges": ranges(&self.coverage.unsigned_ranges),
                "unsigned_sections": self.coverage.unsigned_sections,
            },
            "principals": self.matrix().iter().map(|row| json!({
                "principal": row.principal,
                "counted": row.counted.iter().map(|s| json!({"signer": s.signer.to_string(), "set": s.set, "record": s.record})).collect::<Vec<_>>(),
                "unused": row.unused.len(),
                "reasons": row.reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "unused": self.unused.iter().map(|u| match &u.referrer {
                Some(r) => json!({"referrer": r, "principal": u.principal, "signer": u.signer.to_string(), "why": u.why}),
                None => json!({
                    "set": u.set, "record": u.record, "principal": u.principal, "signer": u.signer.to_string(),
                    "why": u.why,
                }),
            }).collect::<Vec<_>>(),
            "rejected": self.rejected.iter().map(|r| json!({
                "principal": r.principal, "set": r.set, "record": r.record, "reason": r.reason,
            })).collect::<Vec<_>>(),
            "skipped": self.skipped.iter().map(|s| json!({
                "set": s.set, "record": s.record, "offset": s.offset, "reason": s.reason,
            })).collect::<Vec<_>>(),
            "trailing_bytes": self.trailing_bytes,
            "parts": self.parts.iter().map(crate::nested::PartResult::to_json).collect::<Vec<_>>(),
            "registry": self.manifest_digest.map(|d| json!({
                "manifest_digest": format!("sha256:{}", hex(&d)),
                "referrers": self.referrers.iter().map(|r| json!({
                    "digest": r.digest, "principal": r.principal, "predicate_type": r.predicate_type,
                    "signer": r.signer, "outcome": r.outcome, "reason": r.reason,
                })).collect::<Vec<_>>(),
            })),
        })
    }
}
