//! The checked policy: what a loaded file means, with every file read,
//! every key normalized and every regular expression compiled.
//!
//! Only this crate builds these values (the types are `#[non_exhaustive]`
//! and a [`Policy`] comes only from the loader), so holding one means it
//! passed every check of `docs/policy.md`.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use wsc_core::PublicKey;

use crate::doc::Document;
use crate::matchers::PathGlob;
use crate::time::{Age, Timestamp};

/// A checked policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) doc: Document,
    pub(crate) revoked: BTreeSet<String>,
    pub(crate) principals: BTreeMap<String, Principal>,
    pub(crate) rules: BTreeMap<String, Rule>,
    pub(crate) scopes: Vec<Scope>,
    pub(crate) default: Option<DefaultScope>,
    pub(crate) normalized: String,
    pub(crate) sha256: [u8; 32],
}

impl Policy {
    /// The principal of this name.
    pub fn principal(&self, name: &str) -> Option<&Principal> {
        self.principals.get(name)
    }

    /// Every principal, by name.
    pub fn principals(&self) -> &BTreeMap<String, Principal> {
        &self.principals
    }

    /// The rule of this name.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.get(name)
    }

    /// Every rule, by name.
    pub fn rules(&self) -> &BTreeMap<String, Rule> {
        &self.rules
    }

    /// The `[[scopes]]`, in file order.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// The `[default]` scope, if any.
    pub fn default_scope(&self) -> Option<&DefaultScope> {
        self.default.as_ref()
    }

    /// The revoked signer ids, normalized (`key:sha256:<hex>`,
    /// `keyless:<issuer>|<identity>`, `x509:sha256:<hex>`).
    pub fn revoked(&self) -> &BTreeSet<String> {
        &self.revoked
    }

    /// The normalized policy: compact JSON, keys sorted, keys and files
    /// replaced by their SHA-256 (see `docs/policy.md`).
    pub fn normalized_json(&self) -> &str {
        &self.normalized
    }

    /// SHA-256 of [`Policy::normalized_json`]: equal for the TOML and the
    /// JSON form of one policy, and for keys in any encoding.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// [`Policy::sha256`] as lower-case hex.
    pub fn sha256_hex(&self) -> String {
        wsc_core::keys::hex(&self.sha256)
    }
}

/// One party that may sign.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Principal {
    /// A public key.
    Key(KeyPrincipal),
    /// A Sigstore keyless identity.
    Keyless(KeylessPrincipal),
    /// Certificates chaining to private trust anchors.
    X509(X509Principal),
    /// A Sigstore attestation about the OCI manifest the module was pulled
    /// by (a registry referrer), signed by a keyless principal.
    Attestation(AttestationPrincipal),
}

/// Registry evidence: a referrer of the module's OCI manifest whose bundle
/// is a DSSE in-toto statement of `predicate_type` about that manifest,
/// signed by the keyless principal `signer`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AttestationPrincipal {
    /// The statement's `predicateType`, matched exactly.
    pub predicate_type: String,
    /// The keyless principal, or the P-256 key principal, that must have
    /// signed the bundle.
    pub signer: String,
    /// Whether a bundle with no transparency-log entry counts when an
    /// RFC 3161 timestamp of the trust root verifies (GitHub attestations
    /// of private repositories).
    pub allow_no_tlog: bool,
    /// For a key signer: the trust root whose Rekor logs and timestamp
    /// authorities the bundle's evidence must verify under (a keyless
    /// signer uses its own).
    pub trust_root: Option<TrustRoot>,
}

/// A public key, normalized to SubjectPublicKeyInfo DER.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeyPrincipal {
    /// The key.
    pub key: PublicKey,
    /// Its SubjectPublicKeyInfo, DER.
    pub spki: Vec<u8>,
    /// SHA-256 of `spki`: the key's identity.
    pub fingerprint: [u8; 32],
    /// The key id hint (never identity: key ids are unsigned).
    pub key_id: Option<wsc_core::KeyId>,
    /// Signatures made after this time do not count.
    pub valid_until: Option<Timestamp>,
}

impl KeyPrincipal {
    /// `key:sha256:<hex of the SPKI's SHA-256>`.
    pub fn signer_id(&self) -> String {
        format!("key:sha256:{}", wsc_core::keys::hex(&self.fingerprint))
    }
}

/// How a keyless certificate's identity (SAN) must match.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Identity {
    /// Equal to this string.
    Exact(String),
    /// Matched whole by this expression (anchored by
    /// `wsc_keyless::anchored_regex`), whose literal prefix runs through
    /// `scheme://host/segment/`.
    Regex {
        /// The pattern as written.
        pattern: String,
        /// The anchored expression.
        regex: Regex,
    },
}

/// Which Sigstore trust root verifies a keyless principal's evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustRoot {
    /// The public-good production root embedded in wsc.
    Production,
    /// The public-good staging root embedded in wsc.
    Staging,
    /// A trusted root file (`application/vnd.dev.sigstore.trustedroot+json`).
    File {
        /// Its text, as read when the policy was loaded.
        json: String,
        /// SHA-256 of the text.
        sha256: [u8; 32],
    },
}

