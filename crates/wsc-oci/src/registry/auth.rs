//! Credentials (given, or read from the docker and podman configurations
//! and credential helpers), `WWW-Authenticate` challenges, and the token
//! answer of a Bearer realm.

use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use docker_credential::{CredentialRetrievalError, DockerCredential};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{OciError, cut};

/// The longest `WWW-Authenticate` header parsed.
const MAX_CHALLENGE: usize = 4096;

/// The most parameters a challenge may have.
const MAX_PARAMS: usize = 16;

/// The longest token accepted from a token service.
pub(crate) const MAX_TOKEN: usize = 16 * 1024;

/// The most of a token answer read.
pub(crate) const MAX_TOKEN_ANSWER: u64 = 64 * 1024;

/// How the client authenticates to a registry.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Credentials {
    /// No credentials: anonymous access only.
    #[default]
    Anonymous,
    /// A user name and password (or a personal access token as password),
    /// sent as Basic auth to the registry or to its token service.
    Basic {
        /// The user name.
        username: String,
        /// The password, wiped from memory when dropped.
        password: Zeroizing<String>,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => {
                f.debug_struct("Basic").field("username", username).field("password", &"<redacted>").finish()
            }
        }
    }
}

impl Credentials {
    /// Basic credentials.
    pub fn basic(username: &str, password: &str) -> Credentials {
        Credentials::Basic { username: username.to_string(), password: Zeroizing::new(password.to_string()) }
    }

    /// Whether there are no credentials.
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Credentials::Anonymous)
    }

    /// The credentials stored for `host` (`host[:port]`, as in the
    /// reference): the docker configuration first (`$DOCKER_CONFIG/config.json`,
    /// else `~/.docker/config.json`: `auths`, `credHelpers`, `credsStore`,
    /// running the `docker-credential-*` helper it names), then podman's
    /// auth file (`$REGISTRY_AUTH_FILE`, else
    /// `$XDG_RUNTIME_DIR/containers/auth.json`). Anonymous when neither has
    /// an entry for the host. A configuration that exists but cannot be
    /// read, or a helper that fails, is an error, not anonymous access.
    pub fn lookup(host: &str) -> Result<Credentials, OciError> {
        let docker_file = docker_config_file();
        match docker_credential::get_credential(host) {
            Ok(c) => return convert(c, host),
            Err(e) if absent(&e, docker_file.as_ref().is_some_and(|p| p.is_file())) => {}
            Err(source) => return Err(OciError::Credentials { host: host.to_string(), source: Box::new(source) }),
        }
        // An auth file named explicitly must be readable.
        let named = std::env::var_os("REGISTRY_AUTH_FILE").is_some();
        match docker_credential::get_podman_credential(host) {
            Ok(c) => convert(c, host),
            Err(e) if absent(&e, named) => Ok(Credentials::Anonymous),
            Err(source) => Err(OciError::Credentials { host: host.to_string(), source: Box::new(source) }),
        }
    }

    /// The credentials for `host` in a docker-format configuration read
    /// from `config` (a `config.json` or podman `auth.json`); its
    /// `credHelpers` and `credsStore` run as in [`lookup`](Self::lookup).
    pub fn from_docker_config(config: impl std::io::Read, host: &str) -> Result<Credentials, OciError> {
        match docker_credential::get_credential_from_reader(config, host) {
            Ok(c) => convert(c, host),
            Err(e) if absent(&e, true) => Ok(Credentials::Anonymous),
            Err(source) => Err(OciError::Credentials { host: host.to_string(), source: Box::new(source) }),
        }
    }

    /// The `Authorization` value for Basic auth, if there are credentials.
    pub(crate) fn basic_header(&self) -> Option<Zeroizing<String>> {
        match self {
            Credentials::Anonymous => None,
            Credentials::Basic { username, password } => {
                let pair = Zeroizing::new(format!("{username}:{}", password.as_str()));
                let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()));
                Some(Zeroizing::new(format!("Basic {}", encoded.as_str())))
            }
        }
    }
}

/// Where the docker configuration is, as `docker_credential` looks for it.
fn docker_config_file() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .map(|d| d.join("config.json"))
}

/// Whether a lookup error means "nothing stored for this host". A
/// configuration that `exists` but cannot be read is an error; so is a
/// helper that fails for another reason than not knowing the host.
fn absent(e: &CredentialRetrievalError, exists: bool) -> bool {
    match e {
        CredentialRetrievalError::NoCredentialConfigured | CredentialRetrievalError::ConfigNotFound => true,
        CredentialRetrievalError::ConfigReadError => !exists,
        // docker's helpers answer so for a host they hold nothing for.
        CredentialRetrievalError::HelperFailure { stdout, .. } => stdout.contains("credentials not found"),
        _ => false,
    }
}

fn convert(c: DockerCredential, host: &str) -> Result<Credentials, OciError> {
    match c {
        DockerCredential::UsernamePassword(u, p) => {
            let p = Zeroizing::new(p);
            Ok(Credentials::basic(&u, &p))
        }
        DockerCredential::IdentityToken(t) => {
            drop(Zeroizing::new(t));
            Err(OciError::IdentityToken { host: host.to_string() })
        }
    }
}

/// One `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// The scheme, lower case (`basic`, `bearer`).
    pub(crate) scheme: String,
    /// Its parameters, names lower case.
    pub(crate) params: Vec<(String, String)>,
}

