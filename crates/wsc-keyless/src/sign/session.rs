//! The signing run: one identity token, one ephemeral key, one Fulcio
//! certificate, then one log entry (and timestamp) per module.

use std::sync::Mutex;

use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::EncodePublicKey as _;
use rustls_pki_types::{CertificateDer, UnixTime};
use sha2::{Digest, Sha256};
use sigstore_verify::bundle::{BundleV03, VerificationMaterialV03};
use sigstore_verify::crypto::parse_certificate_info;
use sigstore_verify::trust_root::{SigningConfig, TrustedRoot};
use sigstore_verify::types::dsse::{DsseSignature, pae};
use sigstore_verify::types::{
    Artifact, DerCertificate, DerPublicKey, DsseEnvelope, KeyId, PayloadBytes, Sha256Hash, SignatureBytes,
    TimestampToken, TransparencyLogEntry,
};
use wsc_core::sigdata::AlgorithmId;
use wsc_core::{PublicKey, Signer, SignerError};
use wsc_pinning::{ClientBuilder, Service};

use super::{IdentityToken, SignError, fulcio, rekor, tsa};
use crate::{BundleVerifier, Expectation, IN_TOTO_PAYLOAD_TYPE, IdentityPolicy, KEYLESS_ALGORITHM, Matcher};
use wsc_pinning::{ServiceClient, ServiceOptions};

/// DER of the codeSigning OID, 1.3.6.1.5.5.7.3.3.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// The Sigstore services of a signing run.
#[derive(Debug)]
pub struct Services {
    fulcio: ServiceClient,
    rekor: ServiceClient,
    rekor_version: u32,
    tsa: Option<ServiceClient>,
}

impl Services {
    /// Services at these base URLs (`tsa_url` is the full timestamp URL),
    /// with a Rekor v1 log.
    pub fn new(
        builder: &ClientBuilder,
        fulcio_url: &str,
        rekor_url: &str,
        tsa_url: Option<&str>,
        options: &ServiceOptions,
    ) -> Result<Self, SignError> {
        Services::with_rekor_version(builder, fulcio_url, (rekor_url, 1), tsa_url, options)
    }

    /// Services with a Rekor log of API version 1 or 2; version 2 needs a TSA.
    pub fn with_rekor_version(
        builder: &ClientBuilder,
        fulcio_url: &str,
        (rekor_url, rekor_version): (&str, u32),
        tsa_url: Option<&str>,
        options: &ServiceOptions,
    ) -> Result<Self, SignError> {
        match (rekor_version, tsa_url) {
            (1, _) | (2, Some(_)) => {}
            (2, None) => {
                return Err(SignError::config(
                    "a Rekor v2 log gives no signed entry timestamp: a timestamp authority is required",
                ));
            }
            (v, _) => return Err(SignError::config(format!("Rekor API version {v} is not supported"))),
        }
        Ok(Services {
            fulcio: ServiceClient::new(builder, Service::Fulcio, fulcio_url, options)?,
            rekor: ServiceClient::new(builder, Service::Rekor, rekor_url, options)?,
            rekor_version,
            tsa: tsa_url
                .map(|u| {
                    ServiceClient::new(builder, Service::Tsa, u, options)
                        .map(|c| c.with_max_answer(wsc_tsp::MAX_RESPONSE_LEN as u64))
                })
                .transpose()?,
        })
    }

    /// The services a Sigstore signing config (v0.2) names: its Fulcio, its
    /// Rekor log of the highest API version wsc speaks (2, else 1), and its
    /// timestamp authority when it lists one (and `timestamps` is set; a
    /// Rekor v2 log always needs one).
    pub fn from_signing_config(
        config: &SigningConfig,
        builder: &ClientBuilder,
        options: &ServiceOptions,
        timestamps: bool,
    ) -> Result<Self, SignError> {
        let fulcio = config
            .fulcio_url()
            .ok_or_else(|| SignError::config("the signing config names no valid Fulcio (caUrls)"))?;
        let rekor = config
            .rekor_url(None)
            .ok_or_else(|| SignError::config("the signing config names no valid Rekor v1 or v2 log"))?;
        let v2 = rekor.major_api_version == 2;
        if v2 && !timestamps {
            return Err(SignError::config(
                "the signing config's Rekor log is v2, which needs an RFC 3161 timestamp: do not turn timestamps off",
            ));
        }
        let tsa = if timestamps { config.tsa_url().map(|t| t.url.as_str()) } else { None };
        Services::with_rekor_version(builder, &fulcio.url, (&rekor.url, rekor.major_api_version), tsa, options)
    }

