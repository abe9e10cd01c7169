//! The files an instance writes, their shapes and modes, and the HTTPS certificate.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use common::*;
use der::Decode;
use sha2::{Digest, Sha256};
use wsc_sigstore_local::{Config, Instance};

#[test]
fn trust_files_have_the_sigstore_shapes() {
    let (dir, inst) = start(&[]);
    let d = dir.path();
    assert_eq!(std::fs::read_to_string(d.join("url")).expect("url").trim(), inst.url());
    for key in ["oidc.key", "fulcio-root.key", "fulcio-intermediate.key", "ctlog.key", "rekor.key", "tsa.key"] {
        let meta = std::fs::metadata(d.join(key)).expect(key);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{key}");
        assert!(std::fs::read_to_string(d.join(key)).expect(key).starts_with("-----BEGIN PRIVATE KEY-----"));
    }
    let root = trusted_root(d);
    assert_eq!(root["mediaType"], "application/vnd.dev.sigstore.trustedroot+json;version=0.1");
    let tlog = &root["tlogs"][0];
    assert_eq!(tlog["baseUrl"], inst.url());
    assert_eq!(tlog["hashAlgorithm"], "SHA2_256");
    assert_eq!(tlog["publicKey"]["keyDetails"], "PKIX_ECDSA_P256_SHA_256");
    let rekor_key = unb64(tlog["publicKey"]["rawBytes"].as_str().expect("key"));
    assert_eq!(unb64(tlog["logId"]["keyId"].as_str().expect("id")), Sha256::digest(&rekor_key).to_vec());
    let start = tlog["publicKey"]["validFor"]["start"].as_str().expect("start");
    let created: i64 = std::fs::read_to_string(d.join("created")).expect("created").trim().parse().expect("int");
    let start_t = time::OffsetDateTime::parse(start, &time::format_description::well_known::Rfc3339).expect("rfc3339");
    assert_eq!(start_t.unix_timestamp(), created - 3600, "validFor starts an hour before the keys were made");
    let ca = &root["certificateAuthorities"][0];
    assert_eq!(ca["certChain"]["certificates"].as_array().expect("chain").len(), 2);
    assert_eq!(ca["validFor"]["start"], start);
    // The CA chain: the first is issued by the second, which is self-signed.
    let inter =
        x509_cert::Certificate::from_der(&unb64(ca["certChain"]["certificates"][0]["rawBytes"].as_str().expect("i")))
            .expect("intermediate");
    let rootc =
        x509_cert::Certificate::from_der(&unb64(ca["certChain"]["certificates"][1]["rawBytes"].as_str().expect("r")))
            .expect("root");
    assert_eq!(inter.tbs_certificate.issuer, rootc.tbs_certificate.subject);
    assert_eq!(rootc.tbs_certificate.issuer, rootc.tbs_certificate.subject);
    let ct = &root["ctlogs"][0];
    let ct_key = unb64(ct["publicKey"]["rawBytes"].as_str().expect("ct"));
    assert_eq!(unb64(ct["logId"]["keyId"].as_str().expect("id")), Sha256::digest(&ct_key).to_vec());
    let tsa = &root["timestampAuthorities"][0];
    assert_eq!(tsa["uri"], format!("{}/api/v1/timestamp", inst.url()));
    assert!(!tsa["certChain"]["certificates"].as_array().expect("tsa chain").is_empty());

    let sc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("signing_config.json")).expect("sc")).expect("json");
    assert_eq!(sc["mediaType"], "application/vnd.dev.sigstore.signingconfig.v0.2+json");
    for field in ["caUrls", "oidcUrls", "rekorTlogUrls", "tsaUrls"] {
        let s = &sc[field][0];
        assert!(s["url"].as_str().is_some_and(|u| u.starts_with(inst.url())), "{field}");
        assert_eq!(s["majorApiVersion"], 1, "{field}");
        assert_eq!(s["validFor"]["start"], start, "{field}");
        assert!(s["operator"].is_string(), "{field}");
    }
    assert_eq!(sc["tsaUrls"][0]["url"], format!("{}/api/v1/timestamp", inst.url()));
    assert_eq!(sc["rekorTlogConfig"]["selector"], "ANY");
    assert_eq!(sc["tsaConfig"]["selector"], "ANY");
    let tc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("trust_config.json")).expect("tc")).expect("json");
    assert_eq!(tc["mediaType"], "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json");
    assert_eq!(tc["trustedRoot"], root);
    assert_eq!(tc["signingConfig"], sc);
    assert!(inst.tls_ca_pem().is_none() && inst.tls_leaf_der().is_none());
    assert!(!d.join("tls-ca.pem").exists());
    assert!(!format!("{inst:?}").contains("PRIVATE"));
    // The default identity.
    assert!(inst.mint_token(wsc_sigstore_local::DEFAULT_IDENTITY).is_ok());
}

/// GET over HTTPS with rustls trusting only `ca_pem`; returns the answer and the served certificate.
fn https_get(url: &str, ca_pem: &str, server_name: &str, path: &str) -> (Answer, Vec<u8>) {
    let (_, ca_der) = der::pem::decode_vec(ca_pem.as_bytes()).expect("pem");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(ca_der)).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("conn");
    let addr = url.strip_prefix("https://").expect("https");
    let sock = std::net::TcpStream::connect(addr).expect("connect");
    let mut tls = rustls::StreamOwned::new(conn, sock);
    write!(tls, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("write");
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw);
    let cert = tls.conn.peer_certificates().expect("certs")[0].to_vec();
    (parse(&raw).expect("answer"), cert)
}

#[test]
fn https_serves_the_pinned_certificate_and_keeps_it_across_restarts() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = Config { dir: dir.path().to_path_buf(), identities: vec![], tls: true, port: 0, rekor_v2: false };
    let inst = Instance::start(config.clone()).expect("start");
    assert!(inst.url().starts_with("https://127.0.0.1:"));
    let ca = inst.tls_ca_pem().expect("ca");
    assert_eq!(std::fs::read_to_string(dir.path().join("tls-ca.pem")).expect("file"), ca);
    let leaf = inst.tls_leaf_der().expect("leaf");
    for name in ["127.0.0.1", "localhost"] {
        let (a, served) = https_get(inst.url(), &ca, name, "/.well-known/openid-configuration");
        assert_eq!(a.status, 200);
        assert_eq!(a.json()["issuer"], inst.url());
        assert_eq!(served, leaf);
    }
    let root = trusted_root(dir.path());
    assert_eq!(root["tlogs"][0]["baseUrl"], inst.url());
    let before = std::fs::read(dir.path().join("trusted_root.json")).expect("root");
    drop(inst);
    let inst = Instance::start(config).expect("restart");
    assert_eq!(inst.tls_leaf_der().expect("leaf"), leaf);
    assert_eq!(inst.tls_ca_pem().expect("ca"), ca);
    assert_eq!(std::fs::read(dir.path().join("trusted_root.json")).expect("root"), before);
    let (a, _) = https_get(inst.url(), &ca, "127.0.0.1", "/api/v1/log");
    assert_eq!(a.status, 200);
}

#[test]
fn instance_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Instance>();
    assert_send_sync::<wsc_sigstore_local::Faults>();
}

#[test]
fn start_and_drop_inside_an_async_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        let (_dir, inst) = start(&[]);
        assert!(inst.url().starts_with("http://127.0.0.1:"));
        drop(inst);
    });
}
