//! Fulcio v2 `signingCert`: a root and intermediate CA, and a CT log that
//! signs SCTs (embedded in the leaf, or detached).

use std::path::Path;
use std::time::SystemTime;

use der::asn1::{Ia5String, OctetString, Utf8StringRef};
use der::oid::ObjectIdentifier;
use der::{Decode, DecodePem, Encode};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::request::CertReq;

use crate::cert::{self, ECDSA_SHA256};
use crate::codec::{self, b64, cert_pem};
use crate::keys::{load_or_create_key, read_opt, spki_der, system_time, unix_now, write_atomic};
use crate::oidc::{Identity, Issuer};
use crate::{ApiError, LocalError};

/// id-ecPublicKey.
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// prime256v1 (secp256r1).
const P256_CURVE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// id-ce-subjectAltName.
const SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
/// Fulcio issuer (v1, raw UTF-8 bytes).
pub(crate) const FULCIO_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio issuer (v2, DER UTF8String).
pub(crate) const FULCIO_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Embedded SCT list (RFC 6962 §3.3).
pub(crate) const SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
/// Leaf lifetime (seconds).
const LEAF_TTL: i64 = 600;
/// CA lifetime (seconds): ten years.
const CA_TTL: i64 = 10 * 365 * 24 * 3600;

/// A CA chain: a self-signed root and an intermediate that issues leaves.
pub(crate) struct CaChain {
    /// DER of the root certificate.
    pub(crate) root_der: Vec<u8>,
    /// DER of the intermediate certificate.
    pub(crate) intermediate_der: Vec<u8>,
    intermediate_name: Name,
    intermediate_key: SigningKey,
    intermediate_key_id: Vec<u8>,
    intermediate_spki_der: Vec<u8>,
}

impl std::fmt::Debug for CaChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaChain").finish_non_exhaustive()
    }
}

impl CaChain {
    /// Loads the CA from `dir`, or creates and stores it (valid from `start`).
    pub(crate) fn load_or_create(dir: &Path, start: i64) -> Result<Self, LocalError> {
        let root_key = load_or_create_key(dir, "fulcio-root.key")?;
        let intermediate_key = load_or_create_key(dir, "fulcio-intermediate.key")?;
        let stored = (read_opt(dir, "fulcio-root.pem")?, read_opt(dir, "fulcio-intermediate.pem")?);
        let (root_der, intermediate_der) = if let (Some(r), Some(i)) = stored {
            let parse = |pem: &str| {
                Certificate::from_pem(pem.as_bytes())
                    .and_then(|c| c.to_der())
                    .map_err(|e| LocalError::Invalid(format!("stored Fulcio certificate: {e}")))
            };
            (parse(&r)?, parse(&i)?)
        } else {
            let (r, i) = Self::create_certs(&root_key, &intermediate_key, "sigstore-local", start)?;
            write_atomic(dir, "fulcio-root.pem", cert_pem(&r).as_bytes(), 0o644)?;
            write_atomic(dir, "fulcio-intermediate.pem", cert_pem(&i).as_bytes(), 0o644)?;
            (r, i)
        };
        Self::from_parts(root_der, intermediate_der, intermediate_key)
    }

    /// A throw-away CA that no trusted root lists (the `foreign_chain` fault).
    pub(crate) fn ephemeral() -> Result<Self, LocalError> {
        let root_key = SigningKey::random(&mut rand_core::OsRng);
        let intermediate_key = SigningKey::random(&mut rand_core::OsRng);
        let (r, i) = Self::create_certs(&root_key, &intermediate_key, "foreign", unix_now() - 3600)?;
        Self::from_parts(r, i, intermediate_key)
    }

    fn create_certs(
        root_key: &SigningKey,
        intermediate_key: &SigningKey,
        label: &str,
        start: i64,
    ) -> Result<(Vec<u8>, Vec<u8>), LocalError> {
        let root_name = cert::name(&format!("CN={label} root,O={label}"))?;
        let intermediate_name = cert::name(&format!("CN={label} intermediate,O={label}"))?;
        let (nb, na) = (system_time(start), system_time(start + CA_TTL));
        let root = cert::ca_cert(&root_name, root_key, None, Some(1), false, nb, na)?;
        let intermediate =
            cert::ca_cert(&intermediate_name, intermediate_key, Some((&root_name, root_key)), Some(0), true, nb, na)?;
        Ok((root, intermediate))
    }

