//! docker-registry with `auth: token`: the Bearer challenge answered with
//! a token from the realm (a token service written here, which checks Basic
//! credentials and signs ES256 JWTs the registry verifies), cached per scope.

use wsc_oci::OciError;
use wsc_oci::registry::{AuthScheme, Credentials, Reference, ReferrerUpdate};

use crate::support::process::{Auth, RegistryProcess, Setup};
use crate::support::token::{ISSUER, SERVICE, TokenService};
use crate::support::{Artifact, BUNDLE, assert_mentions, insecure_client, push_referrer};

#[test]
fn bearer_tokens_come_from_the_realm_and_are_cached_per_scope() {
    let tokens = TokenService::start("wsc", "token pass");
    let process = RegistryProcess::start(&Setup {
        auth: Auth::Token {
            realm: tokens.realm(),
            service: SERVICE.into(),
            issuer: ISSUER.into(),
            root_pem: tokens.root_pem().to_string(),
        },
        tls: None,
    });
    let host = process.host();

    let registry = insecure_client(&host, Credentials::basic("wsc", "token pass"));
    assert_eq!(registry.ping().expect("a token for /v2/"), AuthScheme::Bearer);
    assert_eq!(tokens.issued(), 1);

    let artifact = Artifact::new("bearer", "b");
    let digest = artifact.push(&registry, "wasm/bearer", "v1");
    let after_push = tokens.issued();
    // The registry names the actions in either order.
    let push_scope = |s: &String| s == "repository:wasm/bearer:pull,push" || s == "repository:wasm/bearer:push,pull";
    assert!(tokens.scopes().iter().any(push_scope), "{:?}", tokens.scopes());

    // Reads and writes of the same repository reuse the cached tokens.
    let reference: Reference = format!("{host}/wasm/bearer:v1").parse().expect("valid");
    assert_eq!(registry.manifest_get(&reference, &[]).expect("pull").digest, digest);
    let pulls = tokens.issued();
    assert!(pulls <= after_push + 1, "one token at most for the pull scope: {after_push} then {pulls}");
    registry.manifest_get(&reference, &[]).expect("pull again");
    registry.manifest_head(&reference, &[]).expect("HEAD");
    let referrer = push_referrer(&registry, "wasm/bearer", &digest, artifact.manifest.len(), BUNDLE, b"{}x");
    let update = registry.add_referrer("wasm/bearer", &digest, &referrer).expect("the fallback tag, with tokens");
    assert!(matches!(update, ReferrerUpdate::FallbackTag { added: true, .. }), "{update:?}");
    assert_eq!(tokens.issued(), pulls, "no new token once each scope has one");
    assert_eq!(registry.referrers("wasm/bearer", &digest, None).expect("read back").descriptors, vec![referrer]);

    // The token service refuses other credentials, and anonymous requests.
    let wrong = insecure_client(&host, Credentials::basic("wsc", "wrong"));
    let e = wrong.manifest_get(&reference, &[]).expect_err("wrong credentials");
    assert!(matches!(e, OciError::Unauthorized { status: 401, .. }), "{e}");
    assert_mentions(&e, &["UNAUTHORIZED: bad credentials", "/token"]);
    let anonymous = insecure_client(&host, Credentials::Anonymous);
    let e = anonymous.ping().expect_err("anonymous");
    assert!(matches!(e, OciError::Unauthorized { .. }), "{e}");
}
