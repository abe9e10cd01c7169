//! The OIDC issuer: discovery, JWKS, and the PKCE authorization-code flow
//! driven by a plain HTTP client acting as the browser.

mod common;

use common::*;
use p256::ecdsa::signature::Verifier;
use sha2::{Digest, Sha256};

const ID: &str = "https://github.com/o/r/.github/workflows/w.yml@refs/heads/main";
const EMAIL: &str = "dev@example.test";
const REDIRECT: &str = "http://127.0.0.1:45678/callback";

use wsc_sigstore_local::codec::b64url;

fn unb64url(s: &str) -> Vec<u8> {
    wsc_sigstore_local::codec::b64url_decode(s).expect("base64url")
}

fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// Runs /authorize and returns the code from the redirect.
fn authorize(base: &str, challenge: &str, extra: &[(&str, &str)]) -> Answer {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", "sigstore"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", "st4te"),
        ("nonce", "n0nce"),
        ("scope", "openid email"),
    ];
    pairs.extend_from_slice(extra);
    get(base, &format!("/authorize?{}", query(&pairs)))
}

fn code_from(a: &Answer) -> String {
    assert_eq!(a.status, 302, "{}", a.text());
    let loc = a.header("location").expect("location");
    let (prefix, q) = loc.split_once('?').expect("query");
    assert_eq!(prefix, REDIRECT);
    let params: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
    assert!(params.contains(&("state".into(), "st4te".into())));
    params.into_iter().find(|(k, _)| k == "code").map(|(_, v)| v).expect("code")
}

fn redeem(base: &str, code: &str, verifier: &str) -> Answer {
    let body = query(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
        ("client_id", "sigstore"),
    ]);
    request(base, "POST", "/token", &[("Content-Type", "application/x-www-form-urlencoded")], body.as_bytes())
        .expect("token")
}

#[test]
fn discovery_and_jwks_have_the_expected_shape() {
    let (_dir, inst) = start(&[ID]);
    let d = get(inst.url(), "/.well-known/openid-configuration");
    assert_eq!(d.status, 200);
    let d = d.json();
    assert_eq!(d["issuer"], inst.url());
    assert_eq!(d["jwks_uri"], format!("{}/jwks", inst.url()));
    assert_eq!(d["authorization_endpoint"], format!("{}/authorize", inst.url()));
    assert_eq!(d["token_endpoint"], format!("{}/token", inst.url()));
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["id_token_signing_alg_values_supported"], serde_json::json!(["ES256"]));
    assert!(d["grant_types_supported"].as_array().is_some_and(|g| !g.is_empty()));
    assert!(d["subject_types_supported"].as_array().is_some_and(|g| !g.is_empty()));

    let j = get(inst.url(), "/jwks").json();
    let k = &j["keys"][0];
    assert_eq!((k["kty"].as_str(), k["crv"].as_str(), k["alg"].as_str()), (Some("EC"), Some("P-256"), Some("ES256")));
    assert!(k["kid"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(unb64url(k["x"].as_str().expect("x")).len(), 32);

    // A minted token verifies with the JWKS key, independently of the server.
    let token = inst.mint_token(ID).expect("token");
    let parts: Vec<&str> = token.split('.').collect();
    let header: serde_json::Value = serde_json::from_slice(&unb64url(parts[0])).expect("header");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], k["kid"]);
    let claims: serde_json::Value = serde_json::from_slice(&unb64url(parts[1])).expect("claims");
    assert_eq!(
        (claims["iss"].as_str(), claims["sub"].as_str(), claims["aud"].as_str()),
        (Some(inst.url()), Some(ID), Some("sigstore"))
    );
    let exp = claims["exp"].as_i64().expect("exp");
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(exp - iat, 600);
    let mut point = vec![4u8];
    point.extend(unb64url(k["x"].as_str().expect("x")));
    point.extend(unb64url(k["y"].as_str().expect("y")));
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).expect("key");
    let sig = p256::ecdsa::Signature::from_slice(&unb64url(parts[2])).expect("sig");
    vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).expect("token signature");
    // Unconfigured identities are refused.
    assert!(inst.mint_token("someone@else.test").is_err());
    // Wrong methods and unknown paths.
    assert_eq!(request(inst.url(), "POST", "/jwks", &[], b"").expect("post").status, 405);
    assert_eq!(get(inst.url(), "/nope").status, 404);
}

#[test]
fn pkce_flow_issues_a_token_once_and_checks_the_verifier() {
    let (_dir, inst) = start(&[ID, EMAIL]);
    let base = inst.url();
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-xyz";
    let challenge = b64url(&Sha256::digest(verifier.as_bytes()));

    // Email identity chosen with login_hint.
    let code = code_from(&authorize(base, &challenge, &[("login_hint", EMAIL)]));
    let t = redeem(base, &code, verifier);
    assert_eq!(t.status, 200, "{}", t.text());
    let t = t.json();
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["access_token"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(t["expires_in"].as_i64().is_some_and(|s| s > 0));
    let id_token = t["id_token"].as_str().expect("id_token");
    let claims: serde_json::Value =
        serde_json::from_slice(&unb64url(id_token.split('.').nth(1).expect("claims"))).expect("json");
    assert_eq!(claims["sub"], EMAIL);
    assert_eq!(claims["email"], EMAIL);
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["nonce"], "n0nce");
    assert_eq!(claims["iss"], base);
    // Fulcio accepts the flow's token.
    let (_, pem, pop) = key_and_pop(EMAIL);
    assert_eq!(post_json(base, "/api/v2/signingCert", &fulcio_request(id_token, &pem, &pop)).status, 201);

    // The code is single use.
    let again = redeem(base, &code, verifier);
    assert_eq!(again.status, 400, "{}", again.text());

    // A wrong verifier fails, and burns the code.
    let code = code_from(&authorize(base, &challenge, &[]));
    let wrong = redeem(base, &code, "wrong-verifier-wrong-verifier-wrong-verifier-123");
    assert_eq!(wrong.status, 400);
    assert!(wrong.json()["message"].as_str().expect("m").contains("code_verifier"));
    assert_eq!(redeem(base, &code, verifier).status, 400);

    // Default identity (first configured) without login_hint.
    let code = code_from(&authorize(base, &challenge, &[]));
    let t = redeem(base, &code, verifier).json();
    let claims: serde_json::Value =
        serde_json::from_slice(&unb64url(t["id_token"].as_str().expect("t").split('.').nth(1).expect("claims")))
            .expect("json");
    assert_eq!(claims["sub"], ID);
    assert!(claims.get("email").is_none());

    // Bad authorize requests.
    for (k, v) in [
        ("redirect_uri", "https://evil.example/cb"),
        ("code_challenge_method", "plain"),
        ("login_hint", "nobody@else.test"),
        ("response_type", "token"),
    ] {
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", "sigstore"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "s"),
        ];
        pairs.retain(|(pk, _)| *pk != k);
        pairs.push((k, v));
        let a = get(base, &format!("/authorize?{}", query(&pairs)));
        assert_eq!(a.status, 400, "{k}={v}: {}", a.text());
    }
}
