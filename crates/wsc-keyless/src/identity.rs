//! The identity policy: who must have signed a keyless record (exact or
//! anchored-regex identity and issuer, GitHub workflow claims).

use std::fmt;

use regex::Regex;
use regex_syntax::hir::{Hir, Look};
use sigstore_verify::VerificationResult;

use crate::error::{KeylessError, Mismatch};

/// A regular expression that must match a whole value: `^(?:pattern)$`,
/// built so that nothing in `pattern` can escape the anchors.
///
/// The pattern is parsed on its own first: an unbalanced `)`, a trailing
/// `\` or any other error refuses it. The anchors are then added to the
/// parsed tree, not to the text, and the regex compiled is one whose own
/// parse is exactly that anchored tree: the text `^(?:pattern)$` when it
/// parses to it (most patterns, and it reads as written), else the tree's
/// printed form, which has no verbose mode and closes every group. So
/// `nomatch)|(?:` is refused, and `(?x)a#` (whose comment would swallow a
/// textual `)$`) matches exactly `a`.
pub fn anchored_regex(pattern: &str) -> Result<Regex, KeylessError> {
    let refuse =
        |source: Box<dyn std::error::Error + Send + Sync>| KeylessError::Regex { pattern: pattern.to_string(), source };
    let parse = |p: &str| regex_syntax::Parser::new().parse(p).map_err(|e| refuse(e.into()));
    let anchored = Hir::concat(vec![Hir::look(Look::Start), parse(pattern)?, Hir::look(Look::End)]);
    let textual = format!("^(?:{pattern})$");
    let chosen = match parse(&textual) {
        Ok(hir) if hir == anchored => textual,
        _ => {
            let printed = anchored.to_string();
            // Fail closed should the printer ever disagree with the parser.
            if parse(&printed)? != anchored {
                return Err(refuse("the anchored pattern does not parse back to the same expression".into()));
            }
            printed
        }
    };
    Regex::new(&chosen).map_err(|e| refuse(e.into()))
}

/// How a string claim is matched.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Matcher {
    /// Equal to this string.
    Exact(String),
    /// Matches this regular expression over the whole value (anchored,
    /// unlike cosign's unanchored search); made by [`Matcher::regex`].
    Regex(AnchoredRegex),
}

/// A regular expression from [`anchored_regex`]. Only this crate makes
/// one, so a [`Matcher::Regex`] is always anchored.
#[derive(Debug, Clone)]
pub struct AnchoredRegex(Regex);

impl AnchoredRegex {
    /// The anchored expression.
    pub fn as_regex(&self) -> &Regex {
        &self.0
    }
}

impl Matcher {
    /// A regular expression over the whole value ([`anchored_regex`]).
    pub fn regex(pattern: &str) -> Result<Self, KeylessError> {
        anchored_regex(pattern).map(|r| Matcher::Regex(AnchoredRegex(r)))
    }

    /// Whether `value` equals the string, or the expression matches it.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == value,
            Matcher::Regex(r) => r.0.is_match(value),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "{s:?}"),
            Matcher::Regex(r) => write!(f, "/{}/", r.0.as_str()),
        }
    }
}

/// The GitHub Actions runner a keyless signature must come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Runner {
    /// A GitHub-hosted runner.
    GithubHosted,
    /// A self-hosted runner.
    SelfHosted,
}

impl Runner {
    /// The value of the certificate's runner-environment claim.
    pub fn as_str(self) -> &'static str {
        match self {
            Runner::GithubHosted => "github-hosted",
            Runner::SelfHosted => "self-hosted",
        }
    }
}

/// Optional checks on the GitHub Actions claims Fulcio copies into the
/// certificate (cosign's `--certificate-github-workflow-*` flags), each
/// when given. Trust policies use the same type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GithubClaims {
    /// `owner/repository`.
    pub repository: Option<String>,
    /// The git ref, e.g. `refs/heads/main`.
    pub git_ref: Option<String>,
    /// The triggering event, e.g. `push`.
    pub trigger: Option<String>,
    /// The commit SHA.
    pub sha: Option<String>,
    /// The workflow's name.
    pub name: Option<String>,
    /// The runner environment.
    pub runner: Option<Runner>,
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    identity: Matcher,
    issuer: Matcher,
    github: GithubClaims,
}

impl IdentityPolicy {
    /// The certificate's SAN must match `identity`, and its Fulcio OIDC
    /// issuer extension must match `issuer`. There is no fallback to other
    /// certificate fields.
    pub fn new(identity: Matcher, issuer: Matcher) -> Self {
        IdentityPolicy { identity, issuer, github: GithubClaims::default() }
    }

    /// Adds checks on GitHub workflow claims.
    pub fn with_github(mut self, github: GithubClaims) -> Self {
        self.github = github;
        self
    }

    pub(crate) fn check(&self, result: &VerificationResult) -> Result<(), KeylessError> {
        let san = result.identity().map(|s| s.as_str().to_string());
        let iss = result.issuer().map(str::to_string);
        match &san {
            Some(s) if self.identity.matches(s) => {}
            _ => {
                return Err(KeylessError::mismatch(
                    Mismatch::Identity,
                    format!(
                        "certificate identity {} does not match {}",
                        san.as_deref().map_or("(none)".to_string(), |s| format!("{s:?}")),
                        self.identity
                    ),
                ));
            }
        }
        match &iss {
            Some(s) if self.issuer.matches(s) => {}
            _ => {
                return Err(KeylessError::mismatch(
                    Mismatch::Issuer,
                    format!(
                        "certificate OIDC issuer {} does not match {}",
                        iss.as_deref().map_or("(none)".to_string(), |s| format!("{s:?}")),
                        self.issuer
                    ),
                ));
            }
        }
        let claims = result.certificate().map(|c| &c.ci_claims);
        let gh = claims.map(|c| &c.deprecated_github);
        type Check<'a> = (&'a str, &'a Option<String>, Option<&'a Option<String>>);
        let runner = claims.map(|c| &c.runner_environment);
        let want_runner = self.github.runner.map(|r| r.as_str().to_string());
        let checks: [Check<'_>; 6] = [
            ("workflow repository", &self.github.repository, gh.map(|g| &g.workflow_repository)),
            ("workflow ref", &self.github.git_ref, gh.map(|g| &g.workflow_ref)),
            ("workflow trigger", &self.github.trigger, gh.map(|g| &g.workflow_trigger)),
            ("workflow sha", &self.github.sha, gh.map(|g| &g.workflow_sha)),
            ("workflow name", &self.github.name, gh.map(|g| &g.workflow_name)),
            ("runner environment", &want_runner, runner),
        ];
        for (what, want, got) in checks {
            if let Some(want) = want {
                let got = got.and_then(Option::as_deref);
                if got != Some(want.as_str()) {
                    return Err(KeylessError::mismatch(
                        Mismatch::Claim,
                        format!(
                            "GitHub {what} is {}, expected {want:?}",
                            got.map_or("absent".to_string(), |g| format!("{g:?}"))
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
