//! An interactive login for a person at a workstation: OAuth 2.0
//! authorization code with PKCE (RFC 7636) and a loopback redirect
//! (RFC 8252) against a configurable OIDC issuer.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand_core::RngCore;
use sha2::{Digest, Sha256};
use wsc_pinning::{ClientBuilder, Service};
use zeroize::Zeroizing;

use super::{IdentityToken, SignError};
use wsc_pinning::{ServiceClient, ServiceOptions};

/// Who to log in with.
#[derive(Debug, Clone)]
pub struct BrowserLogin {
    /// The OIDC issuer (its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    /// The OAuth client id (`sigstore` for the public-good issuer).
    pub client_id: String,
    /// How long to wait for the browser to come back.
    pub timeout: Duration,
}

impl BrowserLogin {
    /// The public-good Sigstore issuer, client `sigstore`, five minutes.
    pub fn public_good() -> Self {
        BrowserLogin {
            issuer: "https://oauth2.sigstore.dev/auth".into(),
            client_id: "sigstore".into(),
            timeout: Duration::from_secs(300),
        }
    }
}

fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand_core::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Runs the login: `open` is given the authorization URL to show the user
/// (print it, start a browser). Returns the ID token, whose nonce is checked.
pub fn browser_login(
    login: &BrowserLogin,
    builder: &ClientBuilder,
    options: &ServiceOptions,
    open: &mut dyn FnMut(&str),
) -> Result<IdentityToken, SignError> {
    let issuer = login.issuer.trim_end_matches('/');
    let discovery_url = format!("{issuer}/.well-known/openid-configuration");
    let oidc = ServiceClient::new(builder, Service::Oidc, &discovery_url, options)?;
    let d = oidc.send(&discovery_url, &|c| c.get(&discovery_url).header("Accept", "application/json"))?;
    if d.status != 200 {
        return Err(SignError::token(format!("the issuer's discovery document answered HTTP {}", d.status)));
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&d.body).map_err(|_| SignError::token("the issuer's discovery document is not JSON"))?;
    let endpoint = |k: &str| {
        doc.get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| SignError::token(format!("the discovery document has no {k}")))
    };
    let (authorize, token_url) = (endpoint("authorization_endpoint")?, endpoint("token_endpoint")?);

    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| SignError::token("cannot listen on 127.0.0.1 for the redirect").because(e))?;
    let port =
        listener.local_addr().map_err(|e| SignError::token("the redirect listener has no address").because(e))?.port();
    let redirect = format!("http://localhost:{port}/auth/callback");
    let verifier = Zeroizing::new(random_b64(32));
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let (state, nonce) = (random_b64(16), random_b64(16));
    let mut url = wsc_pinning::reqwest::Url::parse(&authorize)
        .map_err(|e| SignError::token("the authorization endpoint is not a URL").because(e))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &login.client_id)
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", "openid email")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce);
    open(url.as_str());

    let code = Zeroizing::new(wait_for_code(&listener, &state, login.timeout)?);
    let mut form = wsc_pinning::reqwest::Url::parse("http://form.invalid/")
        .map_err(|e| SignError::token("the token request form").because(e))?;
    form.query_pairs_mut()
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", &redirect)
        .append_pair("code_verifier", &verifier)
        .append_pair("client_id", &login.client_id);
    let body = Zeroizing::new(form.query().unwrap_or_default().to_string());
    let tok = ServiceClient::new(builder, Service::Oidc, &token_url, options)?;
    let answer = tok.send(&token_url, &|c| {
        c.post(&token_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(body.to_string())
    })?;
    if answer.status != 200 {
        return Err(SignError::token(format!("the issuer's token endpoint answered HTTP {}", answer.status)));
    }
    let body = Zeroizing::new(answer.body);
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| SignError::token("the token endpoint answered no JSON"))?;
    let id_token = v
        .get("id_token")
        .and_then(|x| x.as_str())
        .ok_or_else(|| SignError::token("the token endpoint's answer has no id_token"))?;
    let token = IdentityToken::new(id_token.to_string())?;
    if token.claims().nonce.as_deref() != Some(nonce.as_str()) {
        return Err(SignError::token("the ID token's nonce is not the one sent"));
    }
    Ok(token)
}

/// Waits for the browser's `GET /auth/callback?code=…&state=…`.
fn wait_for_code(listener: &TcpListener, state: &str, timeout: Duration) -> Result<String, SignError> {
    listener.set_nonblocking(true).map_err(|e| SignError::token("redirect listener").because(e))?;
    let deadline = Instant::now() + timeout;
    loop {
        let (mut conn, _) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(SignError::token(format!("no answer from the browser within {} s", timeout.as_secs())));
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(e) => return Err(SignError::token("redirect listener").because(e)),
        };
        let Some(target) = read_request_target(&mut conn) else { continue };
        let Ok(url) = wsc_pinning::reqwest::Url::parse(&format!("http://localhost{target}")) else { continue };
        if url.path() != "/auth/callback" {
            respond(&mut conn, "404 Not Found", "not here");
            continue;
        }
        let get = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
        // A request without our state is not the issuer's redirect (another
        // page or process knocking on the port): answer it and keep waiting.
        if get("state").as_deref() != Some(state) {
            respond(&mut conn, "400 Bad Request", "Unexpected state.");
            continue;
        }
        if let Some(err) = get("error") {
            respond(&mut conn, "400 Bad Request", "Login failed; see the terminal.");
            let printable = |s: String| s.chars().filter(|c| !c.is_control()).take(200).collect::<String>();
            let desc = printable(get("error_description").unwrap_or_default());
            return Err(SignError::token(format!("the issuer refused the login: {} {desc}", printable(err))));
        }
        let Some(code) = get("code") else {
            respond(&mut conn, "400 Bad Request", "No code.");
            return Err(SignError::token("the redirect carries no code"));
        };
        respond(&mut conn, "200 OK", "wsc: login done, you may close this window.");
        return Ok(code);
    }
}

/// The request line's target, read within 10 s in all (a slow client
/// cannot hold the login past that).
fn read_request_target(conn: &mut TcpStream) -> Option<String> {
    conn.set_nonblocking(false).ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
        conn.set_read_timeout(Some(left)).ok()?;
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = std::str::from_utf8(&buf).ok()?.lines().next()?.to_string();
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) if target.starts_with('/') => Some(target.to_string()),
        _ => None,
    }
}

fn respond(conn: &mut TcpStream, status: &str, text: &str) {
    let body = format!("<!doctype html><title>wsc</title><p>{text}</p>");
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}
