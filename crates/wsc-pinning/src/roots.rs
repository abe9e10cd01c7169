//! The TLS crypto provider and root stores.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::error::PinningError;

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
