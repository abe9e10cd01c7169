//! Checks on the strings that select modules and signers: identity
//! regexes, OCI repositories, paths and path globs.

use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// Why a keyless `identity_regex` is too weak, if it is.
///
/// Every string the pattern matches must start with a literal
/// `scheme://host/segment/` (`https://github.com/acme/`): without the
/// slash after the segment, `https://github.com/acme.*` also matches
/// `https://github.com/acme-evil/…`. The prefixes are those regex-syntax's
/// literal extractor finds on the parsed pattern, so escapes count as the
/// characters they stand for (`github\.com`) and an unescaped `.` or a
/// class ends the literal part. When the extractor cannot bound the set
/// (too many alternatives, case-insensitive text) the pattern is refused:
/// exact `identity` is always possible.
pub(crate) fn weak_identity_regex(pattern: &str) -> Option<String> {
    let hir = match regex_syntax::Parser::new().parse(pattern) {
        Ok(h) => h,
        Err(e) => return Some(format!("it does not parse: {e}")),
    };
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix);
    let seq = extractor.extract(&hir);
    let Some(literals) = seq.literals() else {
        return Some("a match can start with anything (no literal prefix)".to_string());
    };
    if literals.is_empty() {
        return Some("it matches no identity".to_string());
    }
    for lit in literals {
        let text = String::from_utf8_lossy(lit.as_bytes());
        if !has_host_and_segment(&text) {
            return Some(format!(
                "a match can start with \"{text}\" followed by anything; the literal prefix must run \
                 through scheme://host/segment/ (e.g. https://github\\.com/acme/)"
            ));
        }
    }
    None
}

/// Whether `s` starts with `scheme://host/segment/`.
fn has_host_and_segment(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else { return false };
    let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let Some((host, rest)) = rest.split_once('/') else { return false };
    let Some((segment, _)) = rest.split_once('/') else { return false };
    scheme_ok && !host.is_empty() && !segment.is_empty()
}

/// Why `s` is not a fully qualified OCI repository, if it is not:
/// `registry.host[:port]/path/name` in lower case, no scheme, tag or digest.
pub(crate) fn bad_oci_repository(s: &str) -> Option<String> {
    if s.contains("://") {
        return Some("no scheme: write ghcr.io/acme/app".into());
    }
    if s.contains('@') {
        return Some("no digest: a scope names a repository, not one image".into());
    }
    let Some((domain, path)) = s.split_once('/') else {
        return Some("not fully qualified: give the registry host, e.g. docker.io/library/app".into());
    };
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    if port.is_some_and(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Some(format!("\"{domain}\" has an invalid port"));
    }
    if !(host.contains('.') || port.is_some() || host == "localhost") {
        return Some(format!(
            "\"{domain}\" is not a registry host (no dot, no port, not localhost): give the registry, e.g. docker.io/{s}"
        ));
    }
    if !host.split('.').all(host_label_ok) {
        return Some(format!("\"{host}\" is not a lower-case host name"));
    }
    let last = path.rsplit('/').next().unwrap_or(path);
    if last.contains(':') {
        return Some("no tag: a scope names a repository, not one image".into());
    }
    if let Some(c) = path.split('/').find(|c| !path_component_ok(c)) {
        return Some(format!(
            "\"{c}\" is not a repository path component (lower-case letters and digits, separated by . _ __ or -)"
        ));
    }
    None
}

fn host_label_ok(l: &str) -> bool {
    let b = l.as_bytes();
    let ok = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(f), Some(e)) => ok(f) && ok(e) && b.iter().all(|x| ok(x) || *x == b'-'),
        _ => false,
    }
}

/// The OCI distribution grammar: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn path_component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(&f), Some(&e)) if alnum(f) && alnum(e) => {}
        _ => return false,
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// Why `s` is not a module path a scope can name exactly, if it is not:
/// `/`-separated, no empty, `.` or `..` segment, no control character,
/// and no `*` (that is `path_glob`).
pub(crate) fn bad_path(s: &str) -> Option<String> {
    if s.contains('*') {
        return Some("a `*` in `path`: use `path_glob` for patterns".into());
    }
    bad_segments(s)
}

fn bad_segments(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("an empty path".into());
    }
    if s.chars().any(char::is_control) {
        return Some("a control character in the path".into());
    }
    let body = s.strip_prefix('/').unwrap_or(s);
    for seg in body.split('/') {
        match seg {
            "" => return Some("an empty segment (`//` or a trailing `/`)".into()),
            "." | ".." => return Some(format!("a `{seg}` segment: write the path without it")),
            _ => {}
        }
    }
    None
}

/// A path pattern where `*` stands for any run of characters within one
/// segment: it never crosses `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGlob {
    pattern: String,
}

