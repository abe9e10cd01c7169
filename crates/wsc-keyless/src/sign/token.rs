//! OIDC identity tokens: where they come from, and what wsc reads in them.
//!
//! A token is a secret: it is kept in memory that is wiped when dropped,
//! never printed, and absent from `Debug` output and every error message.
//! wsc does not verify the token's signature (Fulcio does); it reads the
//! claims it needs (issuer, subject, email, expiry) to build the proof of
//! possession and to fail early on an expired token.

use std::fmt;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use wsc_pinning::{ClientBuilder, Service};
use zeroize::Zeroizing;

use super::SignError;
use wsc_pinning::{ServiceClient, ServiceOptions};

/// The audience Sigstore's Fulcio expects.
pub const SIGSTORE_AUDIENCE: &str = "sigstore";

/// Largest token accepted.
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// The claims wsc reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claims {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `email`, when present.
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: bool,
    /// `exp` (Unix seconds), when present.
    pub expires: Option<u64>,
    /// `nonce`, when present.
    pub nonce: Option<String>,
}

/// An OIDC identity token (a JWT).
pub struct IdentityToken {
    raw: Zeroizing<String>,
    claims: Claims,
}

impl fmt::Debug for IdentityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityToken")
            .field("issuer", &self.claims.issuer)
            .field("subject", &self.claims.subject)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

impl IdentityToken {
    /// Reads a JWT's claims (unverified). Fails on a malformed or expired
    /// token; the error never repeats the token.
    pub fn new(raw: impl Into<String>) -> Result<Self, SignError> {
        let raw = Zeroizing::new(raw.into());
        let text = raw.trim();
        if text.is_empty() {
            return Err(SignError::token("the token is empty"));
        }
        if text.len() > MAX_TOKEN_LEN {
            return Err(SignError::token(format!("the token is longer than {MAX_TOKEN_LEN} bytes")));
        }
        if !text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.=".contains(&b)) {
            return Err(SignError::token("the token has characters a JWT cannot have"));
        }
        let mut parts = text.split('.');
        let (Some(_), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(SignError::token("not a JWT (three dot-separated parts expected)"));
        };
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .map_err(|_| SignError::token("the JWT payload is not base64url"))?,
        );
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| SignError::token("the JWT payload is not a JSON object"))?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let claims = Claims {
            issuer: s("iss").ok_or_else(|| SignError::token("no `iss` claim"))?,
            subject: s("sub").ok_or_else(|| SignError::token("no `sub` claim"))?,
            email: s("email"),
            email_verified: v.get("email_verified").and_then(|x| x.as_bool()).unwrap_or(false),
            expires: v.get("exp").and_then(|x| x.as_u64()),
            nonce: s("nonce"),
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        if let Some(exp) = claims.expires {
            if exp <= now {
                return Err(SignError::token(format!(
                    "the token of {} expired {} s ago; get a fresh one",
                    claims.subject,
                    now - exp
                )));
            }
        }
        let raw = Zeroizing::new(text.to_string());
        Ok(IdentityToken { raw, claims })
    }

    /// The claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// What the proof of possession signs: the email for email identities,
    /// else the subject (as Fulcio and cosign do).
    pub fn challenge(&self) -> Result<&str, SignError> {
        match &self.claims.email {
            Some(e) if !self.claims.email_verified => {
                Err(SignError::token(format!("the email {e} is not verified by the identity provider")))
            }
            Some(e) => Ok(e),
            None => Ok(&self.claims.subject),
        }
    }

    /// The token itself, for the one request that needs it.
    pub(crate) fn secret(&self) -> &str {
        &self.raw
    }
}

/// Where a token came from (for messages; never the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenOrigin {
    /// Given explicitly (flag, file or `SIGSTORE_ID_TOKEN`).
    Explicit,
    /// GitLab CI `id_tokens` (`SIGSTORE_ID_TOKEN` with `GITLAB_CI`).
    GitLab,
    /// GitHub Actions (`ACTIONS_ID_TOKEN_REQUEST_URL`).
    GitHubActions,
    /// Buildkite (`buildkite-agent oidc request-token`).
    Buildkite,
    /// CircleCI (`circleci run oidc get`).
    CircleCi,
    /// The Google Cloud metadata server.
    GoogleCloud,
    /// An interactive browser login.
    Browser,
}

impl fmt::Display for TokenOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenOrigin::Explicit => "an explicit token",
            TokenOrigin::GitLab => "GitLab CI id_tokens",
            TokenOrigin::GitHubActions => "GitHub Actions",
            TokenOrigin::Buildkite => "Buildkite",
            TokenOrigin::CircleCi => "CircleCI",
            TokenOrigin::GoogleCloud => "the Google Cloud metadata server",
            TokenOrigin::Browser => "a browser login",
        })
    }
}

/// Reads a token from a file (trailing whitespace ignored).
pub fn token_from_file(path: &Path) -> Result<IdentityToken, SignError> {
    use std::io::Read;
    let f = std::fs::File::open(path)
        .map_err(|e| SignError::token(format!("cannot open token file '{}'", path.display())).because(e))?;
    let mut buf = Zeroizing::new(String::new());
    f.take(MAX_TOKEN_LEN as u64 + 1)
        .read_to_string(&mut buf)
        .map_err(|e| SignError::token(format!("cannot read token file '{}'", path.display())).because(e))?;
    IdentityToken::new(buf.trim().to_string())
}

