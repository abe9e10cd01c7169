//! Keyless signing against the local Sigstore-compatible instance
//! (`wsc-sigstore-local`, real cryptography on 127.0.0.1): the whole flow,
//! every injected fault, token sources, the browser login, and pinned HTTPS.

mod common;

use common::{module, verify};
use std::path::Path;
use std::time::Duration;

use wsc_keyless::sign::{
    BrowserLogin, IdentityToken, KeylessSigner, RetryPolicy, ServiceOptions, Services, SignError, TokenOrigin,
    ambient_token, browser_login,
};
use wsc_keyless::sigstore_verify::trust_root::{SigningConfig, TrustedRoot};
use wsc_keyless::sigstore_verify::types::Artifact;
use wsc_keyless::{BundleVerifier, Expectation, IdentityPolicy, Matcher};
use wsc_pinning::{ClientBuilder, Pin, PinningConfig, Service};
use wsc_sigstore_local::{Config, Instance};

const IDENTITY: &str = "https://github.com/wsc-test/app/.github/workflows/release.yml@refs/heads/main";
const EMAIL: &str = "dev@wsc.test";

fn start(tls: bool) -> (Instance, tempfile::TempDir) {
    start_with(tls, false)
}

/// A local instance in a new folder, with a Rekor v2 log or v1.
fn start_with(tls: bool, rekor_v2: bool) -> (Instance, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let inst = Instance::start(Config {
        dir: dir.path().to_path_buf(),
        identities: vec![IDENTITY.into(), EMAIL.into()],
        tls,
        port: 0,
        rekor_v2,
    })
    .expect("local instance");
    (inst, dir)
}

fn root(inst: &Instance) -> TrustedRoot {
    TrustedRoot::from_file(inst.dir().join("trusted_root.json")).expect("trusted root")
}

fn builder(inst: &Instance) -> ClientBuilder {
    match inst.tls_ca_pem() {
        Some(pem) => ClientBuilder::new(PinningConfig::new())
            .with_roots(wsc_pinning::roots_from_pem(pem.as_bytes()).expect("roots")),
        None => ClientBuilder::new(PinningConfig::new()).danger_allow_http(),
    }
}

fn fast() -> ServiceOptions {
    ServiceOptions {
        retry: RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(5),
        },
        rate_limit_per_second: None,
    }
}

fn services_with(inst: &Instance, b: &ClientBuilder, options: &ServiceOptions, tsa: bool) -> Services {
    let cfg = SigningConfig::from_file(inst.dir().join("signing_config.json")).expect("signing config");
    Services::from_signing_config(&cfg, b, options, tsa).expect("services")
}

fn signer(inst: &Instance, identity: &str) -> Result<KeylessSigner, SignError> {
    let token = IdentityToken::new(inst.mint_token(identity).expect("token"))?;
    KeylessSigner::new(token, services_with(inst, &builder(inst), &fast(), true), &root(inst))
}

#[test]
fn sign_modules_and_an_in_toto_statement_then_verify_offline() {
    let (inst, _d) = start(false);
    let root = root(&inst);
    for identity in [IDENTITY, EMAIL] {
        let s = signer(&inst, identity).expect("certificate");
        assert_eq!(s.identity(), identity);
        assert_eq!(s.issuer(), inst.url());
        let signed: Vec<Vec<u8>> = (0..3).map(|n| wsc_core::sign(&module(n), &s).expect("sign")).collect();
        let e = s.entries();
        assert_eq!(e.len(), 3);
        assert!(e.windows(2).all(|w| w[0].log_index < w[1].log_index) && e.iter().all(|x| x.timestamped));
        for m in &signed {
            let who = verify(m, &root, identity, inst.url()).expect("verifies offline");
            assert!(who.contains("logged in Rekor"), "{who}");
            assert!(verify(m, &root, identity, "https://other.issuer").is_err());
        }
        // One Fulcio request for three modules.
        assert_eq!(inst.requests("/api/v2/signingCert"), if identity == IDENTITY { 1 } else { 2 });
    }
    // DSSE: an in-toto statement about a blob, logged as a dsse entry.
    let blob = b"artifact bytes";
    let digest = wsc_core::keys::hex(&<sha2::Sha256 as sha2::Digest>::digest(blob));
    let statement = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"a","digest":{{"sha256":"{digest}"}}}}],"predicateType":"https://example.test/p","predicate":{{}}}}"#
    );
    let s = signer(&inst, IDENTITY).expect("certificate");
    let bundle = s.sign_in_toto(statement.as_bytes()).expect("dsse");
    assert!(bundle.contains("dsseEnvelope") && bundle.contains("\"kind\":\"dsse\""), "{bundle}");
    let policy = IdentityPolicy::new(Matcher::Exact(IDENTITY.into()), Matcher::Exact(inst.url().into()));
    let v = BundleVerifier::new(&root, Expectation::Identity(policy)).expect("verifier");
    v.verify(Artifact::Blob(blob), &bundle).expect("the DSSE bundle verifies over the artifact");
    assert!(v.verify(Artifact::Blob(b"other"), &bundle).is_err());
}

