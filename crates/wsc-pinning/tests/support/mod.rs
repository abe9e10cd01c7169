//! Test support: a throw-away PKI made with rcgen and a small TLS server on
//! 127.0.0.1 that answers every request with `200 OK` and `pinned-ok`.
//!
//! The expected pins are computed here with sha2, not with `Pin::of_*`: a
//! certificate pin over the DER rcgen wrote, an SPKI pin over the
//! SubjectPublicKeyInfo DER of the key rcgen put in the certificate.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use wsc_pinning::{ClientBuilder, Pin, PinnedClient, PinningConfig, Service};

/// The body the server sends.
pub(crate) const BODY: &str = "pinned-ok";

/// Socket timeouts on the server side, so that a stalled client cannot hang a test.
const SERVER_IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A certificate chain (leaf first) and the leaf's private key.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// Leaf, then intermediate, then anything appended.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    /// The leaf key as PKCS#8 DER.
    key: Vec<u8>,
    /// The SubjectPublicKeyInfo DER of the leaf key, from rcgen.
    leaf_spki: Vec<u8>,
    /// The SubjectPublicKeyInfo DER of the intermediate's key, from rcgen.
    intermediate_spki: Vec<u8>,
}

/// SHA-256 of `bytes` as a pin, computed here.
pub(crate) fn sha256_pin(bytes: &[u8]) -> Pin {
    Pin(Sha256::digest(bytes).into())
}

impl Identity {
    /// The leaf certificate DER.
    pub(crate) fn leaf(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// The intermediate certificate DER.
    pub(crate) fn intermediate(&self) -> &CertificateDer<'static> {
        &self.chain[1]
    }

    /// The pin of the leaf certificate DER.
    pub(crate) fn leaf_pin(&self) -> Pin {
        sha256_pin(self.leaf())
    }

    /// The pin of the intermediate certificate DER.
    pub(crate) fn intermediate_pin(&self) -> Pin {
        sha256_pin(self.intermediate())
    }

    /// The pin of the leaf's public key.
    pub(crate) fn leaf_spki_pin(&self) -> Pin {
        sha256_pin(&self.leaf_spki)
    }

    /// The pin of the intermediate's public key.
    pub(crate) fn intermediate_spki_pin(&self) -> Pin {
        sha256_pin(&self.intermediate_spki)
    }

    /// The same identity presenting one more certificate after its chain.
    pub(crate) fn with_appended(&self, extra: &CertificateDer<'static>) -> Identity {
        let mut chain = self.chain.clone();
        chain.push(extra.clone());
        Identity { chain, ..self.clone() }
    }

    fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()))
    }
}

/// The test PKI. Everything chains to `root` except `other_root`.
#[derive(Debug)]
pub(crate) struct Pki {
    /// The root CA the clients trust.
    pub(crate) root: CertificateDer<'static>,
    /// Leaf for `localhost` and `127.0.0.1` under intermediate A (the pinned one).
    pub(crate) good: Identity,
    /// Leaf for the same names under intermediate B: valid for the root store but not pinned.
    pub(crate) rogue: Identity,
    /// Expired leaf for `localhost` under intermediate A.
    pub(crate) expired: Identity,
    /// Leaf for `example.invalid` under intermediate A.
    pub(crate) wrong_host: Identity,
    /// An unrelated self-signed root.
    pub(crate) other_root: CertificateDer<'static>,
}

impl Pki {
    /// A root store holding only the test root.
    pub(crate) fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.root.clone()).expect("the test root is a valid trust anchor");
        roots
    }

    /// A root store holding only the unrelated root.
    pub(crate) fn other_roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.other_root.clone()).expect("the other root is a valid trust anchor");
        roots
    }
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "wsc tests");
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("no names");
    p.distinguished_name = name(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.use_authority_key_identifier_extension = true;
    p
}