/// Finds a token in the environment of a CI system, in this order:
/// `SIGSTORE_ID_TOKEN` (set by hand, or by GitLab CI `id_tokens`), GitHub
/// Actions, Buildkite, CircleCI, Google Cloud. `Ok(None)` when none
/// applies. `env` reads a variable (tests pass their own).
pub fn ambient_token(
    env: &dyn Fn(&str) -> Option<String>,
    builder: &ClientBuilder,
    options: &ServiceOptions,
) -> Result<Option<(IdentityToken, TokenOrigin)>, SignError> {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(t) = set("SIGSTORE_ID_TOKEN") {
        let origin = if set("GITLAB_CI").is_some() { TokenOrigin::GitLab } else { TokenOrigin::Explicit };
        return Ok(Some((IdentityToken::new(t)?, origin)));
    }
    if let (Some(url), Some(bearer)) = (set("ACTIONS_ID_TOKEN_REQUEST_URL"), set("ACTIONS_ID_TOKEN_REQUEST_TOKEN")) {
        let bearer = Zeroizing::new(bearer);
        return github_actions(&url, &bearer, builder, options).map(|t| Some((t, TokenOrigin::GitHubActions)));
    }
    let path = env("PATH").unwrap_or_default();
    if set("BUILDKITE").is_some() {
        let out = run_tool(&path, "buildkite-agent", &["oidc", "request-token", "--audience", SIGSTORE_AUDIENCE])?;
        return Ok(Some((IdentityToken::new(out.trim().to_string())?, TokenOrigin::Buildkite)));
    }
    if set("CIRCLECI").is_some() {
        let claims = format!("{{\"aud\":\"{SIGSTORE_AUDIENCE}\"}}");
        let out = run_tool(&path, "circleci", &["run", "oidc", "get", "--claims", &claims])?;
        return Ok(Some((IdentityToken::new(out.trim().to_string())?, TokenOrigin::CircleCi)));
    }
    // On a Compute Engine VM, the link-local address (no DNS to spoof).
    let gce = set("GCE_METADATA_HOST").or_else(|| {
        std::fs::read_to_string("/sys/class/dmi/id/product_name")
            .ok()
            .filter(|p| p.trim() == "Google Compute Engine")
            .map(|_| "169.254.169.254".to_string())
    });
    if let Some(host) = gce {
        return google_cloud(&host, builder, options).map(|t| Some((t, TokenOrigin::GoogleCloud)));
    }
    Ok(None)
}

/// GitHub Actions: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=sigstore` with
/// the request token as a bearer; the answer's `value` is the token.
fn github_actions(
    url: &str,
    bearer: &str,
    builder: &ClientBuilder,
    options: &ServiceOptions,
) -> Result<IdentityToken, SignError> {
    let mut u = wsc_pinning::reqwest::Url::parse(url)
        .map_err(|e| SignError::token("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL").because(e))?;
    u.query_pairs_mut().append_pair("audience", SIGSTORE_AUDIENCE);
    let client = ServiceClient::new(builder, Service::Oidc, u.as_str(), options)?;
    let answer =
        client.send(u.as_str(), &|c| c.get(u.clone()).bearer_auth(bearer).header("Accept", "application/json"))?;
    if answer.status != 200 {
        return Err(SignError::token(format!(
            "the GitHub Actions token service answered HTTP {} (does the job have `permissions: id-token: write`?)",
            answer.status
        )));
    }
    let body = Zeroizing::new(answer.body);
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| SignError::token("the GitHub Actions token service answered no JSON"))?;
    let token = v
        .get("value")
        .and_then(|x| x.as_str())
        .ok_or_else(|| SignError::token("the GitHub Actions answer has no `value`"))?;
    IdentityToken::new(token.to_string())
}

/// Google Cloud: the instance's service account identity from the metadata
/// server (plain HTTP on a link-local host, as Google's libraries do).
fn google_cloud(host: &str, builder: &ClientBuilder, options: &ServiceOptions) -> Result<IdentityToken, SignError> {
    let url = format!(
        "http://{host}/computeMetadata/v1/instance/service-accounts/default/identity?audience={SIGSTORE_AUDIENCE}&format=full"
    );
    let plain = builder.clone().danger_allow_http();
    let client = ServiceClient::new(&plain, Service::Oidc, &url, options)?;
    let answer = client.send(&url, &|c| c.get(&url).header("Metadata-Flavor", "Google"))?;
    if answer.status != 200 {
        return Err(SignError::token(format!("the Google Cloud metadata server answered HTTP {}", answer.status)));
    }
    let text = Zeroizing::new(
        String::from_utf8(answer.body).map_err(|_| SignError::token("the metadata server's token is not text"))?,
    );
    IdentityToken::new(text.trim().to_string())
}

/// Runs a CI tool found in `path` (the `PATH` given) that prints a token;
/// its stderr is shown on failure.
fn run_tool(path: &str, program: &str, args: &[&str]) -> Result<Zeroizing<String>, SignError> {
    let exe = std::env::split_paths(path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| SignError::token(format!("`{program}` is not on PATH")))?;
    let out = Command::new(exe)
        .args(args)
        .output()
        .map_err(|e| SignError::token(format!("cannot run `{program}`")).because(e))?;
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        return Err(SignError::token(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text =
        std::str::from_utf8(&stdout).map_err(|_| SignError::token(format!("`{program}` printed no text token")))?;
    Ok(Zeroizing::new(text.to_string()))
}