pub use wsc_keyless::{GithubClaims, Runner};

/// A Sigstore keyless identity: the issuer exactly, and the identity.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeylessPrincipal {
    /// The OIDC issuer, matched exactly.
    pub issuer: String,
    /// The certificate identity.
    pub identity: Identity,
    /// The trust root.
    pub trust_root: TrustRoot,
    /// GitHub claims, when given.
    pub github: Option<GithubClaims>,
}

impl KeylessPrincipal {
    /// `keyless:<issuer>|<identity>` for an exact identity.
    pub fn signer_id(&self) -> Option<String> {
        match &self.identity {
            Identity::Exact(id) => Some(format!("keyless:{}|{id}", self.issuer)),
            Identity::Regex { .. } => None,
        }
    }
}

/// A file of trust material, as read when the policy was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Material {
    /// The bytes: the DER certificate of an anchor, else the file.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`.
    pub sha256: [u8; 32],
}

/// Which time an x509 principal's chain is checked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum X509Time {
    /// The verification time.
    Now,
    /// The time of a verifying RFC 3161 timestamp in the record.
    Timestamp,
}

/// Device certificates under private trust anchors.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct X509Principal {
    /// Trust anchors (one CA certificate each).
    pub anchors: Vec<Material>,
    /// The device id (URI SAN `urn:wsc:device:<id>`) must match whole.
    pub device_id: Option<(String, Regex)>,
    /// RDNs the leaf's subject must have, each equal.
    pub subject: BTreeMap<String, String>,
    /// CRLs.
    pub crls: Vec<Material>,
    /// Whether a CRL must cover each chain.
    pub require_crl: bool,
    /// Which time the chain is checked at.
    pub time: X509Time,
    /// Trusted timestamp authorities (chains).
    pub tsa_chains: Vec<Material>,
    /// The timestamp must be at most this old.
    pub max_age: Option<Age>,
}

/// A rule over principals and other rules, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// Every member.
    All(Vec<String>),
    /// At least one member.
    Any(Vec<String>),
    /// At least `k` of the members, each by a distinct signer.
    Threshold {
        /// How many, 1 ≤ k ≤ of.len().
        k: usize,
        /// The members.
        of: Vec<String>,
    },
}

impl Rule {
    /// The members, as written.
    pub fn members(&self) -> &[String] {
        match self {
            Rule::All(m) | Rule::Any(m) | Rule::Threshold { of: m, .. } => m,
        }
    }
}

/// Which modules a scope is for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selector {
    /// An OCI repository, exactly.
    OciRepository(String),
    /// A path, exactly.
    Path(String),
    /// A path glob.
    PathGlob(PathGlob),
}

/// What part of a module the signatures must cover.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Coverage {
    /// The whole module.
    Whole,
    /// Every standard section, and the custom sections whose name matches
    /// `custom` (anchored); other custom sections may be unsigned.
    Sections {
        /// The pattern as written, and the anchored expression.
        custom: Option<(String, Regex)>,
    },
}

/// Whether a rejection rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// A rejected module is refused.
    Enforce,
    /// A rejected module is accepted with a loud warning.
    Audit,
}

/// A `[[scopes]]` entry.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Scope {
    /// Its name.
    pub name: String,
    /// Which modules.
    pub selector: Selector,
    /// The rule (or principal) that must be satisfied.
    pub rule: String,
    /// What must be covered.
    pub coverage: Coverage,
    /// Enforce or audit.
    pub mode: Mode,
    /// What nested parts of a component must carry (checked by
    /// [`Policy::evaluate_nested`](crate::Policy::evaluate_nested)).
    pub parts: Vec<PartRule>,
}

/// Which nested parts a [`PartRule`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartKind {
    /// Nested core modules.
    Module,
    /// Nested components.
    Component,
    /// Nested parts of a kind no other rule of the scope names.
    Any,
}

impl PartKind {
    /// `module`, `component` or `any`.
    pub fn as_str(self) -> &'static str {
        match self {
            PartKind::Module => "module",
            PartKind::Component => "component",
            PartKind::Any => "any",
        }
    }
}

/// What a scope requires of a component's nested parts of one kind: the
/// rule their own signatures must meet, and whether a part without a
/// signature of its own may be there.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartRule {
    /// Which parts.
    pub kind: PartKind,
    /// The rule (or principal) a signed part's signatures must satisfy.
    pub rule: String,
    /// Whether a part without a signature section of its own is accepted.
    pub allow_unsigned: bool,
}

/// The `[default]` scope: always enforced.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DefaultScope {
    /// The rule (or principal) that must be satisfied.
    pub rule: String,
    /// What must be covered.
    pub coverage: Coverage,
    /// What nested parts of a component must carry.
    pub parts: Vec<PartRule>,
}
