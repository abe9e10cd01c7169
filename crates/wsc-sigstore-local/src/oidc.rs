//! The OIDC issuer: discovery, JWKS, an auto-approving PKCE authorization
//! flow, and ES256 ID tokens.

use std::collections::HashMap;
use std::sync::Mutex;

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::codec::{b64url, b64url_decode, hex};
use crate::keys::unix_now;
use crate::{ApiError, LocalError};

/// Longest token accepted (bytes).
const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Clock skew allowed when checking `exp` and `nbf` (seconds).
const SKEW: i64 = 60;
/// Lifetime of an authorization code (seconds).
const CODE_TTL: i64 = 600;
/// Most authorization codes kept at once.
const MAX_CODES: usize = 1024;

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// An email identity (SAN rfc822Name).
    Email(String),
    /// A URI identity (SAN URI).
    Uri(String),
}

impl Identity {
    /// The string proven by a proof of possession: the email or the subject.
    pub(crate) fn subject(&self) -> &str {
        match self {
            Identity::Email(s) | Identity::Uri(s) => s,
        }
    }
}

/// A code handed out by `/authorize` and not yet redeemed.
#[derive(Debug)]
struct PendingCode {
    identity: String,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    expires: i64,
}

/// The issuer: its key, URL and configured identities.
pub(crate) struct Issuer {
    key: SigningKey,
    kid: String,
    url: String,
    identities: Vec<String>,
    codes: Mutex<HashMap<String, PendingCode>>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").field("url", &self.url).field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// A random URL-safe string of `n` random bytes.
pub(crate) fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    b64url(&bytes)
}

impl Issuer {
    /// An issuer at `url` signing with `key`.
    pub(crate) fn new(key: SigningKey, url: String, identities: Vec<String>) -> Result<Self, LocalError> {
        let spki = crate::keys::spki_der(&key)?;
        let kid = hex(&Sha256::digest(&spki)[..8]);
        Ok(Self { key, kid, url, identities, codes: Mutex::new(HashMap::new()) })
    }

    /// The issuer URL (`iss`).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The configured identities.
    pub(crate) fn identities(&self) -> &[String] {
        &self.identities
    }

    /// Signs an ID token for `identity`.
    pub(crate) fn mint(
        &self,
        identity: &str,
        audience: &str,
        ttl_seconds: i64,
        nonce: Option<&str>,
    ) -> Result<String, LocalError> {
        if identity.is_empty() {
            return Err(LocalError::Invalid("empty identity".into()));
        }
        let now = unix_now();
        // An expired token (negative ttl) must also have been issued before it expired.
        let iat = if ttl_seconds < 0 { now + ttl_seconds - 600 } else { now };
        let mut claims = json!({
            "iss": self.url,
            "sub": identity,
            "aud": audience,
            "iat": iat,
            "nbf": iat,
            "exp": now + ttl_seconds,
        });
        if is_email(identity) {
            claims["email"] = json!(identity);
            claims["email_verified"] = json!(true);
        }
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let signing_input =
            format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let sig: Signature = self.key.sign(signing_input.as_bytes());
        Ok(format!("{signing_input}.{}", b64url(&sig.to_bytes())))
    }

    /// `GET /.well-known/openid-configuration`.
    pub(crate) fn discovery(&self) -> Value {
        json!({
            "issuer": self.url,
            "authorization_endpoint": format!("{}/authorize", self.url),
            "token_endpoint": format!("{}/token", self.url),
            "jwks_uri": format!("{}/jwks", self.url),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "subject_types_supported": ["public"],
            "scopes_supported": ["openid", "email"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "nonce", "email", "email_verified"],
        })
    }

    /// `GET /jwks`.
    pub(crate) fn jwks(&self) -> Value {
        let point = self.key.verifying_key().to_encoded_point(false);
        let x = point.x().map(|x| b64url(x)).unwrap_or_default();
        let y = point.y().map(|y| b64url(y)).unwrap_or_default();
        json!({"keys": [{"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": self.kid, "use": "sig", "alg": "ES256"}]})
    }

