//! Certificate-bound WebAssembly signatures for device fleets.
//!
//! What it is:
//! * a small private CA ([`Ca`]): Ed25519 or ECDSA P-256 roots and
//!   intermediates with basic constraints, path length and key usage set,
//!   device certificates issued from CSRs under a [`DeviceProfile`] (device
//!   id as a URI SAN, digitalSignature, codeSigning, one day by default),
//!   and CRLs;
//! * CSRs ([`Csr`]) made by any `wsc_core::Signer`, so a hardware key gets a
//!   certificate without its private key leaving the chip;
//! * certificate-bound signature records, algorithm id `0x11`
//!   ([`CertRecord`]), written by [`CertSigner`] (any inner signer plus its
//!   chain) through `wsc_core::sign_embedded`;
//! * offline verification ([`CertVerifier`], a `wsc_core::RecordVerifier`)
//!   against trust anchors, at now, a given time or an RFC 3161
//!   timestamp's time, with CRLs, within a path-building budget
//!   ([`ChainBudget`]). Which anchors must be met, and by how many
//!   distinct signers, is decided by a trust policy (`wsc-policy`);
//! * RFC 3161 timestamps: [`CertSigner`] asks a timestamp authority through
//!   a [`Timestamper`] (the caller's transport; wsc-pinning's in the CLI)
//!   with a wsc-tsp request, checks the answer and puts the token into the
//!   record; [`TsaTrust`] verifies tokens against the TSA chains it trusts.
//!
//! The leaf rules ([`check_leaf`]) are one function that the signer runs
//! before writing a record and the verifier runs before building a path.
//!
//! What it is not: no file, network or OCSP access (callers pass bytes,
//! file modes and a timestamp transport), no ACME or enrolment protocol, no RSA, no certificate
//! transparency. Issuing goes through rcgen with our own signing adapter;
//! path validation is rustls-webpki with aws-lc-rs.
//!
//! ```
//! use wsc_core::{KeyAlgorithm, RecordVerifier, Scope, SecretKey, VerifyOptions};
//! use wsc_pki::{Ca, CaProfile, CertSigner, CertVerifier, Csr, DeviceProfile};
//!
//! // The fleet's CA: a root and an issuing intermediate.
//! let root = Ca::new_root(&CaProfile::root("Fleet Root", KeyAlgorithm::P256))?;
//! let issuing = root.new_intermediate(&CaProfile::intermediate("Fleet Issuing", KeyAlgorithm::P256))?;
//!
//! // A device key (any `Signer`, e.g. a secure element) asks for a certificate.
//! let device = SecretKey::generate(KeyAlgorithm::Ed25519, &mut rand_core::OsRng);
//! let csr = Csr::create(&device, "sensor-42")?;
//! let chain = issuing.issue(&csr, &DeviceProfile::default())?;
//!
//! // The device signs a module; the record carries its chain.
//! let module = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0";
//! let signed = wsc_core::sign(module, &CertSigner::new(&device, chain)?)?;
//!
//! // Anyone holding the root verifies offline.
//! let verifier = CertVerifier::new([root.certificate().der.clone()])?;
//! let verifiers: [&dyn RecordVerifier; 1] = [&verifier];
//! let report = wsc_core::verify_embedded(&signed[..], &wsc_core::Verification::new(&verifiers))?;
//! let verified = report.single()?;
//! assert!(verified.signatures[0].evidence.description.as_deref().unwrap_or("").contains("urn:wsc:device:sensor-42"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod budget;
mod ca;
mod csr;
mod error;
mod leaf;
mod record;
mod timestamp;
mod verify;
mod x509;

pub use budget::{ChainBudget, DEFAULT_CHAIN_BUDGET, MAX_RECORD_CHAIN_COST, SIGNATURE_COST};
pub use ca::{Ca, CaProfile, DAY, DEFAULT_DEVICE_VALIDITY, DeviceProfile, chain_to_pem, crl_to_pem, parse_serial};
pub use csr::{Csr, DEVICE_URI_PREFIX, device_uri};
pub use error::{PkiError, Result};
pub use leaf::{LeafError, check_leaf};
pub use record::{
    CERT_BOUND, CertRecord, CertSigner, MAX_CERT_LEN, MAX_CHAIN, MAX_INTERMEDIATES, RECORD_VERSION,
    RECORD_VERSION_TIMESTAMPED,
};
pub use timestamp::{MAX_RESPONSE_LEN, MAX_TOKEN_LEN, Timestamper, TsaTrust};
pub use verify::{CertIdentity, CertVerifier, TIMESTAMP_SKEW, anchor_from_pem};
pub use x509::{
    CertInfo, KeyUsageBits, OID_CODE_SIGNING, certificates_from_pem_or_der, format_rfc3339, parse_rfc3339,
    pem_decode_all, pem_encode,
};

use wsc_core::SecretKey;

/// Permission bits of a secret key file that give group or others any access.
pub const EXPOSED_KEY_BITS: u32 = 0o077;

/// Reads a secret key (any format wsc-core reads) from a file's bytes.
/// `mode` is the file's Unix permission bits when known: a key that group
/// or others may access is refused unless `allow_exposed` is set.
pub fn load_secret_key(bytes: &[u8], mode: Option<u32>, allow_exposed: bool) -> Result<SecretKey> {
    if let Some(m) = mode {
        if m & EXPOSED_KEY_BITS != 0 && !allow_exposed {
            return Err(PkiError::KeyFileExposed { mode: m & 0o777 });
        }
    }
    Ok(SecretKey::from_any(bytes)?)
}