    fn from_parts(root_der: Vec<u8>, intermediate_der: Vec<u8>, key: SigningKey) -> Result<Self, LocalError> {
        let inter = Certificate::from_der(&intermediate_der).map_err(LocalError::crypto)?;
        let spki = cert::spki_of(&key)?;
        if inter.tbs_certificate.subject_public_key_info != spki {
            return Err(LocalError::Invalid("fulcio-intermediate.pem does not match fulcio-intermediate.key".into()));
        }
        Ok(Self {
            root_der,
            intermediate_name: inter.tbs_certificate.subject.clone(),
            intermediate_key_id: cert::key_id(&spki),
            intermediate_spki_der: spki_der(&key)?,
            intermediate_key: key,
            intermediate_der,
        })
    }
}

/// The local CT log: only its key is needed to sign SCTs.
pub(crate) struct CtLog {
    key: SigningKey,
    /// SHA-256 of the CT key's DER SPKI.
    pub(crate) log_id: [u8; 32],
    /// DER SPKI of the CT key.
    pub(crate) spki_der: Vec<u8>,
}

impl std::fmt::Debug for CtLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtLog").field("log_id", &codec::hex(&self.log_id)).finish_non_exhaustive()
    }
}

impl CtLog {
    /// A CT log signing with `key`.
    pub(crate) fn new(key: SigningKey) -> Result<Self, LocalError> {
        let spki_der = spki_der(&key)?;
        Ok(Self { log_id: Sha256::digest(&spki_der).into(), spki_der, key })
    }

    /// Signs an SCT over `entry` (entry_type ‖ signed entry, RFC 6962 §3.2);
    /// returns the TLS `DigitallySigned` bytes.
    fn sign(&self, timestamp_ms: u64, entry: &[u8], corrupt: bool) -> Vec<u8> {
        let mut data = vec![0u8, 0u8];
        // A corrupted SCT signs another timestamp than the one it states.
        let signed_ts = if corrupt { timestamp_ms.wrapping_add(1) } else { timestamp_ms };
        data.extend_from_slice(&signed_ts.to_be_bytes());
        data.extend_from_slice(entry);
        data.extend_from_slice(&[0, 0]);
        let sig: DerSignature = self.key.sign(&data);
        let sig = sig.as_bytes();
        let mut ds = vec![4u8, 3u8];
        ds.extend_from_slice(&(sig.len() as u16).to_be_bytes());
        ds.extend_from_slice(sig);
        ds
    }

    /// A TLS-encoded `SignedCertificateTimestamp`.
    fn sct(&self, timestamp_ms: u64, digitally_signed: &[u8]) -> Vec<u8> {
        let mut sct = vec![0u8];
        sct.extend_from_slice(&self.log_id);
        sct.extend_from_slice(&timestamp_ms.to_be_bytes());
        sct.extend_from_slice(&[0, 0]);
        sct.extend_from_slice(digitally_signed);
        sct
    }
}

/// What the `signingCert` handler should do differently (faults).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IssueOptions {
    /// Embed an SCT whose signature does not verify.
    pub(crate) bad_sct: bool,
    /// Issue from a CA that the trusted root does not list.
    pub(crate) foreign_chain: bool,
    /// Answer `signedCertificateDetachedSct`.
    pub(crate) detached_sct: bool,
}

/// The Fulcio service.
#[derive(Debug)]
pub(crate) struct Fulcio {
    /// The trusted CA.
    pub(crate) ca: CaChain,
    foreign: CaChain,
    /// The CT log.
    pub(crate) ct: CtLog,
}

/// A 24-bit big-endian length prefix followed by the bytes.
fn u24_prefixed(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), LocalError> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|l| *l < 1 << 24)
        .ok_or_else(|| LocalError::Invalid("certificate too large for an SCT".into()))?;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(bytes);
    Ok(())
}

impl Fulcio {
    /// The service with its CA and CT log.
    pub(crate) fn new(ca: CaChain, ct: CtLog) -> Result<Self, LocalError> {
        Ok(Self { ca, foreign: CaChain::ephemeral()?, ct })
    }