impl Challenge {
    /// A parameter's value.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Parses one `WWW-Authenticate` value: a scheme, then `name=value` or
/// `name="quoted value"` parameters separated by commas (RFC 9110 §11.6.1,
/// one challenge per header as registries send them).
pub(crate) fn parse_challenge(value: &str, url: &str) -> Result<Challenge, OciError> {
    let bad = |reason| OciError::Challenge { url: url.to_string(), challenge: cut(value), reason };
    if value.len() > MAX_CHALLENGE {
        return Err(bad("longer than 4096 bytes"));
    }
    let value = value.trim();
    let (scheme, mut rest) = match value.find(' ') {
        Some(i) => (&value[..i], value[i..].trim_start()),
        None => (value, ""),
    };
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(bad("no authentication scheme"));
    }
    let mut params = Vec::new();
    while !rest.is_empty() {
        if params.len() == MAX_PARAMS {
            return Err(bad("more than 16 parameters"));
        }
        let eq = rest.find('=').ok_or_else(|| bad("a parameter without '='"))?;
        let name = rest[..eq].trim().to_ascii_lowercase();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(bad("a parameter name that is not a token"));
        }
        rest = rest[eq + 1..].trim_start();
        let v;
        if let Some(q) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e)) => out.push(e),
                        None => break,
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let end = end.ok_or_else(|| bad("an unterminated quoted value"))?;
            v = out;
            rest = q[end + 1..].trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            v = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        params.push((name, v));
        rest = match rest.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None if rest.is_empty() => rest,
            None => return Err(bad("parameters must be separated by ','")),
        };
    }
    Ok(Challenge { scheme: scheme.to_ascii_lowercase(), params })
}

/// A token service's answer (the distribution token spec; OAuth2 services
/// send `access_token`).
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// The token in a token service's answer, checked to be usable in a header.
pub(crate) fn parse_token(body: &[u8], realm: &str) -> Result<Zeroizing<String>, OciError> {
    let answer: TokenAnswer = serde_json::from_slice(body).map_err(|source| OciError::Json {
        url: realm.to_string(),
        what: "token answer",
        source,
    })?;
    let bad = |reason: &str| OciError::Token { realm: realm.to_string(), reason: reason.to_string() };
    let token = Zeroizing::new(
        answer.token.filter(|t| !t.is_empty()).or(answer.access_token).ok_or_else(|| bad("the answer has no token"))?,
    );
    if token.is_empty() || token.len() > MAX_TOKEN {
        return Err(bad("the token must have 1 to 16384 characters"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("the token has characters that cannot go in a header"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic_challenges_parse() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push",error="insufficient_scope""#,
            "u",
        )
        .expect("valid");
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.example/token"));
        assert_eq!(c.param("service"), Some("registry.example"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        assert_eq!(c.param("error"), Some("insufficient_scope"));

        let c = parse_challenge(r#"Basic realm="basic-realm""#, "u").expect("valid");
        assert_eq!((c.scheme.as_str(), c.param("realm")), ("basic", Some("basic-realm")));
        let c = parse_challenge("Basic", "u").expect("valid");
        assert!(c.params.is_empty());
        let c = parse_challenge(r#"Bearer realm=token, Service = "a\"b" "#, "u").expect("valid");
        assert_eq!(c.param("realm"), Some("token"));
        assert_eq!(c.param("service"), Some("a\"b"));
    }

    #[test]
    fn malformed_challenges_are_refused() {
        let many = (0..17).map(|i| format!("p{i}=v")).collect::<Vec<_>>().join(",");
        for bad in [
            "",
            r#"Bearer realm="unterminated"#,
            "Bearer realm",
            r#"Bearer realm="a" service="b""#,
            &format!("Bearer {many}"),
            &format!("Bearer realm=\"{}\"", "a".repeat(5000)),
        ] {
            let e = parse_challenge(bad, "https://r/v2/").expect_err(bad);
            assert!(matches!(e, OciError::Challenge { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn tokens_are_checked() {
        assert_eq!(parse_token(br#"{"token":"abc"}"#, "r").expect("token").as_str(), "abc");
        assert_eq!(parse_token(br#"{"access_token":"xyz","expires_in":60}"#, "r").expect("token").as_str(), "xyz");
        assert_eq!(parse_token(br#"{"token":"","access_token":"xyz"}"#, "r").expect("token").as_str(), "xyz");
        for bad in [&br#"{}"#[..], br#"{"token":"a b"}"#, br#"{"token":"a\nb"}"#, b"nope"] {
            assert!(parse_token(bad, "r").is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let long = format!(r#"{{"token":"{}"}}"#, "a".repeat(MAX_TOKEN + 1));
        assert!(parse_token(long.as_bytes(), "r").is_err());
    }

    #[test]
    fn credentials_come_from_a_docker_config() {
        let config = br#"{"auths":{"127.0.0.1:5000":{"auth":"dXNlcjpwYXNz"},"other:1":{"auth":"eDp5"}}}"#;
        match Credentials::from_docker_config(&config[..], "127.0.0.1:5000").expect("found") {
            Credentials::Basic { username, password } => {
                assert_eq!((username.as_str(), password.as_str()), ("user", "pass"))
            }
            other => panic!("expected Basic, got {other:?}"),
        }
        let none = Credentials::from_docker_config(&config[..], "elsewhere:5000").expect("nothing stored");
        assert!(none.is_anonymous());
        let token = br#"{"auths":{"h":{"identitytoken":"t"}}}"#;
        assert!(matches!(Credentials::from_docker_config(&token[..], "h"), Err(OciError::IdentityToken { .. })));
        assert!(matches!(Credentials::from_docker_config(&b"{"[..], "h"), Err(OciError::Credentials { .. })));
        let c = Credentials::basic("u", "secret");
        assert!(!format!("{c:?}").contains("secret"));
        assert_eq!(c.basic_header().expect("basic").as_str(), "Basic dTpzZWNyZXQ=");
    }
}
