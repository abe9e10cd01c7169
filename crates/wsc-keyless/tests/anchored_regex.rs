//! Regular expressions of the identity policy match whole values, and no
//! pattern can escape the anchors (defect class: anchoring by string
//! concatenation, where `nomatch)|(?:` closed wsc's group and matched every
//! identity). One table of (pattern, value, expected).

use wsc_keyless::{IdentityPolicy, KeylessError, Matcher, anchored_regex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Match,
    NoMatch,
    /// The pattern does not parse on its own: refused, never matched.
    Refused,
}
use Expect::{Match, NoMatch, Refused};

const ID: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";

const TABLE: &[(&str, &str, Expect)] = &[
    // Whole-value matching.
    ("a", "a", Match),
    ("a", "ab", NoMatch),
    ("a", "ba", NoMatch),
    ("a|b", "b", Match),
    ("a|b", "ab", NoMatch),
    ("a|ab", "ab", Match),
    ("", "", Match),
    ("", "a", NoMatch),
    ("acme", ID, NoMatch),
    ("https://github.com/acme/.*", ID, Match),
    ("https://github.com/acme/.*", "https://github.com/evil/app", NoMatch),
    (r"https://github\.com/acme/app/\.github/workflows/release\.yml@refs/heads/main", ID, Match),
    (r"https://github\.com/acme/app/\.github/workflows/release\.yml@refs/heads/main", "x", NoMatch),
    (r"\w+@example\.com", "dev@example.com", Match),
    (r"\w+@example\.com", "dev@example.com.evil.test", NoMatch),
    ("(?i-u)acme", "ACME", Match),
    ("(?i-u)acme", "xACME", NoMatch),
    ("(?P<who>dev)@(?:example|test)", "dev@test", Match),
    // The user's own line anchors do not reach past the value's ends.
    ("(?m)^a$", "a\nb", NoMatch),
    ("(?m)^a$", "a", Match),
    ("(?s)a.b", "a\nb", Match),
    // Escape attempts: each closes wsc's group under string concatenation.
    ("nomatch)|(?:", ID, Refused),
    ("nomatch)|(?:", "", Refused),
    ("a)|(b", "ab", Refused),
    ("a)|(b", "a-anything", Refused),
    (".*)|(.*", ID, Refused),
    ("x)|.*|(?:y", ID, Refused),
    ("a)(?m)|(?m:b", "b", Refused),
    // Verbose mode: a comment runs to the end of the pattern, so under
    // concatenation it swallowed the closing `)$`.
    ("(?x)a#", "a", Match),
    ("(?x)a#", "ab", NoMatch),
    ("(?x)a#", ID, NoMatch),
    ("(?x)a#)|.*", "a", Match),
    ("(?x)a#)|.*", ID, NoMatch),
    ("(?x) a # comment\n | b", "b", Match),
    ("(?x) a # comment\n | b", "ab", NoMatch),
    ("(?x)a#\n)|(?:.*", ID, Refused),
    // Not a regular expression on its own.
    ("(", "(", Refused),
    (")", ")", Refused),
    ("[", "[", Refused),
    ("\\", "\\", Refused),
    ("a{2", "aa", Refused),
    ("(?-u:\\xFF)", "x", Refused),
];

#[test]
fn anchored_regex_table() {
    let mut wrong = Vec::new();
    for &(pattern, value, expect) in TABLE {
        let got = match anchored_regex(pattern) {
            Ok(re) if re.is_match(value) => Match,
            Ok(_) => NoMatch,
            Err(KeylessError::Regex { pattern: p, .. }) if p == pattern => Refused,
            Err(e) => panic!("{pattern:?}: an error of another kind: {e:?}"),
        };
        if got != expect {
            wrong.push(format!("{pattern:?} on {value:?}: expected {expect:?}, got {got:?}"));
        }
        // `Matcher::regex` is the same function.
        let m = Matcher::regex(pattern);
        match (expect, m) {
            (Refused, Err(KeylessError::Regex { .. })) => {}
            (Match, Ok(m)) => assert!(m.matches(value), "Matcher {pattern:?} on {value:?}"),
            (NoMatch, Ok(m)) => assert!(!m.matches(value), "Matcher {pattern:?} on {value:?}"),
            (e, m) => wrong.push(format!("Matcher {pattern:?}: expected {e:?}, got {m:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The refusal names the pattern and keeps the parser's reason as its source.
#[test]
fn a_refused_pattern_says_why() {
    let e = anchored_regex("nomatch)|(?:").expect_err("refused");
    assert!(wsc_core::Chain(&e).to_string().contains("nomatch)|(?:"), "{e}");
    let source = std::error::Error::source(&e).expect("a source").to_string();
    assert!(source.contains("unopened group"), "{source}");
}

/// An identity policy built from an escape attempt cannot be made at all,
/// and a matcher shows the pattern as given, with its anchors.
#[test]
fn policies_use_the_anchored_form() {
    assert!(Matcher::regex("nomatch)|(?:").is_err());
    let m = Matcher::regex("https://github.com/acme/.*").expect("valid");
    assert_eq!(m.to_string(), "/^(?:https://github.com/acme/.*)$/");
    let _ = IdentityPolicy::new(m, Matcher::Exact("https://token.actions.githubusercontent.com".into()));
}
