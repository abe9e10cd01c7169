//! Pinning against real TLS servers on 127.0.0.1: pins that match, pins that
//! do not, rotation, a compromised CA, WebPKI failures that pins cannot
//! override, strict mode, plain http, and `presented_chain`.

mod support;

use std::net::TcpListener;

use support::{BODY, TlsServer, assert_mentions, build, get, pki, sha256_pin, unrelated_pin};
use wsc_pinning::{Pin, PinnedClient, PinningConfig, PinningError, Service};

/// A config pinning Rekor to `pins`.
fn rekor_pins(pins: Vec<Pin>) -> PinningConfig {
    PinningConfig::new().with_service_pins(Service::Rekor, pins)
}

/// Builds a client for the server's URL, which must succeed.
fn client(config: PinningConfig, server: &TlsServer) -> PinnedClient {
    build(config, &server.url()).expect("building the client")
}

/// Expects `200 pinned-ok` from the server.
fn assert_ok(server: &TlsServer, client: &PinnedClient, what: &str) {
    match get(client, &server.url()) {
        Ok((status, body)) => {
            assert_eq!(status, 200, "{what}: status");
            assert_eq!(body, BODY, "{what}: body");
        }
        Err(e) => panic!("{what}: the request should succeed, got: {e}"),
    }
}

/// Expects the request to be refused before any request reaches the server;
/// returns the error chain text.
fn assert_refused(server: &TlsServer, client: &PinnedClient, url: &str, what: &str) -> String {
    let before = server.answered();
    match get(client, url) {
        Ok((status, body)) => panic!("{what}: the request should be refused, got {status} {body:?}"),
        Err(text) => {
            assert_eq!(server.answered(), before, "{what}: no request may reach the server; error: {text}");
            text
        }
    }
}

/// What the failure means when the wording checks below fail.
const DEBUG_WORDING_BUG: &str = "the PinFailure message must reach the user (rustls shows `Other` errors \
    with their Display text; `CertificateError::Other` would show Debug instead)";

/// Expects a pin-mismatch refusal for localhost that names the presented leaf.
fn assert_pin_mismatch(text: &str, presented_leaf: Pin, what: &str) {
    // Refused by the pins, for localhost, naming the presented leaf.
    assert_mentions(text, &["localhost", &presented_leaf.to_string()], what);
    // The PinFailure wording reaches the user.
    assert!(
        text.contains("certificate pin mismatch for localhost"),
        "{what}: {DEBUG_WORDING_BUG}; full error chain: {text}"
    );
}

#[test]
fn leaf_certificate_pin_matches() {
    let p = pki();
    let server = TlsServer::start(&p.good, 1);
    let client = client(rekor_pins(vec![p.good.leaf_pin()]), &server);
    assert!(client.pinned, "a service pin makes the client pinned");
    assert_eq!(client.host, "localhost");
    assert_ok(&server, &client, "leaf certificate pin");
    assert_eq!(server.answered(), 1);
}

#[test]
fn intermediate_spki_pin_matches() {
    let p = pki();
    let server = TlsServer::start(&p.good, 1);
    let client = client(rekor_pins(vec![p.good.intermediate_spki_pin()]), &server);
    assert_ok(&server, &client, "intermediate SPKI pin");
}

#[test]
fn leaf_spki_pin_matches() {
    let p = pki();
    let server = TlsServer::start(&p.good, 1);
    let client = client(rekor_pins(vec![p.good.leaf_spki_pin()]), &server);
    assert_ok(&server, &client, "leaf SPKI pin");
}

#[test]
fn unrelated_pin_is_refused_naming_the_presented_leaf() {
    let p = pki();
    let server = TlsServer::start(&p.good, 1);
    let client = client(rekor_pins(vec![unrelated_pin("some other key")]), &server);
    assert!(client.pinned);
    let text = assert_refused(&server, &client, &server.url(), "unrelated pin");
    assert_pin_mismatch(&text, p.good.leaf_pin(), "unrelated pin");
}

#[test]
fn rotation_with_old_and_new_pins_connects() {
    let p = pki();
    let server = TlsServer::start(&p.good, 1);
    let old = unrelated_pin("retired intermediate key");
    let client = client(rekor_pins(vec![old, p.good.intermediate_spki_pin()]), &server);
    assert_ok(&server, &client, "old and new pins during rotation");
}

