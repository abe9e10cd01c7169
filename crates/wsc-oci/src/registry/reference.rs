//! Names: [`Digest`] (SHA-256 only), [`Reference`]
//! (`host[:port]/repository[:tag][@sha256:…]`) and the rules for hosts,
//! repositories and tags.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::{OciError, cut};

/// The longest repository name distribution accepts.
const MAX_REPOSITORY: usize = 255;

/// The longest tag the distribution spec allows.
const MAX_TAG: usize = 128;

/// A SHA-256 content digest: `sha256:` and 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// A digest from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Digest {
        Digest(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 hex digits, without `sha256:`.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The tag holding the referrers of this digest where a registry has
    /// no referrers API: `sha256-<hex>`.
    pub fn fallback_tag(&self) -> String {
        format!("sha256-{}", self.hex())
    }

    /// The same digest as an `oci-spec` one (for descriptors).
    pub fn to_oci(&self) -> oci_spec::image::Digest {
        oci_spec::image::Sha256Digest::from_str(&self.hex())
            .map(Into::into)
            // 64 lowercase hex digits always parse.
            .unwrap_or_else(|_| unreachable!("a SHA-256 digest in hex"))
    }

    /// Parses a digest found in `field` (a header, a descriptor, an argument).
    pub fn parse(text: &str, field: &str) -> Result<Digest, OciError> {
        let bad = |reason| OciError::InvalidDigest { field: field.to_string(), input: cut(text), reason };
        let hex = text.strip_prefix("sha256:").ok_or_else(|| bad("only sha256: digests are supported"))?;
        if hex.len() != 64 {
            return Err(bad("a sha256 digest has 64 hex digits"));
        }
        let mut out = [0u8; 32];
        for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
            let digit = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            match (digit(pair[0]), digit(pair[1])) {
                (Some(h), Some(l)) => out[i] = h << 4 | l,
                _ => return Err(bad("the hex digits must be 0-9 and a-f (lowercase)")),
            }
        }
        Ok(Digest(out))
    }

    /// The digest of an `oci-spec` descriptor, which must be SHA-256.
    pub fn of_descriptor(descriptor: &oci_spec::image::Descriptor) -> Result<Digest, OciError> {
        Digest::parse(descriptor.digest().as_ref(), "the descriptor's digest")
    }
}

impl FromStr for Digest {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Digest, OciError> {
        Digest::parse(s, "the digest given")
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// A manifest reference: `host[:port]/repository[:tag][@sha256:hex]`. The
/// first component is always the registry host (no docker.io defaults).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// A reference from its parts, each checked.
    pub fn new(
        registry: &str,
        repository: &str,
        tag: Option<&str>,
        digest: Option<Digest>,
    ) -> Result<Reference, OciError> {
        check_host(registry)?;
        check_repository(repository)?;
        if let Some(t) = tag {
            check_tag(t)?;
        }
        Ok(Reference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The registry host, with its port if any.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same reference pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference { digest: Some(digest), ..self.clone() }
    }

    /// What to put in a manifest URL: the digest when there is one (it
    /// wins over the tag), else the tag.
    pub(crate) fn target(&self) -> Result<String, OciError> {
        match (&self.digest, &self.tag) {
            (Some(d), _) => Ok(d.to_string()),
            (None, Some(t)) => Ok(t.clone()),
            (None, None) => Err(OciError::NoTagOrDigest { reference: self.to_string() }),
        }
    }
}

impl FromStr for Reference {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Reference, OciError> {
        let bad = |reason| OciError::InvalidName { field: "reference", input: cut(s), reason };
        let (registry, rest) =
            s.split_once('/').ok_or_else(|| bad("expected HOST[:PORT]/REPOSITORY[:TAG][@DIGEST]"))?;
        let (rest, digest) = match rest.rsplit_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d, "the reference")?)),
            None => (rest, None),
        };
        // A repository has no ':', so a ':' starts the tag.
        let (repository, tag) = match rest.split_once(':') {
            Some((r, t)) => (r, Some(t)),
            None => (rest, None),
        };
        Reference::new(registry, repository, tag, digest)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Checks a registry host: a DNS name or an IPv4 address, or an IPv6
/// address in brackets, with an optional port.
pub(crate) fn check_host(host: &str) -> Result<(), OciError> {
    let bad = |reason| OciError::InvalidName { field: "host", input: cut(host), reason };
    let (name, port) = split_host(host).ok_or_else(|| bad("expected HOST, HOST:PORT or [IPv6]:PORT"))?;
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the port must be 1 to 65535"));
        }
        match p.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => return Err(bad("the port must be 1 to 65535")),
        }
    }
    if host.starts_with('[') {
        name.parse::<Ipv6Addr>().map_err(|_| bad("not an IPv6 address in brackets"))?;
        return Ok(());
    }
    if name.is_empty() || name.len() > 253 {
        return Err(bad("the host name must have 1 to 253 characters"));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !name.split('.').all(label_ok) {
        return Err(bad("the host name must be dot-separated labels of letters, digits and inner hyphens"));
    }
    Ok(())
}

