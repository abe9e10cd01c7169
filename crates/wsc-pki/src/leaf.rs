//! The leaf rules that the signer and the verifier share: one check, run
//! by `CertSigner` before it writes a record and by `CertVerifier` before
//! it builds a path, so a signer never writes a record the verifier must
//! refuse for its leaf.

use std::time::SystemTime;

use crate::error::{PkiError, Result};
use crate::x509::{self, CertInfo};

/// Why a leaf certificate may not sign modules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeafError {
    /// basicConstraints says CA: CA keys issue certificates, they do not sign code.
    #[error("a CA certificate is used as the leaf (basicConstraints cA=TRUE)")]
    Ca,
    /// No key usage extension, or one without digitalSignature.
    #[error("its key usage does not include digitalSignature")]
    NoDigitalSignature,
    /// No extended key usage extension, or one without codeSigning.
    #[error("its extended key usage lacks codeSigning")]
    NoCodeSigning,
    /// Past its end of validity.
    #[error("it has expired (valid until {}, time {})", x509::format_rfc3339(*not_after), x509::format_rfc3339(*at))]
    Expired {
        /// End of validity.
        not_after: SystemTime,
        /// The time it was checked at.
        at: SystemTime,
    },
    /// Before its start of validity.
    #[error("it is not valid yet (valid from {}, time {})", x509::format_rfc3339(*not_before), x509::format_rfc3339(*at))]
    NotYetValid {
        /// Start of validity.
        not_before: SystemTime,
        /// The time it was checked at.
        at: SystemTime,
    },
}

/// Checks that `leaf` may sign code at `at`: not a CA, key usage with
/// digitalSignature, extended key usage with codeSigning, valid at `at`.
pub fn check_leaf(leaf: &CertInfo, at: SystemTime) -> Result<()> {
    leaf_problem(leaf, at).map_or(Ok(()), |reason| Err(PkiError::Leaf { subject: leaf.subject.clone(), reason }))
}

fn leaf_problem(leaf: &CertInfo, at: SystemTime) -> Option<LeafError> {
    if leaf.is_ca() {
        return Some(LeafError::Ca);
    }
    if !leaf.key_usage.is_some_and(|ku| ku.digital_signature) {
        return Some(LeafError::NoDigitalSignature);
    }
    let code_signing = x509::OID_CODE_SIGNING.to_string();
    if !leaf.extended_key_usage.as_ref().is_some_and(|eku| eku.contains(&code_signing)) {
        return Some(LeafError::NoCodeSigning);
    }
    if at > leaf.not_after {
        return Some(LeafError::Expired { not_after: leaf.not_after, at });
    }
    if at < leaf.not_before {
        return Some(LeafError::NotYetValid { not_before: leaf.not_before, at });
    }
    None
}