#[test]
fn rotation_with_only_the_old_pin_is_refused() {
    let p = pki();
    let server = TlsServer::start(&p.good, 1);
    let old = unrelated_pin("retired intermediate key");
    let client = client(rekor_pins(vec![old]), &server);
    let text = assert_refused(&server, &client, &server.url(), "only the old pin");
    assert_pin_mismatch(&text, p.good.leaf_pin(), "only the old pin");
    assert_mentions(&text, &[&old.to_string()], "the configured pin is listed");
}

#[test]
fn ca_compromise_chain_from_another_intermediate_is_refused() {
    let p = pki();
    let server = TlsServer::start(&p.rogue, 2);
    // The rogue chain is valid for the root store: without pins it connects.
    assert_ok(&server, &client(PinningConfig::new(), &server), "rogue chain without pins");
    let client = client(rekor_pins(vec![p.good.intermediate_spki_pin()]), &server);
    let text = assert_refused(&server, &client, &server.url(), "rogue chain, intermediate A pinned");
    assert_pin_mismatch(&text, p.rogue.leaf_pin(), "rogue chain, intermediate A pinned");
}

#[test]
fn ca_compromise_with_the_pinned_intermediate_appended_is_refused() {
    // The rogue server also sends the (public) pinned intermediate A, which is
    // not on the path from its leaf to the root.
    let p = pki();
    let server = TlsServer::start(&p.rogue.with_appended(p.good.intermediate()), 1);
    let client = client(rekor_pins(vec![p.good.intermediate_spki_pin()]), &server);
    let before = server.answered();
    let outcome = get(&client, &server.url());
    assert!(
        outcome.is_err(),
        "a chain issued by unpinned intermediate B must be refused even when the server appends the pinned \
         intermediate A: pins are matched against the path WebPKI verified (leaf -> B -> root), not every \
         presented certificate; got {outcome:?}"
    );
    assert_eq!(server.answered(), before, "no request may reach the rogue server");
}

#[test]
fn expired_leaf_is_refused_even_when_pinned() {
    let p = pki();
    let server = TlsServer::start(&p.expired, 1);
    let config = rekor_pins(vec![p.expired.leaf_pin(), p.expired.intermediate_spki_pin()]);
    let client = client(config, &server);
    let text = assert_refused(&server, &client, &server.url(), "expired leaf");
    assert_mentions(&text, &["localhost", "certificate expired"], "expired leaf");
    assert!(!text.contains("pin mismatch"), "refused by WebPKI, not by the pins: {text}");
}

#[test]
fn wrong_host_name_is_refused_even_when_pinned() {
    let p = pki();
    let server = TlsServer::start(&p.wrong_host, 1);
    let config = rekor_pins(vec![p.wrong_host.leaf_pin(), p.wrong_host.intermediate_spki_pin()]);
    let client = client(config, &server);
    let text = assert_refused(&server, &client, &server.url(), "leaf for example.invalid");
    assert_mentions(&text, &["not valid for name \"localhost\"", "example.invalid"], "wrong host name");
    assert!(!text.contains("pin mismatch"), "refused by WebPKI, not by the pins: {text}");
}

#[test]
fn strict_mode_without_pins_fails_to_build() {
    let p = pki();
    let server = TlsServer::start(&p.good, 1);
    let err = build(PinningConfig::new().require_pinning(true), &server.url()).expect_err("strict mode without pins");
    assert!(
        matches!(err, PinningError::NoPins { service: Service::Rekor, variable: "WSC_REKOR_PINS" }),
        "expected NoPins for Rekor, got {err:?}"
    );
    assert_mentions(&err.to_string(), &["no pins are configured for Rekor", "WSC_REKOR_PINS"], "NoPins");
}

#[test]
fn strict_mode_with_pins_for_another_host_only_fails_to_build() {
    let p = pki();
    let server = TlsServer::start(&p.good, 1);
    let config =
        PinningConfig::new().require_pinning(true).with_host_pins("rekor.example.invalid", vec![p.good.leaf_pin()]);
    let err = build(config, &server.url()).expect_err("strict mode, pins only for another host");
    assert!(matches!(err, PinningError::NoPins { service: Service::Rekor, .. }), "expected NoPins, got {err:?}");
    assert_eq!(server.answered(), 0);
}

#[test]
fn strict_mode_with_host_pins_for_the_url_host_connects() {
    let p = pki();
    let server = TlsServer::start(&p.good, 1);
    let config = PinningConfig::new().require_pinning(true).with_host_pins("LocalHost", vec![p.good.leaf_pin()]);
    let client = client(config, &server);
    assert!(client.pinned);
    assert_ok(&server, &client, "strict mode with host pins");
}