/// An intermediate CA certificate, its SubjectPublicKeyInfo DER and its issuer.
struct Intermediate {
    der: CertificateDer<'static>,
    spki: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

fn leaf(cn: &str, names: &[&str], intermediate: &Intermediate) -> Identity {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut p = CertificateParams::new(names).expect("valid names");
    p.distinguished_name = name(cn);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.use_authority_key_identifier_extension = true;
    leaf_from(p, intermediate)
}

fn leaf_from(p: CertificateParams, intermediate: &Intermediate) -> Identity {
    let key = KeyPair::generate().expect("key generation");
    let cert = p.signed_by(&key, &intermediate.issuer).expect("signing the leaf");
    Identity {
        chain: vec![cert.der().clone(), intermediate.der.clone()],
        key: key.serialize_der(),
        leaf_spki: key.subject_public_key_info(),
        intermediate_spki: intermediate.spki.clone(),
    }
}

fn intermediate(cn: &str, root: &Issuer<'_, KeyPair>) -> Intermediate {
    let p = ca_params(cn);
    let key = KeyPair::generate().expect("key generation");
    let cert = p.signed_by(&key, root).expect("signing the intermediate");
    Intermediate { der: cert.der().clone(), spki: key.subject_public_key_info(), issuer: Issuer::new(p, key) }
}

fn make_pki() -> Pki {
    let root_params = ca_params("wsc test root");
    let root_key = KeyPair::generate().expect("key generation");
    let root = root_params.self_signed(&root_key).expect("self-signing the root").der().clone();
    let root_issuer = Issuer::new(root_params, root_key);

    let int_a = intermediate("wsc test intermediate A", &root_issuer);
    let int_b = intermediate("wsc test intermediate B", &root_issuer);
    let names = ["localhost", "127.0.0.1"];
    let good = leaf("localhost (A)", &names, &int_a);
    let rogue = leaf("localhost (B)", &names, &int_b);
    let wrong_host = leaf("example.invalid", &["example.invalid"], &int_a);

    let mut p = CertificateParams::new(vec!["localhost".to_string()]).expect("valid names");
    p.distinguished_name = name("localhost (expired)");
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.use_authority_key_identifier_extension = true;
    p.not_before = rcgen::date_time_ymd(2000, 1, 1);
    p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let expired = leaf_from(p, &int_a);

    let other_key = KeyPair::generate().expect("key generation");
    let other_root = ca_params("unrelated root").self_signed(&other_key).expect("self-signing").der().clone();

    Pki { root, good, rogue, expired, wrong_host, other_root }
}

/// The PKI, made once per test binary.
pub(crate) fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(make_pki)
}

/// A pin that matches nothing in the PKI (the SHA-256 of a label).
pub(crate) fn unrelated_pin(label: &str) -> Pin {
    sha256_pin(label.as_bytes())
}

/// A TLS server on 127.0.0.1 serving at most a fixed number of connections,
/// one at a time. It stops by itself after the last one, and when dropped.
#[derive(Debug)]
pub(crate) struct TlsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    /// Binds 127.0.0.1:0 and starts serving `identity`.
    pub(crate) fn start(identity: &Identity, max_connections: usize) -> TlsServer {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(identity.chain.clone(), identity.private_key())
            .expect("server certificate and key");
        let config = Arc::new(config);
        // Bound before the thread starts, so clients can connect at once.
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, answered) = (stop.clone(), answered.clone());
            std::thread::spawn(move || {
                for _ in 0..max_connections {
                    let Ok((stream, _)) = listener.accept() else { break };
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    serve(stream, &config, &answered);
                }
            })
        };
        TlsServer { addr, stop, answered, thread: Some(thread) }
    }

    /// The port.
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://localhost:PORT/`.
    pub(crate) fn url(&self) -> String {
        format!("https://localhost:{}/", self.port())
    }

    /// How many requests got a response.
    pub(crate) fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            if !thread.is_finished() {
                // Wakes a thread blocked in accept(); it then sees the flag.
                let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            }
            let _ = thread.join();
        }
    }
}

/// One connection: handshake, read the request head, answer, close.
fn serve(stream: TcpStream, config: &Arc<rustls::ServerConfig>, answered: &AtomicUsize) {
    if stream.set_read_timeout(Some(SERVER_IO_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(SERVER_IO_TIMEOUT)).is_err()
    {
        return;
    }
    let Ok(conn) = rustls::ServerConnection::new(config.clone()) else { return };
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A refused handshake ends here.
            Err(_) => return,
        }
        if request.len() > 64 * 1024 {
            return;
        }
    }
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    answered.fetch_add(1, Ordering::SeqCst);
    if tls.write_all(response.as_bytes()).is_err() {
        return;
    }
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// A client for Rekor at `url`, trusting the test root, with 5 s timeouts.
pub(crate) fn build(config: PinningConfig, url: &str) -> Result<PinnedClient, wsc_pinning::PinningError> {
    ClientBuilder::new(config)
        .with_roots(pki().roots())
        .with_timeouts(Duration::from_secs(5), Duration::from_secs(5))
        .build(Service::Rekor, url)
}

/// GETs `url`: the status and body, or the full error chain as text.
pub(crate) fn get(client: &PinnedClient, url: &str) -> Result<(u16, String), String> {
    let response = client.client.get(url).send().map_err(|e| error_chain(&e))?;
    let status = response.status().as_u16();
    let body = response.text().map_err(|e| error_chain(&e))?;
    Ok((status, body))
}

/// An error and all its sources, joined with " -> ".
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut next = error.source();
    while let Some(e) = next {
        parts.push(e.to_string());
        next = e.source();
    }
    parts.join(" -> ")
}

/// Panics unless `text` contains every one of `needles`, listing the missing ones.
pub(crate) fn assert_mentions(text: &str, needles: &[&str], what: &str) {
    let missing: Vec<&str> = needles.iter().copied().filter(|n| !text.contains(n)).collect();
    assert!(missing.is_empty(), "{what}: the error text lacks {missing:?}; full error chain: {text}");
}