    /// Checks a token as Fulcio does and returns its identity.
    pub(crate) fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        let bad = |m: &str| ApiError::unauthorized(format!("invalid identity token: {m}"));
        if token.len() > MAX_TOKEN_LEN {
            return Err(bad("too long"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not a JWS compact serialization"));
        };
        let header: Value = decode_json(h).ok_or_else(|| bad("header is not base64url JSON"))?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(bad("alg must be ES256"));
        }
        if header.get("kid").is_some_and(|kid| kid.as_str() != Some(self.kid.as_str())) {
            return Err(bad("unknown key id"));
        }
        let sig_bytes = b64url_decode(s).map_err(|_| bad("signature is not base64url"))?;
        let sig = Signature::from_slice(&sig_bytes).map_err(|_| bad("signature is not a 64-byte ES256 signature"))?;
        let signing_input = &token[..h.len() + 1 + p.len()];
        self.key
            .verifying_key()
            .verify(signing_input.as_bytes(), &sig)
            .map_err(|_| bad("signature does not verify with the issuer key"))?;
        let claims: Value = decode_json(p).ok_or_else(|| bad("claims are not base64url JSON"))?;
        if claims.get("iss").and_then(Value::as_str) != Some(self.url.as_str()) {
            return Err(bad("wrong issuer"));
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => a == "sigstore",
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some("sigstore")),
            _ => false,
        };
        if !aud_ok {
            return Err(bad("audience must contain \"sigstore\""));
        }
        let now = unix_now();
        let exp = claims.get("exp").and_then(Value::as_i64).ok_or_else(|| bad("no exp"))?;
        if now > exp + SKEW {
            return Err(bad("expired"));
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf.as_i64().ok_or_else(|| bad("nbf is not a number"))?;
            if nbf > now + SKEW {
                return Err(bad("not yet valid"));
            }
        }
        if let Some(email) = claims.get("email") {
            let email = email.as_str().filter(|e| !e.is_empty()).ok_or_else(|| bad("email is not a string"))?;
            if claims.get("email_verified").and_then(Value::as_bool) != Some(true) {
                return Err(bad("email not verified"));
            }
            return Ok(Identity::Email(email.to_string()));
        }
        let sub = claims.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| bad("no sub"))?;
        Ok(Identity::Uri(sub.to_string()))
    }

    /// `GET /authorize`: returns the redirect location with the code.
    pub(crate) fn authorize(&self, query: &str) -> Result<String, ApiError> {
        let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let need = |k: &str| get(k).ok_or_else(|| ApiError::bad_request(format!("missing parameter {k}")));
        if need("response_type")? != "code" {
            return Err(ApiError::bad_request("response_type must be code"));
        }
        let client_id = need("client_id")?;
        let redirect_uri = need("redirect_uri")?;
        if !loopback_redirect(redirect_uri) {
            return Err(ApiError::bad_request(
                "redirect_uri must be http://127.0.0.1:PORT/... or http://localhost:PORT/...",
            ));
        }
        if need("code_challenge_method")? != "S256" {
            return Err(ApiError::bad_request("code_challenge_method must be S256"));
        }
        let challenge = need("code_challenge")?;
        if challenge.len() != 43 || b64url_decode(challenge).is_err() {
            return Err(ApiError::bad_request("code_challenge must be base64url of a SHA-256 digest"));
        }
        let state = need("state")?;
        let identity = match get("login_hint") {
            Some(hint) => self
                .identities
                .iter()
                .find(|i| i.as_str() == hint)
                .ok_or_else(|| ApiError::bad_request("login_hint is not a configured identity"))?,
            None => self.identities.first().ok_or_else(|| ApiError::internal("no identity configured"))?,
        };
        let code = random_token(32);
        let now = unix_now();
        {
            let mut codes = self.codes.lock().map_err(|_| ApiError::internal("code store lock poisoned"))?;
            codes.retain(|_, c| c.expires > now);
            if codes.len() >= MAX_CODES {
                return Err(ApiError::new(503, "too many pending authorization codes"));
            }
            codes.insert(
                code.clone(),
                PendingCode {
                    identity: identity.clone(),
                    client_id: client_id.to_string(),
                    redirect_uri: redirect_uri.to_string(),
                    challenge: challenge.to_string(),
                    nonce: get("nonce").map(str::to_string),
                    expires: now + CODE_TTL,
                },
            );
        }
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("code", &code)
            .append_pair("state", state)
            .finish();
        let sep = if redirect_uri.contains('?') { '&' } else { '?' };
        Ok(format!("{redirect_uri}{sep}{query}"))
    }

    /// `POST /token` (form-encoded authorization_code grant with PKCE).
    pub(crate) fn token(&self, body: &[u8]) -> Result<Value, ApiError> {
        let params: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
        let need = |k: &str| {
            params
                .get(k)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ApiError::bad_request(format!("missing parameter {k}")))
        };
        if need("grant_type")? != "authorization_code" {
            return Err(ApiError::bad_request("grant_type must be authorization_code"));
        }
        let code = need("code")?;
        let verifier = need("code_verifier")?;
        let redirect_uri = need("redirect_uri")?;
        let client_id = need("client_id")?;
        // The code is single use: it is removed before any check.
        let pending = self
            .codes
            .lock()
            .map_err(|_| ApiError::internal("code store lock poisoned"))?
            .remove(code)
            .ok_or_else(|| ApiError::bad_request("invalid_grant: unknown or already used code"))?;
        if pending.expires <= unix_now() {
            return Err(ApiError::bad_request("invalid_grant: code expired"));
        }
        if pending.redirect_uri != redirect_uri || pending.client_id != client_id {
            return Err(ApiError::bad_request("invalid_grant: redirect_uri or client_id differ from /authorize"));
        }
        if !(43..=128).contains(&verifier.len()) || b64url(&Sha256::digest(verifier.as_bytes())) != pending.challenge {
            return Err(ApiError::bad_request("invalid_grant: code_verifier does not match code_challenge"));
        }
        let id_token = self.mint(&pending.identity, client_id, 600, pending.nonce.as_deref())?;
        Ok(json!({
            "access_token": random_token(32),
            "id_token": id_token,
            "token_type": "Bearer",
            "expires_in": 600,
        }))
    }
}

