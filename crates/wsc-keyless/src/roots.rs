//! The trust roots embedded in the crate, and reading one from JSON.

use sigstore_verify::trust_root::TrustedRoot;

use crate::error::KeylessError;

/// The Sigstore public-good production trust root embedded in the crate
/// (as shipped by `sigstore-trust-root` 0.15.1).
pub fn production_root() -> Result<TrustedRoot, KeylessError> {
    root_from_json(sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT)
}

/// The Sigstore staging trust root embedded in the crate.
pub fn staging_root() -> Result<TrustedRoot, KeylessError> {
    root_from_json(sigstore_verify::trust_root::SIGSTORE_STAGING_TRUSTED_ROOT)
}

/// A trust root from its JSON (`application/vnd.dev.sigstore.trustedroot+json`).
pub fn root_from_json(json: &str) -> Result<TrustedRoot, KeylessError> {
    TrustedRoot::from_json(json).map_err(|e| KeylessError::TrustRoot(e.into()))
}
