//! Policy errors: a stable code, the path in the file, a message.

use std::fmt;

/// What is wrong with a policy. The string forms ([`ErrorCode::as_str`])
/// are a stable contract: scripts and the JSON outputs use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `schema` is missing or is not `wsc-policy/v1`.
    UnsupportedVersion,
    /// The text is not TOML or not JSON.
    Syntax,
    /// A field this schema does not define.
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// One table or object names the same field twice.
    DuplicateField,
    /// A value of the wrong type (a string where a list is expected).
    InvalidType,
    /// A value of the right type that is not allowed.
    InvalidValue,
    /// Two principals are one signer: the same public key (in any
    /// encoding), or the same exact keyless issuer and identity.
    DuplicateKey,
    /// A principal and a rule share a name, or two scopes do.
    DuplicateName,
    /// A keyless `identity_regex` without a literal prefix through
    /// `scheme://host/segment/`.
    WeakIdentityRegex,
    /// A regular expression that does not parse.
    InvalidRegex,
    /// A rule that is empty, impossible or not exactly one of
    /// `all`, `any`, `threshold`.
    InvalidRule,
    /// A name that is neither a principal nor a rule.
    UnknownName,
    /// Rules that reference themselves through other rules.
    Cycle,
    /// Two scopes with the same match: no module could choose between them.
    AmbiguousScope,
    /// `mode = "audit"` on `[default]`.
    AuditOnDefaultScope,
    /// A file the policy names cannot be read.
    UnreadableFile,
    /// A key that does not parse as a public key.
    InvalidKey,
    /// A key of another algorithm than the principal declares.
    AlgorithmMismatch,
    /// A trust anchor, CRL, TSA chain or trust root that does not parse or
    /// cannot be used.
    InvalidTrustMaterial,
    /// A size or count over its budget.
    TooLarge,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::UnsupportedVersion,
        ErrorCode::Syntax,
        ErrorCode::UnknownField,
        ErrorCode::MissingField,
        ErrorCode::DuplicateField,
        ErrorCode::InvalidType,
        ErrorCode::InvalidValue,
        ErrorCode::DuplicateKey,
        ErrorCode::DuplicateName,
        ErrorCode::WeakIdentityRegex,
        ErrorCode::InvalidRegex,
        ErrorCode::InvalidRule,
        ErrorCode::UnknownName,
        ErrorCode::Cycle,
        ErrorCode::AmbiguousScope,
        ErrorCode::AuditOnDefaultScope,
        ErrorCode::UnreadableFile,
        ErrorCode::InvalidKey,
        ErrorCode::AlgorithmMismatch,
        ErrorCode::InvalidTrustMaterial,
        ErrorCode::TooLarge,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::Syntax => "syntax",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::DuplicateField => "duplicate_field",
            ErrorCode::InvalidType => "invalid_type",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::DuplicateKey => "duplicate_key",
            ErrorCode::DuplicateName => "duplicate_name",
            ErrorCode::WeakIdentityRegex => "weak_identity_regex",
            ErrorCode::InvalidRegex => "invalid_regex",
            ErrorCode::InvalidRule => "invalid_rule",
            ErrorCode::UnknownName => "unknown_name",
            ErrorCode::Cycle => "cycle",
            ErrorCode::AmbiguousScope => "ambiguous_scope",
            ErrorCode::AuditOnDefaultScope => "audit_on_default_scope",
            ErrorCode::UnreadableFile => "unreadable_file",
            ErrorCode::InvalidKey => "invalid_key",
            ErrorCode::AlgorithmMismatch => "algorithm_mismatch",
            ErrorCode::InvalidTrustMaterial => "invalid_trust_material",
            ErrorCode::TooLarge => "too_large",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the text a syntax error is (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

/// Why a policy was refused: a stable [`ErrorCode`], the path of the
/// offending value in the file (`principals.release-ed.file`,
/// `rules.release.all[1]`, `scopes[0].match`; empty for the whole file),
/// a message, and the underlying cause as `source` when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{code} at {}: {message}", self.place())]
pub struct PolicyError {
    code: ErrorCode,
    path: String,
    location: Option<Location>,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl PolicyError {
    pub(crate) fn new(code: ErrorCode, path: impl fmt::Display, message: impl Into<String>) -> Self {
        PolicyError { code, path: path.to_string(), location: None, message: message.into(), source: None }
    }

    pub(crate) fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub(crate) fn at_location(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The path of the offending value; empty for the whole file.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The line and column, for errors found while parsing the text.
    pub fn location(&self) -> Option<Location> {
        self.location
    }

    /// The message, without the code, the path or the cause.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn place(&self) -> String {
        match (self.path.is_empty(), self.location) {
            (false, Some(l)) => format!("{} (line {}, column {})", self.path, l.line, l.column),
            (false, None) => self.path.clone(),
            (true, Some(l)) => format!("line {}, column {}", l.line, l.column),
            (true, None) => "the top level".to_string(),
        }
    }
}