#[test]
fn every_fault_ends_in_a_clear_error_or_a_retry() {
    let (inst, _d) = start(false);
    let f = inst.faults();
    let rekor = "/api/v1/log/entries";

    // Retried: 429 with Retry-After, 500s, a dropped connection.
    let s = signer(&inst, IDENTITY).expect("certificate");
    let cases: [(&dyn Fn(), &str); 3] = [
        (&|| f.rate_limit(2, 1), "429"),
        (&|| f.server_error(2), "500"),
        (&|| f.drop_connection(1), "dropped connection"),
    ];
    for (n, (setup, what)) in cases.into_iter().enumerate() {
        let before = s.services().retries();
        setup();
        wsc_core::sign(&module(10 + n as u8), &s).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(s.services().retries() > before, "{what}: no retry counted");
        f.clear();
    }
    // The same message again (deterministic ECDSA, so the same entry): Rekor
    // answers 409 with the entry's Location, which is fetched and checked.
    let again = wsc_core::sign(&module(10), &s).expect("a duplicate entry is reused");
    verify(&again, &root(&inst), IDENTITY, inst.url()).expect("verifies");
    // Too many 500s: a clear error naming the service and the status.
    f.server_error(100);
    let err = s.sign_message(b"m").expect_err("500s");
    let text = err.to_string();
    assert!(text.contains("HTTP 500") && text.contains("after 4 attempt(s)"), "{text}");
    f.clear();
    // A Retry-After longer than allowed fails at once.
    f.rate_limit(1, 3600);
    let err = s.sign_message(b"m").expect_err("429");
    assert!(wsc_core::Chain(&err).to_string().contains("Retry-After too long"), "{err}");
    f.clear();

    // A bad SET or a bad SCT: the bundle does not verify, nothing is returned.
    f.bad_set(true);
    let err = s.sign_message(b"m").expect_err("bad SET");
    assert!(matches!(err, SignError::Verify(_)), "{err}");
    f.clear();
    f.bad_sct(true);
    // With a TSA, the SCT is checked before anything is logged.
    let logged = inst.requests("/api/v1/log/entries");
    let err = signer(&inst, IDENTITY).expect_err("bad SCT");
    assert!(
        matches!(err, SignError::Certificate { .. })
            && wsc_core::Chain(&err).to_string().to_lowercase().contains("sct"),
        "{err}"
    );
    assert_eq!(inst.requests("/api/v1/log/entries"), logged, "nothing logged");
    // Without one, with the first bundle, before anything is returned.
    let token = IdentityToken::new(inst.mint_token(IDENTITY).expect("token")).expect("token");
    let s2 = KeylessSigner::new(token, services_with(&inst, &builder(&inst), &fast(), false), &root(&inst))
        .expect("no SCT check without a verified time");
    let err = s2.sign_message(b"m").expect_err("bad SCT");
    assert!(
        matches!(err, SignError::Verify(_)) && wsc_core::Chain(&err).to_string().to_lowercase().contains("sct"),
        "{err}"
    );
    f.clear();

    // A chain from another CA, or a detached SCT: refused before anything is logged.
    for (fault, needle) in [
        (&(|| f.foreign_chain(true)) as &dyn Fn(), "does not lead to a Fulcio CA"),
        (&|| f.detached_sct(true), "detached SCT"),
    ] {
        let logged = inst.requests(rekor);
        fault();
        let err = signer(&inst, IDENTITY).expect_err(needle);
        assert!(
            matches!(err, SignError::Certificate { .. }) && wsc_core::Chain(&err).to_string().contains(needle),
            "{err}"
        );
        assert_eq!(inst.requests(rekor), logged, "nothing logged");
        f.clear();
    }

    // Slow answers beyond the client's timeout.
    let b = builder(&inst).with_timeouts(Duration::from_millis(300), Duration::from_secs(2));
    let opts = ServiceOptions { retry: RetryPolicy { attempts: 2, ..fast().retry }, rate_limit_per_second: None };
    f.slow(1500);
    let token = IdentityToken::new(inst.mint_token(IDENTITY).expect("token")).expect("token");
    let err = KeylessSigner::new(token, services_with(&inst, &b, &opts, false), &root(&inst)).expect_err("slow");
    assert!(
        wsc_core::Chain(&err).to_string().contains("Fulcio")
            && wsc_core::Chain(&err).to_string().contains("after 2 attempt(s)"),
        "{err}"
    );
    f.clear();

    // An expired token or one for another audience: Fulcio refuses, the error says so.
    let wrong = inst.mint_token_with(IDENTITY, "not-sigstore", 600).expect("token");
    let err = KeylessSigner::new(
        IdentityToken::new(wrong).expect("token"),
        services_with(&inst, &builder(&inst), &fast(), false),
        &root(&inst),
    )
    .expect_err("audience");
    assert!(wsc_core::Chain(&err).to_string().contains("HTTP 401"), "{err}");
    let expired = inst.mint_token_with(IDENTITY, "sigstore", -60).expect("token");
    assert!(IdentityToken::new(expired).expect_err("expired").to_string().contains("expired"));
}

