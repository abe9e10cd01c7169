//! X.509 reading (x509-cert), PEM, times, and the bridge from wsc keys and
//! signers to rcgen.

mod cert;
mod pem;
mod signer_key;
mod times;

use x509_cert::der::asn1::ObjectIdentifier;

pub use cert::{CertInfo, KeyUsageBits};
pub(crate) use cert::{general_names, key_identifier};
pub use pem::{certificates_from_pem_or_der, pem_decode_all, pem_encode};
pub(crate) use signer_key::{RawPublicKey, SignerKey, ecdsa_der_to_fixed, rcgen_algorithm, rcgen_name};
pub use times::{format_rfc3339, parse_rfc3339};
pub(crate) use times::{offset_date_time, unix_secs};

/// OID of the Ed25519 key and signature algorithm (RFC 8410).
pub(crate) const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// OID of ECDSA with SHA-256.
pub(crate) const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// OID of the codeSigning extended key usage.
pub const OID_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
