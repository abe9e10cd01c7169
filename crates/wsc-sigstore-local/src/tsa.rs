//! An RFC 3161 timestamp authority.
//!
//! The TSA signs with the P-256 key it is given. Its leaf certificate (critical EKU
//! timeStamping) and self-signed root live in `dir/tsa/chain.pem`; the root's key
//! is used once to issue the leaf and never stored.

use std::path::Path;
use std::str::FromStr as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{BitString, GeneralizedTime, Int, ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Any, Decode as _, Encode as _, Sequence};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey as _;
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::attr::Attribute;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate};

use crate::ApiError;

/// The policy OID of every token this TSA issues.
pub const TSA_POLICY_OID: &str = "1.2.3.4.1";
/// Largest query `respond` accepts (larger ones get 413).
pub const MAX_QUERY_BYTES: usize = 64 * 1024;

const POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap(TSA_POLICY_OID);
const SHA256_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ECDSA_SHA256_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const ID_CE_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const ID_CE_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const ID_CE_SKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const ID_CE_AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");

/// `MessageImprint` (RFC 3161 §2.4.1).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct MessageImprint {
    /// The hash algorithm, parameters kept as received.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// The hash of the timestamped data.
    pub hashed_message: OctetString,
}

/// `TimeStampReq` (RFC 3161 §2.4.1).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampReq {
    /// Must be 1.
    pub version: u8,
    /// What to timestamp.
    pub message_imprint: MessageImprint,
    /// The policy the client asks for.
    #[asn1(optional = "true")]
    pub req_policy: Option<ObjectIdentifier>,
    /// A nonce, copied into the token.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// Whether the token must carry the TSA certificate.
    #[asn1(default = "Default::default")]
    pub cert_req: bool,
    /// Request extensions.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Vec<Extension>>,
}

/// `TSTInfo` (RFC 3161 §2.4.2), without the fields this TSA never sets.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TstInfo {
    /// Always 1.
    pub version: u8,
    /// The TSA policy.
    pub policy: ObjectIdentifier,
    /// The request's imprint.
    pub message_imprint: MessageImprint,
    /// A unique positive serial number.
    pub serial_number: Int,
    /// The time, in whole seconds.
    pub gen_time: GeneralizedTime,
    /// The request's nonce.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
}

/// `PKIStatusInfo` (RFC 3161 §2.4.2).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PkiStatusInfo {
    /// 0 granted, 2 rejection.
    pub status: u8,
    /// Human-readable reasons.
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<String>>,
    /// Failure bits.
    #[asn1(optional = "true")]
    pub fail_info: Option<BitString>,
}

/// `TimeStampResp` (RFC 3161 §2.4.2).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampResp {
    /// The status.
    pub status: PkiStatusInfo,
    /// The token, a CMS `ContentInfo`.
    #[asn1(optional = "true")]
    pub time_stamp_token: Option<ContentInfo>,
}

/// `ESSCertIDv2` with the default SHA-256 hash algorithm (omitted).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial>,
}

/// `IssuerSerial` (RFC 5035).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

/// `SigningCertificateV2` (RFC 5035).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

/// RFC 3161 failure bits.
#[derive(Clone, Copy, Debug)]
enum FailInfo {
    BadAlg = 0,
    BadDataFormat = 5,
    UnacceptedPolicy = 15,
    UnacceptedExtension = 16,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, msg)
}

fn internal(msg: impl std::fmt::Display) -> ApiError {
    ApiError::new(500, format!("internal error: {msg}"))
}

fn io_err(msg: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(msg.to_string())
}

/// The TSA: a P-256 signing key and its certificate chain.
#[derive(Debug)]
pub struct Tsa {
    key: SigningKey,
    leaf_der: Vec<u8>,
    root_der: Vec<u8>,
    leaf_issuer: Name,
    leaf_serial: SerialNumber,
    leaf_sha256: [u8; 32],
}

fn ecdsa_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid: ECDSA_SHA256_OID, parameters: None }
}