    /// `POST /api/v2/signingCert`: checks the token and the key, issues the
    /// leaf, and returns the JSON answer (status 201).
    pub(crate) fn signing_cert(
        &self,
        issuer: &Issuer,
        body: &[u8],
        bearer: Option<&str>,
        opts: IssueOptions,
    ) -> Result<Value, ApiError> {
        let req: Value =
            serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("body is not JSON: {e}")))?;
        if !req.is_object() {
            return Err(ApiError::bad_request("body must be a JSON object"));
        }
        let token = req
            .pointer("/credentials/oidcIdentityToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .or(bearer)
            .ok_or_else(|| ApiError::unauthorized("no identity token (credentials.oidcIdentityToken or Bearer)"))?;
        let identity = issuer.verify(token)?;
        let key = match (req.get("publicKeyRequest"), req.get("certificateSigningRequest")) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request("send publicKeyRequest or certificateSigningRequest, not both"));
            }
            (Some(pkr), None) => public_key_request(pkr, &identity)?,
            (None, Some(csr)) => csr_request(csr)?,
            (None, None) => {
                return Err(ApiError::bad_request("publicKeyRequest or certificateSigningRequest required"));
            }
        };
        let ca = if opts.foreign_chain { &self.foreign } else { &self.ca };
        let chain = |leaf: &[u8]| json!({"certificates": [cert_pem(leaf), cert_pem(&ca.intermediate_der), cert_pem(&ca.root_der)]});
        let (leaf, detached) = self.issue(ca, &identity, issuer.url(), key, opts)?;
        Ok(match detached {
            Some(sct) => {
                json!({"signedCertificateDetachedSct": {"chain": chain(&leaf), "signedCertificateTimestamp": b64(&sct)}})
            }
            None => json!({"signedCertificateEmbeddedSct": {"chain": chain(&leaf)}}),
        })
    }

    /// Issues a leaf; with `detached_sct` also returns the SCT as Fulcio's JSON bytes.
    fn issue(
        &self,
        ca: &CaChain,
        identity: &Identity,
        issuer_url: &str,
        spki: SubjectPublicKeyInfoOwned,
        opts: IssueOptions,
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), ApiError> {
        let now = unix_now();
        let mut exts = cert::leaf_base_extensions(&spki, ca.intermediate_key_id.clone())?;
        let ia5 = |s: &str| Ia5String::new(s).map_err(|_| ApiError::bad_request("identity is not ASCII"));
        let san = match identity {
            Identity::Email(e) => GeneralName::Rfc822Name(ia5(e)?),
            Identity::Uri(u) => GeneralName::UniformResourceIdentifier(ia5(u)?),
        };
        exts.push(cert::ext(SAN, true, &SubjectAltName(vec![san]))?);
        exts.push(cert::raw_ext(FULCIO_ISSUER_V1, false, issuer_url.as_bytes().to_vec())?);
        let issuer_utf8 = Utf8StringRef::new(issuer_url).map_err(LocalError::crypto)?;
        exts.push(cert::ext(FULCIO_ISSUER_V2, false, &issuer_utf8)?);
        let validity = cert::validity(system_time(now), system_time(now + LEAF_TTL))?;
        let mut tbs = cert::tbs(ca.intermediate_name.clone(), Name::default(), validity, spki, exts)?;
        let timestamp_ms =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        if opts.detached_sct {
            let leaf = cert::sign(tbs, &ca.intermediate_key)?;
            let mut entry = vec![0u8, 0u8];
            u24_prefixed(&mut entry, &leaf)?;
            let ds = self.ct.sign(timestamp_ms, &entry, opts.bad_sct);
            let sct = json!({
                "sct_version": 0,
                "id": b64(&self.ct.log_id),
                "timestamp": timestamp_ms,
                "extensions": "",
                "signature": b64(&ds),
            });
            return Ok((leaf, Some(sct.to_string().into_bytes())));
        }
        // Precertificate entry: the TBS without the SCT extension (RFC 6962 §3.2).
        let pre_tbs = tbs.to_der().map_err(LocalError::crypto)?;
        let mut entry = vec![0u8, 1u8];
        entry.extend_from_slice(&Sha256::digest(&ca.intermediate_spki_der));
        u24_prefixed(&mut entry, &pre_tbs)?;
        let ds = self.ct.sign(timestamp_ms, &entry, opts.bad_sct);
        let sct = self.ct.sct(timestamp_ms, &ds);
        let mut list = Vec::with_capacity(sct.len() + 4);
        list.extend_from_slice(&((sct.len() + 2) as u16).to_be_bytes());
        list.extend_from_slice(&(sct.len() as u16).to_be_bytes());
        list.extend_from_slice(&sct);
        let list = OctetString::new(list).map_err(LocalError::crypto)?;
        if let Some(exts) = tbs.extensions.as_mut() {
            exts.push(cert::ext(SCT_LIST, false, &list)?);
        }
        Ok((cert::sign(tbs, &ca.intermediate_key)?, None))
    }
}

