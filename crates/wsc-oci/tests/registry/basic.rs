//! A registry with htpasswd (bcrypt) users: the Basic challenge.

use wsc_oci::OciError;
use wsc_oci::registry::{AuthScheme, Credentials, Reference};

use crate::support::process::{Auth, RegistryProcess, Setup};
use crate::support::{Artifact, assert_mentions, insecure_client};

/// A registry with the user `wsc` / `s3cret pass`.
pub(crate) fn htpasswd_registry() -> RegistryProcess {
    RegistryProcess::start(&Setup {
        auth: Auth::Htpasswd { user: "wsc".into(), password: "s3cret pass".into() },
        tls: None,
    })
}

#[test]
fn basic_auth_answers_the_challenge_with_the_given_credentials() {
    let process = htpasswd_registry();
    let host = process.host();

    let anonymous = insecure_client(&host, Credentials::Anonymous);
    let e = anonymous.ping().expect_err("no credentials");
    assert!(matches!(e, OciError::NoCredentials { scheme: "Basic", .. }), "{e}");
    assert_mentions(&e, &[&host, "Basic"]);

    let wrong = insecure_client(&host, Credentials::basic("wsc", "wrong"));
    let e = wrong.ping().expect_err("wrong password");
    assert!(matches!(e, OciError::Unauthorized { status: 401, .. }), "{e}");
    assert!(!format!("{e:?}{e}").contains("wrong"), "the password stays out of errors: {e:?}");

    let registry = insecure_client(&host, Credentials::basic("wsc", "s3cret pass"));
    assert_eq!(registry.ping().expect("right credentials"), AuthScheme::Basic);
    let artifact = Artifact::new("basic", "b");
    let digest = artifact.push(&registry, "wasm/basic", "v1");
    let reference: Reference = format!("{host}/wasm/basic:v1").parse().expect("valid");
    assert_eq!(registry.manifest_get(&reference, &[]).expect("pull").digest, digest);

    // A fresh client learns the scheme from its first request, not only from ping.
    let fresh = insecure_client(&host, Credentials::basic("wsc", "s3cret pass"));
    assert_eq!(fresh.manifest_get(&reference, &[]).expect("pull").bytes, artifact.manifest);
    assert_eq!(fresh.auth_scheme(), AuthScheme::Basic);
    let e = anonymous.manifest_get(&reference, &[]).expect_err("anonymous pull");
    assert!(matches!(e, OciError::NoCredentials { .. }), "{e}");
}
