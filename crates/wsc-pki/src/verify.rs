//! Offline verification of certificate-bound records against trust anchors.
//!
//! Path building, signature algorithms, validity, basic constraints, path
//! length of intermediates, the codeSigning EKU and CRLs are rustls-webpki's
//! (aws-lc-rs algorithms: Ed25519 and ECDSA P-256). wsc adds what webpki
//! leaves out: the leaf rules it shares with the signer ([`check_leaf`]),
//! a bound on what path building may cost ([`crate::budget`]), the trust
//! anchor's own path length and validity, keyCertSign on intermediates,
//! and the record's signature over the set message with the leaf key.

use std::cell::RefCell;
use std::fmt;
use std::time::{Duration, SystemTime};

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use sha2::{Digest, Sha256};
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, KeyUsage, OwnedCertRevocationList, RevocationCheckDepth,
    RevocationOptionsBuilder, UnknownStatusPolicy, VerifiedPath,
};
use wsc_core::sigdata::SignatureRecord;
use wsc_core::{Evidence, PublicKey, RecordOutcome, RecordVerifier, SignerId, TimeSource, TrustedTime};

use crate::budget::{self, ChainBudget, MAX_RECORD_CHAIN_COST, Names};
use crate::error::{PkiError, Result};
use crate::leaf::check_leaf;
use crate::record::{CERT_BOUND, CertRecord};
use crate::timestamp::TsaTrust;
use crate::x509::{self, CertInfo};

/// DER value of the codeSigning OID, 1.3.6.1.5.5.7.3.3.
const CODE_SIGNING_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// The certificate signature algorithms accepted.
static ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] =
    &[webpki::aws_lc_rs::ED25519, webpki::aws_lc_rs::ECDSA_P256_SHA256];

/// A trusted root (or any CA certificate the caller trusts).
struct Anchor {
    info: CertInfo,
    anchor: TrustAnchor<'static>,
}

/// Who signed a record that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertIdentity {
    /// The leaf subject.
    pub subject: String,
    /// The leaf subject's attributes a policy can name (see
    /// [`CertInfo::subject_attributes`](crate::x509::CertInfo)).
    pub subject_attributes: Vec<(String, String)>,
    /// The leaf URI SANs (device ids).
    pub uris: Vec<String>,
    /// The leaf serial number.
    pub serial: Vec<u8>,
    /// The leaf key.
    pub key: PublicKey,
    /// DER of the leaf's SubjectPublicKeyInfo: who signed.
    pub spki: Vec<u8>,
    /// The subject of the trust anchor the chain leads to.
    pub anchor: String,
    /// SHA-256 of the anchor certificate, hex.
    pub anchor_fingerprint: String,
    /// The verified RFC 3161 time the chain was checked at, in timestamp mode.
    pub timestamp: Option<SystemTime>,
}

impl fmt::Display for CertIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.subject)?;
        if !self.uris.is_empty() {
            write!(f, " ({})", self.uris.join(", "))?;
        }
        write!(f, ", serial {}, anchor {}", wsc_core::keys::hex(&self.serial), self.anchor)?;
        if let Some(t) = self.timestamp {
            write!(f, ", timestamp {}", x509::format_rfc3339(t))?;
        }
        Ok(())
    }
}

/// Checks certificate-bound records (algorithm `0x11`) against a set of
/// trust anchors: any record whose chain leads to one of them counts.
///
/// A verifier serves one verification: its [`ChainBudget`] covers every
/// record it checks. Call [`reset`](Self::reset) before using it for
/// another module. Which anchors must be met, and by how many distinct
/// signers, is a trust policy's decision (`wsc-policy`), not this type's.
pub struct CertVerifier {
    anchors: Vec<Anchor>,
    crls: Vec<CertRevocationList<'static>>,
    /// nextUpdate of each CRL, for timestamp mode (webpki keeps its own private).
    crl_next_updates: Vec<Option<SystemTime>>,
    time: Option<SystemTime>,
    timestamps: Option<TsaTrust>,
    require_crl: bool,
    enforce_crl_expiry: bool,
    budget: ChainBudget,
}

/// How far in the future a TSA's time may be (clock skew) before it is refused.
pub const TIMESTAMP_SKEW: Duration = Duration::from_secs(300);