    /// Retries made so far, all services together.
    pub fn retries(&self) -> u64 {
        self.fulcio.retries() + self.rekor.retries() + self.tsa.as_ref().map_or(0, ServiceClient::retries)
    }

    /// The Rekor API version in use (1 or 2).
    pub fn rekor_version(&self) -> u32 {
        self.rekor_version
    }

    /// Signs an in-toto statement as a DSSE bundle with a managed P-256
    /// key (`signer`: a key file, or a key in hardware behind the signer
    /// seam), logged in the Rekor v1 log with the public key as verifier
    /// and timestamped when there is a timestamp authority. The bundle
    /// names the key by a hint (base64 of its SPKI's SHA-256), as cosign's
    /// `--key` bundles do; Fulcio is not used. The bundle is verified
    /// offline against `root` and the key before it is returned.
    pub fn sign_in_toto_with_key(
        &self,
        signer: &dyn Signer,
        root: &TrustedRoot,
        statement: &[u8],
    ) -> Result<String, SignError> {
        use base64::Engine as _;
        if self.rekor_version == 2 {
            return Err(SignError::config("DSSE entries go to Rekor v1 logs only in wsc for now"));
        }
        let key = signer.public_key().ok_or_else(|| SignError::config("the signer reports no public key"))?;
        if key.algorithm() != wsc_core::KeyAlgorithm::P256 {
            return Err(SignError::config(format!(
                "a {} key: Sigstore bundles are signed with ECDSA P-256 keys here",
                key.algorithm().as_str()
            )));
        }
        let spki = key.to_der().map_err(|e| SignError::config("cannot encode the public key").because(e))?;
        let pem = key.to_pem().map_err(|e| SignError::config("cannot encode the public key").because(e))?;
        let digest = statement_digest(statement)?;
        let raw = signer.try_sign(&pae(IN_TOTO_PAYLOAD_TYPE, statement)).map_err(SignError::Signer)?;
        let sig = p256::ecdsa::Signature::from_slice(&raw)
            .map_err(|e| SignError::config("the signer's signature is not a P-256 signature").because(e))?;
        let (envelope, token, entry) = self.log_dsse(statement, sig.to_der().as_bytes().to_vec(), &pem)?;
        let hint = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&spki));
        let mut bundle = BundleV03::new(
            VerificationMaterialV03::PublicKey { hint },
            sigstore_verify::types::bundle::SignatureContent::DsseEnvelope(envelope),
        )
        .with_tlog_entry(entry);
        if let Some(t) = token {
            bundle = bundle.with_rfc3161_timestamp(t);
        }
        let json =
            bundle.into_bundle().to_json().map_err(|e| SignError::log_entry("cannot encode the bundle").because(e))?;
        let verifier = BundleVerifier::new(root, Expectation::Key(DerPublicKey::new(spki)))?;
        verifier.verify(Artifact::from(digest), &json)?;
        Ok(json)
    }

    /// The DSSE envelope of `statement` signed with `signature` (DER), its
    /// RFC 3161 timestamp when there is a timestamp authority, and its
    /// Rekor v1 entry with `verifier_pem` (certificate or public key).
    fn log_dsse(
        &self,
        statement: &[u8],
        signature: Vec<u8>,
        verifier_pem: &str,
    ) -> Result<(DsseEnvelope, Option<TimestampToken>, TransparencyLogEntry), SignError> {
        let token = match &self.tsa {
            Some(t) => Some(tsa::timestamp(t, &signature)?),
            None => None,
        };
        let envelope = DsseEnvelope::new(
            IN_TOTO_PAYLOAD_TYPE,
            PayloadBytes::new(statement.to_vec()),
            DsseSignature::new(SignatureBytes::new(signature), KeyId::default()),
        );
        let entry = rekor::create_dsse(&self.rekor, &envelope, verifier_pem)?;
        Ok((envelope, token, entry))
    }

    /// The URLs in use: Fulcio, Rekor, TSA.
    pub fn urls(&self) -> (&str, &str, Option<&str>) {
        (self.fulcio.url(), self.rekor.url(), self.tsa.as_ref().map(ServiceClient::url))
    }
}

