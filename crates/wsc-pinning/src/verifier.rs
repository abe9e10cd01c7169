//! The pinning server-certificate verifier.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::pin::Pin;
use crate::{PinningError, crypto_provider};

/// Why a verified chain was still refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PinFailure {
    /// Pins are configured for the host and none matches.
    #[error("certificate pin mismatch for {host}: the server presented leaf sha256 {leaf} and SPKI sha256 [{spki}]; configured pins: [{configured}]")]
    Mismatch {
        /// Host name.
        host: String,
        /// Leaf certificate pin.
        leaf: Pin,
        /// SPKI pins of the presented chain, comma-separated.
        spki: String,
        /// The configured pins, comma-separated.
        configured: String,
    },
    /// Strict mode and no pins for the host.
    #[error("certificate pinning is required but no pins are configured for {host}; it presented leaf sha256 {leaf} and SPKI sha256 [{spki}]")]
    Unpinned {
        /// Host name.
        host: String,
        /// Leaf certificate pin.
        leaf: Pin,
        /// SPKI pins of the presented chain.
        spki: String,
    },
}

/// Full WebPKI verification, then a pin match for the host.
#[derive(Debug)]
pub struct PinningVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    pins: BTreeMap<String, Vec<Pin>>,
    require: bool,
}

impl PinningVerifier {
    /// `pins` maps lower-case host names to their pins; with `require`, a
    /// host without pins is refused.
    pub fn new(
        roots: Arc<RootCertStore>,
        pins: BTreeMap<String, Vec<Pin>>,
        require: bool,
    ) -> Result<Self, PinningError> {
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, crypto_provider())
            .build()
            .map_err(|e| PinningError::Tls(e.to_string()))?;
        Ok(PinningVerifier { webpki, pins, require })
    }

    /// Checks a presented chain against the pins of `host` (WebPKI aside).
    pub fn check_pins(
        &self,
        host: &str,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), PinFailure> {
        let leaf = Pin::of_certificate(end_entity.as_ref());
        let spki: Vec<Pin> =
            std::iter::once(end_entity).chain(intermediates).filter_map(|c| Pin::of_spki(c.as_ref())).collect();
        let join = |p: &[Pin]| p.iter().map(Pin::to_string).collect::<Vec<_>>().join(",");
        match self.pins.get(&host.to_ascii_lowercase()).filter(|p| !p.is_empty()) {
            Some(pins) => {
                if pins.iter().any(|p| *p == leaf || spki.contains(p)) {
                    Ok(())
                } else {
                    Err(PinFailure::Mismatch { host: host.into(), leaf, spki: join(&spki), configured: join(pins) })
                }
            }
            None if self.require => Err(PinFailure::Unpinned { host: host.into(), leaf, spki: join(&spki) }),
            None => Ok(()),
        }
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        self.check_pins(&server_name.to_str(), end_entity, intermediates).map_err(|e| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(Arc::new(e))))
        })?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