impl fmt::Debug for CertVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertVerifier")
            .field("anchors", &self.anchors.iter().map(|a| &a.info.subject).collect::<Vec<_>>())
            .field("crls", &self.crls.len())
            .field("time", &self.time)
            .field("timestamps", &self.timestamps)
            .field("require_crl", &self.require_crl)
            .field("enforce_crl_expiry", &self.enforce_crl_expiry)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl CertVerifier {
    /// A verifier trusting these DER CA certificates. Each must be a CA
    /// (basicConstraints cA) whose key usage, if present, has keyCertSign.
    pub fn new<I, D>(anchors: I) -> Result<Self>
    where
        I: IntoIterator<Item = D>,
        D: AsRef<[u8]>,
    {
        let mut v = CertVerifier {
            anchors: Vec::new(),
            crls: Vec::new(),
            crl_next_updates: Vec::new(),
            time: None,
            timestamps: None,
            require_crl: false,
            enforce_crl_expiry: true,
            budget: ChainBudget::default(),
        };
        for der in anchors {
            v.add_anchor(der.as_ref())?;
        }
        if v.anchors.is_empty() {
            return Err(PkiError::Chain("no trust anchor given".into()));
        }
        Ok(v)
    }

    /// A verifier trusting the one certificate of a trust anchor file
    /// (PEM or DER); see [`anchor_from_pem`].
    pub fn from_pem(anchor: &[u8]) -> Result<Self> {
        CertVerifier::new([anchor_from_pem(anchor)?])
    }

    /// Adds a trust anchor (DER).
    pub fn add_anchor(&mut self, der: &[u8]) -> Result<()> {
        let info = CertInfo::parse(der)?;
        if !info.is_ca() {
            return Err(PkiError::NotCa(format!("trust anchor {} has no basicConstraints cA=TRUE", info.subject)));
        }
        if info.key_usage.is_some_and(|ku| !ku.key_cert_sign) {
            return Err(PkiError::NotCa(format!("the key usage of trust anchor {} lacks keyCertSign", info.subject)));
        }
        let cert = CertificateDer::from(der);
        let anchor =
            webpki::anchor_from_trusted_cert(&cert).map_err(|e| PkiError::parse("trust anchor", e))?.to_owned();
        self.anchors.push(Anchor { info, anchor });
        Ok(())
    }

    /// Adds a CRL (DER or PEM). Its signature is checked against the
    /// issuing CA when a chain through that CA is verified; a CRL with a
    /// bad signature fails every such chain.
    pub fn add_crl(&mut self, bytes: &[u8]) -> Result<()> {
        let ders = if bytes.first() == Some(&0x30) {
            vec![bytes.to_vec()]
        } else {
            x509::pem_decode_all(bytes, &["X509 CRL"])?
        };
        for der in ders {
            let crl = OwnedCertRevocationList::from_der(&der).map_err(|e| PkiError::parse("CRL", e))?;
            let list = <x509_cert::crl::CertificateList as der::Decode>::from_der(&der)
                .map_err(|e| PkiError::parse("CRL", e.to_string()))?;
            self.crl_next_updates.push(list.tbs_cert_list.next_update.map(|t| t.to_system_time()));
            self.crls.push(crl.into());
        }
        Ok(())
    }

    /// Verifies at a fixed time instead of now.
    pub fn at_time(mut self, t: SystemTime) -> Self {
        self.time = Some(t);
        self
    }

    /// Timestamp mode: every record must carry an RFC 3161 token that one
    /// of `trust`'s authorities signed over the record's signature, and the
    /// chain is checked at the token's time instead of now (or of
    /// [`at_time`](Self::at_time), which then only bounds how late that
    /// time may be). A record without a token fails.
    pub fn use_timestamps(mut self, trust: TsaTrust) -> Self {
        self.timestamps = Some(trust);
        self
    }

    /// When set, every CA on the path must have a CRL (default: CAs
    /// without one are not checked).
    pub fn require_crl(mut self, yes: bool) -> Self {
        self.require_crl = yes;
        self
    }

    /// When set (the default), a CRL past its nextUpdate fails the chain.
    pub fn enforce_crl_expiry(mut self, yes: bool) -> Self {
        self.enforce_crl_expiry = yes;
        self
    }

    /// Spends `budget` on path building instead of a budget of its own,
    /// so that verifiers run in one verification share one bound.
    pub fn with_chain_budget(mut self, budget: ChainBudget) -> Self {
        self.budget = budget;
        self
    }

    /// The path-building budget this verifier spends.
    pub fn chain_budget(&self) -> &ChainBudget {
        &self.budget
    }

    /// Starts a new verification: refills the chain budget (for every
    /// verifier sharing it).
    pub fn reset(&self) {
        self.budget.reset();
    }

    /// Subjects of the trust anchors.
    pub fn anchor_subjects(&self) -> Vec<String> {
        self.anchors.iter().map(|a| a.info.subject.clone()).collect()
    }

    /// Checks a record's signature bytes (see [`CertRecord`]) over the set
    /// `message`; returns who signed.
    pub fn check(&self, message: &[u8], signature: &[u8]) -> Result<CertIdentity> {
        // Once the budget is spent, every further record is refused at once.
        if self.budget.remaining() == 0 {
            return Err(PkiError::ChainBudgetExhausted { budget: self.budget.total() });
        }
        let record = CertRecord::decode(signature)?;
        let leaf = CertInfo::parse(&record.chain[0])?;
        let mut now = self.time.unwrap_or_else(SystemTime::now);
        let mut stamped = None;
        if let Some(trust) = &self.timestamps {
            let token = record.timestamp.as_deref().ok_or(PkiError::TimestampRequired)?;
            let t = trust.verify(token, &record.signature)?;
            if t > now + TIMESTAMP_SKEW {
                return Err(PkiError::Timestamp(format!(
                    "the TSA's time {} is later than {}",
                    x509::format_rfc3339(t),
                    x509::format_rfc3339(now)
                )));
            }
            if !leaf.valid_at(t) {
                return Err(PkiError::Timestamp(format!(
                    "the timestamp {} is outside the certificate's validity ({} to {})",
                    x509::format_rfc3339(t),
                    x509::format_rfc3339(leaf.not_before),
                    x509::format_rfc3339(leaf.not_after)
                )));
            }
            // CRL freshness is judged at verification time, not at the TSA's
            // time: a stale CRL must not pass because the module is old.
            if self.enforce_crl_expiry {
                for next in self.crl_next_updates.iter().flatten() {
                    if *next <= now {
                        return Err(PkiError::RevocationUnknown(format!(
                            "a CRL has expired (nextUpdate {}, verification time {})",
                            x509::format_rfc3339(*next),
                            x509::format_rfc3339(now)
                        )));
                    }
                }
            }
            now = t;
            stamped = Some(t);
        }
        check_leaf(&leaf, now)?;
        self.charge_path_search(&leaf, &record.chain[1..])?;
        let unix = UnixTime::since_unix_epoch(Duration::from_secs(x509::unix_secs(now)?));
        let leaf_der = CertificateDer::from(record.chain[0].as_slice());
        let end_entity = EndEntityCert::try_from(&leaf_der)
            .map_err(|e| PkiError::Chain(format!("leaf: {}", describe_webpki(&e))))?;
        let intermediates: Vec<CertificateDer<'_>> =
            record.chain[1..].iter().map(|c| CertificateDer::from(c.as_slice())).collect();
        let anchors: Vec<TrustAnchor<'_>> = self.anchors.iter().map(|a| a.anchor.clone()).collect();
        let crl_refs: Vec<&CertRevocationList<'_>> = self.crls.iter().collect();
        // With no CRL at all there is nothing to check; when CRLs are
        // required, that is a failure, never a silent pass.
        if self.require_crl && crl_refs.is_empty() {
            return Err(PkiError::RevocationUnknown(
                "CRLs are required for every CA on the path, and none was given".into(),
            ));
        }
        let revocation = RevocationOptionsBuilder::new(&crl_refs).ok().map(|b| {
            b.with_depth(RevocationCheckDepth::Chain)
                .with_status_policy(if self.require_crl {
                    UnknownStatusPolicy::Deny
                } else {
                    UnknownStatusPolicy::Allow
                })
                .with_expiration_policy(if self.enforce_crl_expiry && stamped.is_none() {
                    ExpirationPolicy::Enforce
                } else {
                    ExpirationPolicy::Ignore
                })
                .build()
        });
        let our_reason = RefCell::new(None::<String>);
        let used_anchor = RefCell::new(None::<usize>);
        let extra = |path: &VerifiedPath<'_>| -> std::result::Result<(), webpki::Error> {
            match self.extra_checks(path, now) {
                Ok(i) => {
                    *used_anchor.borrow_mut() = Some(i);
                    Ok(())
                }
                Err((reason, e)) => {
                    *our_reason.borrow_mut() = Some(reason);
                    Err(e)
                }
            }
        };
        let verified = end_entity.verify_for_usage(
            ALGORITHMS,
            &anchors,
            &intermediates,
            unix,
            // Required on the leaf by `check_leaf`; CAs may leave EKU out
            // (webpki's `required` would demand it on every certificate).
            KeyUsage::required_if_present(CODE_SIGNING_DER),
            revocation,
            Some(&extra),
        );
        if let Err(e) = verified {
            return Err(match (our_reason.into_inner(), &e) {
                (Some(r), _) => PkiError::Chain(r),
                (None, webpki::Error::CertRevoked) => PkiError::Revoked,
                (None, webpki::Error::UnknownRevocationStatus | webpki::Error::CrlExpired { .. }) => {
                    PkiError::RevocationUnknown(describe_webpki(&e))
                }
                (None, _) => PkiError::Chain(describe_webpki(&e)),
            });
        }
        let anchor = &self.anchors[used_anchor.into_inner().ok_or_else(|| PkiError::Chain("no anchor used".into()))?];
        let key = leaf.key()?;
        let expected = key.algorithm().algorithm_id();
        if record.inner_algorithm != expected {
            return Err(PkiError::Record(format!(
                "inner algorithm {} but the leaf key is {}",
                record.inner_algorithm,
                key.algorithm().as_str()
            )));
        }
        if !key.verify(message, &record.signature) {
            return Err(PkiError::BadSignature);
        }
        let id = CertIdentity {
            subject: leaf.subject,
            subject_attributes: leaf.subject_attributes,
            uris: leaf.uris,
            serial: leaf.serial,
            key,
            spki: leaf.spki_der,
            anchor: anchor.info.subject.clone(),
            anchor_fingerprint: anchor.info.fingerprint(),
            timestamp: stamped,
        };
        Ok(id)
    }

    /// Counts what webpki's path search could cost for this leaf and these
    /// CA certificates, and takes it from the budget; refuses the record
    /// when that is over the per-record limit or over what is left.
    fn charge_path_search(&self, leaf: &CertInfo, cas: &[Vec<u8>]) -> Result<()> {
        let cas = cas.iter().map(|c| CertInfo::parse(c)).collect::<Result<Vec<_>>>()?;
        let ca_names: Vec<Names<'_>> = cas.iter().map(names).collect();
        let anchor_subjects: Vec<&[u8]> = self.anchors.iter().map(|a| a.info.subject_der.as_slice()).collect();
        let signatures_per_cert = if self.crls.is_empty() { 1 } else { 2 };
        match budget::search_cost(names(leaf), &ca_names, &anchor_subjects, signatures_per_cert, MAX_RECORD_CHAIN_COST)
        {
            // Counting up to the limit was work too: it is charged.
            None => {
                self.budget.take(MAX_RECORD_CHAIN_COST);
                Err(PkiError::ChainTooComplex { limit: MAX_RECORD_CHAIN_COST })
            }
            Some(cost) if self.budget.take(cost) => Ok(()),
            Some(_) => Err(PkiError::ChainBudgetExhausted { budget: self.budget.total() }),
        }
    }

    /// What webpki does not check: the anchor's path length and validity,
    /// and keyCertSign on intermediates. Returns the anchor's index.
    fn extra_checks(
        &self,
        path: &VerifiedPath<'_>,
        now: SystemTime,
    ) -> std::result::Result<usize, (String, webpki::Error)> {
        let ta = path.anchor();
        let index = self
            .anchors
            .iter()
            .position(|a| {
                a.anchor.subject == ta.subject && a.anchor.subject_public_key_info == ta.subject_public_key_info
            })
            .ok_or_else(|| ("the path ends at an unknown anchor".to_string(), webpki::Error::UnknownIssuer))?;
        let anchor = &self.anchors[index].info;
        if !anchor.valid_at(now) {
            return Err((
                format!("trust anchor {}", anchor.not_valid_at(now)),
                webpki::Error::CertExpired { time: UnixTime::now(), not_after: UnixTime::now() },
            ));
        }
        let count = path.intermediate_certificates().count();
        if let Some((_, Some(max))) = anchor.basic_constraints {
            if count > usize::from(max) {
                return Err((
                    format!(
                        "path length exceeded: trust anchor {} allows {max} intermediate(s), the chain has {count}",
                        anchor.subject
                    ),
                    webpki::Error::PathLenConstraintViolated,
                ));
            }
        }
        for cert in path.intermediate_certificates() {
            let info = CertInfo::parse(cert.der().as_ref())
                .map_err(|e| (format!("intermediate: {e}"), webpki::Error::BadDer))?;
            if info.key_usage.is_some_and(|ku| !ku.key_cert_sign) {
                return Err((
                    format!("the key usage of CA {} lacks keyCertSign", info.subject),
                    webpki::Error::UnknownIssuer,
                ));
            }
        }
        Ok(index)
    }
}

