//! The crate's error, [`PinningError`].

use crate::config::Service;

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