/// Splits `host[:port]` or `[v6]:port` into the name (without brackets) and the port.
fn split_host(host: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = host.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        return match after {
            "" => Some((addr, None)),
            _ => Some((addr, Some(after.strip_prefix(':')?))),
        };
    }
    Some(match host.split_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    })
}

/// Whether `host` (with or without a port) is this machine: `localhost`,
/// 127.0.0.0/8 or ::1.
pub fn is_loopback(host: &str) -> bool {
    let Some((name, _)) = split_host(host) else { return false };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks a repository name: `/`-separated components of lowercase
/// letters and digits joined by `.`, `_`, `__` or runs of `-`.
pub(crate) fn check_repository(repository: &str) -> Result<(), OciError> {
    let bad = |reason| OciError::InvalidName { field: "repository", input: cut(repository), reason };
    if repository.is_empty() || repository.len() > MAX_REPOSITORY {
        return Err(bad("a repository name has 1 to 255 characters"));
    }
    if !repository.split('/').all(component_ok) {
        return Err(bad(
            "each /-separated component must be lowercase letters and digits, joined by '.', '_', '__' or hyphens",
        ));
    }
    Ok(())
}

fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
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

/// Checks a tag: a letter, digit or `_`, then up to 127 of those, `.` and `-`.
pub(crate) fn check_tag(tag: &str) -> Result<(), OciError> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = !tag.is_empty()
        && tag.len() <= MAX_TAG
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(OciError::InvalidName {
            field: "tag",
            input: cut(tag),
            reason: "a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

    #[test]
    fn digests_are_sha256_lowercase_hex() {
        let d: Digest = format!("sha256:{HEX}").parse().expect("valid");
        assert_eq!(d.to_string(), format!("sha256:{HEX}"));
        assert_eq!(d.fallback_tag(), format!("sha256-{HEX}"));
        assert_eq!(d.to_oci().to_string(), d.to_string());
        assert_eq!(Digest::of(b"").hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        for bad in [
            HEX.to_string(),
            format!("sha256:{}", HEX.to_ascii_uppercase()),
            format!("sha512:{HEX}"),
            format!("sha256:{}", &HEX[1..]),
            format!("sha256:{HEX}0"),
            format!("sha256:{}g", &HEX[1..]),
            String::new(),
        ] {
            let e = bad.parse::<Digest>().expect_err(&bad);
            assert!(matches!(e, OciError::InvalidDigest { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn references_parse_host_port_repository_tag_and_digest() {
        let r: Reference = "127.0.0.1:5000/wasm/app:v1".parse().expect("valid");
        assert_eq!(
            (r.registry(), r.repository(), r.tag(), r.digest()),
            ("127.0.0.1:5000", "wasm/app", Some("v1"), None)
        );
        assert_eq!(r.target().expect("tag"), "v1");

        let text = format!("localhost/a.b/c__d/e---f@sha256:{HEX}");
        let r: Reference = text.parse().expect("valid");
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().map(ToString::to_string), Some(format!("sha256:{HEX}")));
        assert_eq!(r.to_string(), text);

        let r: Reference = format!("[::1]:5000/x:latest@sha256:{HEX}").parse().expect("valid");
        assert_eq!(r.registry(), "[::1]:5000");
        assert_eq!(r.target().expect("digest wins"), format!("sha256:{HEX}"));

        let r: Reference = "ghcr.io/org/mod".parse().expect("valid");
        assert!(matches!(r.target(), Err(OciError::NoTagOrDigest { .. })));
    }

    #[test]
    fn malformed_references_are_refused_naming_the_field() {
        let cases = [
            ("app:v1", "reference"),
            ("host:0/app", "host"),
            ("host:99999/app", "host"),
            ("-host/app", "host"),
            ("[::1/app", "host"),
            ("[zz]:5000/app", "host"),
            ("host/App", "repository"),
            ("host/a//b", "repository"),
            ("host/a-", "repository"),
            ("host/a...b", "repository"),
            ("host/app:", "tag"),
            ("host/app:.v1", "tag"),
            ("host/app:v 1", "tag"),
        ];
        for (text, field) in cases {
            match text.parse::<Reference>() {
                Err(OciError::InvalidName { field: f, .. }) => assert_eq!(f, field, "{text}"),
                other => panic!("{text}: expected an invalid {field}, got {other:?}"),
            }
        }
        assert!(format!("host/app:{}", "a".repeat(129)).parse::<Reference>().is_err());
        assert!(format!("host/{}", "a".repeat(256)).parse::<Reference>().is_err());
        assert!(matches!("host/app@sha256:12".parse::<Reference>(), Err(OciError::InvalidDigest { .. })));
    }

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "LOCALHOST:5000", "127.0.0.1", "127.3.4.5:80", "[::1]:5000", "[::1]"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["registry.example", "10.0.0.1:5000", "127.0.0.1.nip.io", "localhost.example", "[::2]:5000", "0.0.0.0"]
        {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