/// A short text for a webpki error.
fn describe_webpki(e: &webpki::Error) -> String {
    use webpki::Error as E;
    match e {
        E::CertExpired { .. } => "a certificate on the path has expired".into(),
        E::CertNotValidYet { .. } => "a certificate on the path is not valid yet".into(),
        E::UnknownIssuer => "the chain does not lead to a trusted anchor".into(),
        E::CaUsedAsEndEntity => "a CA certificate is used as the leaf".into(),
        E::EndEntityUsedAsCa => "a leaf certificate is used as a CA".into(),
        E::PathLenConstraintViolated => "path length exceeded".into(),
        E::RequiredEkuNotFoundContext(_) => "a CA certificate's extended key usage excludes codeSigning".into(),
        E::CertRevoked => "a certificate on the path is revoked".into(),
        E::UnknownRevocationStatus => "no CRL for a CA on the path, and CRLs are required".into(),
        E::CrlExpired { .. } => "a CRL for the path has expired (past nextUpdate)".into(),
        E::InvalidCrlSignatureForPublicKey => "a CRL's signature does not verify with its issuer's key".into(),
        E::InvalidSignatureForPublicKey => "a certificate's signature does not verify with its issuer's key".into(),
        other => format!("{other}"),
    }
}

impl RecordVerifier for CertVerifier {
    fn wants(&self, record: &SignatureRecord) -> bool {
        record.algorithm == CERT_BOUND
    }