#[test]
fn a_rate_limit_spaces_requests() {
    let (inst, _d) = start(false);
    let opts = ServiceOptions { rate_limit_per_second: Some(20.0), ..fast() };
    let token = IdentityToken::new(inst.mint_token(IDENTITY).expect("token")).expect("token");
    let s =
        KeylessSigner::new(token, services_with(&inst, &builder(&inst), &opts, false), &root(&inst)).expect("signer");
    let start = std::time::Instant::now();
    for n in 0..6 {
        wsc_core::sign(&module(n), &s).expect("sign");
    }
    // Six Rekor requests at 20/s take at least 5 intervals of 50 ms.
    assert!(start.elapsed() >= Duration::from_millis(250), "{:?}", start.elapsed());
}

/// The SHA-256 that an openssl `pipeline` computes from `der` on its stdin,
/// as a pin. Panics when openssl is missing or fails.
fn openssl_pin(pipeline: &str, der: &[u8]) -> Pin {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new("sh")
        .args(["-c", &format!("set -e; {pipeline}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh runs");
    child.stdin.take().expect("stdin").write_all(der).expect("writes to openssl");
    let out = child.wait_with_output().expect("openssl finishes");
    assert!(
        out.status.success(),
        "this test needs openssl on PATH (xtask/setup.sh installs it); `{pipeline}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Pin(out.stdout.try_into().expect("a SHA-256 digest"))
}

#[test]
fn pinned_https_end_to_end() {
    let (inst, _d) = start(true);
    let root = root(&inst);
    let leaf = inst.tls_leaf_der().expect("tls leaf");
    let roots = wsc_pinning::roots_from_pem(inst.tls_ca_pem().expect("ca").as_bytes()).expect("roots");
    let cfg = SigningConfig::from_file(inst.dir().join("signing_config.json")).expect("signing config");
    let sign_with = |pins: PinningConfig| -> Result<Vec<u8>, SignError> {
        let b = ClientBuilder::new(pins).with_roots(roots.clone());
        let services = Services::from_signing_config(&cfg, &b, &fast(), true)?;
        let token = IdentityToken::new(inst.mint_token(IDENTITY).expect("token"))?;
        let s = KeylessSigner::new(token, services, &root)?;
        wsc_core::sign(&module(7), &s).map_err(|e| SignError::config("signing").because(e))
    };
    // The right pin on every service: signed and verified. The pins are
    // computed by openssl, not by wsc-pinning's own `Pin::of_*`.
    let right = openssl_pin("openssl x509 -inform DER -outform DER | openssl dgst -sha256 -binary", &leaf);
    let mut pins = PinningConfig::new().require_pinning(true);
    for s in [Service::Fulcio, Service::Rekor, Service::Tsa] {
        pins = pins.with_service_pins(s, vec![right]);
    }
    let signed = sign_with(pins).expect("pinned");
    verify(&signed, &root, IDENTITY, inst.url()).expect("verifies");
    // The TLS CA's SPKI as the pin (an anchor pin), and a rotation list with an old pin first.
    let ca_der = {
        let pem = inst.tls_ca_pem().expect("ca");
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).expect("base64")
    };
    let ca_pin = openssl_pin(
        "openssl x509 -inform DER -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary",
        &ca_der,
    );
    for list in [vec![ca_pin], vec![Pin([9; 32]), right]] {
        let mut pins = PinningConfig::new().require_pinning(true);
        for s in [Service::Fulcio, Service::Rekor, Service::Tsa] {
            pins = pins.with_service_pins(s, list.clone());
        }
        sign_with(pins).expect("pinned by CA SPKI or by a rotation list");
    }
    // A wrong pin: the TLS connection is refused, nothing is signed.
    let wrong = Pin([7; 32]);
    let pins = PinningConfig::new().with_service_pins(Service::Fulcio, vec![wrong]);
    let err = sign_with(pins).expect_err("wrong pin");
    assert!(wsc_core::Chain(&err).to_string().contains("Fulcio"), "{err}");
    // Strict mode without pins for Rekor: refused before connecting.
    let pins = PinningConfig::new().require_pinning(true).with_service_pins(Service::Fulcio, vec![right]);
    assert!(sign_with(pins).is_err());
    // Without the instance's CA the server is not trusted at all.
    let b = ClientBuilder::new(PinningConfig::new());
    let services = Services::from_signing_config(&cfg, &b, &fast(), false).expect("services");
    let token = IdentityToken::new(inst.mint_token(IDENTITY).expect("token")).expect("token");
    assert!(KeylessSigner::new(token, services, &root).is_err());
}

#[test]
fn tokens_from_ci_providers_and_a_browser_login() {
    let (inst, _d) = start(false);
    let b = builder(&inst);
    let minted = inst.mint_token(IDENTITY).expect("token");

    // GitHub Actions: a token service on 127.0.0.1 that checks the bearer and the audience.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/token?api-version=2.0", listener.local_addr().expect("addr"));
    let answer = minted.clone();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut c, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 8192];
        let n = c.read(&mut buf).expect("read");
        let req = String::from_utf8_lossy(&buf[..n]).to_string();
        let ok = req.contains("audience=sigstore") && req.to_lowercase().contains("authorization: bearer req-secret");
        let body = if ok { format!("{{\"value\":\"{answer}\"}}") } else { "{}".into() };
        let status = if ok { "200 OK" } else { "403 Forbidden" };
        write!(c, "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
            .expect("write");
    });
    let env = |k: &str| match k {
        "ACTIONS_ID_TOKEN_REQUEST_URL" => Some(url.clone()),
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN" => Some("req-secret".to_string()),
        _ => None,
    };
    let (t, origin) = ambient_token(&env, &b, &fast()).expect("github").expect("found");
    server.join().expect("server");
    assert_eq!(origin, TokenOrigin::GitHubActions);
    assert_eq!(t.claims().subject, IDENTITY);

    // GitLab id_tokens and an explicit variable.
    let env = |k: &str| match k {
        "SIGSTORE_ID_TOKEN" => Some(minted.clone()),
        "GITLAB_CI" => Some("true".into()),
        _ => None,
    };
    assert_eq!(ambient_token(&env, &b, &fast()).expect("gitlab").expect("found").1, TokenOrigin::GitLab);

    // Buildkite and CircleCI: their agents' commands, found on PATH, with the right arguments.
    let bin = tempfile::tempdir().expect("tempdir");
    let script = |name: &str, expect: &str| {
        let p = bin.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n[ \"$*\" = '{expect}' ] || exit 3\necho '{minted}'\n")).expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    script("buildkite-agent", "oidc request-token --audience sigstore");
    script("circleci", r#"run oidc get --claims {"aud":"sigstore"}"#);
    let path = bin.path().display().to_string();
    for (var, origin) in [("BUILDKITE", TokenOrigin::Buildkite), ("CIRCLECI", TokenOrigin::CircleCi)] {
        let env = |k: &str| match k {
            "PATH" => Some(path.clone()),
            k if k == var => Some("true".into()),
            _ => None,
        };
        let (t, o) = ambient_token(&env, &b, &fast()).expect(var).expect("found");
        assert_eq!((o, t.claims().subject.as_str()), (origin, IDENTITY));
    }
    // Google Cloud: the metadata server (GCE_METADATA_HOST), which wants `Metadata-Flavor: Google`.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    let answer = minted.clone();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut c, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 8192];
        let n = c.read(&mut buf).expect("read");
        let req = String::from_utf8_lossy(&buf[..n]).to_lowercase();
        let ok = req
            .starts_with("get /computemetadata/v1/instance/service-accounts/default/identity?audience=sigstore")
            && req.contains("metadata-flavor: google");
        let body = if ok { answer } else { String::new() };
        let status = if ok { "200 OK" } else { "403 Forbidden" };
        write!(c, "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
            .expect("write");
    });
    let env = |k: &str| (k == "GCE_METADATA_HOST").then(|| host.clone());
    let (t, origin) = ambient_token(&env, &b, &fast()).expect("gce").expect("found");
    server.join().expect("server");
    assert_eq!((origin, t.claims().subject.as_str()), (TokenOrigin::GoogleCloud, IDENTITY));

    // Nothing in the environment: no token.
    assert!(ambient_token(&|_| None, &b, &fast()).expect("none").is_none());

    // The browser login (PKCE): the "browser" follows the issuer's redirect to our loopback.
    let login =
        BrowserLogin { issuer: inst.url().into(), client_id: "sigstore".into(), timeout: Duration::from_secs(20) };
    let browser = ClientBuilder::new(PinningConfig::new()).danger_allow_http();
    let mut seen = String::new();
    let token = browser_login(&login, &b, &fast(), &mut |auth_url| {
        seen = auth_url.to_string();
        let client = browser.build(Service::Oidc, auth_url).expect("client").client;
        let auth_url = format!("{auth_url}&login_hint={}", urlencode(EMAIL));
        std::thread::spawn(move || {
            let r = client.get(&auth_url).send().expect("authorize");
            let to = r.headers().get("location").expect("redirect").to_str().expect("text").to_string();
            let to = to.replace("http://localhost:", "http://127.0.0.1:");
            // Another page knocking with a wrong state first: answered, ignored.
            let knock = client.get(to.replace("state=", "state=x")).send().expect("knock");
            assert_eq!(knock.status().as_u16(), 400);
            client.get(&to).send().expect("callback");
        });
    })
    .expect("browser login");
    assert!(seen.contains("code_challenge_method=S256") && seen.contains("redirect_uri="), "{seen}");
    assert_eq!(token.claims().email.as_deref(), Some(EMAIL));
    KeylessSigner::new(token, services_with(&inst, &b, &fast(), false), &root(&inst)).expect("usable for Fulcio");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn the_local_files_are_what_sigstore_python_reads() {
    let (inst, _d) = start(false);
    for f in ["trusted_root.json", "signing_config.json", "trust_config.json", "url"] {
        assert!(Path::new(&inst.dir().join(f)).is_file(), "{f}");
    }
}

/// A signing config that names a Rekor v2 log: `hashedrekord` 0.0.2 entries,
/// no SET, an RFC 3161 timestamp required; verified offline.
#[test]
fn rekor_v2_chosen_by_the_signing_config() {
    let (inst, _dir) = start_with(false, true);
    let root = root(&inst);
    let services = services_with(&inst, &builder(&inst), &fast(), true);
    assert_eq!(services.rekor_version(), 2);
    let token = IdentityToken::new(inst.mint_token(IDENTITY).expect("token")).expect("token");
    let s = KeylessSigner::new(token, services, &root).expect("certificate");
    let signed: Vec<Vec<u8>> = (0..2).map(|n| wsc_core::sign(&module(n), &s).expect("sign")).collect();
    assert_eq!(inst.requests("/api/v2/log/entries"), 2);
    assert_eq!(inst.requests("/api/v1/log/entries"), 0);
    for m in &signed {
        let who = verify(m, &root, IDENTITY, inst.url()).expect("verifies offline");
        assert!(who.contains("logged in Rekor"), "{who}");
    }
    let bundle = s.sign_message(b"blob").expect("bundle");
    assert!(bundle.contains("\"version\":\"0.0.2\"") && bundle.contains("signedTimestamp"), "{bundle}");
    // No timestamps with a v2 log: refused before any request.
    let cfg = SigningConfig::from_file(inst.dir().join("signing_config.json")).expect("signing config");
    let err = Services::from_signing_config(&cfg, &builder(&inst), &fast(), false).expect_err("v2 without TSA");
    assert!(wsc_core::Chain(&err).to_string().contains("RFC 3161"), "{err}");
    // DSSE goes to v1 logs only.
    let statement = format!(r#"{{"subject":[{{"digest":{{"sha256":"{}"}}}}]}}"#, "ab".repeat(32));
    let err = s.sign_in_toto(statement.as_bytes()).expect_err("dsse on v2");
    assert!(wsc_core::Chain(&err).to_string().contains("Rekor v1 logs only"), "{err}");
}

/// The keyless signer passes the signer conformance kit against the local
/// instance: whole-module round trip through a bundle verifier with the
/// signer's identity, a changed module refused, two threads at once.
#[test]
fn the_keyless_signer_passes_the_conformance_kit() {
    let (inst, _d) = start(false);
    let s = signer(&inst, IDENTITY).expect("certificate");
    let policy = IdentityPolicy::new(Matcher::Exact(IDENTITY.into()), Matcher::Exact(inst.url().into()));
    let v = BundleVerifier::new(&root(&inst), Expectation::Identity(policy)).expect("verifier");
    wsc_core::conformance::check_signer(&s, &v).unwrap_or_else(|f| panic!("{f:?}"));
}
