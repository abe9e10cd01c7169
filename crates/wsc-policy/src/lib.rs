//! wsc trust policies: one declarative file that says who may sign which
//! WebAssembly modules (`wsc-policy/v1`, `docs/policy.md`).
//!
//! What it is: the policy format and its strict loader. A policy names
//! principals (public keys, Sigstore keyless identities, X.509 trust
//! anchors), rules over them (`all`, `any`, `threshold`), scopes that pick
//! a rule per module, and revoked signers. It is read from TOML or from its
//! one-to-one JSON form, and refused, with a stable [`ErrorCode`] and the
//! path of the offending value, when anything is unknown, missing, given
//! twice, weak or impossible: an unknown field, the same key under two
//! names (in any encoding), a JSON name given twice, an identity regex
//! without a literal `scheme://host/segment/` prefix, a threshold of 0 or
//! of more than its members, a cycle between rules, a name that resolves
//! to nothing, `mode = "audit"` on `[default]`. A loaded [`Policy`] has
//! every file read (through a [`FileSource`], so a policy can be checked in
//! memory), every key normalized to SubjectPublicKeyInfo and identified by
//! its SHA-256, every regular expression anchored, and a normalized JSON
//! form whose SHA-256 ([`Policy::sha256`]) is the same for the TOML and
//! JSON forms of one policy.
//!
//! [`Policy::evaluate`] decides for one module, in one pass over it: every
//! record is verified first, signers are identified by what verifies them,
//! a rule is met only by distinct signers, and the typed [`Verdict`] says
//! which rule was met by whom, what is covered, and why not when it is not.
//! `wsc verify --policy` prints it; `wsc verify -K`/`--keyless`/
//! `--trust-anchor` build a policy in memory and decide the same way.
//!
//! What it is not: it does no network access (trust roots, CRLs and
//! timestamps come from files), needs no hardware, and fetches nothing
//! from a registry.
//!
//! ```
//! use wsc_policy::{Format, NoFiles};
//!
//! let text = r#"
//! schema = "wsc-policy/v1"
//!
//! [principals.ci]
//! kind = "keyless"
//! issuer = "https://token.actions.githubusercontent.com"
//! identity_regex = 'https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*'
//!
//! [default]
//! rule = "ci"
//! "#;
//! let policy = wsc_policy::parse(text.as_bytes(), Format::Toml, &NoFiles)?;
//! let as_json = policy.to_json()?;
//! let again = wsc_policy::parse(as_json.as_bytes(), Format::Json, &NoFiles)?;
//! assert_eq!(policy.sha256(), again.sha256());
//!
//! // One letter off, and the policy is refused with a code and a path.
//! let typo = text.replace("identity_regex", "identity_regexp");
//! let err = wsc_policy::parse(typo.as_bytes(), Format::Toml, &NoFiles).unwrap_err();
//! assert_eq!((err.code().as_str(), err.path()), ("unknown_field", "principals.ci.identity_regexp"));
//! # Ok::<(), wsc_policy::PolicyError>(())
//! ```

mod chunks;
mod de;
mod doc;
mod error;
mod eval;
mod fanout;
mod files;
mod init;
mod load;
mod matchers;
mod model;
mod nested;
mod registry;
mod time;
mod value;
mod verdict;

use std::path::Path as FsPath;

pub use chunks::ChunkReader;
pub use error::{ErrorCode, Location, PolicyError};
pub use eval::{EvalError, MAX_SEARCH_STEPS, MAX_TREE_NODES, Target};
pub use files::{DirFiles, FileError, FileSource, MemoryFiles, NoFiles};
pub use init::Starter;
pub use matchers::PathGlob;
pub use model::{
    AttestationPrincipal, Coverage, DefaultScope, GithubClaims, Identity, KeyPrincipal, KeylessPrincipal, Material,
    Mode, PartKind, PartRule, Policy, Principal, Rule, Runner, Scope, Selector, TrustRoot, X509Principal, X509Time,
};
pub use nested::PartResult;
pub use registry::{MAX_ATTESTATION_CHECKS, Referrer, ReferrerContent, ReferrerResult, RegistryEvidence};
pub use time::{Age, Timestamp};
pub use verdict::{
    CoverageReport, Decision, PrincipalRow, Reason, ReasonCode, RejectedRecord, RuleKind, Satisfied, SignerSlot,
    Unused, VERDICT_MEDIA_TYPE, Verdict,
};

use value::Value;

/// The one schema this version reads. A file of another schema is refused
/// (`unsupported_version`) rather than read in part.
pub const SCHEMA: &str = "wsc-policy/v1";

/// Budgets for loading a policy. Every count and size a policy file
/// controls is bounded by one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest policy file, in bytes.
    pub max_policy_bytes: usize,
    /// Most principals, rules, scopes, revoked ids, and members of one rule.
    pub max_entries: usize,
    /// Largest key file, in bytes.
    pub max_key_file_bytes: usize,
    /// Largest anchor, CRL, TSA chain or trust root file, in bytes.
    pub max_material_file_bytes: usize,
    /// Most files in one `anchors`, `crls` or `tsa_chains` list.
    pub max_files_per_list: usize,
    /// Most bytes read from all the files one policy names.
    pub max_total_file_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_policy_bytes: 1024 * 1024,
            max_entries: 10_000,
            max_key_file_bytes: 64 * 1024,
            max_material_file_bytes: 1024 * 1024,
            max_files_per_list: 64,
            max_total_file_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Changes the largest policy file.
    pub fn with_max_policy_bytes(mut self, n: usize) -> Self {
        self.max_policy_bytes = n;
        self
    }

    /// Changes the most entries of each kind.
    pub fn with_max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        self
    }

    /// Changes the most bytes read from all files together.
    pub fn with_max_total_file_bytes(mut self, n: usize) -> Self {
        self.max_total_file_bytes = n;
        self
    }
}

