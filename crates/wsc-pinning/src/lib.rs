//! TLS certificate pinning for the HTTPS calls wsc makes (Fulcio, Rekor,
//! timestamp authorities, OIDC providers, the Sigstore TUF repository).
//!
//! What it is: a rustls server-certificate verifier that first does the full
//! WebPKI check (chain to the root store, host name, validity) and then
//! requires that the presented chain matches a pin configured for the host;
//! the configuration (environment, a file, or code); a builder for
//! blocking and async `reqwest` clients that use that verifier, with timeouts;
//! and [`ServiceClient`], the one client wsc talks to services with (retries
//! with backoff and `Retry-After`, a rate limit, answers read under a cap,
//! the RFC 3161 transport). It is the only crate of wsc that builds HTTP
//! clients; plain `http://` is used only after an explicit opt-in, and never
//! when pinning is required.
//!
//! A pin is a SHA-256 in hex. It matches the DER of the leaf certificate, or
//! the SubjectPublicKeyInfo of a certificate on the path WebPKI verified
//! (leaf, intermediates, trust anchor). Pins on a CA's key (SPKI) survive
//! leaf renewals and are the ones to prefer.
//!
//! What it is not: it signs and verifies nothing, encodes no request and
//! checks no answer (callers do), and depends on no other wsc crate. There is no silent fallback: when pins are configured for a host, a
//! connection whose chain matches none of them fails, in every mode; in strict
//! mode a host without pins fails too.

mod config;
mod pin;
mod service;
mod verifier;

