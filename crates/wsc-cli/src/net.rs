//! HTTPS to the services wsc signs with (timestamp authorities, Sigstore):
//! every client comes from wsc-pinning's builder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use wsc_core::SignerError;
use wsc_pinning::{ClientBuilder, PinningConfig, RetryPolicy, Service, ServiceClient, ServiceOptions};

use crate::files;

/// Network options shared by the commands that call services.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct NetArgs {
    /// Trust these CA certificates (PEM) for HTTPS instead of the Mozilla roots (a private instance).
    #[arg(long = "tls-ca", value_name = "PEM")]
    pub(crate) tls_ca: Option<PathBuf>,
    /// Allow http:// service URLs (no TLS, so no pins): local test instances only.
    /// Refused when WSC_REQUIRE_CERT_PINNING is set.
    #[arg(long)]
    pub(crate) insecure_allow_http: bool,
}

impl NetArgs {
    /// The pinned client builder these options describe.
    pub(crate) fn builder(&self) -> Result<ClientBuilder> {
        let mut b = builder(self.tls_ca.as_deref())?;
        if self.insecure_allow_http {
            b = b.opt_in_http().context("--insecure-allow-http")?;
        }
        Ok(b)
    }

    /// Refuses a plain http:// `url` for `what` unless --insecure-allow-http
    /// was given, naming the flag (wsc-pinning refuses it in any case).
    pub(crate) fn check_scheme(&self, what: &str, url: &str) -> Result<()> {
        if url.starts_with("http://") && !self.insecure_allow_http {
            bail!(
                "{what} at {url}: only https:// URLs may be used; add --insecure-allow-http for a local test instance"
            );
        }
        Ok(())
    }

    /// Says on stderr when the client for `service` at `url` has no TLS or no pins.
    pub(crate) fn announce(&self, service: Service, url: &str, client: &ServiceClient) {
        if url.starts_with("http://") {
            eprintln!("WARNING: --insecure-allow-http: {service} at {url} is reached without TLS");
        } else if !client.pinned() {
            eprintln!("note: no certificate pins for {} ({})", client.host(), service.variable());
        }
    }
}

/// A pinned client builder (pins from the environment) trusting `tls_ca`
/// instead of the Mozilla roots when given.
pub(crate) fn builder(tls_ca: Option<&Path>) -> Result<ClientBuilder> {
    let pins = PinningConfig::load().context("certificate pinning configuration")?;
    let mut b = ClientBuilder::new(pins).with_timeouts(Duration::from_secs(30), Duration::from_secs(10));
    if let Some(p) = tls_ca {
        let pem = files::read_small(p, 1024 * 1024, "TLS CA file")?;
        let roots = wsc_pinning::roots_from_pem(&pem).with_context(|| format!("TLS CA file '{}'", p.display()))?;
        b = b.with_roots(roots);
    }
    Ok(b)
}

/// An RFC 3161 timestamp authority reached through wsc-pinning's transport.
#[derive(Debug)]
pub(crate) struct HttpTimestamper(ServiceClient);

impl HttpTimestamper {
    /// One attempt per request, as before retries were shared with keyless signing.
    pub(crate) fn new(net: &NetArgs, url: &str) -> Result<Self> {
        let options =
            ServiceOptions { retry: RetryPolicy { attempts: 1, ..RetryPolicy::default() }, ..Default::default() };
        let client = ServiceClient::new(&net.builder()?, Service::Tsa, url, &options)?
            .with_max_answer(wsc_pki::MAX_RESPONSE_LEN as u64);
        net.announce(Service::Tsa, url, &client);
        Ok(HttpTimestamper(client))
    }
}

impl wsc_pki::Timestamper for HttpTimestamper {
    fn timestamp(&self, request: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.0.timestamp(request).map_err(SignerError::new)
    }
}
