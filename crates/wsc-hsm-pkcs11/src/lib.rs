//! Signing WebAssembly modules with keys held by a PKCS#11 token or HSM.
//!
//! What it is:
//! * [`Pkcs11Uri`]: RFC 7512 `pkcs11:` URIs that name a module, a token
//!   and a key, e.g.
//!   `pkcs11:token=wsc;object=signing-key?module-path=/usr/lib/softhsm/libsofthsm2.so`;
//! * [`Pkcs11Signer`]: a [`wsc_core::Signer`] over a P-256 (`CKM_ECDSA` on
//!   the host's SHA-256 digest) or Ed25519 (`CKM_EDDSA`) key on the token,
//!   usable with `wsc_core::sign` and `wsc_pki::Csr::create`;
//! * key pair generation on the token (sensitive, not extractable) and
//!   public key export ([`read_public_key`]).
//!
//! What it is not: it reads no environment variables and prompts for
//! nothing; the caller passes the module path fallback and the PIN (as
//! `Zeroizing<String>`, used to log in and then dropped). It never prints
//! the PIN, neither in `Debug` nor in errors, and [`redact`] hides one
//! that a caller put in a URI before the URI is printed. It does not initialise
//! tokens, set PINs, import or delete keys, or verify anything: verification
//! needs only the exported public key and `wsc-core`. It is tested against
//! SoftHSM2 only.
//!
//! The PKCS#11 module is loaded at run time (`cryptoki`, `dlopen`) and
//! initialised once per process and module path; all signers share it.

mod error;
mod signer;
mod uri;

pub use error::{Pkcs11Error, Result};
pub use signer::{Pkcs11Signer, read_public_key};
pub use uri::{Pkcs11Uri, UriError, redact, redact_message};
