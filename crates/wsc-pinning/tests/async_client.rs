//! The async client (`ClientBuilder::build_async`, used by the TUF client of
//! `wsc trust update`) is pinned exactly like the blocking one.

#[allow(dead_code)] // this file uses part of the support module
mod support;

use std::time::Duration;

use support::{BODY, TlsServer, error_chain, pki, unrelated_pin};
use wsc_pinning::{ClientBuilder, PinnedAsyncClient, PinningConfig, PinningError, Service};

fn build(config: PinningConfig, url: &str) -> Result<PinnedAsyncClient, PinningError> {
    ClientBuilder::new(config)
        .with_roots(pki().roots())
        .with_timeouts(Duration::from_secs(5), Duration::from_secs(5))
        .build_async(Service::Tuf, url)
}

/// GETs `url` on a small current-thread runtime.
fn get(client: &PinnedAsyncClient, url: &str) -> Result<(u16, String), String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async {
        let response = client.client.get(url).send().await.map_err(|e| error_chain(&e))?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| error_chain(&e))?;
        Ok((status, body))
    })
}

#[test]
fn async_client_accepts_a_matching_pin() {
    let server = TlsServer::start(&pki().good, 1);
    let config = PinningConfig::new().with_service_pins(Service::Tuf, vec![pki().good.intermediate_spki_pin()]);
    let client = build(config, &server.url()).expect("client");
    assert!(client.pinned);
    assert_eq!(client.host, "localhost");
    assert_eq!(get(&client, &server.url()), Ok((200, BODY.to_string())));
}

#[test]
fn async_client_refuses_a_chain_matching_no_pin() {
    let server = TlsServer::start(&pki().good, 1);
    let config = PinningConfig::new().with_service_pins(Service::Tuf, vec![unrelated_pin("not this server")]);
    let client = build(config, &server.url()).expect("client");
    let err = get(&client, &server.url()).expect_err("a chain matching no pin must be refused");
    assert!(err.contains("pin"), "{err}");
    assert_eq!(server.answered(), 0, "no request may reach the server: {err}");
}

#[test]
fn async_client_reads_tuf_pins_and_keeps_the_url_policy() {
    let pin = pki().good.leaf_pin().to_string();
    let config = PinningConfig::new().apply(|n| (n == "WSC_TUF_PINS").then(|| pin.clone())).expect("config");
    assert_eq!(config.service_pins(Service::Tuf).len(), 1);
    // Strict mode without TUF pins: refused before any connection.
    let strict = PinningConfig::new().require_pinning(true);
    let err = build(strict.clone(), "https://localhost:1/").expect_err("no pins in strict mode");
    assert!(matches!(err, PinningError::NoPins { service: Service::Tuf, variable: "WSC_TUF_PINS" }), "{err}");
    // http:// only with danger_allow_http, and never in strict mode.
    assert!(matches!(build(PinningConfig::new(), "http://127.0.0.1:1/"), Err(PinningError::InsecureUrl { .. })));
    let lax = ClientBuilder::new(PinningConfig::new()).danger_allow_http();
    assert!(lax.build_async(Service::Tuf, "http://127.0.0.1:1/").is_ok());
    let strict =
        ClientBuilder::new(strict.with_service_pins(Service::Tuf, vec![unrelated_pin("x")])).danger_allow_http();
    assert!(matches!(strict.build_async(Service::Tuf, "http://127.0.0.1:1/"), Err(PinningError::InsecureUrl { .. })));
}
