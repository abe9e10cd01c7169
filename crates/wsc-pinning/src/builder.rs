//! [`ClientBuilder`]: the URL policy, the pins and the TLS configuration
//! every client shares, and the blocking client.

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;

use crate::config::{PinningConfig, Service};
use crate::error::PinningError;
use crate::roots::{crypto_provider, default_roots};
use crate::verifier::PinningVerifier;

/// Applies a [`Prepared`] to a blocking or an async `reqwest` client builder
/// (two types with the same methods), so that both get the same policy.
macro_rules! configure {
    ($builder:expr, $p:expr) => {
        $builder
            .tls_backend_preconfigured($p.tls.clone())
            .https_only($p.https_only)
            .timeout($p.timeout)
            .connect_timeout($p.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
    };
}
pub(crate) use configure;

/// Builds HTTPS clients (blocking, or async) whose every connection is pinned.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    config: PinningConfig,
    roots: Arc<RootCertStore>,
    timeout: Duration,
    connect_timeout: Duration,
    allow_http: bool,
}

/// A client for one service, and whether pins are enforced on it.
#[derive(Debug, Clone)]
pub struct PinnedClient {
    /// The client; use it for every request to the service.
    pub client: reqwest::blocking::Client,
    /// Whether at least one pin is enforced for the service's host.
    pub pinned: bool,
    /// The host name pins apply to.
    pub host: String,
}

impl ClientBuilder {
    /// Uses the Mozilla roots, a 60 s request timeout and a 10 s connect timeout.
    pub fn new(config: PinningConfig) -> Self {
        ClientBuilder {
            config,
            roots: Arc::new(default_roots()),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            allow_http: false,
        }
    }

    /// Replaces the root store (a private Sigstore instance, tests).
    pub fn with_roots(mut self, roots: RootCertStore) -> Self {
        self.roots = Arc::new(roots);
        self
    }

    /// Sets the timeouts.
    pub fn with_timeouts(mut self, request: Duration, connect: Duration) -> Self {
        self.timeout = request;
        self.connect_timeout = connect;
        self
    }

    /// Allows `http://` URLs, without TLS and so without pins, for a local
    /// test instance. Refused when pinning is required.
    pub fn danger_allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// [`danger_allow_http`](Self::danger_allow_http) for an operator's
    /// explicit opt-in (a command-line flag): refused at once when pinning is
    /// required, rather than at the first `http://` URL.
    pub fn opt_in_http(self) -> Result<Self, PinningError> {
        if self.config.required() {
            return Err(PinningError::HttpRefused);
        }
        Ok(self.danger_allow_http())
    }

    /// The configuration in use.
    pub fn config(&self) -> &PinningConfig {
        &self.config
    }

    /// Builds the blocking client for `service` at `url`. The service's pins
    /// apply to the URL's host; host pins given in the configuration apply to
    /// theirs.
    pub fn build(&self, service: Service, url: &str) -> Result<PinnedClient, PinningError> {
        let p = self.prepare(service, url)?;
        let client = configure!(reqwest::blocking::Client::builder(), p).build().map_err(PinningError::Http)?;
        Ok(PinnedClient { client, pinned: p.pinned, host: p.host })
    }

    /// What both clients share: the URL policy, the pins and the TLS
    /// configuration with the pinning verifier.
    pub(crate) fn prepare(&self, service: Service, url: &str) -> Result<Prepared, PinningError> {
        let (parsed, host) = parse_url(url)?;
        let strict = self.config.required();
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_http && !strict => {}
            "http" if strict => {
                return Err(PinningError::InsecureUrl { url: url.into(), why: " (certificate pinning is required)" });
            }
            _ => return Err(PinningError::InsecureUrl { url: url.into(), why: "" }),
        }
        let service_pins = self.config.service_pins(service);
        if strict && service_pins.is_empty() && self.config.host_pins(&host).is_empty() {
            return Err(PinningError::NoPins { service, variable: service.variable() });
        }
        let mut hosts = self.config.hosts().clone();
        if !service_pins.is_empty() {
            hosts.entry(host.clone()).or_default().extend(service_pins.iter().copied());
        }
        let pinned = hosts.get(&host).is_some_and(|p| !p.is_empty());
        let verifier = PinningVerifier::new(self.roots.clone(), hosts, strict)?;
        let tls = rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(PinningError::Tls)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Prepared {
            tls,
            https_only: !self.allow_http || strict,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            pinned,
            host,
        })
    }
}

/// The shared part of a client: see [`ClientBuilder::prepare`].
pub(crate) struct Prepared {
    pub(crate) tls: rustls::ClientConfig,
    pub(crate) https_only: bool,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) pinned: bool,
    pub(crate) host: String,
}

/// Parses a URL and returns it with its host: lower case, IPv6 brackets removed.
pub(crate) fn parse_url(url: &str) -> Result<(reqwest::Url, String), PinningError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| PinningError::InvalidUrl { url: url.to_string(), source: e.into() })?;
    let host = parsed
        .host_str()
        .ok_or_else(|| PinningError::NoHost { url: url.to_string() })?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    Ok((parsed, host))
}