#[test]
fn strict_mode_refuses_a_handshake_with_an_unpinned_host() {
    // The client is pinned for localhost; 127.0.0.1 (also in the leaf) has no pins.
    let p = pki();
    let server = TlsServer::start(&p.good, 2);
    let client = client(rekor_pins(vec![p.good.leaf_pin()]).require_pinning(true), &server);
    assert_ok(&server, &client, "strict mode, pinned host");
    let url = format!("https://127.0.0.1:{}/", server.port());
    let text = assert_refused(&server, &client, &url, "strict mode, unpinned host");
    let what = "strict mode, unpinned host";
    assert_mentions(&text, &["127.0.0.1", &p.good.leaf_pin().to_string()], what);
    assert!(
        text.contains("no pins are configured for 127.0.0.1"),
        "{what}: {DEBUG_WORDING_BUG}; full error chain: {text}"
    );
}

/// Binds a port that nothing should connect to.
fn silent_port() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    listener.set_nonblocking(true).expect("non-blocking listener");
    let url = format!("http://127.0.0.1:{}/", listener.local_addr().expect("local address").port());
    (listener, url)
}

fn assert_untouched(listener: &TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("nothing may connect to the plain http port, got {other:?}"),
    }
}

#[test]
fn plain_http_is_refused_by_build_in_strict_mode() {
    let (listener, url) = silent_port();
    let config = rekor_pins(vec![pki().good.leaf_pin()]).require_pinning(true);
    let err = build(config, &url).expect_err("http in strict mode");
    assert!(matches!(err, PinningError::InsecureUrl { .. }), "expected InsecureUrl, got {err:?}");
    assert_mentions(&err.to_string(), &[&url, "certificate pinning is required"], "InsecureUrl");

    // danger_allow_http does not lift it in strict mode.
    let config = rekor_pins(vec![pki().good.leaf_pin()]).require_pinning(true);
    let err = wsc_pinning::ClientBuilder::new(config)
        .with_roots(pki().roots())
        .danger_allow_http()
        .build(Service::Rekor, &url)
        .expect_err("http in strict mode with danger_allow_http");
    assert!(matches!(err, PinningError::InsecureUrl { .. }), "expected InsecureUrl, got {err:?}");
    assert_untouched(&listener);
}

#[test]
fn plain_http_is_refused_by_build_by_default() {
    let (listener, url) = silent_port();
    let err = build(PinningConfig::new(), &url).expect_err("http without danger_allow_http");
    assert!(matches!(err, PinningError::InsecureUrl { .. }), "expected InsecureUrl, got {err:?}");
    assert_mentions(&err.to_string(), &[&url, "only https://"], "InsecureUrl");
    let err = build(rekor_pins(vec![pki().good.leaf_pin()]), &url).expect_err("http with pins");
    assert!(matches!(err, PinningError::InsecureUrl { .. }), "expected InsecureUrl, got {err:?}");
    assert_untouched(&listener);
}

#[test]
fn pins_given_through_the_api_decide_the_outcome() {
    let p = pki();
    let server = TlsServer::start(&p.good, 2);
    let right = client(rekor_pins(vec![p.good.intermediate_spki_pin()]), &server);
    let wrong = client(rekor_pins(vec![p.rogue.intermediate_spki_pin()]), &server);
    assert_ok(&server, &right, "right pins through with_service_pins");
    let text = assert_refused(&server, &wrong, &server.url(), "wrong pins through with_service_pins");
    assert_pin_mismatch(&text, p.good.leaf_pin(), "wrong pins through with_service_pins");
}

#[test]
fn pins_given_through_an_env_lookup_decide_the_outcome() {
    let p = pki();
    let server = TlsServer::start(&p.good, 2);
    let from_env = |pins: String| {
        PinningConfig::new()
            .apply(move |name| (name == "WSC_REKOR_PINS").then(|| pins.clone()))
            .expect("valid WSC_REKOR_PINS")
    };
    // The sha256: prefix is accepted, and the list may hold more than one pin.
    let right = from_env(format!("{}, sha256:{}", unrelated_pin("old"), p.good.intermediate_spki_pin()));
    assert_eq!(right.service_pins(Service::Rekor).len(), 2);
    let wrong = from_env(p.rogue.intermediate_spki_pin().to_string());
    assert_ok(&server, &client(right, &server), "right pins through WSC_REKOR_PINS");
    let text = assert_refused(&server, &client(wrong, &server), &server.url(), "wrong pins through WSC_REKOR_PINS");
    assert_pin_mismatch(&text, p.good.leaf_pin(), "wrong pins through WSC_REKOR_PINS");
}

