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
    #[error(
        "certificate pin mismatch for {host}: the server presented leaf sha256 {leaf} and SPKI sha256 [{spki}]; configured pins: [{configured}]"
    )]
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
    #[error(
        "certificate pinning is required but no pins are configured for {host}; it presented leaf sha256 {leaf} and SPKI sha256 [{spki}]"
    )]
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
    roots: Arc<RootCertStore>,
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
        let webpki = WebPkiServerVerifier::builder_with_provider(roots.clone(), crypto_provider())
            .build()
            .map_err(PinningError::Verifier)?;
        Ok(PinningVerifier { webpki, roots, pins, require })
    }

    /// The SPKI pins of the path WebPKI verified: the leaf, the
    /// intermediates it used and the trust anchor. Certificates the server
    /// sent that are not on the path (an appended pinned CA) do not count.
    fn verified_path_pins(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<Vec<Pin>, rustls::Error> {
        let provider = crypto_provider();
        let ee = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        let path = ee
            .verify_for_usage(
                provider.signature_verification_algorithms.all,
                &self.roots.roots,
                intermediates,
                now,
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )
            .map_err(|e| rustls::Error::General(format!("certificate path: {e}")))?;
        let mut pins = vec![Pin::of_spki_der(ee.subject_public_key_info().as_ref())];
        pins.extend(path.intermediate_certificates().map(|c| Pin::of_spki_der(c.subject_public_key_info().as_ref())));
        pins.push(Pin::of_spki_der(&der_sequence(path.anchor().subject_public_key_info.as_ref())));
        Ok(pins)
    }

    /// Checks pins against a leaf and the SPKI pins of its verified path.
    fn check_pins(&self, host: &str, end_entity: &CertificateDer<'_>, spki: &[Pin]) -> Result<(), PinFailure> {
        let leaf = Pin::of_certificate(end_entity.as_ref());
        let join = |p: &[Pin]| p.iter().map(Pin::to_string).collect::<Vec<_>>().join(",");
        match self.pins.get(&host.to_ascii_lowercase()).filter(|p| !p.is_empty()) {
            Some(pins) => {
                if pins.iter().any(|p| *p == leaf || spki.contains(p)) {
                    Ok(())
                } else {
                    Err(PinFailure::Mismatch { host: host.into(), leaf, spki: join(spki), configured: join(pins) })
                }
            }
            None if self.require => Err(PinFailure::Unpinned { host: host.into(), leaf, spki: join(spki) }),
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
        let spki = self.verified_path_pins(end_entity, intermediates, now)?;
        // rustls prints `Other` errors with their Display text; the message
        // names the host and what it presented.
        self.check_pins(&server_name.to_str(), end_entity, &spki)
            .map_err(|e| rustls::Error::Other(rustls::OtherError(Arc::new(e))))?;
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

/// Wraps DER contents in a SEQUENCE (a trust anchor keeps only the contents
/// of its SubjectPublicKeyInfo).
fn der_sequence(contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut out = vec![0x30];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}
