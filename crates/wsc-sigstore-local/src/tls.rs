//! The HTTPS certificate: a local CA and a server certificate for
//! 127.0.0.1 and localhost, made with rcgen and kept across restarts.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use der::{DecodePem, Encode};
use p256::pkcs8::EncodePrivateKey;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::LocalError;
use crate::codec::cert_pem;
use crate::keys::{load_or_create_key, read_opt, write_atomic};

/// The TLS material of the instance.
pub(crate) struct TlsMaterial {
    /// PEM of the local CA certificate (also in `tls-ca.pem`).
    pub(crate) ca_pem: String,
    /// DER of the server certificate.
    pub(crate) leaf_der: Vec<u8>,
    /// The rustls server configuration.
    pub(crate) config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

fn keypair(key: &p256::ecdsa::SigningKey) -> Result<(KeyPair, Vec<u8>), LocalError> {
    let der = key.to_pkcs8_der().map_err(LocalError::crypto)?;
    let bytes = der.as_bytes().to_vec();
    Ok((KeyPair::try_from(bytes.as_slice()).map_err(LocalError::crypto)?, bytes))
}

/// Loads or creates the CA and the server certificate in `dir`, and writes `tls-ca.pem`.
pub(crate) fn load_or_create(dir: &Path) -> Result<TlsMaterial, LocalError> {
    let ca_key = load_or_create_key(dir, "tls-ca.key")?;
    let server_key = load_or_create_key(dir, "tls-server.key")?;
    let (ca_kp, _) = keypair(&ca_key)?;
    let (server_kp, server_pkcs8) = keypair(&server_key)?;
    let (ca_pem, leaf_der) = match (read_opt(dir, "tls-ca.pem")?, read_opt(dir, "tls-server.pem")?) {
        (Some(ca), Some(leaf)) => {
            let leaf = x509_cert::Certificate::from_pem(leaf.as_bytes())
                .and_then(|c| c.to_der())
                .map_err(|e| LocalError::Invalid(format!("tls-server.pem: {e}")))?;
            (ca, leaf)
        }
        _ => {
            let now = time::OffsetDateTime::now_utc();
            let mut ca_params = CertificateParams::default();
            ca_params.distinguished_name.push(DnType::CommonName, "sigstore-local TLS CA");
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            ca_params.not_before = now - time::Duration::hours(1);
            ca_params.not_after = now + time::Duration::days(3650);
            let ca_cert = ca_params.self_signed(&ca_kp).map_err(LocalError::crypto)?;
            let issuer = Issuer::new(ca_params, &ca_kp);
            let mut params = CertificateParams::new(vec!["localhost".to_string()]).map_err(LocalError::crypto)?;
            params.subject_alt_names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.use_authority_key_identifier_extension = true;
            params.not_before = now - time::Duration::hours(1);
            params.not_after = now + time::Duration::days(3650);
            let leaf = params.signed_by(&server_kp, &issuer).map_err(LocalError::crypto)?;
            let ca_pem = cert_pem(ca_cert.der());
            write_atomic(dir, "tls-server.pem", cert_pem(leaf.der()).as_bytes(), 0o644)?;
            write_atomic(dir, "tls-ca.pem", ca_pem.as_bytes(), 0o644)?;
            (ca_pem, leaf.der().to_vec())
        }
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(LocalError::crypto)?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_pkcs8)),
        )
        .map_err(LocalError::crypto)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsMaterial { ca_pem, leaf_der, config: Arc::new(config) })
}