/// The SHA-256 digest of an in-toto statement's first subject: what its
/// bundle is verified over.
fn statement_digest(statement: &[u8]) -> Result<Sha256Hash, SignError> {
    let v: serde_json::Value = serde_json::from_slice(statement)
        .map_err(|e| SignError::config("the in-toto statement is not JSON").because(e))?;
    let digest = v
        .pointer("/subject/0/digest/sha256")
        .and_then(|d| d.as_str())
        .ok_or_else(|| SignError::config("the in-toto statement has no subject with a sha256 digest"))?;
    Sha256Hash::from_hex(digest).map_err(|e| SignError::config("the statement's subject digest").because(e))
}

/// One logged signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggedEntry {
    /// The entry's global log index.
    pub log_index: u64,
    /// Rekor's integrated time (RFC 3339), when given.
    pub integrated_time: Option<String>,
    /// Whether an RFC 3161 timestamp was added.
    pub timestamped: bool,
}

/// A keyless signer: an ephemeral P-256 key with its Fulcio certificate.
/// Use it as a `wsc_core::Signer`: each message it signs gets its own Rekor
/// entry (and timestamp), and the finished bundle must verify offline
/// against the trust root, for the certificate's identity, before it is
/// returned. The key lives in memory only and is wiped when the signer is
/// dropped (`p256::ecdsa::SigningKey` zeroizes on drop).
pub struct KeylessSigner {
    key: SigningKey,
    chain: Vec<Vec<u8>>,
    identity: String,
    issuer: String,
    services: Services,
    verifier: BundleVerifier,
    entries: Mutex<Vec<LoggedEntry>>,
    not_after: i64,
}

/// Clock skew tolerated between Fulcio and this host.
const SKEW_SECONDS: i64 = 60;

/// A certificate with less validity left than this is not used for a new entry.
const MIN_VALIDITY_LEFT: i64 = 30;

impl std::fmt::Debug for KeylessSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeylessSigner")
            .field("identity", &self.identity)
            .field("issuer", &self.issuer)
            .field("key", &"[ephemeral, REDACTED]")
            .finish_non_exhaustive()
    }
}