/// The two forms of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// TOML.
    Toml,
    /// The same data model as JSON.
    Json,
}

impl Format {
    /// The form of a file: by its extension (`.toml`, `.json`), else JSON
    /// when its first character is `{` (no TOML document starts so), else
    /// TOML.
    pub fn of_file(path: &FsPath, bytes: &[u8]) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Format::Json,
            Some("toml") => Format::Toml,
            _ => match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b'{') => Format::Json,
                _ => Format::Toml,
            },
        }
    }
}

/// Loads a policy from its text, with the default [`Limits`]. `files`
/// gives the files it names (keys, anchors, CRLs, TSA chains, trust roots).
pub fn parse(bytes: &[u8], format: Format, files: &dyn FileSource) -> Result<Policy, PolicyError> {
    parse_with_limits(bytes, format, files, &Limits::default())
}

/// Loads a policy from its text within `limits`.
pub fn parse_with_limits(
    bytes: &[u8],
    format: Format,
    files: &dyn FileSource,
    limits: &Limits,
) -> Result<Policy, PolicyError> {
    if bytes.len() > limits.max_policy_bytes {
        let msg = format!("{} bytes; a policy is at most {} bytes", bytes.len(), limits.max_policy_bytes);
        return Err(PolicyError::new(ErrorCode::TooLarge, "", msg));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        PolicyError::new(ErrorCode::Syntax, "", format!("not UTF-8 text (byte {})", e.valid_up_to())).with_source(e)
    })?;
    let root = match format {
        Format::Toml => value::parse_toml(text)?,
        Format::Json => value::parse_json(text)?,
    };
    let Value::Table(top) = &root else {
        let msg = format!("a policy is a table (object), not {}", root.type_name());
        return Err(PolicyError::new(ErrorCode::InvalidType, "", msg));
    };
    // The schema first: a v2 file is refused as such, not for its new fields.
    match top.get("schema") {
        Some(Value::String(s)) if s == SCHEMA => {}
        Some(Value::String(s)) => {
            let msg = format!("\"{s}\": this wsc reads {SCHEMA} only");
            return Err(PolicyError::new(ErrorCode::UnsupportedVersion, "schema", msg));
        }
        Some(other) => {
            let msg = format!("expected the string \"{SCHEMA}\", found {}", other.type_name());
            return Err(PolicyError::new(ErrorCode::UnsupportedVersion, "schema", msg));
        }
        None => {
            let msg = format!("no `schema`: write schema = \"{SCHEMA}\" first");
            return Err(PolicyError::new(ErrorCode::UnsupportedVersion, "schema", msg));
        }
    }
    let doc = doc::document(&root, format == Format::Toml)?;
    load::build(doc, files, limits)
}

/// Loads a policy file; the files it names are read relative to its
/// directory ([`DirFiles`]).
pub fn load_file(path: &FsPath) -> Result<Policy, PolicyError> {
    load_file_with_limits(path, &Limits::default())
}

/// Loads a policy file within `limits`.
pub fn load_file_with_limits(path: &FsPath, limits: &Limits) -> Result<Policy, PolicyError> {
    let shown = path.display().to_string();
    let bytes = std::fs::File::open(path)
        .map_err(files::FileError::Io)
        .and_then(|f| files::read_limited(f, limits.max_policy_bytes))
        .map_err(|e| match e {
            FileError::TooLarge { limit } => {
                PolicyError::new(ErrorCode::TooLarge, "", format!("'{shown}' is larger than {limit} bytes"))
            }
            other => {
                PolicyError::new(ErrorCode::UnreadableFile, "", format!("cannot read '{shown}'")).with_source(other)
            }
        })?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => FsPath::new("."),
    };
    parse_with_limits(&bytes, Format::of_file(path, &bytes), &DirFiles::new(base), limits)
}

impl Policy {
    /// The policy as TOML, as written (files stay file names), laid out
    /// like `docs/policy.md`. Comments are not kept.
    pub fn to_toml(&self) -> Result<String, PolicyError> {
        match self.doc.to_value(true)? {
            Value::Table(t) => Ok(value::to_toml(&t)),
            _ => Err(PolicyError::new(ErrorCode::InvalidType, "", "the policy is not a table")),
        }
    }

    /// The policy as JSON, as written (files stay file names), indented.
    pub fn to_json(&self) -> Result<String, PolicyError> {
        let mut out = value::to_json(&self.doc.to_value(false)?, true);
        out.push('\n');
        Ok(out)
    }

    /// The policy in `format`.
    pub fn to_format(&self, format: Format) -> Result<String, PolicyError> {
        match format {
            Format::Toml => self.to_toml(),
            Format::Json => self.to_json(),
        }
    }
}