#[test]
fn presented_chain_returns_leaf_then_intermediate_with_their_pins() {
    let p = pki();
    let server = TlsServer::start(&p.good, 1);
    let presented = wsc_pinning::presented_chain(&server.url(), p.roots()).expect("presented chain");
    assert_eq!(presented.webpki_error, None, "the chain verifies against the test root");
    assert_eq!(presented.chain.len(), 2, "leaf and intermediate: {:?}", presented.chain);
    let (leaf, int) = (&presented.chain[0], &presented.chain[1]);
    assert_eq!(leaf.certificate_sha256, p.good.leaf_pin());
    assert_eq!(leaf.spki_sha256, Some(p.good.leaf_spki_pin()));
    assert_eq!(int.certificate_sha256, p.good.intermediate_pin());
    assert_eq!(int.spki_sha256, Some(p.good.intermediate_spki_pin()));
    assert!(leaf.subject.contains("CN=localhost (A)"), "leaf subject: {}", leaf.subject);
    assert!(leaf.issuer.contains("CN=wsc test intermediate A"), "leaf issuer: {}", leaf.issuer);
    assert!(int.subject.contains("CN=wsc test intermediate A"), "intermediate subject: {}", int.subject);
    assert!(int.issuer.contains("CN=wsc test root"), "intermediate issuer: {}", int.issuer);
}

#[test]
fn presented_chain_with_an_unrelated_root_reports_the_webpki_error() {
    let p = pki();
    let server = TlsServer::start(&p.good, 1);
    let presented = wsc_pinning::presented_chain(&server.url(), p.other_roots()).expect("presented chain");
    assert!(presented.webpki_error.is_some(), "the chain does not verify against an unrelated root");
    let pins: Vec<Pin> = presented.chain.iter().map(|c| c.certificate_sha256).collect();
    assert_eq!(pins, vec![p.good.leaf_pin(), p.good.intermediate_pin()]);
}

#[test]
fn presented_chain_with_an_empty_root_store_still_returns_the_chain() {
    let p = pki();
    let server = TlsServer::start(&p.good, 1);
    let presented = wsc_pinning::presented_chain(&server.url(), rustls::RootCertStore::empty()).unwrap_or_else(|e| {
        panic!(
            "presented_chain must return the chain with webpki_error set even with an empty root store, \
             as its documentation promises; got {e:?}"
        )
    });
    assert!(presented.webpki_error.is_some(), "nothing can verify against an empty root store");
    let pins: Vec<Pin> = presented.chain.iter().map(|c| c.certificate_sha256).collect();
    assert_eq!(pins, vec![p.good.leaf_pin(), p.good.intermediate_pin()]);
}