/// Checks a P-256 SPKI and returns it with its verifying key.
fn p256_spki(der: &[u8]) -> Result<(SubjectPublicKeyInfoOwned, VerifyingKey), ApiError> {
    let spki = SubjectPublicKeyInfoOwned::from_der(der)
        .map_err(|e| ApiError::bad_request(format!("public key is not a DER SubjectPublicKeyInfo: {e}")))?;
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    if spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(P256_CURVE) {
        return Err(ApiError::bad_request("unsupported public key: only ECDSA P-256 keys are accepted"));
    }
    let vk = VerifyingKey::from_public_key_der(der)
        .map_err(|e| ApiError::bad_request(format!("invalid P-256 public key: {e}")))?;
    Ok((spki, vk))
}

/// `publicKeyRequest`: the PEM key and a proof of possession over the subject.
fn public_key_request(pkr: &Value, identity: &Identity) -> Result<SubjectPublicKeyInfoOwned, ApiError> {
    let pk = pkr.get("publicKey").ok_or_else(|| ApiError::bad_request("publicKeyRequest.publicKey missing"))?;
    if let Some(alg) = pk.get("algorithm").and_then(Value::as_str).filter(|a| !a.eq_ignore_ascii_case("ECDSA")) {
        return Err(ApiError::bad_request(format!("unsupported key algorithm {alg}: only ECDSA P-256")));
    }
    let content = pk
        .get("content")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("publicKeyRequest.publicKey.content missing"))?;
    let der = pem_der(content, "PUBLIC KEY")?;
    let (spki, vk) = p256_spki(&der)?;
    let pop = pkr
        .get("proofOfPossession")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("publicKeyRequest.proofOfPossession missing"))?;
    let sig = codec::b64_decode(pop).map_err(|_| ApiError::bad_request("proofOfPossession is not base64"))?;
    let sig = Signature::from_der(&sig)
        .map_err(|_| ApiError::bad_request("proofOfPossession is not a DER ECDSA signature"))?;
    vk.verify(identity.subject().as_bytes(), &sig)
        .map_err(|_| ApiError::bad_request("proofOfPossession does not verify over the token subject"))?;
    Ok(spki)
}

/// `certificateSigningRequest`: base64 of a PEM PKCS#10 request, self-signature checked.
fn csr_request(csr: &Value) -> Result<SubjectPublicKeyInfoOwned, ApiError> {
    let text = csr.as_str().ok_or_else(|| ApiError::bad_request("certificateSigningRequest must be a string"))?;
    let pem = if text.contains("-----BEGIN") {
        text.to_string()
    } else {
        let raw = codec::b64_decode(text.trim())
            .map_err(|_| ApiError::bad_request("certificateSigningRequest is not base64"))?;
        String::from_utf8(raw).map_err(|_| ApiError::bad_request("certificateSigningRequest is not base64 of PEM"))?
    };
    let der = pem_der(&pem, "CERTIFICATE REQUEST")?;
    let req = CertReq::from_der(&der).map_err(|e| ApiError::bad_request(format!("invalid CSR: {e}")))?;
    let spki_bytes = req.info.public_key.to_der().map_err(|e| ApiError::bad_request(format!("CSR key: {e}")))?;
    let (_, vk) = p256_spki(&spki_bytes)?;
    if req.algorithm.oid != ECDSA_SHA256 {
        return Err(ApiError::bad_request("CSR must be signed with ecdsa-with-SHA256"));
    }
    let info = req.info.to_der().map_err(|e| ApiError::bad_request(format!("CSR info: {e}")))?;
    let sig_bytes = req.signature.as_bytes().ok_or_else(|| ApiError::bad_request("CSR signature has unused bits"))?;
    let sig = Signature::from_der(sig_bytes).map_err(|_| ApiError::bad_request("CSR signature is not DER ECDSA"))?;
    vk.verify(&info, &sig).map_err(|_| ApiError::bad_request("CSR self-signature does not verify"))?;
    SubjectPublicKeyInfoOwned::from_der(&spki_bytes).map_err(|e| ApiError::bad_request(format!("CSR key: {e}")))
}

/// The DER inside one PEM block with the given label.
fn pem_der(text: &str, label: &str) -> Result<Vec<u8>, ApiError> {
    codec::pem_one(text, label).map_err(ApiError::bad_request)
}
