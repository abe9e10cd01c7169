//! HTTPS to the services wsc signs with (timestamp authorities, Sigstore):
//! every client comes from wsc-pinning's builder.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use wsc_core::SignerError;
use wsc_pinning::{ClientBuilder, PinningConfig, Service};

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
        let pins = PinningConfig::load().context("certificate pinning configuration")?;
        let mut b = ClientBuilder::new(pins.clone()).with_timeouts(Duration::from_secs(30), Duration::from_secs(10));
        if let Some(p) = &self.tls_ca {
            let pem = files::read_small(p, 1024 * 1024, "TLS CA file")?;
            let roots = wsc_pinning::roots_from_pem(&pem).with_context(|| format!("TLS CA file '{}'", p.display()))?;
            b = b.with_roots(roots);
        }
        if self.insecure_allow_http {
            if pins.required() {
                bail!("--insecure-allow-http is refused: certificate pinning is required (WSC_REQUIRE_CERT_PINNING)");
            }
            b = b.danger_allow_http();
        }
        Ok(b)
    }

    /// A blocking client for `service` at `url`, with a note when it is not pinned.
    pub(crate) fn client(&self, service: Service, url: &str) -> Result<reqwest::blocking::Client> {
        let c = self.builder()?.build(service, url).with_context(|| format!("{service} at {url}"))?;
        if url.starts_with("http://") {
            eprintln!("WARNING: --insecure-allow-http: {service} at {url} is reached without TLS");
        } else if !c.pinned {
            eprintln!("note: no certificate pins for {} ({})", c.host, service.variable());
        }
        Ok(c.client)
    }
}

/// An RFC 3161 timestamp authority over HTTP(S).
pub(crate) struct HttpTimestamper {
    client: reqwest::blocking::Client,
    url: String,
}

impl HttpTimestamper {
    pub(crate) fn new(net: &NetArgs, url: &str) -> Result<Self> {
        Ok(HttpTimestamper { client: net.client(Service::Tsa, url)?, url: url.to_string() })
    }
}

impl wsc_pki::Timestamper for HttpTimestamper {
    fn timestamp(&self, request: &[u8]) -> Result<Vec<u8>, SignerError> {
        let fail = |what: String| SignerError::new(format!("timestamp authority {}: {what}", self.url));
        let resp = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, wsc_pki::TIMESTAMP_QUERY_TYPE)
            .body(request.to_vec())
            .send()
            .map_err(|e| fail(e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}")));
        }
        files::read_limited(resp, wsc_pki::MAX_RESPONSE_LEN as u64).map_err(|e| fail(e.to_string()))
    }
}