fn random_serial() -> Result<SerialNumber, der::Error> {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    // Positive and minimally encoded: top bit clear, first byte non-zero.
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::new(&bytes)
}

fn extension(oid: ObjectIdentifier, critical: bool, value: &impl der::Encode) -> Result<Extension, der::Error> {
    Ok(Extension { extn_id: oid, critical, extn_value: OctetString::new(value.to_der()?)? })
}

fn key_id(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha256::digest(spki.subject_public_key.raw_bytes())[..20].to_vec()
}

/// RFC 5280 time: UTCTime through 2049, GeneralizedTime after.
fn utc(t: SystemTime) -> Result<Time, der::Error> {
    UtcTime::from_system_time(t)
        .map(Time::UtcTime)
        .or_else(|_| GeneralizedTime::from_system_time(t).map(Time::GeneralTime))
}

fn spki_of(key: &SigningKey) -> std::io::Result<SubjectPublicKeyInfoOwned> {
    let der = key.verifying_key().to_public_key_der().map_err(io_err)?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(io_err)
}

/// Signs a TBS certificate with `issuer_key`.
fn sign_cert(tbs: TbsCertificate, issuer_key: &SigningKey) -> Result<Certificate, der::Error> {
    let sig: Signature = issuer_key.sign(&tbs.to_der()?);
    Ok(Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_sha256(),
        signature: BitString::from_bytes(sig.to_der().as_bytes())?,
    })
}

/// Issues a new root and a leaf for `key`: (leaf DER, root DER).
fn issue_chain(key: &SigningKey) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let not_before = now.checked_sub(day).ok_or_else(|| io_err("clock before 1970"))?;
    let root_key = SigningKey::random(&mut OsRng);
    let root_spki = spki_of(&root_key)?;
    let leaf_spki = spki_of(key)?;
    let root_name = Name::from_str("CN=wsc-sigstore-local TSA root,O=wsc-sigstore-local").map_err(io_err)?;
    let leaf_name = Name::from_str("CN=wsc-sigstore-local TSA,O=wsc-sigstore-local").map_err(io_err)?;
    let root_ski = key_id(&root_spki);

    let build = || -> Result<(Vec<u8>, Vec<u8>), der::Error> {
        let root_tbs = TbsCertificate {
            version: x509_cert::Version::V3,
            serial_number: random_serial()?,
            signature: ecdsa_sha256(),
            issuer: root_name.clone(),
            validity: Validity { not_before: utc(not_before)?, not_after: utc(now + day * 365 * 20)? },
            subject: root_name.clone(),
            subject_public_key_info: root_spki.clone(),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(vec![
                extension(ID_CE_BASIC_CONSTRAINTS, true, &BasicConstraints { ca: true, path_len_constraint: Some(0) })?,
                extension(ID_CE_KEY_USAGE, true, &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign))?,
                extension(ID_CE_SKI, false, &SubjectKeyIdentifier(OctetString::new(root_ski.clone())?))?,
            ]),
        };
        let root = sign_cert(root_tbs, &root_key)?;
        let leaf_tbs = TbsCertificate {
            version: x509_cert::Version::V3,
            serial_number: random_serial()?,
            signature: ecdsa_sha256(),
            issuer: root_name.clone(),
            validity: Validity { not_before: utc(not_before)?, not_after: utc(now + day * 365 * 10)? },
            subject: leaf_name.clone(),
            subject_public_key_info: leaf_spki.clone(),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(vec![
                extension(ID_CE_BASIC_CONSTRAINTS, true, &BasicConstraints { ca: false, path_len_constraint: None })?,
                extension(ID_CE_KEY_USAGE, true, &KeyUsage(KeyUsages::DigitalSignature.into()))?,
                extension(ID_CE_EXT_KEY_USAGE, true, &ExtendedKeyUsage(vec![ID_KP_TIME_STAMPING]))?,
                extension(ID_CE_SKI, false, &SubjectKeyIdentifier(OctetString::new(key_id(&leaf_spki))?))?,
                extension(
                    ID_CE_AKI,
                    false,
                    &AuthorityKeyIdentifier {
                        key_identifier: Some(OctetString::new(root_ski.clone())?),
                        authority_cert_issuer: None,
                        authority_cert_serial_number: None,
                    },
                )?,
            ]),
        };
        let leaf = sign_cert(leaf_tbs, &root_key)?;
        Ok((leaf.to_der()?, root.to_der()?))
    };
    build().map_err(io_err)
}