pub use config::{CONFIG_FILE_VARIABLE, PinningConfig, REQUIRE_VARIABLE, Service};
pub use pin::{CertificateInfo, Pin, describe_chain};
/// The HTTP crate of the clients built here, for request builders and URLs.
pub use reqwest;
pub use service::{
    Answer, MAX_ANSWER, RateLimit, RetryPolicy, ServiceClient, ServiceError, ServiceOptions, TIMESTAMP_QUERY_TYPE,
    TIMESTAMP_REPLY_TYPE, read_capped,
};
pub use verifier::{PinFailure, PinningVerifier};

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::RootCertStore;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PinningError {
    /// A pin is not 64 hex digits.
    #[error(
        "invalid pin {pin:?} in {source_name}: a pin is the SHA-256 of a certificate or of its public key, as 64 hex digits"
    )]
    InvalidPin {
        /// The text that was given.
        pin: String,
        /// Where it came from (a variable name or a file line).
        source_name: String,
    },
    /// A setting has a value that is not allowed.
    #[error("invalid value {value:?} for {name}: {expected}")]
    InvalidSetting {
        /// The setting.
        name: String,
        /// Its value.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// Strict mode, and no pins for the service.
    #[error(
        "certificate pinning is required (WSC_REQUIRE_CERT_PINNING) but no pins are configured for {service} ({variable})"
    )]
    NoPins {
        /// The service.
        service: Service,
        /// The variable that would hold its pins.
        variable: &'static str,
    },
    /// A URL that is not https where https is required.
    #[error("refusing {url}: only https:// URLs may be used{why}")]
    InsecureUrl {
        /// The URL.
        url: String,
        /// Why.
        why: &'static str,
    },
    /// Plain http was asked for while pinning is required.
    #[error("plain http:// is refused: certificate pinning is required (WSC_REQUIRE_CERT_PINNING)")]
    HttpRefused,
    /// A URL that does not parse, or whose host is not a DNS name or an
    /// IP address.
    #[error("invalid URL {url:?}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A URL without a host.
    #[error("invalid URL {url:?}: no host")]
    NoHost {
        /// The URL.
        url: String,
    },
    /// A PEM file with no usable certificate.
    #[error("no certificate could be read from the CA file")]
    NoCertificates,
    /// TLS configuration failed.
    #[error("TLS configuration")]
    Tls(#[source] rustls::Error),
    /// The WebPKI verifier could not be built from the roots.
    #[error("TLS configuration: the certificate verifier")]
    Verifier(#[source] rustls::client::VerifierBuilderError),
    /// The HTTP client could not be built.
    #[error("HTTP client")]
    Http(#[source] reqwest::Error),
    /// Network I/O.
    #[error("connecting to {host}")]
    Connect {
        /// host:port.
        host: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The crypto provider wsc uses for TLS (aws-lc-rs, the one the Sigstore
/// crates use too).
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The Mozilla root store (webpki-roots).
pub fn default_roots() -> RootCertStore {
    RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

/// A root store with the certificates of a PEM file's contents.
pub fn roots_from_pem(pem: &[u8]) -> Result<RootCertStore, PinningError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|_| PinningError::NoCertificates)?;
        roots.add(cert).map_err(PinningError::Tls)?;
    }
    if roots.is_empty() {
        return Err(PinningError::NoCertificates);
    }
    Ok(roots)
}

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

/// An async client for one service, and whether pins are enforced on it.
#[derive(Debug, Clone)]
pub struct PinnedAsyncClient {
    /// The client; use it for every request to the service.
    pub client: reqwest::Client,
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

    /// [`build`](Self::build) for an async `reqwest::Client` (the TUF client
    /// takes one): the same verifier, timeouts, https-only and no-redirect
    /// policy. Its requests need a tokio runtime.
    pub fn build_async(&self, service: Service, url: &str) -> Result<PinnedAsyncClient, PinningError> {
        let p = self.prepare(service, url)?;
        let client = configure!(reqwest::Client::builder(), p).build().map_err(PinningError::Http)?;
        Ok(PinnedAsyncClient { client, pinned: p.pinned, host: p.host })
    }

    /// What both clients share: the URL policy, the pins and the TLS
    /// configuration with the pinning verifier.
    fn prepare(&self, service: Service, url: &str) -> Result<Prepared, PinningError> {
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
struct Prepared {
    tls: rustls::ClientConfig,
    https_only: bool,
    timeout: Duration,
    connect_timeout: Duration,
    pinned: bool,
    host: String,
}

/// What a server presented, and whether it passed the WebPKI check.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Presented {
    /// The certificates, leaf first.
    pub chain: Vec<CertificateInfo>,
    /// `None` when the chain passed WebPKI verification, else why not.
    pub webpki_error: Option<String>,
}

/// Parses a URL and returns it with its host: lower case, IPv6 brackets removed.
fn parse_url(url: &str) -> Result<(reqwest::Url, String), PinningError> {
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

/// Connects to `https://host[:port]`, completes a TLS handshake and returns
/// the certificates the server presented with their pins. The chain is
/// returned even when it does not verify against `roots` (so that an
/// operator can see it), with the reason.
pub fn presented_chain(url: &str, roots: RootCertStore) -> Result<Presented, PinningError> {
    let (parsed, host) = parse_url(url)?;
    if parsed.scheme() != "https" {
        return Err(PinningError::InsecureUrl { url: url.into(), why: "" });
    }
    let port = parsed.port().unwrap_or(443);
    let recorder = Arc::new(Recorder::new(roots)?);
    let tls = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(PinningError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host.clone())
        .map_err(|e| PinningError::InvalidUrl { url: url.into(), source: e.into() })?;
    let mut conn = rustls::ClientConnection::new(Arc::new(tls), name).map_err(PinningError::Tls)?;
    let target = format!("{host}:{port}");
    let connect_err = |source| PinningError::Connect { host: target.clone(), source };
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(connect_err)?
        .next()
        .ok_or_else(|| connect_err(std::io::Error::other("no address")))?;
    let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(connect_err)?;
    sock.set_read_timeout(Some(Duration::from_secs(10))).map_err(connect_err)?;
    sock.set_write_timeout(Some(Duration::from_secs(10))).map_err(connect_err)?;
    // The recorder accepts any chain, so the handshake completes unless the network fails.
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(connect_err)?;
    }
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    let _ = sock.flush();
    let mut sink = [0u8; 1];
    let _ = sock.read(&mut sink);
    let chain = recorder.chain.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let webpki_error = recorder.error.lock().unwrap_or_else(PoisonError::into_inner).clone();
    Ok(Presented { chain: describe_chain(&chain), webpki_error })
}

/// Records the presented chain; runs WebPKI and remembers its verdict.
#[derive(Debug)]
struct Recorder {
    /// `None` when the root store is empty: then nothing can verify.
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
    chain: Mutex<Vec<CertificateDer<'static>>>,
    error: Mutex<Option<String>>,
}

impl Recorder {
    fn new(roots: RootCertStore) -> Result<Self, PinningError> {
        let provider = crypto_provider();
        let webpki = if roots.is_empty() {
            None
        } else {
            Some(
                rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(PinningError::Verifier)?,
            )
        };
        Ok(Recorder {
            webpki,
            algorithms: provider.signature_verification_algorithms,
            chain: Mutex::new(Vec::new()),
            error: Mutex::new(None),
        })
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        if let Ok(mut c) = self.chain.lock() {
            *c = chain;
        }
        let verdict = match &self.webpki {
            Some(w) => w
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .err()
                .map(|e| e.to_string()),
            None => Some("the root store is empty".to_string()),
        };
        if let Ok(mut slot) = self.error.lock() {
            *slot = verdict;
        }
        // Only inspecting: nothing is sent over this connection.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