    fn verify_record(&self, message: &[u8], record: &SignatureRecord) -> RecordOutcome {
        match self.check(message, &record.signature) {
            Ok(id) => {
                let signer = SignerId::X509 { leaf_spki_sha256: Sha256::digest(&id.spki).into() };
                // A timestamp before 1970 has no Unix seconds here: no time.
                let time = id
                    .timestamp
                    .and_then(|t| x509::unix_secs(t).ok())
                    .and_then(|t| i64::try_from(t).ok())
                    .map(|t| TrustedTime::new(TimeSource::Tsa, t));
                RecordOutcome::Valid(Evidence::new(signer).with_time(time).with_description(id.to_string()))
            }
            Err(e) => RecordOutcome::Invalid { reason: wsc_core::Chain(&e).to_string() },
        }
    }
}

/// The one certificate of a trust anchor file (PEM or DER). A file with
/// several certificates is refused: trusting each of them would also
/// trust the root above an intermediate, and so every sibling of it.
pub fn anchor_from_pem(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut certs = x509::certificates_from_pem_or_der(bytes)?;
    match certs.len() {
        1 => Ok(certs.remove(0)),
        count => Err(PkiError::AnchorCount { count }),
    }
}

/// A certificate's names and key as the path-search count compares them.
fn names(c: &CertInfo) -> Names<'_> {
    Names { subject: &c.subject_der, issuer: &c.issuer_der, spki: &c.spki_der }
}