impl PathGlob {
    /// Checks and keeps a pattern: the rules of an exact path, at least one
    /// `*`, no `**`, and none of `? [ ] { } \`, kept for later use.
    pub fn new(pattern: &str) -> Result<Self, String> {
        if !pattern.contains('*') {
            return Err("no `*`: use `path` for one exact path".into());
        }
        if pattern.contains("**") {
            return Err("`**` is not supported: `*` never crosses `/`; write one `*` per segment".into());
        }
        if let Some(c) = pattern.chars().find(|c| matches!(c, '?' | '[' | ']' | '{' | '}' | '\\')) {
            return Err(format!("`{c}` is reserved in globs; only `*` is a wildcard"));
        }
        if let Some(why) = bad_segments(pattern) {
            return Err(why);
        }
        Ok(PathGlob { pattern: pattern.to_string() })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `path` matches, segment by segment.
    pub fn matches(&self, path: &str) -> bool {
        let mut pat = self.pattern.split('/');
        let mut segs = path.split('/');
        loop {
            match (pat.next(), segs.next()) {
                (None, None) => return true,
                (Some(p), Some(s)) if segment_matches(p.as_bytes(), s.as_bytes()) => {}
                _ => return false,
            }
        }
    }
}

/// `*` matches any run of bytes; everything else itself. Linear in
/// practice (one backtrack point, the last `*`).
fn segment_matches(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_regex_needs_scheme_host_segment_slash() {
        let cases: &[(&str, bool)] = &[
            (r"https://github\.com/acme/app/.*", true),
            (r"https://github\.com/acme/.*", true),
            (r"https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v[0-9]+\.[0-9]+\.[0-9]+", true),
            (r"(https://github\.com/acme/a/.*|https://gitlab\.com/acme/b/.*)", true),
            (r"https://github\.com/acme/app/x", true),
            (r"spiffe://acme\.example/ns/prod/.*", true),
            (r"https://github\.com/acme.*", false),
            (r"https://github\.com/acme", false),
            (r"https://github.com/acme/app/.*", false),
            (r"https://github.com/.*", false),
            (r"https://github\.com/.*", false),
            (r".*", false),
            (r".*@acme\.com", false),
            (r"(?:https://github\.com/acme/)?evil/.*", false),
            (r"(https://github\.com/acme/a/.*|.*)", false),
            (r"(?i)https://github\.com/acme/.*", false),
            (r"https://github\.com/[a-z]+/.*", false),
            (r"[^\s\S]", false),
            (r"", false),
            (r"https:/+/github\.com/acme/", false),
        ];
        for (pattern, strong) in cases {
            let got = weak_identity_regex(pattern);
            assert_eq!(got.is_none(), *strong, "{pattern}: {got:?}");
        }
    }

    #[test]
    fn oci_repositories_are_fully_qualified_without_tag_or_digest() {
        let cases: &[(&str, bool)] = &[
            ("ghcr.io/acme/app", true),
            ("docker.io/library/nginx", true),
            ("localhost:5000/app", true),
            ("localhost/app", true),
            ("registry.example.com:443/a/b/c", true),
            ("ghcr.io/acme/my_app__x.y-z", true),
            ("acme/app", false),
            ("app", false),
            ("ghcr.io/acme/app:1.0", false),
            ("ghcr.io/acme/app@sha256:00", false),
            ("https://ghcr.io/acme/app", false),
            ("GHCR.io/acme/app", false),
            ("ghcr.io/Acme/app", false),
            ("ghcr.io/acme//app", false),
            ("ghcr.io/acme/app/", false),
            ("ghcr.io/acme/-app", false),
            ("ghcr.io:/acme/app", false),
            ("ghcr.io/acme/a...b", false),
        ];
        for (repo, ok) in cases {
            let got = bad_oci_repository(repo);
            assert_eq!(got.is_none(), *ok, "{repo}: {got:?}");
        }
    }

    #[test]
    fn paths_and_globs() {
        let paths: &[(&str, bool)] = &[
            ("plugins/a.wasm", true),
            ("/opt/app/a.wasm", true),
            ("a.wasm", true),
            ("", false),
            ("plugins//a.wasm", false),
            ("plugins/", false),
            ("./a.wasm", false),
            ("plugins/../a.wasm", false),
            ("plugins/*.wasm", false),
            ("a\nb", false),
        ];
        for (p, ok) in paths {
            assert_eq!(bad_path(p).is_none(), *ok, "{p}");
        }
        let globs: &[(&str, bool)] = &[
            ("plugins/*.wasm", true),
            ("*/x.wasm", true),
            ("plugins/a.wasm", false),
            ("plugins/**/*.wasm", false),
            ("plugins/?.wasm", false),
            ("plugins/[ab].wasm", false),
            ("plugins//*.wasm", false),
        ];
        for (g, ok) in globs {
            assert_eq!(PathGlob::new(g).is_ok(), *ok, "{g}");
        }
    }

    #[test]
    fn star_never_crosses_a_slash() {
        let cases: &[(&str, &str, bool)] = &[
            ("plugins/*.wasm", "plugins/a.wasm", true),
            ("plugins/*.wasm", "plugins/.wasm", true),
            ("plugins/*.wasm", "plugins/sub/a.wasm", false),
            ("plugins/*.wasm", "plugins/a.wasm.bak", false),
            ("plugins/*.wasm", "other/a.wasm", false),
            ("*/x.wasm", "a/x.wasm", true),
            ("*/x.wasm", "a/b/x.wasm", false),
            ("*/x.wasm", "/x.wasm", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYc/", false),
            ("a*b*c", "acb", false),
            ("*", "anything", true),
            ("*", "a/b", false),
        ];
        for (g, path, want) in cases {
            let glob = PathGlob::new(g).expect(g);
            assert_eq!(glob.matches(path), *want, "{g} vs {path}");
        }
    }
}
