//! A token service for docker-registry's `auth: token`: it checks Basic
//! credentials and issues ES256 JWTs, signed by a key whose self-signed
//! certificate is the registry's `rootcertbundle`, carried in the JWT's
//! `x5c` header (distribution's `registry/auth/token`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey as _;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use serde_json::json;

use super::fake::{FakeServer, Request, Response};

/// The service name (the tokens' audience).
pub(crate) const SERVICE: &str = "wsc-test-registry";

/// The issuer the tokens name.
pub(crate) const ISSUER: &str = "wsc-test-token-issuer";

/// A running token service.
#[derive(Debug)]
pub(crate) struct TokenService {
    server: FakeServer,
    root_pem: String,
    issued: Arc<AtomicU64>,
    scopes: Arc<Mutex<Vec<String>>>,
}

impl TokenService {
    /// Issues tokens to `user` with `password` (and to nobody else).
    pub(crate) fn start(user: &str, password: &str) -> TokenService {
        let key = KeyPair::generate().expect("a P-256 key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "wsc test token signer");
        params.distinguished_name = dn;
        let cert = params.self_signed(&key).expect("a self-signed certificate");
        let x5c = STANDARD.encode(cert.der());
        let signer = SigningKey::from_pkcs8_der(&key.serialize_der()).expect("the key as p256");
        let expected = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
        let issued = Arc::new(AtomicU64::new(0));
        let scopes = Arc::new(Mutex::new(Vec::new()));
        let server = {
            let (issued, scopes) = (issued.clone(), scopes.clone());
            FakeServer::start(move |r: &Request| {
                if r.path() != "/token" {
                    return Response::status(404);
                }
                if r.header("authorization") != Some(expected.as_str()) {
                    return Response::status(401)
                        .header("Content-Type", "application/json")
                        .body(r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#);
                }
                let n = issued.fetch_add(1, Ordering::SeqCst);
                let query = query(&r.target);
                let requested: Vec<String> =
                    query.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect();
                if let Ok(mut s) = scopes.lock() {
                    s.extend(requested.iter().cloned());
                }
                let service = query.iter().find(|(k, _)| k == "service").map(|(_, v)| v.clone()).unwrap_or_default();
                let token = jwt(&signer, &x5c, &service, &requested, n);
                Response::status(200)
                    .header("Content-Type", "application/json")
                    .body(json!({"token": token, "expires_in": 300}).to_string())
            })
        };
        TokenService { server, root_pem: super::pem("CERTIFICATE", cert.der()), issued, scopes }
    }

    /// The realm URL.
    pub(crate) fn realm(&self) -> String {
        format!("http://{}/token", self.server.host())
    }

    /// PEM of the certificate that signs the tokens.
    pub(crate) fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// Tokens issued so far.
    pub(crate) fn issued(&self) -> u64 {
        self.issued.load(Ordering::SeqCst)
    }

    /// The scopes asked for so far.
    pub(crate) fn scopes(&self) -> Vec<String> {
        self.scopes.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// A JWT granting the requested `repository:NAME:ACTIONS` scopes.
fn jwt(signer: &SigningKey, x5c: &str, service: &str, scopes: &[String], n: u64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let (kind, rest) = s.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
    let claims = json!({
        "iss": ISSUER,
        "sub": "wsc-test-user",
        "aud": service,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("token-{n}"),
        "access": access,
    });
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature: Signature = signer.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// The decoded `name=value` pairs of a request target's query.
fn query(target: &str) -> Vec<(String, String)> {
    let Some((_, q)) = target.split_once('?') else { return Vec::new() };
    q.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
}

/// Percent-decoding (and `+` as a space).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
