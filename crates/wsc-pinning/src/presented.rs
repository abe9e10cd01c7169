//! What a server presents: [`presented_chain`] (behind `wsc pins show`).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::RootCertStore;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::builder::parse_url;
use crate::error::PinningError;
use crate::pin::{CertificateInfo, describe_chain};
use crate::roots::crypto_provider;

/// What a server presented, and whether it passed the WebPKI check.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Presented {
    /// The certificates, leaf first.
    pub chain: Vec<CertificateInfo>,
    /// `None` when the chain passed WebPKI verification, else why not.
    pub webpki_error: Option<String>,
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