/// Whether an identity is an email address: it contains '@' and is not a URI
/// (workflow URIs such as `https://.../release.yml@refs/heads/main` contain '@' too).
pub(crate) fn is_email(identity: &str) -> bool {
    identity.contains('@') && !identity.contains("://")
}

/// Whether a redirect URI is a loopback HTTP URL with a port.
fn loopback_redirect(uri: &str) -> bool {
    let rest = uri.strip_prefix("http://127.0.0.1:").or_else(|| uri.strip_prefix("http://localhost:"));
    let Some(rest) = rest else { return false };
    let port_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let (port, tail) = rest.split_at(port_end);
    !port.is_empty() && port.parse::<u16>().is_ok() && (tail.is_empty() || tail.starts_with('/'))
}

/// Decodes a base64url JSON object.
fn decode_json(s: &str) -> Option<Value> {
    let v: Value = serde_json::from_slice(&b64url_decode(s).ok()?).ok()?;
    v.is_object().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> Issuer {
        Issuer::new(SigningKey::random(&mut rand_core::OsRng), "http://127.0.0.1:1".into(), vec!["a@b.c".into()])
            .expect("issuer")
    }

    #[test]
    fn minted_token_verifies_and_tampering_fails() {
        let i = issuer();
        let t = i.mint("a@b.c", "sigstore", 60, None).expect("mint");
        assert_eq!(i.verify(&t), Ok(Identity::Email("a@b.c".into())));
        let u = i.mint("https://x/y", "sigstore", 60, None).expect("mint");
        assert_eq!(i.verify(&u), Ok(Identity::Uri("https://x/y".into())));
        let mut bad = t.clone();
        bad.pop();
        bad.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(i.verify(&bad).map_err(|e| e.status), Err(401));
        assert!(i.verify(&i.mint("a@b.c", "other", 60, None).expect("mint")).is_err());
        assert!(i.verify(&i.mint("a@b.c", "sigstore", -120, None).expect("mint")).is_err());
    }

    #[test]
    fn loopback_redirects_only() {
        assert!(loopback_redirect("http://127.0.0.1:8080/cb"));
        assert!(loopback_redirect("http://localhost:1"));
        assert!(!loopback_redirect("http://127.0.0.1/cb"));
        assert!(!loopback_redirect("http://127.0.0.1:80@evil.example/"));
        assert!(!loopback_redirect("https://127.0.0.1:80/"));
    }
}