impl KeylessSigner {
    /// Makes the ephemeral key and gets its certificate. The token is used
    /// for this one request and dropped (wiped) on return. The chain must
    /// lead to a Fulcio CA of `root` with the codeSigning EKU, and the
    /// certificate must be for the new key; with a timestamp authority its
    /// embedded SCT is verified too, before anything is logged (otherwise
    /// with the first bundle, before anything is written).
    pub fn new(token: IdentityToken, services: Services, root: &TrustedRoot) -> Result<Self, SignError> {
        let key = SigningKey::random(&mut rand_core::OsRng);
        let chain = fulcio::signing_certificate(&services.fulcio, &token, &key)?;
        drop(token);
        let leaf = DerCertificate::new(chain[0].clone());
        let info = parse_certificate_info(&leaf)
            .map_err(|e| SignError::certificate("cannot parse the leaf certificate").because(e))?;
        let ours = key
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| SignError::certificate("cannot encode the public key").because(e))?;
        if info.public_key.as_bytes() != ours.as_bytes() {
            return Err(SignError::certificate("the certificate is for another key than the one sent"));
        }
        check_chain(&chain, root, info.not_before.as_second())?;
        let not_after = info.not_after.as_second();
        let identity = info
            .identity
            .map(|s| s.as_str().to_string())
            .ok_or_else(|| SignError::certificate("the certificate carries no identity (SAN)"))?;
        let issuer = info.issuer.ok_or_else(|| SignError::certificate("the certificate carries no OIDC issuer"))?;
        let policy = IdentityPolicy::new(Matcher::Exact(identity.clone()), Matcher::Exact(issuer.clone()));
        let verifier = BundleVerifier::new(root, Expectation::Identity(policy))?;
        let signer = KeylessSigner {
            key,
            chain,
            identity,
            issuer,
            services,
            verifier,
            entries: Mutex::new(Vec::new()),
            not_after,
        };
        signer.check_certificate()?;
        Ok(signer)
    }

    /// With a timestamp authority, the certificate's SCT is checked before
    /// anything is logged: a probe signature is timestamped, and the bundle
    /// (certificate, signature, timestamp; no log entry yet) is verified by
    /// `sigstore-verify`: chain at the TSA's time, SCT, timestamp, identity.
    /// Without a TSA there is no verified time to check the chain at before
    /// logging; the SCT is then checked with the first finished bundle,
    /// before anything is written.
    fn check_certificate(&self) -> Result<(), SignError> {
        let Some(tsa_client) = &self.services.tsa else { return Ok(()) };
        let probe = b"wsc: certificate check before logging";
        let digest: [u8; 32] = Sha256::digest(probe).into();
        let sig: p256::ecdsa::Signature = self.key.sign(probe);
        let sig = sig.to_der().as_bytes().to_vec();
        let token = tsa::timestamp(tsa_client, &sig)?;
        let json = BundleV03::with_certificate_and_signature(
            DerCertificate::new(self.chain[0].clone()),
            SignatureBytes::new(sig),
            Sha256Hash::new(digest),
        )
        .with_rfc3161_timestamp(token)
        .into_bundle()
        .to_json()
        .map_err(|e| SignError::certificate("cannot encode the check bundle").because(e))?;
        self.verifier
            .check_certificate_before_logging(Artifact::Blob(probe), &json)
            .map_err(|e| SignError::certificate("the certificate does not verify against the trust root").because(e))
    }

    /// The certificate's identity (SAN).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The certificate's OIDC issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The chain Fulcio returned, DER, leaf first.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The services in use.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The entries logged so far, in order.
    pub fn entries(&self) -> Vec<LoggedEntry> {
        match self.entries.lock() {
            Ok(e) => e.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Signs `message` and returns the verified bundle (compact JSON).
    pub fn sign_message(&self, message: &[u8]) -> Result<String, SignError> {
        self.check_time_left()?;
        let digest: [u8; 32] = Sha256::digest(message).into();
        let sig: p256::ecdsa::Signature = self.key.sign(message);
        let sig = sig.to_der().as_bytes().to_vec();
        let token = self.services.tsa.as_ref().map(|t| tsa::timestamp(t, &sig)).transpose()?;
        let entry = if self.services.rekor_version == 2 {
            rekor::create_hashedrekord_v2(&self.services.rekor, &digest, &sig, &self.chain[0])?
        } else {
            rekor::create_hashedrekord(&self.services.rekor, &digest, &sig, &self.chain[0])?
        };
        let logged = LoggedEntry {
            log_index: entry.log_index.get(),
            integrated_time: entry.integrated_time.map(|t| t.to_string()),
            timestamped: token.is_some(),
        };
        let mut bundle = BundleV03::with_certificate_and_signature(
            DerCertificate::new(self.chain[0].clone()),
            SignatureBytes::new(sig),
            Sha256Hash::new(digest),
        )
        .with_tlog_entry(entry);
        if let Some(t) = token {
            bundle = bundle.with_rfc3161_timestamp(t);
        }
        self.finish(bundle, Artifact::Blob(message), logged)
    }

    /// Signs an in-toto statement as a DSSE envelope (payload type
    /// `application/vnd.in-toto+json`), logged as a `dsse` entry. The
    /// statement's first subject's SHA-256 digest is the artifact checked.
    pub fn sign_in_toto(&self, statement: &[u8]) -> Result<String, SignError> {
        self.check_time_left()?;
        if self.services.rekor_version == 2 {
            return Err(SignError::config("DSSE entries go to Rekor v1 logs only in wsc for now"));
        }
        let digest = statement_digest(statement)?;
        let sig: p256::ecdsa::Signature = self.key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, statement));
        let pem = DerCertificate::new(self.chain[0].clone()).to_pem();
        let (envelope, token, entry) = self.services.log_dsse(statement, sig.to_der().as_bytes().to_vec(), &pem)?;
        let logged = LoggedEntry {
            log_index: entry.log_index.get(),
            integrated_time: entry.integrated_time.map(|t| t.to_string()),
            timestamped: token.is_some(),
        };
        let mut bundle = BundleV03::with_certificate_and_dsse(DerCertificate::new(self.chain[0].clone()), envelope)
            .with_tlog_entry(entry);
        if let Some(t) = token {
            bundle = bundle.with_rfc3161_timestamp(t);
        }
        self.finish(bundle, Artifact::from(digest), logged)
    }

    /// Refuses to log with a certificate about to expire (a long batch):
    /// the entry would not verify.
    fn check_time_left(&self) -> Result<(), SignError> {
        time_left(self.not_after, unix_now())
    }

    /// Encodes the bundle and verifies it before handing it back.
    fn finish(&self, bundle: BundleV03, artifact: Artifact<'_>, logged: LoggedEntry) -> Result<String, SignError> {
        let json =
            bundle.into_bundle().to_json().map_err(|e| SignError::log_entry("cannot encode the bundle").because(e))?;
        // Everything Rekor, Fulcio and the TSA returned is checked here, as
        // any verifier will: chain, SCT, signature, SET, inclusion proof,
        // checkpoint, body consistency, timestamps, identity.
        self.verifier.verify(artifact, &json)?;
        match self.entries.lock() {
            Ok(mut e) => e.push(logged),
            Err(p) => p.into_inner().push(logged),
        }
        Ok(json)
    }
}