fn pem_certs(text: &str) -> std::io::Result<Vec<Vec<u8>>> {
    let blocks = crate::codec::pem_blocks(text).map_err(|e| io_err(format!("tsa chain: {e}")))?;
    Ok(blocks.into_iter().filter(|b| b.label == "CERTIFICATE").map(|b| b.der).collect())
}

impl Tsa {
    /// Opens or creates the TSA under `dir` (key, leaf certificate with the critical
    /// timeStamping EKU, and its root), signing with `key`.
    pub fn open(dir: &Path, key: p256::ecdsa::SigningKey) -> std::io::Result<Self> {
        let tdir = dir.join("tsa");
        std::fs::create_dir_all(&tdir)?;
        let path = tdir.join("chain.pem");
        let (leaf_der, root_der) = if path.exists() {
            let certs = pem_certs(&std::fs::read_to_string(&path)?)?;
            let [leaf, root]: [Vec<u8>; 2] =
                certs.try_into().map_err(|_| io_err(format!("{}: expected two certificates", path.display())))?;
            (leaf, root)
        } else {
            let (leaf, root) = issue_chain(&key)?;
            let text = format!("{}{}", crate::codec::cert_pem(&leaf), crate::codec::cert_pem(&root));
            let tmp = tdir.join("chain.pem.tmp");
            {
                let mut f = std::fs::File::create(&tmp)?;
                std::io::Write::write_all(&mut f, text.as_bytes())?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, &path)?;
            (leaf, root)
        };
        let leaf = Certificate::from_der(&leaf_der).map_err(io_err)?;
        Certificate::from_der(&root_der).map_err(io_err)?;
        if leaf.tbs_certificate.subject_public_key_info != spki_of(&key)? {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: the TSA certificate was issued for another key", path.display()),
            ));
        }
        Ok(Self {
            key,
            leaf_sha256: Sha256::digest(&leaf_der).into(),
            leaf_issuer: leaf.tbs_certificate.issuer.clone(),
            leaf_serial: leaf.tbs_certificate.serial_number.clone(),
            leaf_der,
            root_der,
        })
    }

    /// The chain, leaf first, DER (for `timestampAuthorities` in the trusted root).
    pub fn chain_der(&self) -> Vec<Vec<u8>> {
        vec![self.leaf_der.clone(), self.root_der.clone()]
    }

    /// `POST /api/v1/timestamp`: a DER `TimeStampReq` in, a DER `TimeStampResp` out.
    pub fn respond(&self, query_der: &[u8]) -> Result<Vec<u8>, ApiError> {
        if query_der.len() > MAX_QUERY_BYTES {
            return Err(ApiError::new(413, format!("timestamp query larger than {MAX_QUERY_BYTES} bytes")));
        }
        let req = TimeStampReq::from_der(query_der).map_err(|e| bad(format!("malformed TimeStampReq: {e}")))?;
        if req.version != 1 {
            return Err(bad(format!("unsupported TimeStampReq version {}", req.version)));
        }
        let imprint = &req.message_imprint;
        let want_len = match imprint.hash_algorithm.oid {
            SHA256_OID => Sha256::output_size(),
            SHA384_OID => Sha384::output_size(),
            SHA512_OID => Sha512::output_size(),
            _ => return reject(FailInfo::BadAlg, "unsupported hash algorithm"),
        };
        if imprint.hashed_message.as_bytes().len() != want_len {
            return reject(FailInfo::BadDataFormat, "the imprint length does not match its hash algorithm");
        }
        if req.req_policy.is_some_and(|p| p != POLICY) {
            return reject(FailInfo::UnacceptedPolicy, "unsupported policy");
        }
        if req.extensions.as_ref().is_some_and(|exts| exts.iter().any(|e| e.critical)) {
            return reject(FailInfo::UnacceptedExtension, "critical request extensions are not supported");
        }
        let token = self.token(&req).map_err(internal)?;
        let resp = TimeStampResp {
            status: PkiStatusInfo { status: 0, status_string: None, fail_info: None },
            time_stamp_token: Some(token),
        };
        resp.to_der().map_err(internal)
    }

    fn token(&self, req: &TimeStampReq) -> Result<ContentInfo, der::Error> {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let tst = TstInfo {
            version: 1,
            policy: POLICY,
            message_imprint: req.message_imprint.clone(),
            serial_number: Int::new(random_serial()?.as_bytes())?,
            gen_time: GeneralizedTime::from_unix_duration(Duration::from_secs(secs))?,
            nonce: req.nonce.clone(),
        };
        let tst_der = tst.to_der()?;

        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                cert_hash: OctetString::new(self.leaf_sha256.to_vec())?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(self.leaf_issuer.clone())],
                    serial_number: self.leaf_serial.clone(),
                }),
            }],
        };
        let attr = |oid: ObjectIdentifier, value: Any| -> Result<Attribute, der::Error> {
            Ok(Attribute { oid, values: SetOfVec::try_from(vec![value])? })
        };
        let signed_attrs = SetOfVec::try_from(vec![
            attr(ID_CONTENT_TYPE, Any::encode_from(&ID_CT_TST_INFO)?)?,
            attr(ID_MESSAGE_DIGEST, Any::encode_from(&OctetString::new(Sha256::digest(&tst_der).to_vec())?)?)?,
            attr(ID_SIGNING_CERTIFICATE_V2, Any::encode_from(&ess)?)?,
        ])?;
        // The signature covers the DER SET OF the attributes, as embedded (sorted) in SignerInfo.
        let sig: Signature = self.key.sign(&signed_attrs.to_der()?);
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: self.leaf_issuer.clone(),
                serial_number: self.leaf_serial.clone(),
            }),
            digest_alg: AlgorithmIdentifierOwned { oid: SHA256_OID, parameters: None },
            signed_attrs: Some(signed_attrs),
            signature_algorithm: ecdsa_sha256(),
            signature: OctetString::new(sig.to_der().as_bytes().to_vec())?,
            unsigned_attrs: None,
        };
        let certificates = if req.cert_req {
            let leaf = Certificate::from_der(&self.leaf_der)?;
            Some(CertificateSet(SetOfVec::try_from(vec![CertificateChoices::Certificate(leaf)])?))
        } else {
            None
        };
        let signed_data = SignedData {
            version: CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![AlgorithmIdentifierOwned {
                oid: SHA256_OID,
                parameters: None,
            }])?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_CT_TST_INFO,
                econtent: Some(Any::encode_from(&OctetString::new(tst_der)?)?),
            },
            certificates,
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer])?),
        };
        Ok(ContentInfo { content_type: ID_SIGNED_DATA, content: Any::encode_from(&signed_data)? })
    }
}

/// A `TimeStampResp` with status rejection and one failure bit.
fn reject(fail: FailInfo, text: &'static str) -> Result<Vec<u8>, ApiError> {
    let bit = fail as usize;
    let mut bytes = vec![0u8; bit / 8 + 1];
    bytes[bit / 8] = 0x80 >> (bit % 8);
    // DER named bit lists drop trailing zero bits.
    let unused = (7 - bit % 8) as u8;
    let resp = TimeStampResp {
        status: PkiStatusInfo {
            status: 2,
            status_string: Some(vec![text.to_string()]),
            fail_info: Some(BitString::new(unused, bytes).map_err(internal)?),
        },
        time_stamp_token: None,
    };
    resp.to_der().map_err(internal)
}