/// `PinningConfig::load_with` reads the file named by WSC_PINNING_CONFIG,
/// then the variables over it; the pins it yields are the ones enforced.
#[test]
fn config_file_named_by_a_variable_is_enforced() {
    let p = pki();
    let dir = std::env::temp_dir().join(format!("wsc-pinning-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("pins.conf");
    std::fs::write(&file, format!("# test\nWSC_REKOR_PINS={}\n", p.good.leaf_pin())).expect("write");
    let path = file.display().to_string();
    let only_file = |n: &str| (n == "WSC_PINNING_CONFIG").then(|| path.clone());
    let server = TlsServer::start(&p.good, 2);
    let c = client(PinningConfig::load_with(only_file).expect("config"), &server);
    assert_ok(&server, &c, "pins from the file");
    let overridden = |n: &str| match n {
        "WSC_PINNING_CONFIG" => Some(path.clone()),
        "WSC_REKOR_PINS" => Some("00".repeat(32)),
        _ => None,
    };
    let c = client(PinningConfig::load_with(overridden).expect("config"), &server);
    assert!(get(&c, &server.url()).is_err(), "the variable's pin overrides the file's");
    let missing = |n: &str| (n == "WSC_PINNING_CONFIG").then(|| dir.join("missing.conf").display().to_string());
    let e = PinningConfig::load_with(missing).expect_err("missing file");
    assert!(e.to_string().contains("WSC_PINNING_CONFIG"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs a shell pipeline that feeds `input` to openssl; its stdout. Panics
/// when openssl is missing or fails.
fn openssl(pipeline: &str, input: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new("sh")
        .args(["-c", &format!("set -e; {pipeline}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh runs");
    child.stdin.take().expect("stdin").write_all(input).expect("writes to openssl");
    let out = child.wait_with_output().expect("openssl finishes");
    assert!(
        out.status.success(),
        "this test needs openssl on PATH (xtask/setup.sh installs it); `{pipeline}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The pins computed by openssl from each certificate's DER: SHA-256 of the
/// DER, and SHA-256 of the SubjectPublicKeyInfo openssl extracts. They match
/// the pins the tests expect (computed in `support` from rcgen's key and
/// certificate bytes) and the ones `Pin::of_certificate` / `Pin::of_spki` give.
#[test]
fn pins_match_the_ones_openssl_computes() {
    let p = pki();
    let certs = [
        ("good leaf", p.good.leaf(), p.good.leaf_pin(), p.good.leaf_spki_pin()),
        ("intermediate A", p.good.intermediate(), p.good.intermediate_pin(), p.good.intermediate_spki_pin()),
        ("rogue leaf", p.rogue.leaf(), p.rogue.leaf_pin(), p.rogue.leaf_spki_pin()),
        ("intermediate B", p.rogue.intermediate(), p.rogue.intermediate_pin(), p.rogue.intermediate_spki_pin()),
        ("expired leaf", p.expired.leaf(), p.expired.leaf_pin(), p.expired.leaf_spki_pin()),
    ];
    for (what, der, cert_pin, spki_pin) in certs {
        let cert = Pin(openssl("openssl x509 -inform DER -outform DER | openssl dgst -sha256 -binary", der)
            .try_into()
            .expect("32 bytes"));
        let spki = Pin(openssl(
            "openssl x509 -inform DER -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary",
            der,
        )
        .try_into()
        .expect("32 bytes"));
        assert_eq!(cert, cert_pin, "{what}: certificate pin");
        assert_eq!(spki, spki_pin, "{what}: SPKI pin");
        assert_eq!(Pin::of_certificate(der), cert, "{what}: Pin::of_certificate");
        assert_eq!(Pin::of_spki(der), Some(spki), "{what}: Pin::of_spki");
        assert_ne!(cert, spki, "{what}");
    }
    // The root, for which the tests hold no separate key bytes.
    let root = Pin(openssl("openssl dgst -sha256 -binary", &p.root).try_into().expect("32 bytes"));
    assert_eq!(root, sha256_pin(&p.root));
}

#[test]
fn registry_pins_apply_to_a_streamed_answer() {
    use std::io::Read;
    use std::time::Duration;
    use wsc_pinning::{ClientBuilder, RetryPolicy, ServiceClient, ServiceOptions};

    let p = pki();
    let server = TlsServer::start(&p.good, 2);
    let client_for = |pin: Pin| {
        let config = PinningConfig::new().with_service_pins(Service::Registry, vec![pin]);
        let builder = ClientBuilder::new(config)
            .with_roots(p.roots())
            .with_timeouts(Duration::from_secs(5), Duration::from_secs(5));
        // One attempt: the server serves two connections in all.
        let options = ServiceOptions {
            retry: RetryPolicy { attempts: 1, ..RetryPolicy::default() },
            ..ServiceOptions::default()
        };
        ServiceClient::new(&builder, Service::Registry, &server.url(), &options).expect("client")
    };
    let url = server.url();
    let right = client_for(p.good.intermediate_spki_pin());
    assert!(right.pinned(), "WSC_REGISTRY_PINS pins the registry's host");
    let mut answer = right.send_streaming(&url, &|c| c.get(&url)).expect("a streamed answer");
    assert_eq!(answer.status, 200);
    let mut body = String::new();
    answer.response.read_to_string(&mut body).expect("the body, read by the caller");
    assert_eq!(body, BODY);

    let before = server.answered();
    let err = client_for(p.rogue.intermediate_spki_pin()).send_streaming(&url, &|c| c.get(&url));
    let text = support::error_chain(&err.expect_err("a chain matching no registry pin"));
    assert_eq!(server.answered(), before, "no request may reach the server: {text}");
    assert_pin_mismatch(&text, p.good.leaf_pin(), "wrong registry pin");
    assert_mentions(&text, &["the OCI registry"], "the service is named");
}