impl Signer for KeylessSigner {
    fn algorithm(&self) -> AlgorithmId {
        KEYLESS_ALGORITHM
    }

    fn public_key(&self) -> Option<PublicKey> {
        None
    }

    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.sign_message(message).map(String::into_bytes).map_err(SignerError::new)
    }
}

/// Fails when a certificate valid until `not_after` has too little time left at `now`.
fn time_left(not_after: i64, now: i64) -> Result<(), SignError> {
    if not_after - now < MIN_VALIDITY_LEFT {
        return Err(SignError::certificate(format!(
            "the certificate expires in {} s; sign the remaining modules in a new run (new certificate)",
            (not_after - now).max(0)
        )));
    }
    Ok(())
}

/// When to check a fresh chain: now, or the leaf's notBefore when this
/// host's clock is at most [`SKEW_SECONDS`] behind Fulcio's.
fn chain_check_time(not_before: i64, now: i64) -> i64 {
    if not_before > now && not_before - now <= SKEW_SECONDS { not_before } else { now }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The chain leads to a Fulcio CA of the trust root, for code signing, now
/// (or at the leaf's notBefore when this host's clock is up to a minute
/// behind Fulcio's; the finished bundle is checked against log time).
fn check_chain(chain: &[Vec<u8>], root: &TrustedRoot, not_before: i64) -> Result<(), SignError> {
    let cas = root.fulcio_certs();
    let anchors: Vec<_> = cas
        .iter()
        .filter_map(|c| {
            webpki::anchor_from_trusted_cert(&CertificateDer::from(c.as_bytes())).ok().map(|a| a.to_owned())
        })
        .collect();
    if anchors.is_empty() {
        return Err(SignError::config("the trust root has no Fulcio certificate authority"));
    }
    let leaf_der = CertificateDer::from(chain[0].as_slice());
    let leaf = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|e| SignError::certificate("the leaf does not parse").because(e))?;
    let intermediates: Vec<CertificateDer<'_>> =
        chain[1..].iter().map(|c| CertificateDer::from(c.as_slice())).collect();
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        {
            let at = chain_check_time(not_before, unix_now());
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(u64::try_from(at).unwrap_or(0)))
        },
        webpki::KeyUsage::required(CODE_SIGNING),
        None,
        None,
    )
    .map_err(|e| SignError::certificate("the chain does not lead to a Fulcio CA of the trust root").because(e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_skew_and_validity_left() {
        // A host up to a minute behind Fulcio checks at notBefore; further behind, at its own time.
        assert_eq!(chain_check_time(1_060, 1_000), 1_060);
        assert_eq!(chain_check_time(1_061, 1_000), 1_000);
        assert_eq!(chain_check_time(900, 1_000), 1_000);
        // 30 s or more left: usable; less: refused.
        assert!(time_left(1_030, 1_000).is_ok());
        let err = time_left(1_029, 1_000).expect_err("too close to expiry");
        assert!(err.to_string().contains("expires in 29 s"), "{err}");
        assert!(time_left(900, 1_000).expect_err("expired").to_string().contains("expires in 0 s"));
    }
}
