//! The bridge from wsc keys and signers to rcgen: names, algorithms,
//! public keys, any [`Signer`] as an rcgen signing key, and ECDSA
//! signature forms.

use wsc_core::sigdata::AlgorithmId;
use wsc_core::{KeyAlgorithm, PublicKey, Signer};
use x509_cert::der::asn1::AnyRef;
use x509_cert::der::{Decode, Tag, Tagged};
use x509_cert::name::Name;

use crate::error::{PkiError, Result};

/// Converts a parsed name to rcgen's form, keeping each value's string
/// type so the encoding comes out byte for byte the same.
pub(crate) fn rcgen_name(name_der: &[u8]) -> Result<rcgen::DistinguishedName> {
    let name = Name::from_der(name_der).map_err(|e| PkiError::parse("name", e))?;
    let mut dn = rcgen::DistinguishedName::new();
    for rdn in name.0.iter() {
        let [atv] = rdn.0.as_slice() else {
            return Err(PkiError::Issue("the CA's subject has a multi-valued RDN, which wsc cannot reproduce".into()));
        };
        let arcs: Vec<u64> = atv.oid.arcs().map(u64::from).collect();
        let ty = rcgen::DnType::from_oid(&arcs);
        let value: AnyRef<'_> = (&atv.value).into();
        let text = || {
            std::str::from_utf8(value.value())
                .map(str::to_owned)
                .map_err(|_| PkiError::Issue("the CA's subject holds a string that is not UTF-8".into()))
        };
        let bad = |e: rcgen::Error| PkiError::Issue(format!("the CA's subject cannot be reproduced: {e}").into());
        let v = match value.tag() {
            Tag::Utf8String => rcgen::DnValue::Utf8String(text()?),
            Tag::PrintableString => rcgen::DnValue::PrintableString(text()?.try_into().map_err(bad)?),
            Tag::Ia5String => rcgen::DnValue::Ia5String(text()?.try_into().map_err(bad)?),
            other => {
                return Err(PkiError::Issue(
                    format!("the CA's subject holds a {other} value, which wsc cannot reproduce").into(),
                ));
            }
        };
        dn.push(ty, v);
    }
    Ok(dn)
}

/// The rcgen signature algorithm for a wsc key algorithm.
pub(crate) fn rcgen_algorithm(alg: KeyAlgorithm) -> Result<&'static rcgen::SignatureAlgorithm> {
    match alg {
        KeyAlgorithm::Ed25519 => Ok(&rcgen::PKCS_ED25519),
        KeyAlgorithm::P256 => Ok(&rcgen::PKCS_ECDSA_P256_SHA256),
        other => Err(PkiError::UnsupportedAlgorithm(format!("{other:?}"))),
    }
}

/// The subjectPublicKey bits rcgen writes for a wsc key: the 32-byte
/// Ed25519 key, or the uncompressed P-256 point.
pub(crate) fn public_key_bits(key: &PublicKey) -> Result<Vec<u8>> {
    match key.algorithm() {
        KeyAlgorithm::Ed25519 | KeyAlgorithm::P256 => Ok(key.public_bits()),
        other => Err(PkiError::UnsupportedAlgorithm(format!("{other:?}"))),
    }
}

/// A public key as rcgen wants it: algorithm and subjectPublicKey bits.
#[derive(Debug)]
pub(crate) struct RawPublicKey {
    pub(crate) alg: &'static rcgen::SignatureAlgorithm,
    pub(crate) bits: Vec<u8>,
}

impl rcgen::PublicKeyData for RawPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.bits
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.alg
    }
}

/// Any wsc [`Signer`] as an rcgen signing key. P-256 `r ‖ s` signatures
/// are DER-encoded for X.509; Ed25519 signatures are used as they are.
pub(crate) struct SignerKey<'a> {
    signer: &'a dyn Signer,
    key: RawPublicKey,
    public: PublicKey,
    failure: std::cell::RefCell<Option<PkiError>>,
}

impl std::fmt::Debug for SignerKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerKey").field("public", &self.public).finish_non_exhaustive()
    }
}

impl<'a> SignerKey<'a> {
    /// Wraps a signer that reports an Ed25519 or P-256 key and signs with it.
    pub(crate) fn new(signer: &'a dyn Signer) -> Result<Self> {
        let public = signer
            .public_key()
            .ok_or_else(|| PkiError::UnsupportedAlgorithm("the signer reports no public key".into()))?;
        let expected = public.algorithm().algorithm_id();
        if signer.algorithm() != expected
            || !matches!(signer.algorithm(), AlgorithmId::ED25519 | AlgorithmId::ECDSA_P256_SHA256)
        {
            return Err(PkiError::UnsupportedAlgorithm(format!(
                "signer algorithm {} with a {} key (wsc-pki needs Ed25519 or P-256 signers)",
                signer.algorithm(),
                public.algorithm().as_str()
            )));
        }
        let key = RawPublicKey { alg: rcgen_algorithm(public.algorithm())?, bits: public_key_bits(&public)? };
        Ok(SignerKey { signer, key, public, failure: Default::default() })
    }
}

impl rcgen::PublicKeyData for SignerKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.key.bits
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.key.alg
    }
}

impl rcgen::SigningKey for SignerKey<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let fail = |why: PkiError| {
            *self.failure.borrow_mut() = Some(why);
            rcgen::Error::RemoteKeyError
        };
        let sig = self.signer.try_sign(msg).map_err(|e| fail(PkiError::Issue(Box::new(PkiError::Signer(e)))))?;
        if !self.public.verify(msg, &sig) {
            return Err(fail(PkiError::Issue("the signature does not verify with the signer's own public key".into())));
        }
        match self.public.algorithm() {
            KeyAlgorithm::P256 => p256::ecdsa::Signature::from_slice(&sig)
                .map(|s| s.to_der().as_bytes().to_vec())
                .map_err(|_| fail(PkiError::Issue("the signer returned no 64-byte r || s".into()))),
            _ => Ok(sig),
        }
    }
}

impl SignerKey<'_> {
    /// Turns an rcgen error into ours, with the signer's failure when there was one.
    pub(crate) fn error(&self, e: rcgen::Error) -> PkiError {
        match self.failure.borrow_mut().take() {
            Some(why) => why,
            None => PkiError::Issue(e.into()),
        }
    }
}

/// A DER ECDSA signature as the 64-byte `r ‖ s` wsc uses.
pub(crate) fn ecdsa_der_to_fixed(der: &[u8]) -> Option<Vec<u8>> {
    p256::ecdsa::Signature::from_der(der).ok().map(|s| s.to_bytes().to_vec())
}
